/*
 * test_inject.c - S1: SQL injection strings passed as parameters through
 * the pool are stored and returned verbatim and never executed; a tenant
 * ID that looks like SQL is just a tenant ID nobody has; and one statement
 * string cannot smuggle a second statement (the extended protocol refuses
 * it).  Also A6: what goes in comes back byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbtest.h"

static const char *const attacks[] = {
    "'; DROP TABLE notes; --",
    "' OR '1'='1",
    "Robert'); DROP TABLE tenants;--",
    "\\'; SELECT pg_sleep(3); --",
    "1; DELETE FROM notes",
    "$1",
    "$$; DROP TABLE notes; $$",
    "E'\\x27'",
    "%s%s%n",
    "\"double\" 'single' `back`",
    "/* comment */ -- line comment",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e' OR 1=1 --",
    "\\\\\\' \\\" \\n \\0",
    "null",
    "",
};
#define NATTACKS ((int)(sizeof attacks / sizeof attacks[0]))

static host_db *db;

static int setup(void)
{
    const char *ids[2] = {"inj_a", "inj_b"};
    host_db_opts o;

    if (dbt_migrate_std() != 0 || dbt_tenants(ids, 2) != 0)
        return -1;
    memset(&o, 0, sizeof o);
    o.conninfo = DBT_APP_URL();
    o.size = 2;
    db = host_db_new(dbt_loop(), &o);
    return db && dbt_wait_ready(db, 1, 5000) ? 0 : -1;
}

static int teardown(void)
{
    host_db_free(db);
    dbt_loop_drain();
    return 0;
}

/* Each attack string is stored as data and read back unchanged. */
static void test_parameters_stored_verbatim(void)
{
    host_db_tx *tx;
    dbt_res r = {0};
    int i;

    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "inj_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "DELETE FROM notes", 0, NULL, &r), HOST_DB_OK);
    for (i = 0; i < NATTACKS; i++) {
        const char *p[2] = {"inj_a", attacks[i]};
        CU_ASSERT_EQUAL(dbt_query_wait(tx,
                                       "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)"
                                       " RETURNING body, length(body)",
                                       2, p, &r),
                        HOST_DB_OK);
        CU_ASSERT_STRING_EQUAL(r.first ? r.first : "(null)", attacks[i]);
    }
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    /* pg_sleep(3) never ran: each value came back as sent (RETURNING body,
     * above), which it could not have if it had been spliced into SQL. */

    /* Read back in a new transaction, and look them up by value. */
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "inj_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT count(*) FROM notes", 0, NULL, &r), HOST_DB_OK);
    CU_ASSERT_EQUAL(r.first ? atoi(r.first) : -1, NATTACKS);
    for (i = 0; i < NATTACKS; i++) {
        const char *p[1] = {attacks[i]};
        CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT count(*) FROM notes WHERE body = $1", 1, p, &r),
                        HOST_DB_OK);
        CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "1");
    }
    /* The tables the attacks name are all still there. */
    CU_ASSERT_EQUAL(dbt_query_wait(tx,
                                   "SELECT to_regclass('notes') IS NOT NULL"
                                   " AND to_regclass('tenants') IS NOT NULL",
                                   0, NULL, &r),
                    HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "t");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    dbt_res_free(&r);
}

/* A large value full of quotes and backslashes, byte for byte (A6). */
static void test_large_value_verbatim(void)
{
    size_t n = 200000, i;
    char *big = malloc(n + 1);
    host_db_tx *tx;
    dbt_res r = {0};
    const char *p[2] = {"inj_a", big};

    CU_ASSERT_FATAL(big != NULL);
    for (i = 0; i < n; i++)
        big[i] = "'\\\";-$ \n"[i % 8];
    big[n] = '\0';
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "inj_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx,
                                   "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)"
                                   " RETURNING body",
                                   2, p, &r),
                    HOST_DB_OK);
    CU_ASSERT_TRUE(r.first && strcmp(r.first, big) == 0);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 0, &r), HOST_DB_OK);
    dbt_res_free(&r);
    free(big);
}

/* A tenant ID shaped like SQL is compared as a value: no rows. */
static void test_tenant_id_injection(void)
{
    host_db_tx *tx;
    dbt_res r = {0};

    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "inj_a' OR '1'='1", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT count(*) FROM notes", 0, NULL, &r), HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "0");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    CU_ASSERT_EQUAL(host_db_tx_begin(db, "inj_a\n", dbt_begin_cb, NULL), HOST_DB_EINVAL);
    dbt_res_free(&r);
}

/* Stacked statements cannot ride in one query string. */
static void test_no_stacked_statements(void)
{
    host_db_tx *tx;
    dbt_res r = {0};

    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "inj_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT 1; DELETE FROM notes", 0, NULL, &r), HOST_DB_EQUERY);
    CU_ASSERT_STRING_EQUAL(r.state, "42601");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 0, &r), HOST_DB_OK);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "inj_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT count(*) > 0 FROM notes", 0, NULL, &r), HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "t");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    dbt_res_free(&r);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"S1 injection strings as parameters are stored verbatim", test_parameters_stored_verbatim},
        {"A6 a large value with quotes comes back byte for byte", test_large_value_verbatim},
        {"S1 S21 a tenant ID shaped like SQL matches nothing", test_tenant_id_injection},
        {"S1 no stacked statements in one query", test_no_stacked_statements},
        CU_TEST_INFO_NULL,
    };
    int rc;

    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    rc = dbt_run("inject", tests);
    teardown();
    return rc;
}
