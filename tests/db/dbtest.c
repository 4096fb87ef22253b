/*
 * dbtest.c - helpers for the database tests.  See dbtest.h.
 */
#include "dbtest.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

const char *dbt_env(const char *name)
{
    const char *v = getenv(name);

    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run through tests/db/pgtest.sh (ctest does)\n", name);
        exit(2);
    }
    return v;
}

const char *dbt_source_dir(void)
{
    return dbt_env("TANOMU_SOURCE_DIR");
}

PGconn *dbt_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);

    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect failed: %s", c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        return NULL;
    }
    return c;
}

PGresult *dbt_q(PGconn *c, const char *sql, int n, const char *const *params)
{
    return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

int dbt_ok(const PGresult *r)
{
    return r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
}

const char *dbt_state(const PGresult *r)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

char *dbt_scalar(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = dbt_q(c, sql, n, params);
    char *v = NULL;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    else if (!dbt_ok(r))
        fprintf(stderr, "query failed: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

char *dbt_scalar_as(PGconn *c, const char *tenant, const char *sql, int n,
                    const char *const *params)
{
    const char *t[1] = {tenant};
    PGresult *r;
    char *v;

    PQclear(PQexec(c, "BEGIN"));
    r = dbt_q(c, "SELECT set_config('app.tenant_id', $1, true)", 1, t);
    PQclear(r);
    v = dbt_scalar(c, sql, n, params);
    PQclear(PQexec(c, "ROLLBACK"));
    return v;
}

static int migrate_quiet(const host_migrate_src *srcs, int n)
{
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen);
    FILE *err = open_memstream(&ebuf, &elen);
    int rc;

    if (!out || !err) {
        if (out)
            fclose(out);
        if (err)
            fclose(err);
        free(obuf);
        free(ebuf);
        return -1;
    }
    rc = host_migrate(DBT_OWNER_URL(), srcs, n, 0, out, err);
    fclose(out);
    fclose(err);
    if (rc != 0)
        fprintf(stderr, "migrate failed:\n%s%s", obuf, ebuf);
    free(obuf);
    free(ebuf);
    return rc;
}

int dbt_migrate_std(void)
{
    char core[4096], test[4096];
    host_migrate_src srcs[2];

    snprintf(core, sizeof core, "%s/migrations", dbt_source_dir());
    snprintf(test, sizeof test, "%s/tests/db/migrations", dbt_source_dir());
    srcs[0].scope = "core";
    srcs[0].dir = core;
    srcs[1].scope = "test";
    srcs[1].dir = test;
    return migrate_quiet(srcs, 2);
}

int dbt_tenants(const char *const *ids, int n)
{
    FILE *devnull = fopen("/dev/null", "w");
    int rc;

    if (!devnull)
        return -1;
    rc = host_migrate_tenants(DBT_OWNER_URL(), ids, n, devnull, stderr);
    fclose(devnull);
    return rc;
}

char *dbt_mkdtemp(void)
{
    char tmpl[] = "/tmp/tanomu-dbtest-XXXXXX";
    char *d = mkdtemp(tmpl);

    return d ? strdup(d) : NULL;
}

int dbt_write(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *f;
    int rc;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (!f)
        return -1;
    rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void dbt_rm_rf(const char *dir)
{
    if (dir)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

double dbt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int dbt_run(const char *suite, CU_TestInfo *tests)
{
    CU_SuiteInfo suites[] = {
        {suite, NULL, NULL, NULL, NULL, tests},
        CU_SUITE_INFO_NULL,
    };
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
