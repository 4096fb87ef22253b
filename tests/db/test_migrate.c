/*
 * test_migrate.c - the migration runner against a real PostgreSQL 15:
 * ordering, checksum refusal of an edited file, two concurrent runs under
 * the advisory lock, --status, failures that roll back, file-name rules
 * (S3) and least privilege of the roles (S1, S19).  Each test works in its
 * own scope, so the tests share one database without stepping on each
 * other.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbtest.h"

typedef struct run_out {
    int rc;
    char *out;
    char *err;
} run_out;

/* One run of host_migrate over the given sources, output captured. */
static run_out run(const host_migrate_src *srcs, int n, int status_only, const char *url)
{
    run_out r = {-1, NULL, NULL};
    size_t ol = 0, el = 0;
    FILE *out = open_memstream(&r.out, &ol);
    FILE *err = open_memstream(&r.err, &el);

    if (out && err)
        r.rc = host_migrate(url ? url : DBT_OWNER_URL(), srcs, n, status_only, out, err);
    if (out)
        fclose(out);
    if (err)
        fclose(err);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    return r;
}

static void run_free(run_out *r)
{
    free(r->out);
    free(r->err);
}

static run_out run1(const char *scope, const char *dir, int status_only)
{
    host_migrate_src s = {scope, dir};
    return run(&s, 1, status_only, NULL);
}

static long count_applied(const char *scope)
{
    PGconn *c = dbt_connect(DBT_OWNER_URL());
    const char *p[1] = {scope};
    char *v;
    long n = -1;

    if (!c)
        return -1;
    v = dbt_scalar(c, "SELECT count(*) FROM schema_migrations WHERE scope = $1", 1, p);
    if (v)
        n = strtol(v, NULL, 10);
    free(v);
    PQfinish(c);
    return n;
}

static int table_exists(const char *name)
{
    PGconn *c = dbt_connect(DBT_OWNER_URL());
    const char *p[1] = {name};
    char *v;
    int yes;

    if (!c)
        return -1;
    v = dbt_scalar(c, "SELECT to_regclass($1) IS NOT NULL", 1, p);
    yes = v && strcmp(v, "t") == 0;
    free(v);
    PQfinish(c);
    return yes;
}

/* S3: only NNNN_name.sql with a lower-case name is a migration. */
static void test_name_rules(void)
{
    CU_ASSERT_TRUE(host_migrate_name_valid("0001_core.sql"));
    CU_ASSERT_TRUE(host_migrate_name_valid("9999_a_b_9.sql"));
    CU_ASSERT_FALSE(host_migrate_name_valid("001_core.sql"));
    CU_ASSERT_FALSE(host_migrate_name_valid("0001-core.sql"));
    CU_ASSERT_FALSE(host_migrate_name_valid("0001_Core.sql"));
    CU_ASSERT_FALSE(host_migrate_name_valid("0001_.sql"));
    CU_ASSERT_FALSE(host_migrate_name_valid("0001_../x.sql"));
    CU_ASSERT_FALSE(host_migrate_name_valid("0001_a.sql.bak"));
    CU_ASSERT_FALSE(host_migrate_name_valid("0001_a b.sql"));
    CU_ASSERT_FALSE(host_migrate_name_valid("abcd_a.sql"));
}

/* Files apply by name within a source, sources in the order given, each
 * exactly once. */
