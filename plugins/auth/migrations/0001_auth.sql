-- 0001_auth.sql (scope "auth") - accounts and sessions of the auth plugin.
--
-- Both tables are tenant-owned and follow 0001_core.sql's conventions:
-- tenant_id references tenants, row-level security is enabled AND forced,
-- and the policy binds reading and writing to app.tenant_id, so a session
-- of tenant A is not even visible to a request of tenant B (S21).
-- Secrets are never stored: passwords as Argon2id PHC strings, session
-- tokens as the hex SHA-256 of the token (S4, S12).

CREATE TABLE auth_users (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            text NOT NULL REFERENCES tenants (id),
    login                text NOT NULL CHECK (length(login) BETWEEN 1 AND 254),
    roles                text[] NOT NULL DEFAULT '{}'
                         CHECK (roles <@ ARRAY['tenant_admin', 'staff', 'buyer',
                                               'platform_admin']::text[]),
    buyer_id             text CHECK (buyer_id IS NULL OR length(buyer_id) BETWEEN 1 AND 128),
    disabled             boolean NOT NULL DEFAULT false,
    password_hash        text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    password_changed_at  timestamptz NOT NULL DEFAULT now(),
    -- Per-account throttling, in the database so it holds on every node:
    -- consecutive failures, and the time before which no attempt is taken
    -- (a short growing delay, then the lock).
    failed_logins        integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id) -- the target of sessions' tenant-matching key
);
-- Login IDs are compared without case ("Alice" is "alice"): one account
-- per spelling, and the lookup at login uses this index.
CREATE UNIQUE INDEX auth_users_login_idx ON auth_users (tenant_id, lower(login));
ALTER TABLE auth_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_users
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- No DELETE: an account is disabled, so the audit trail keeps its id.
GRANT SELECT, INSERT, UPDATE ON auth_users TO tanomu_app;

CREATE TABLE auth_sessions (
    id                text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'), -- sha256(token), hex
    tenant_id         text NOT NULL REFERENCES tenants (id),
    user_id           uuid NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_seen         timestamptz NOT NULL DEFAULT now(),
    authenticated_at  timestamptz NOT NULL DEFAULT now(),
    auth_method       text NOT NULL DEFAULT 'password'
                      CHECK (auth_method IN ('password', 'line', 'token')),
    mfa_passed        boolean NOT NULL DEFAULT false,
    -- A session and its user are always of the same tenant.
    FOREIGN KEY (tenant_id, user_id) REFERENCES auth_users (tenant_id, id)
    -- The CSRF token is derived from the session token itself (an HMAC
    -- keyed by it), so nothing of it needs storing here.
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (tenant_id, user_id);
CREATE INDEX auth_sessions_last_seen_idx ON auth_sessions (tenant_id, last_seen);
ALTER TABLE auth_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_sessions
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_sessions TO tanomu_app;

-- Password reset (S12): a single-use token, 30 minutes, stored as the hex
-- SHA-256 of its 32 bytes; the token itself travels only in the event the
-- notifications plugin turns into an e-mail.
CREATE TABLE auth_password_resets (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES auth_users (tenant_id, id)
);
CREATE INDEX auth_password_resets_expiry_idx ON auth_password_resets (tenant_id, expires_at);
ALTER TABLE auth_password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_password_resets
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_password_resets TO tanomu_app;
