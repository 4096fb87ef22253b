-- 0001_base_items.sql (scope "mig_base") - test-only: a tenant table
-- shaped by the rules, which mig_child's migration references.
CREATE TABLE mig_base_items (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    name        text NOT NULL
);
ALTER TABLE mig_base_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE mig_base_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mig_base_items
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT ON mig_base_items TO tanomu_app;
GRANT USAGE ON SEQUENCE mig_base_items_id_seq TO tanomu_app;