static void test_ordering(void)
{
    char *a = dbt_mkdtemp(), *b = dbt_mkdtemp();
    host_migrate_src srcs[2] = {{"t_ord_a", a}, {"t_ord_b", b}};
    PGconn *c;
    char *v;
    run_out r;

    CU_ASSERT_FATAL(a && b);
    /* Written out of order on purpose; readdir order is not name order. */
    dbt_write(a, "0010_c.sql", "INSERT INTO t_ord_log (name) VALUES ('a/0010');\n");
    dbt_write(a, "0002_b.sql", "INSERT INTO t_ord_log (name) VALUES ('a/0002');\n");
    dbt_write(a, "0001_a.sql",
              "CREATE TABLE t_ord_log (n serial PRIMARY KEY, name text);\n"
              "INSERT INTO t_ord_log (name) VALUES ('a/0001');\n");
    dbt_write(a, "README.md", "not a migration, ignored\n");
    /* b's first file needs everything of a: sources run in order. */
    dbt_write(b, "0001_x.sql", "INSERT INTO t_ord_log (name) VALUES ('b/0001');\n");
    r = run(srcs, 2, 0, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "applied t_ord_a/0001_a.sql"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "applied t_ord_b/0001_x.sql"));
    run_free(&r);

    c = dbt_connect(DBT_OWNER_URL());
    CU_ASSERT_FATAL(c != NULL);
    v = dbt_scalar(c, "SELECT string_agg(name, ',' ORDER BY n) FROM t_ord_log", 0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "a/0001,a/0002,a/0010,b/0001");
    free(v);

    /* A second run applies nothing. */
    r = run(srcs, 2, 0, NULL);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "up to date"));
    run_free(&r);
    v = dbt_scalar(c, "SELECT count(*) FROM t_ord_log", 0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "4");
    free(v);
    PQfinish(c);
    dbt_rm_rf(a);
    dbt_rm_rf(b);
    free(a);
    free(b);
}

/* An applied file that changed is refused, by name, and nothing else
 * (not even a new pending file) is applied. */
static void test_checksum_refusal(void)
{
    char *d = dbt_mkdtemp();
    run_out r;

    CU_ASSERT_FATAL(d != NULL);
    dbt_write(d, "0001_x.sql", "CREATE TABLE t_sum_x (i int);\n");
    r = run1("t_sum", d, 0);
    CU_ASSERT_EQUAL(r.rc, 0);
    run_free(&r);
    CU_ASSERT_EQUAL(count_applied("t_sum"), 1);

    dbt_write(d, "0001_x.sql", "CREATE TABLE t_sum_x (i int, j int); -- edited\n");
    dbt_write(d, "0002_y.sql", "CREATE TABLE t_sum_y (i int);\n");
    r = run1("t_sum", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "t_sum/0001_x.sql"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "changed after it was applied"));
    run_free(&r);
    CU_ASSERT_EQUAL(count_applied("t_sum"), 1);
    CU_ASSERT_EQUAL(table_exists("t_sum_y"), 0);

    /* --status reports it too, and fails. */
    r = run1("t_sum", d, 1);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "t_sum/0001_x.sql"));
    run_free(&r);
    dbt_rm_rf(d);
    free(d);
}

typedef struct conc_arg {
    const char *dir;
    run_out r;
} conc_arg;

static void *conc_main(void *p)
{
    conc_arg *a = p;
    host_migrate_src s = {"t_conc", a->dir};

    a->r = run(&s, 1, 0, NULL);
    return NULL;
}

/* Two runs at once: the advisory lock makes them take turns, so each file
 * is applied exactly once (a second CREATE TABLE would fail the run). */
static void test_concurrent_runs(void)
{
    char *d = dbt_mkdtemp();
    conc_arg x = {0}, y = {0};
    pthread_t tx, ty;
    int applied_by_x, applied_by_y;
    double t0;

    CU_ASSERT_FATAL(d != NULL);
    dbt_write(d, "0001_slow.sql", "SELECT pg_sleep(0.4);\nCREATE TABLE t_conc_once (i int);\n");
    dbt_write(d, "0002_more.sql", "CREATE TABLE t_conc_twice (i int);\n");
    x.dir = y.dir = d;
    t0 = dbt_now_ms();
    CU_ASSERT_FATAL(pthread_create(&tx, NULL, conc_main, &x) == 0);
    CU_ASSERT_FATAL(pthread_create(&ty, NULL, conc_main, &y) == 0);
    pthread_join(tx, NULL);
    pthread_join(ty, NULL);
    CU_ASSERT_EQUAL(x.r.rc, 0);
    CU_ASSERT_EQUAL(y.r.rc, 0);
    if (x.r.rc || y.r.rc)
        fprintf(stderr, "x: %s%s\ny: %s%s\n", x.r.out, x.r.err, y.r.out, y.r.err);
    applied_by_x = strstr(x.r.out, "applied t_conc/0001_slow.sql") != NULL;
    applied_by_y = strstr(y.r.out, "applied t_conc/0001_slow.sql") != NULL;
    CU_ASSERT_EQUAL(applied_by_x + applied_by_y, 1);
    CU_ASSERT_EQUAL(count_applied("t_conc"), 2);
    CU_ASSERT_TRUE(dbt_now_ms() - t0 >= 400.0);
    printf("\n    two concurrent runs took %.0f ms\n", dbt_now_ms() - t0);
    run_free(&x.r);
    run_free(&y.r);
    dbt_rm_rf(d);
    free(d);
}

