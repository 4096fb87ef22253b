-- 0001_notes.sql (scope "dbprobe") - a tenant-owned table for the database
-- integration tests, shaped as 0001_core.sql asks plugins to shape theirs.
-- Test-only: no part of the product.
CREATE TABLE notes (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT ON notes TO tanomu_app;
GRANT USAGE ON SEQUENCE notes_id_seq TO tanomu_app;
