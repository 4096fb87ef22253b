-- 0001_norls_items.sql (scope "mig_norls") - test-only and WRONG on
-- purpose: RLS enabled but not forced, so the owner reads across tenants.
-- `tanomu migrate` must refuse it (rolled back, not recorded) and
-- `tanomu check` must warn about it.
CREATE TABLE mig_norls_items (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id)
);
ALTER TABLE mig_norls_items ENABLE ROW LEVEL SECURITY;
