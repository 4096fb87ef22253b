-- 0005_schema_applied.sql - lets the app role ask whether a migration is
-- applied, without reading schema_migrations (the owner's bookkeeping,
-- created by the runner, migrate.c).
--
-- A worker asks before it inits a plugin that declares the migration it
-- needs (tn_plugin_desc.schema_needs, ABI 1.2), and refuses to start the
-- plugin until `tanomu migrate` has applied it (host/data/schema_applied.c).
-- SECURITY DEFINER runs it as the owner, with search_path pinned so no
-- object of another schema can stand in for schema_migrations.
CREATE FUNCTION schema_applied(p_scope text, p_name text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM public.schema_migrations
                   WHERE scope = p_scope AND name = p_name)
$$;
REVOKE ALL ON FUNCTION schema_applied(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schema_applied(text, text) TO tanomu_app;
