-- 0003_auth_tokens.sql (scope "auth") - API tokens of the auth plugin.
--
-- A token belongs to a tenant and to the tenant admin who made it; it is
-- shown once (tnk_<id>_<secret>) and stored as the hex SHA-256 of its
-- 32 random secret bytes only, so a copy of the table opens nothing (S4,
-- S16).  Row-level security is enabled and forced with the app.tenant_id
-- policy, as in 0001_auth.sql: a token of tenant A does not exist for a
-- request of tenant B (S21).  Rows are never deleted (revoked_at marks
-- a revoked token), so the audit trail's target IDs stay resolvable.

CREATE TABLE auth_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     text NOT NULL REFERENCES tenants (id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_hash   text NOT NULL UNIQUE CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
    -- Never platform_admin; at most the creator's roles (checked when made,
    -- and intersected with the creator's current roles at every use).
    roles         text[] NOT NULL
                  CHECK (cardinality(roles) >= 1
                         AND roles <@ ARRAY['tenant_admin', 'staff']::text[]),
    created_by    uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '366 days'),
    -- A token and its creator are always of the same tenant.
    FOREIGN KEY (tenant_id, created_by) REFERENCES auth_users (tenant_id, id)
);
CREATE INDEX auth_tokens_tenant_idx ON auth_tokens (tenant_id, created_at);
ALTER TABLE auth_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_tokens
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- No DELETE: a token is revoked, never removed.
GRANT SELECT, INSERT, UPDATE ON auth_tokens TO tanomu_app;
