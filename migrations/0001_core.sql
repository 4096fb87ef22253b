-- 0001_core.sql - the platform's own tables: tenants, the outbox and the
-- audit log, with row-level security and the application role's grants.
--
-- Conventions every migration (core or plugin) follows:
-- * It runs as tanomu_owner, in one transaction, recorded with its sha256
--   in schema_migrations (that table is created by the runner, migrate.c,
--   because it must exist before the first migration is recorded).  Never
--   edit an applied file: add a new one.  No BEGIN/COMMIT inside, and
--   nothing that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
-- * A tenant-owned table has `tenant_id text NOT NULL REFERENCES tenants`,
--   ENABLE and FORCE ROW LEVEL SECURITY, and a policy keyed on
--   current_setting('app.tenant_id', true) for both reading (USING) and
--   writing (WITH CHECK).  FORCE makes the policy bind the owner too, so no
--   code path sees another tenant's rows by accident (S11, S21).  The pool
--   sets app.tenant_id transaction-locally at BEGIN; without it the setting
--   is NULL or '' and the policy matches nothing: fail closed.
-- * tanomu_app gets only the privileges it needs, table by table (S1, S19);
--   it owns nothing and has no BYPASSRLS.

-- Only the owner creates objects here; the app role may use what it is
-- granted and nothing else.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tanomu_app;

-- The tenants known to the database.  Tenant IDs come from the tenant
-- configuration files; the host upserts them as the owner (see
-- host_migrate_tenants).  RLS here too: a request sees its own tenant's row.
CREATE TABLE tenants (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = current_setting('app.tenant_id', true))
    WITH CHECK (id = current_setting('app.tenant_id', true));
GRANT SELECT ON tenants TO tanomu_app;

-- The transactional outbox: an event is written in the same transaction as
-- the change it reports, and a dispatcher delivers it afterwards, at least
-- once, retrying with next_attempt_at until it is delivered or dead.
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants (id),
    name             text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.]{0,127}$'),
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
-- What the dispatcher asks: this tenant's due, pending rows, oldest first.
-- Partial, so delivered and dead rows cost the index nothing.
CREATE INDEX outbox_dispatch_idx ON outbox (tenant_id, next_attempt_at, id)
    WHERE state = 'pending';
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- Enqueue, read, mark delivered/dead.  Never DELETE: retention is the
-- owner's job.
GRANT SELECT, INSERT, UPDATE ON outbox TO tanomu_app;
GRANT USAGE ON SEQUENCE outbox_id_seq TO tanomu_app;

-- Who did what (S20, A10): append-only.  The app role may add and read
-- rows of its tenant; it has no UPDATE, DELETE or TRUNCATE, and a trigger
-- refuses those to the owner as well, so changing history takes a
-- deliberate DDL step by a superuser.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    tenant_id    text NOT NULL REFERENCES tenants (id),
    user_id      text,
    action       text NOT NULL CHECK (length(action) BETWEEN 1 AND 128),
    target_type  text,
    target_id    text,
    client_ip    inet,
    request_id   text,
    result       text NOT NULL CHECK (result IN ('ok', 'denied', 'failed'))
);
CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT ON audit_log TO tanomu_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO tanomu_app;

CREATE FUNCTION audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
REVOKE ALL ON FUNCTION audit_log_append_only() FROM PUBLIC;
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