/* --status lists applied and pending and changes nothing. */
static void test_status(void)
{
    char *d = dbt_mkdtemp();
    run_out r;

    CU_ASSERT_FATAL(d != NULL);
    dbt_write(d, "0001_a.sql", "CREATE TABLE t_stat_a (i int);\n");
    r = run1("t_stat", d, 1);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "pending  t_stat/0001_a.sql"));
    run_free(&r);
    r = run1("t_stat", d, 0);
    CU_ASSERT_EQUAL(r.rc, 0);
    run_free(&r);

    dbt_write(d, "0002_b.sql", "CREATE TABLE t_stat_b (i int);\n");
    r = run1("t_stat", d, 1);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "applied  t_stat/0001_a.sql"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "pending  t_stat/0002_b.sql"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "1 applied, 1 pending"));
    run_free(&r);
    CU_ASSERT_EQUAL(count_applied("t_stat"), 1);
    CU_ASSERT_EQUAL(table_exists("t_stat_b"), 0);
    dbt_rm_rf(d);
    free(d);
}

/* A failing file rolls back whole, is not recorded, and the message names
 * the file and the line. */
static void test_failure_rolls_back(void)
{
    char *d = dbt_mkdtemp();
    run_out r;

    CU_ASSERT_FATAL(d != NULL);
    dbt_write(d, "0001_ok.sql", "CREATE TABLE t_fail_ok (i int);\n");
    dbt_write(d, "0002_bad.sql",
              "CREATE TABLE t_fail_half (i int);\n"
              "SELECT no_such_column FROM t_fail_half;\n");
    r = run1("t_fail", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "t_fail/0002_bad.sql failed at line 2"));
    run_free(&r);
    CU_ASSERT_EQUAL(count_applied("t_fail"), 1);
    CU_ASSERT_EQUAL(table_exists("t_fail_ok"), 1);
    CU_ASSERT_EQUAL(table_exists("t_fail_half"), 0);
    dbt_rm_rf(d);
    free(d);
}

/* A file that ends the runner's transaction itself is refused loudly. */
static void test_commit_inside_refused(void)
{
    char *d = dbt_mkdtemp();
    run_out r;

    CU_ASSERT_FATAL(d != NULL);
    dbt_write(d, "0001_commit.sql", "CREATE TABLE t_cmt_x (i int);\nCOMMIT;\n");
    r = run1("t_cmt", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "must not contain COMMIT"));
    run_free(&r);
    CU_ASSERT_EQUAL(count_applied("t_cmt"), 0);
    dbt_rm_rf(d);
    free(d);
}

/* S3: a bad name, a symbolic link, or a number used twice: refused before
 * the database is touched. */
static void test_bad_files_refused(void)
{
    char *d = dbt_mkdtemp();
    char path[4096];
    run_out r;

    CU_ASSERT_FATAL(d != NULL);
    dbt_write(d, "0001_Upper.sql", "SELECT 1;\n");
    r = run1("t_bad", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "0001_Upper.sql: bad migration file name"));
    run_free(&r);

    snprintf(path, sizeof path, "%s/0001_Upper.sql", d);
    unlink(path);
    snprintf(path, sizeof path, "%s/0001_link.sql", d);
    CU_ASSERT_FATAL(symlink("/etc/passwd", path) == 0);
    r = run1("t_bad", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "t_bad/0001_link.sql"));
    run_free(&r);
    unlink(path);

    dbt_write(d, "0001_one.sql", "SELECT 1;\n");
    dbt_write(d, "0001_two.sql", "SELECT 2;\n");
    r = run1("t_bad", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "share the number 0001"));
    run_free(&r);
    CU_ASSERT_EQUAL(count_applied("t_bad"), 0);

    r = run1("Bad-Scope", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    run_free(&r);
    dbt_rm_rf(d);
    free(d);
}

