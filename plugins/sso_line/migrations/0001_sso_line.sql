-- 0001_sso_line.sql (scope "sso_line") - LINE Login links and flows.
--
-- Both tables are tenant-owned: tenant_id references tenants, row-level
-- security is enabled AND forced with the usual policy on app.tenant_id
-- (S21).  The same LINE user in two tenants is two rows, one per tenant.

-- A LINE subject (the ID token's sub) maps to at most one user per
-- tenant, and a user has at most one LINE account.
CREATE TABLE sso_line_links (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    line_sub    text NOT NULL CHECK (line_sub ~ '^[A-Za-z0-9_-]{1,128}$'),
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, line_sub),
    UNIQUE (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES auth_users (tenant_id, id)
);
ALTER TABLE sso_line_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_line_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_line_links
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, DELETE ON sso_line_links TO tanomu_app;

-- A sign-in or link in progress: single use, 10 minutes.  id is the hex
-- SHA-256 of the pre-login cookie's 32 bytes; state, nonce and the PKCE
-- verifier are derived from the cookie and never stored.  For a native
-- app (purpose native) id is the hex SHA-256 of the nonce handed out.
CREATE TABLE sso_line_flows (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    purpose     text NOT NULL CHECK (purpose IN ('login', 'link', 'native')),
    user_id     uuid, -- link: who asked
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((purpose = 'link') = (user_id IS NOT NULL))
);
CREATE INDEX sso_line_flows_created_idx ON sso_line_flows (tenant_id, created_at);
ALTER TABLE sso_line_flows ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_line_flows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_line_flows
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, DELETE ON sso_line_flows TO tanomu_app;
