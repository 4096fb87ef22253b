-- 0002_auth_mfa.sql (scope "auth") - TOTP second factor of the auth plugin (S13).
--
-- Tenant-owned like 0001_auth.sql: RLS enabled AND forced, bound to
-- app.tenant_id.  The TOTP secret is stored only sealed with the SDK
-- keyring (tnsec:v1:..., S18); recovery codes only as the hex SHA-256 of
-- their 128 random bits (S16).

CREATE TABLE auth_mfa_totp (
    tenant_id       text NOT NULL REFERENCES tenants (id),
    user_id         uuid NOT NULL,
    secret_sealed   text NOT NULL CHECK (secret_sealed LIKE 'tnsec:%'),
    confirmed       boolean NOT NULL DEFAULT false,
    -- The last time step a code was accepted for: a code is taken only by
    -- an UPDATE that moves it forward, so no code is accepted twice.
    last_used_step  bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES auth_users (tenant_id, id)
);
ALTER TABLE auth_mfa_totp ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_mfa_totp FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_mfa_totp
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_mfa_totp TO tanomu_app;

CREATE TABLE auth_mfa_recovery (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'), -- sha256(code), hex
    tenant_id   text NOT NULL REFERENCES tenants (id),
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES auth_users (tenant_id, id)
);
CREATE INDEX auth_mfa_recovery_user_idx ON auth_mfa_recovery (tenant_id, user_id);
ALTER TABLE auth_mfa_recovery ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_mfa_recovery FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_mfa_recovery
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_mfa_recovery TO tanomu_app;

-- What a session may do: 'full'; 'mfa' (password passed, TOTP pending:
-- only POST /auth/login/mfa); 'enrol' (MFA required but not set up: only
-- the enrolment routes answer).
ALTER TABLE auth_sessions ADD COLUMN stage text NOT NULL DEFAULT 'full'
    CHECK (stage IN ('full', 'mfa', 'enrol'));
