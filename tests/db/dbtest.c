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

/* -- the pool from a test -------------------------------------------------- */

static uv_loop_t *loop;
static uv_timer_t tick;

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

uv_loop_t *dbt_loop(void)
{
    if (!loop) {
        loop = uv_default_loop();
        uv_timer_init(loop, &tick);
        uv_timer_start(&tick, on_tick, 5, 5);
        uv_unref((uv_handle_t *)&tick);
    }
    return loop;
}

int dbt_wait(const int *flag, double ms)
{
    double end = dbt_now_ms() + ms;

    dbt_loop();
    while (!*flag && dbt_now_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    return *flag;
}

void dbt_loop_drain(void)
{
    uv_run(dbt_loop(), UV_RUN_DEFAULT);
}

void dbt_begin_cb(host_db_tx *tx, int status, void *ud)
{
    dbt_beg *b = ud;

    b->tx = tx;
    b->status = status;
    b->done = 1;
    b->at_ms = dbt_now_ms();
}

static void fill(dbt_res *r, int status, const host_db_result *res)
{
    const char *st = host_db_result_sqlstate(res);
    size_t len = 0;
    FILE *f;
    int i, j;

    r->status = status;
    r->nrows = host_db_result_nrows(res);
    r->ncols = host_db_result_ncols(res);
    r->affected = host_db_result_affected(res);
    snprintf(r->state, sizeof r->state, "%s", st ? st : "");
    snprintf(r->msg, sizeof r->msg, "%s", host_db_result_message(res));
    free(r->first);
    free(r->rows);
    r->first = r->rows = NULL;
    if (r->nrows > 0 && r->ncols > 0 && host_db_result_value(res, 0, 0))
        r->first = strdup(host_db_result_value(res, 0, 0));
    f = open_memstream(&r->rows, &len);
    if (f) {
        for (i = 0; i < r->nrows; i++) {
            for (j = 0; j < r->ncols; j++) {
                const char *v = host_db_result_value(res, i, j);
                fprintf(f, "%s%s", j ? "|" : (i ? ";" : ""), v ? v : "NULL");
            }
        }
        fclose(f);
    }
    r->at_ms = dbt_now_ms();
    r->done = 1;
}

void dbt_query_cb(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    (void)tx;
    fill(ud, status, res);
}

void dbt_end_cb(int status, const host_db_result *res, void *ud)
{
    fill(ud, status, res);
}

void dbt_res_free(dbt_res *r)
{
    free(r->first);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

int dbt_begin_wait(host_db *db, const char *tenant, host_db_tx **tx)
{
    dbt_beg b = {0};
    int rc = host_db_tx_begin(db, tenant, dbt_begin_cb, &b);

    *tx = NULL;
    if (rc != 0)
        return rc;
    if (!dbt_wait(&b.done, 10000))
        return -100;
    *tx = b.tx;
    return b.status;
}

int dbt_query_wait(host_db_tx *tx, const char *sql, int n, const char *const *p, dbt_res *out)
{
    int rc;

    dbt_res_free(out);
    rc = host_db_tx_query(tx, sql, n, p, dbt_query_cb, out);
    if (rc != 0)
        return rc;
    if (!dbt_wait(&out->done, 10000))
        return -100;
    return out->status;
}

int dbt_end_wait(host_db_tx *tx, int commit, dbt_res *out)
{
    int rc;

    dbt_res_free(out);
    rc = commit ? host_db_tx_commit(tx, dbt_end_cb, out) : host_db_tx_rollback(tx, dbt_end_cb, out);
    if (rc != 0)
        return rc;
    if (!dbt_wait(&out->done, 10000))
        return -100;
    return out->status;
}

host_db *dbt_pool_new(int size, int queue_max, uint64_t queue_timeout_ms,
                      uint64_t statement_timeout_ms)
{
    host_db_opts o;

    memset(&o, 0, sizeof o);
    o.conninfo = DBT_APP_URL();
    o.size = size;
    o.queue_max = queue_max;
    o.queue_timeout_ms = queue_timeout_ms;
    o.statement_timeout_ms = statement_timeout_ms;
    o.reconnect_min_ms = 50;
    o.reconnect_max_ms = 500;
    return host_db_new(dbt_loop(), &o);
}

void dbt_pool_free(host_db *db)
{
    host_db_free(db);
    dbt_loop_drain();
}

int dbt_wait_ready(host_db *db, int want, double ms)
{
    double end = dbt_now_ms() + ms;

    dbt_loop();
    while (host_db_ready(db) != want && dbt_now_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    return host_db_ready(db) == want;
}

static void on_spawned_exit(uv_process_t *p, int64_t status, int sig)
{
    dbt_spawned *s = p->data;

    (void)sig;
    s->status = status;
    s->done = 1;
    uv_close((uv_handle_t *)p, NULL);
}

int dbt_pg_sh(const char *cmd, dbt_spawned *s)
{
    char *args[4];
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];

    args[0] = (char *)dbt_env("TANOMU_PG_SH");
    args[1] = (char *)cmd;
    args[2] = (char *)dbt_env("TANOMU_PG_DIR");
    args[3] = NULL;
    memset(&po, 0, sizeof po);
    memset(s, 0, sizeof *s);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 2;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    po.file = args[0];
    po.args = args;
    po.exit_cb = on_spawned_exit;
    po.stdio = stdio;
    po.stdio_count = 3;
    s->proc.data = s;
    return uv_spawn(dbt_loop(), &s->proc, &po);
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
