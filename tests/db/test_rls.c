/*
 * test_rls.c - tenant isolation and least privilege as the database
 * enforces them, checked through the application role (tanomu_app) with
 * plain blocking libpq: row-level security hides other tenants' rows from
 * a query that forgets WHERE tenant_id (S11, S21), refuses writes naming
 * another tenant, the audit log is append-only (S20), and the role has no
 * privilege it does not need (S1, S19).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbtest.h"

static PGconn *app;   /* tanomu_app */
static PGconn *owner; /* tanomu_owner */

/* Runs sql inside BEGIN + transaction-local tenant, like the pool does;
 * returns the statement's result (rolled back unless commit). */
static PGresult *as_tenant(PGconn *c, const char *tenant, const char *sql, int n,
                           const char *const *params, int commit)
{
    const char *t[1] = {tenant};
    PGresult *r;

    PQclear(PQexec(c, "BEGIN"));
    if (tenant)
        PQclear(dbt_q(c, "SELECT set_config('app.tenant_id', $1, true)", 1, t));
    r = dbt_q(c, sql, n, params);
    PQclear(PQexec(c, dbt_ok(r) && commit ? "COMMIT" : "ROLLBACK"));
    return r;
}

static char *scalar_as(PGconn *c, const char *tenant, const char *sql)
{
    PGresult *r = as_tenant(c, tenant, sql, 0, NULL, 0);
    char *v = NULL;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    else if (!dbt_ok(r))
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

static int setup(void)
{
    const char *ids[2] = {"rls_a", "rls_b"};
    const char *a_rows[3] = {"a1", "a2", "a3"};
    const char *b_rows[2] = {"b1", "b2"};
    int i;

    if (dbt_migrate_std() != 0 || dbt_tenants(ids, 2) != 0)
        return -1;
    app = dbt_connect(DBT_APP_URL());
    owner = dbt_connect(DBT_OWNER_URL());
    if (!app || !owner)
        return -1;
    /* Rows written through the app role, each as its own tenant. */
    PQclear(as_tenant(app, "rls_a", "DELETE FROM notes", 0, NULL, 1));
    PQclear(as_tenant(app, "rls_b", "DELETE FROM notes", 0, NULL, 1));
    for (i = 0; i < 3; i++) {
        const char *p[2] = {"rls_a", a_rows[i]};
        PGresult *r = as_tenant(app, "rls_a", "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)",
                                2, p, 1);
        if (!dbt_ok(r))
            fprintf(stderr, "insert: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    for (i = 0; i < 2; i++) {
        const char *p[2] = {"rls_b", b_rows[i]};
        PQclear(as_tenant(app, "rls_b", "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)", 2, p,
                          1));
    }
    return 0;
}

static int teardown(void)
{
    PQfinish(app);
    PQfinish(owner);
    return 0;
}

/* S21: SELECT without WHERE tenant_id returns this tenant's rows only. */
static void test_forgotten_where(void)
{
    char *v = scalar_as(app, "rls_a",
                        "SELECT count(*) || '/' || count(*) FILTER (WHERE tenant_id <> 'rls_a')"
                        " FROM notes");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "3/0");
    free(v);
    v = scalar_as(app, "rls_b", "SELECT string_agg(body, ',' ORDER BY body) FROM notes");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "b1,b2");
    free(v);
    /* Even asking by the other tenant's id finds nothing. */
    v = scalar_as(app, "rls_a", "SELECT count(*) FROM notes WHERE tenant_id = 'rls_b'");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "0");
    free(v);
}

