/*
 * dbtest.h - helpers shared by the tests in tests/db: the cluster's URLs
 * from the environment (set by pgtest.sh), blocking libpq shortcuts for
 * checking what the code under test did, temporary migration directories,
 * and the CUnit runner.
 */
#ifndef DBTEST_H
#define DBTEST_H

#include <stdint.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "db_pool.h"
#include "migrate.h"

/* An environment variable the fixture sets; exits the test if missing. */
const char *dbt_env(const char *name);
#define DBT_APP_URL() dbt_env("TANOMU_PG_APP_URL")
#define DBT_OWNER_URL() dbt_env("TANOMU_PG_OWNER_URL")

PGconn *dbt_connect(const char *url); /* NULL (and a message) on failure */
/* Runs one statement with text parameters; the caller PQclears. */
PGresult *dbt_q(PGconn *c, const char *sql, int n, const char *const *params);
int dbt_ok(const PGresult *r);            /* COMMAND_OK or TUPLES_OK */
const char *dbt_state(const PGresult *r); /* SQLSTATE or "" */
/* First value of the first row, malloc'd; NULL on error or SQL NULL. */
char *dbt_scalar(PGconn *c, const char *sql, int n, const char *const *params);
/* As dbt_scalar, with app.tenant_id set for the statement's transaction. */
char *dbt_scalar_as(PGconn *c, const char *tenant, const char *sql, int n,
                    const char *const *params);

/* Core migrations plus tests/db/migrations (scope "test"), and tenants. */
int dbt_migrate_std(void);
int dbt_tenants(const char *const *ids, int n);

char *dbt_mkdtemp(void);
int dbt_write(const char *dir, const char *name, const char *text);
void dbt_rm_rf(const char *dir);
const char *dbt_source_dir(void);

double dbt_now_ms(void);

/* -- driving the pool from a test ------------------------------------------ */

/* One loop for the test process, with an unreferenced 5 ms tick so a wait
 * with a deadline always wakes up. */
uv_loop_t *dbt_loop(void);
/* Runs the loop until *flag is set or ms pass; returns *flag. */
int dbt_wait(const int *flag, double ms);
/* Runs the loop until it has no active handles (after host_db_free). */
void dbt_loop_drain(void);

/* What a query or end callback saw, copied out of the callback. */
typedef struct dbt_res {
    int done;
    int status;
    int nrows;
    int ncols;
    char *first;   /* value (0,0), NULL for none or SQL NULL */
    char *rows;    /* all values: cells joined by '|', rows by ';' */
    char state[6]; /* SQLSTATE or "" */
    char msg[256];
    int64_t affected;
    double at_ms; /* dbt_now_ms() when the callback ran */
} dbt_res;

typedef struct dbt_beg {
    int done;
    int status;
    host_db_tx *tx;
    double at_ms;
} dbt_beg;

void dbt_begin_cb(host_db_tx *tx, int status, void *ud); /* ud: dbt_beg */
void dbt_query_cb(host_db_tx *tx, int status, const host_db_result *res, void *ud); /* dbt_res */
void dbt_end_cb(int status, const host_db_result *res, void *ud);                   /* dbt_res */
void dbt_res_free(dbt_res *r);

/* Synchronous wrappers: start, then run the loop until the callback (10 s
 * at most; -100 on timeout). */
int dbt_begin_wait(host_db *db, const char *tenant, host_db_tx **tx);
int dbt_query_wait(host_db_tx *tx, const char *sql, int n, const char *const *p, dbt_res *out);
int dbt_end_wait(host_db_tx *tx, int commit, dbt_res *out);

/* A pool on dbt_loop() for the app role, reconnecting fast (50 to 500 ms);
 * 0 means the pool's default.  dbt_pool_free frees it and drains the loop. */
host_db *dbt_pool_new(int size, int queue_max, uint64_t queue_timeout_ms,
                      uint64_t statement_timeout_ms);
void dbt_pool_free(host_db *db);

/* Runs the loop until host_db_ready(db) equals want, up to ms. */
int dbt_wait_ready(host_db *db, int want, double ms);

/* scripts/pg.sh CMD on this test's cluster ("stop", "start"), run without
 * blocking the loop, so the pool keeps working (and failing) meanwhile.
 * argv, no shell.  done is set, and status filled, when it exits. */
typedef struct dbt_spawned {
    uv_process_t proc;
    int done;
    int64_t status;
} dbt_spawned;
int dbt_pg_sh(const char *cmd, dbt_spawned *s);

/* Runs one suite; returns the process exit code. */
int dbt_run(const char *suite, CU_TestInfo *tests);

#endif
