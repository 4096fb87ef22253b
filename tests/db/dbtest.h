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

#include "migrate.h"

/* An environment variable the fixture sets; exits the test if missing. */
const char *dbt_env(const char *name);
#define DBT_APP_URL() dbt_env("TANOMU_PG_APP_URL")
#define DBT_OWNER_URL() dbt_env("TANOMU_PG_OWNER_URL")

PGconn *dbt_connect(const char *url); /* NULL (and a message) on failure */
/* Runs one statement with text parameters; the caller PQclears. */
PGresult *dbt_q(PGconn *c, const char *sql, int n, const char *const *params);
int dbt_ok(const PGresult *r);             /* COMMAND_OK or TUPLES_OK */
const char *dbt_state(const PGresult *r);  /* SQLSTATE or "" */
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

/* Runs one suite; returns the process exit code. */
int dbt_run(const char *suite, CU_TestInfo *tests);

#endif