/* S11, S21: writing a row for another tenant is refused by WITH CHECK. */
static void test_insert_other_tenant_refused(void)
{
    const char *p[2] = {"rls_b", "smuggled"};
    PGresult *r = as_tenant(app, "rls_a", "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)", 2,
                            p, 1);

    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    r = as_tenant(app, "rls_a", "UPDATE notes SET tenant_id = 'rls_b'", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
}

/* Updates and deletes cannot reach another tenant's rows. */
static void test_update_delete_other_tenant_no_effect(void)
{
    PGresult *r = as_tenant(app, "rls_a", "UPDATE notes SET body = 'x' WHERE tenant_id = 'rls_b'",
                            0, NULL, 1);
    char *v;

    CU_ASSERT_TRUE(dbt_ok(r));
    CU_ASSERT_STRING_EQUAL(PQcmdTuples(r), "0");
    PQclear(r);
    r = as_tenant(app, "rls_a", "DELETE FROM notes WHERE body LIKE 'b%'", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(PQcmdTuples(r), "0");
    PQclear(r);
    v = scalar_as(app, "rls_b", "SELECT string_agg(body, ',' ORDER BY body) FROM notes");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "b1,b2");
    free(v);
}

/* Fail closed: without app.tenant_id nothing is visible or writable. */
static void test_no_tenant_sees_nothing(void)
{
    const char *p[2] = {"rls_a", "x"};
    char *v = scalar_as(app, NULL, "SELECT count(*) FROM notes");
    PGresult *r;

    CU_ASSERT_STRING_EQUAL(v ? v : "", "0");
    free(v);
    r = as_tenant(app, NULL, "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)", 2, p, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
}

/* S21: set_config(..., true) dies with the transaction, so a connection
 * reused by the pool starts the next request with no tenant. */
static void test_setting_is_transaction_local(void)
{
    const char *t[1] = {"rls_a"};
    char *v;

    PQclear(PQexec(app, "BEGIN"));
    PQclear(dbt_q(app, "SELECT set_config('app.tenant_id', $1, true)", 1, t));
    v = dbt_scalar(app, "SELECT count(*) FROM notes", 0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "3");
    free(v);
    PQclear(PQexec(app, "COMMIT"));
    v = dbt_scalar(app, "SELECT coalesce(current_setting('app.tenant_id', true), '')", 0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "?", "");
    free(v);
    v = dbt_scalar(app, "SELECT count(*) FROM notes", 0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "0");
    free(v);
}

/* S20: the audit log is append-only for the app role (no privilege) and
 * for the owner (trigger). */
static void test_audit_log_append_only(void)
{
    const char *p[6] = {"rls_a", "user-7", "note.create", "note", "10.0.0.1", "req-1"};
    PGresult *r;
    char *v;

    r = as_tenant(app, "rls_a",
                  "INSERT INTO audit_log (tenant_id, user_id, action, target_type, client_ip,"
                  " request_id, result) VALUES ($1, $2, $3, $4, $5, $6, 'ok')",
                  6, p, 1);
    CU_ASSERT_TRUE(dbt_ok(r));
    PQclear(r);
    v = scalar_as(app, "rls_a", "SELECT count(*) > 0 FROM audit_log WHERE request_id = 'req-1'");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "t");
    free(v);
    v = scalar_as(app, "rls_b", "SELECT count(*) FROM audit_log");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "0");
    free(v);

    r = as_tenant(app, "rls_a", "UPDATE audit_log SET result = 'denied'", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    r = as_tenant(app, "rls_a", "DELETE FROM audit_log", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    r = as_tenant(app, "rls_a", "TRUNCATE audit_log", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    /* The owner holds the privileges, and the trigger still refuses. */
    r = as_tenant(owner, "rls_a", "UPDATE audit_log SET result = 'denied'", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    r = as_tenant(owner, "rls_a", "DELETE FROM audit_log", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    r = as_tenant(owner, "rls_a", "TRUNCATE audit_log", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
}

/* S1, S19: tanomu_app is a plain login role: no superuser, no BYPASSRLS,
 * owns nothing, cannot create objects or become the owner. */
static void test_app_role_least_privilege(void)
{
    char *v;
    PGresult *r;

    v = dbt_scalar(app,
                   "SELECT concat_ws(',', rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,"
                   " rolreplication, rolinherit) FROM pg_roles WHERE rolname = current_user",
                   0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "f,f,f,f,f,f");
    free(v);
    v = dbt_scalar(app,
                   "SELECT (SELECT count(*) FROM pg_class WHERE relowner = 'tanomu_app'::regrole)"
                   " + (SELECT count(*) FROM pg_namespace WHERE nspowner = 'tanomu_app'::regrole)"
                   " + (SELECT count(*) FROM pg_proc WHERE proowner = 'tanomu_app'::regrole)"
                   " + (SELECT count(*) FROM pg_database WHERE datdba = 'tanomu_app'::regrole)",
                   0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "0");
    free(v);
    r = dbt_q(app, "CREATE TABLE public.app_made (i int)", 0, NULL);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    r = dbt_q(app, "SET ROLE tanomu_owner", 0, NULL);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
    PQclear(PQexec(app, "RESET ROLE"));
    /* Table privileges: exactly what the migrations granted. */
    v = dbt_scalar(app,
                   "SELECT concat_ws(',',"
                   " has_table_privilege('audit_log', 'INSERT'),"
                   " has_table_privilege('audit_log', 'UPDATE'),"
                   " has_table_privilege('audit_log', 'DELETE'),"
                   " has_table_privilege('audit_log', 'TRUNCATE'),"
                   " has_table_privilege('outbox', 'INSERT'),"
                   " has_table_privilege('outbox', 'DELETE'),"
                   " has_table_privilege('tenants', 'SELECT'),"
                   " has_table_privilege('tenants', 'INSERT'),"
                   " has_table_privilege('schema_migrations', 'SELECT'))",
                   0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "t,f,f,f,t,f,t,f,f");
    free(v);
}

/* S21: every table with a tenant_id column (and tenants itself) has RLS
 * enabled and forced, and a policy: a new table that forgets is caught. */
static void test_every_tenant_table_forced(void)
{
    char *v = dbt_scalar(owner,
                         "SELECT coalesce(string_agg(c.relname, ','), '') FROM pg_class c"
                         " JOIN pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                         " AND (c.relname = 'tenants' OR EXISTS (SELECT 1 FROM pg_attribute a"
                         "      WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'"
                         "      AND NOT a.attisdropped))"
                         " AND NOT (c.relrowsecurity AND c.relforcerowsecurity"
                         "      AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))",
                         0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "?", "");
    if (v && *v)
        fprintf(stderr, "tables without forced RLS: %s\n", v);
    free(v);
    v = dbt_scalar(owner,
                   "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                   " WHERE n.nspname = 'public' AND c.relname IN"
                   " ('tenants', 'outbox', 'audit_log', 'notes') AND c.relforcerowsecurity",
                   0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "4");
    free(v);
}

/* The outbox is tenant-owned like everything else. */
static void test_outbox_isolated(void)
{
    const char *p[2] = {"rls_a", "{\"order\": 1}"};
    PGresult *r = as_tenant(app, "rls_a",
                            "INSERT INTO outbox (tenant_id, name, payload)"
                            " VALUES ($1, 'order.created', $2::jsonb)",
                            2, p, 1);
    char *v;

    CU_ASSERT_TRUE(dbt_ok(r));
    PQclear(r);
    v = scalar_as(app, "rls_a", "SELECT count(*) > 0 FROM outbox WHERE state = 'pending'");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "t");
    free(v);
    v = scalar_as(app, "rls_b", "SELECT count(*) FROM outbox");
    CU_ASSERT_STRING_EQUAL(v ? v : "", "0");
    free(v);
    r = as_tenant(app, "rls_a", "DELETE FROM outbox", 0, NULL, 1);
    CU_ASSERT_STRING_EQUAL(dbt_state(r), "42501");
    PQclear(r);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"S21 a query that forgets WHERE tenant_id sees its tenant only", test_forgotten_where},
        {"S11 S21 INSERT/UPDATE naming another tenant refused", test_insert_other_tenant_refused},
        {"S21 UPDATE/DELETE cannot reach another tenant",
         test_update_delete_other_tenant_no_effect},
        {"S21 no tenant set: nothing visible, nothing writable", test_no_tenant_sees_nothing},
        {"S21 the tenant setting is transaction-local", test_setting_is_transaction_local},
        {"S20 audit_log append-only for app and owner", test_audit_log_append_only},
        {"S1 S19 tanomu_app least privilege, no BYPASSRLS", test_app_role_least_privilege},
        {"S21 every tenant-owned table has forced RLS", test_every_tenant_table_forced},
        {"S21 outbox isolated per tenant", test_outbox_isolated},
        CU_TEST_INFO_NULL,
    };
    int rc;

    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        teardown();
        return 1;
    }
    rc = dbt_run("rls", tests);
    teardown();
    return rc;
}