/* A pending file older than an applied one would run out of order. */
static void test_out_of_order_refused(void)
{
    char *d = dbt_mkdtemp();
    run_out r;

    CU_ASSERT_FATAL(d != NULL);
    dbt_write(d, "0002_b.sql", "SELECT 1;\n");
    r = run1("t_ooo", d, 0);
    CU_ASSERT_EQUAL(r.rc, 0);
    run_free(&r);
    dbt_write(d, "0001_a.sql", "SELECT 1;\n");
    r = run1("t_ooo", d, 0);
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "t_ooo/0001_a.sql is pending but sorts before"));
    run_free(&r);
    dbt_rm_rf(d);
    free(d);
}

/* The real core migrations apply (concurrently with the other test
 * binaries, under the lock) and tenants are added idempotently. */
static void test_core_and_tenants(void)
{
    const char *ids[2] = {"mig_t1", "mig_t2"};
    const char *bad[1] = {"Bad Tenant'"};
    PGconn *c;
    char *v;

    CU_ASSERT_EQUAL(dbt_migrate_std(), 0);
    CU_ASSERT_EQUAL(dbt_migrate_std(), 0);
    CU_ASSERT_EQUAL(count_applied("core") >= 1, 1);
    CU_ASSERT_EQUAL(dbt_tenants(ids, 2), 0);
    CU_ASSERT_EQUAL(dbt_tenants(ids, 2), 0);
    CU_ASSERT_NOT_EQUAL(dbt_tenants(bad, 1), 0);
    c = dbt_connect(DBT_OWNER_URL());
    CU_ASSERT_FATAL(c != NULL);
    /* FORCE RLS binds the owner too: without a tenant it sees no tenant. */
    v = dbt_scalar(c, "SELECT count(*) FROM tenants", 0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "0");
    free(v);
    v = dbt_scalar_as(c, "mig_t1", "SELECT count(*) FROM tenants", 0, NULL);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "1");
    free(v);
    PQfinish(c);
}

/* S1, S19: the application role cannot run migrations (it may not even
 * create the bookkeeping table). */
static void test_app_role_cannot_migrate(void)
{
    char *d = dbt_mkdtemp();
    host_migrate_src s = {"t_app", NULL};
    run_out r;

    CU_ASSERT_FATAL(d != NULL);
    s.dir = d;
    dbt_write(d, "0001_a.sql", "CREATE TABLE t_app_x (i int);\n");
    r = run(&s, 1, 0, DBT_APP_URL());
    CU_ASSERT_NOT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "permission denied"));
    run_free(&r);
    CU_ASSERT_EQUAL(table_exists("t_app_x"), 0);
    dbt_rm_rf(d);
    free(d);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"S3 migration file names", test_name_rules},
        {"ordering within and across sources", test_ordering},
        {"checksum of an applied file changed: refused", test_checksum_refusal},
        {"two concurrent runs under the advisory lock", test_concurrent_runs},
        {"--status lists applied and pending", test_status},
        {"a failing migration rolls back", test_failure_rolls_back},
        {"COMMIT inside a migration refused", test_commit_inside_refused},
        {"S3 bad names, symlinks, duplicate numbers refused", test_bad_files_refused},
        {"pending file older than an applied one refused", test_out_of_order_refused},
        {"core migrations and tenants", test_core_and_tenants},
        {"S1 S19 the app role cannot migrate", test_app_role_cannot_migrate},
        CU_TEST_INFO_NULL,
    };
    return dbt_run("migrate", tests);
}
