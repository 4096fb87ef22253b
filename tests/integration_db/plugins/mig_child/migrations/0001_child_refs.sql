-- 0001_child_refs.sql (scope "mig_child") - test-only: references
-- mig_base's table, so it applies only after mig_base's migrations.
CREATE TABLE mig_child_refs (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    item_id     bigint NOT NULL REFERENCES mig_base_items (id)
);
ALTER TABLE mig_child_refs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mig_child_refs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mig_child_refs
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT ON mig_child_refs TO tanomu_app;
GRANT USAGE ON SEQUENCE mig_child_refs_id_seq TO tanomu_app;
