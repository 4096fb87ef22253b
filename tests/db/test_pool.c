/*
 * test_pool.c - the asynchronous pool on a libuv loop against its own
 * PostgreSQL cluster: transactions with a tenant (S21), errors as values,
 * the bounded wait queue and its timeout under exhaustion (the 503 path),
 * statement_timeout, a backend killed under a transaction, freeing with
 * work outstanding, and the server stopped mid-run and restarted: errors,
 * not crashes, and recovery within seconds (A3, A10).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbtest.h"

static int setup(void)
{
    const char *ids[2] = {"pool_a", "pool_b"};

    return dbt_migrate_std() == 0 && dbt_tenants(ids, 2) == 0 ? 0 : -1;
}

/* BEGIN, set_config and the first statement in one segment; the tenant is
 * what RLS sees. */
static void test_roundtrip(void)
{
    host_db *db = dbt_pool_new(2, 8, 1000, 0);
    const char *p[1] = {"hello"};
    host_db_tx *tx;
    dbt_res r = {0};

    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_TRUE(dbt_wait_ready(db, 1, 5000));
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(host_db_tx_tenant(tx), "pool_a");
    CU_ASSERT_EQUAL(dbt_query_wait(tx,
                                   "SELECT $1::text, current_setting('app.tenant_id', true),"
                                   " NULL::text, 42",
                                   1, p, &r),
                    HOST_DB_OK);
    CU_ASSERT_EQUAL(r.nrows, 1);
    CU_ASSERT_EQUAL(r.ncols, 4);
    CU_ASSERT_STRING_EQUAL(r.rows ? r.rows : "", "hello|pool_a|NULL|42");
    CU_ASSERT_EQUAL(dbt_query_wait(tx,
                                   "INSERT INTO notes (tenant_id, body) VALUES ('pool_a', 'x'),"
                                   " ('pool_a', 'y')",
                                   0, NULL, &r),
                    HOST_DB_OK);
    CU_ASSERT_EQUAL(r.affected, 2);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    dbt_res_free(&r);
    dbt_pool_free(db);
}

/* S21: a connection goes back to the pool with no tenant on it, even if a
 * statement set one at session level. */
static void test_tenant_not_carried(void)
{
    host_db *db = dbt_pool_new(1, 8, 1000, 0);
    host_db_tx *tx;
    dbt_res r = {0};

    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT count(*) FROM notes", 0, NULL, &r), HOST_DB_OK);
    /* A misbehaving statement tries to make the tenant stick. */
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT set_config('app.tenant_id', 'pool_b', false)", 0,
                                   NULL, &r),
                    HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);

    /* Same (only) connection, no tenant: sees nothing. */
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, NULL, &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx,
                                   "SELECT coalesce(current_setting('app.tenant_id', true), ''),"
                                   " (SELECT count(*) FROM notes)",
                                   0, NULL, &r),
                    HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.rows ? r.rows : "", "|0");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 0, &r), HOST_DB_OK);

    /* And pool_a's next transaction is pool_a's, not pool_b's. */
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT current_setting('app.tenant_id', true)", 0, NULL,
                                   &r),
                    HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "pool_a");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    dbt_res_free(&r);
    dbt_pool_free(db);
}

/* Errors are values: SQLSTATE and message; the transaction is aborted,
 * COMMIT says so, and the connection serves the next request. */
static void test_errors_and_abort(void)
{
    host_db *db = dbt_pool_new(1, 8, 1000, 0);
    host_db_tx *tx;
    dbt_res r = {0};

    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT * FROM no_such_table", 0, NULL, &r), HOST_DB_EQUERY);
    CU_ASSERT_STRING_EQUAL(r.state, "42P01");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.msg, "no_such_table"));
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT 1", 0, NULL, &r), HOST_DB_EQUERY);
    CU_ASSERT_STRING_EQUAL(r.state, "25P02");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_EABORTED);
    CU_ASSERT_EQUAL(host_db_tx_query(NULL, "SELECT 1", 0, NULL, dbt_query_cb, &r), HOST_DB_EINVAL);

    /* A failure in the very first segment (the prologue is in it too). */
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELEC 1", 0, NULL, &r), HOST_DB_EQUERY);
    CU_ASSERT_STRING_EQUAL(r.state, "42601");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 0, &r), HOST_DB_OK);

    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT 7", 0, NULL, &r), HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "7");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    /* Ending twice is refused without a callback. */
    dbt_res_free(&r);
    dbt_pool_free(db);
}

/* Several statements in flight on one tx: answered in order. */
static void test_pipelined(void)
{
    host_db *db = dbt_pool_new(1, 8, 1000, 0);
    host_db_tx *tx;
    dbt_res r[4];
    int i;

    memset(r, 0, sizeof r);
    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(host_db_tx_query(tx, "SELECT 1", 0, NULL, dbt_query_cb, &r[0]), 0);
    CU_ASSERT_EQUAL(host_db_tx_query(tx, "SELECT pg_sleep(0.05), 2", 0, NULL, dbt_query_cb, &r[1]),
                    0);
    CU_ASSERT_EQUAL(host_db_tx_query(tx, "SELECT 3", 0, NULL, dbt_query_cb, &r[2]), 0);
    CU_ASSERT_EQUAL(host_db_tx_commit(tx, dbt_end_cb, &r[3]), 0);
    CU_ASSERT_EQUAL(host_db_tx_commit(tx, dbt_end_cb, &r[3]), HOST_DB_ESTATE);
    /* Nothing runs inside the calls themselves. */
    CU_ASSERT_EQUAL(r[0].done, 0);
    CU_ASSERT_TRUE(dbt_wait(&r[3].done, 5000));
    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(r[i].status, HOST_DB_OK);
        if (i > 0)
            CU_ASSERT_TRUE(r[i].at_ms >= r[i - 1].at_ms);
    }
    CU_ASSERT_STRING_EQUAL(r[2].first ? r[2].first : "", "3");
    CU_ASSERT_EQUAL(r[3].status, HOST_DB_OK);
    for (i = 0; i < 4; i++)
        dbt_res_free(&r[i]);
    dbt_pool_free(db);
}

/* Exhaustion: the queue holds queue_max callers; the next gets EBUSY at
 * once, the waiting ones ETIMEDOUT after queue_timeout_ms (both map to
 * 503), and a released connection goes to the first waiter. */
static void test_queue_bound_and_timeout(void)
{
    host_db *db = dbt_pool_new(1, 2, 300, 0);
    host_db_tx *tx;
    dbt_beg w[3];
    dbt_res r = {0};
    host_db_stats st;
    double t0;
    int i;

    memset(w, 0, sizeof w);
    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    /* The queue deadline counts from the loop's cached time: refresh it, or
     * a stall before this line makes the timeout look early against t0. */
    uv_update_time(dbt_loop());
    t0 = dbt_now_ms();
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(host_db_tx_begin(db, "pool_a", dbt_begin_cb, &w[i]), 0);
    CU_ASSERT_TRUE(dbt_wait(&w[2].done, 1000));
    CU_ASSERT_EQUAL(w[2].status, HOST_DB_EBUSY);
    CU_ASSERT_TRUE(dbt_wait(&w[1].done, 3000));
    CU_ASSERT_EQUAL(w[0].status, HOST_DB_ETIMEDOUT);
    CU_ASSERT_EQUAL(w[1].status, HOST_DB_ETIMEDOUT);
    /* "At once" is an order, not a stopwatch (a loaded machine stalls both):
     * EBUSY came no later than the timeouts, which waited the full 300 ms. */
    CU_ASSERT_TRUE(w[2].at_ms <= w[0].at_ms);
    CU_ASSERT_TRUE(w[0].at_ms - t0 >= 290);
    printf("\n    EBUSY after %.1f ms, ETIMEDOUT after %.1f ms (queue_timeout 300)\n",
           w[2].at_ms - t0, w[0].at_ms - t0);
    CU_ASSERT_TRUE(host_db_status_is_unavailable(HOST_DB_EBUSY));
    CU_ASSERT_TRUE(host_db_status_is_unavailable(HOST_DB_ETIMEDOUT));
    host_db_get_stats(db, &st);
    CU_ASSERT_EQUAL(st.rejected, 1);
    CU_ASSERT_EQUAL(st.timed_out, 2);
    CU_ASSERT_EQUAL(st.busy, 1);

    /* A waiter gets the connection as soon as it is released. */
    memset(w, 0, sizeof w);
    CU_ASSERT_EQUAL(host_db_tx_begin(db, "pool_b", dbt_begin_cb, &w[0]), 0);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT pg_sleep(0.05)", 0, NULL, &r), HOST_DB_OK);
    CU_ASSERT_EQUAL(w[0].done, 0);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    CU_ASSERT_TRUE(dbt_wait(&w[0].done, 1000));
    CU_ASSERT_EQUAL(w[0].status, HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(w[0].tx, "SELECT current_setting('app.tenant_id', true)", 0,
                                   NULL, &r),
                    HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "pool_b");
    CU_ASSERT_EQUAL(dbt_end_wait(w[0].tx, 1, &r), HOST_DB_OK);
    dbt_res_free(&r);
    dbt_pool_free(db);
}

/* A caller that retries at once on EBUSY must not starve the loop: each
 * retry's answer comes on a later loop iteration, so timers still fire.
 * (A zero-delay timer would not do: libuv 1.44 reruns it in the same pass.) */
typedef struct spinner {
    host_db *db;
    long retries;
    int timer_fired;
} spinner;

static void spin_begin_cb(host_db_tx *tx, int status, void *ud)
{
    spinner *s = ud;

    if (tx)
        host_db_tx_rollback(tx, NULL, NULL);
    if (status == HOST_DB_EBUSY && !s->timer_fired && ++s->retries < 2000000)
        host_db_tx_begin(s->db, "pool_a", spin_begin_cb, s);
}

static void on_spin_timer(uv_timer_t *t)
{
    spinner *s = t->data;
    s->timer_fired = 1;
}

static void test_tight_retry_does_not_starve(void)
{
    host_db_opts o;
    host_db_tx *tx;
    spinner s = {0};
    uv_timer_t t;
    dbt_res r = {0};

    memset(&o, 0, sizeof o);
    o.conninfo = DBT_APP_URL();
    o.size = 1;
    o.queue_max = -1; /* no waiting at all */
    s.db = host_db_new(dbt_loop(), &o);
    CU_ASSERT_FATAL(s.db != NULL);
    CU_ASSERT_TRUE(dbt_wait_ready(s.db, 1, 5000));
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(s.db, "pool_a", &tx), HOST_DB_OK);
    uv_timer_init(dbt_loop(), &t);
    t.data = &s;
    uv_timer_start(&t, on_spin_timer, 50, 0);
    CU_ASSERT_EQUAL(host_db_tx_begin(s.db, "pool_a", spin_begin_cb, &s), 0);
    CU_ASSERT_TRUE(dbt_wait(&s.timer_fired, 5000));
    CU_ASSERT_TRUE(s.retries > 0 && s.retries < 2000000);
    printf("\n    %ld EBUSY retries while a 50 ms timer still fired\n", s.retries);
    uv_close((uv_handle_t *)&t, NULL);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 0, &r), HOST_DB_OK);
    dbt_res_free(&r);
    dbt_pool_free(s.db);
}

/* statement_timeout is set on every connection. */
static void test_statement_timeout(void)
{
    host_db *db = dbt_pool_new(1, 8, 1000, 200);
    host_db_tx *tx;
    dbt_res r = {0};
    double t0;

    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    t0 = dbt_now_ms();
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT pg_sleep(5)", 0, NULL, &r), HOST_DB_EQUERY);
    /* 57014 says the server cancelled it: no stopwatch needed (or stable). */
    CU_ASSERT_STRING_EQUAL(r.state, "57014");
    printf("\n    pg_sleep(5) cancelled after %.0f ms (statement_timeout 200)\n", r.at_ms - t0);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 0, &r), HOST_DB_OK);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SHOW statement_timeout", 0, NULL, &r), HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "200ms");
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    dbt_res_free(&r);
    dbt_pool_free(db);
}

/* A server nobody listens on: callers fail fast with EUNAVAIL, not after
 * the queue timeout, and the pool says it is not ready. */
static void test_unreachable_fails_fast(void)
{
    host_db_opts o;
    host_db *db;
    dbt_beg b = {0};

    memset(&o, 0, sizeof o);
    o.conninfo = "host=127.0.0.1 port=1 dbname=tanomu user=tanomu_app connect_timeout=2";
    o.size = 2;
    o.queue_timeout_ms = 5000;
    CU_ASSERT_PTR_NULL(host_db_new(dbt_loop(), &(host_db_opts){.conninfo = "host='unterminated"}));
    db = host_db_new(dbt_loop(), &o);
    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL(host_db_tx_begin(db, "pool_a", dbt_begin_cb, &b), 0);
    CU_ASSERT_TRUE(dbt_wait(&b.done, 6000));
    /* EUNAVAIL, not the queue's ETIMEDOUT: it did not wait out the 5 s. */
    CU_ASSERT_EQUAL(b.status, HOST_DB_EUNAVAIL);
    CU_ASSERT_PTR_NULL(b.tx);
    CU_ASSERT_FALSE(host_db_ready(db));
    /* And the next caller does not queue at all. */
    memset(&b, 0, sizeof b);
    CU_ASSERT_EQUAL(host_db_tx_begin(db, "pool_a", dbt_begin_cb, &b), 0);
    CU_ASSERT_TRUE(dbt_wait(&b.done, 1000));
    CU_ASSERT_EQUAL(b.status, HOST_DB_EUNAVAIL);
    dbt_pool_free(db);
}

/* A backend killed under a transaction: the statement fails, the pool
 * replaces the connection without help. */
static void test_backend_killed(void)
{
    host_db *db = dbt_pool_new(2, 8, 1000, 0);
    host_db_tx *victim, *killer;
    dbt_res r = {0};
    host_db_stats st;
    char pid[32];
    const char *p[1] = {pid};
    double t0;

    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &victim), HOST_DB_OK);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &killer), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(victim, "SELECT pg_backend_pid()", 0, NULL, &r), HOST_DB_OK);
    snprintf(pid, sizeof pid, "%s", r.first ? r.first : "0");
    CU_ASSERT_EQUAL(dbt_query_wait(killer, "SELECT pg_terminate_backend($1::int)", 1, p, &r),
                    HOST_DB_OK);
    CU_ASSERT_STRING_EQUAL(r.first ? r.first : "", "t");
    CU_ASSERT_EQUAL(dbt_end_wait(killer, 1, &r), HOST_DB_OK);
    /* Often the pool notices before the next statement; either way the
     * victim's statement or commit reports the loss, never success. */
    dbt_query_wait(victim, "SELECT 1", 0, NULL, &r);
    CU_ASSERT_NOT_EQUAL(r.status, HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_end_wait(victim, 1, &r), HOST_DB_EUNAVAIL);
    t0 = dbt_now_ms();
    do {
        uv_run(dbt_loop(), UV_RUN_ONCE);
        host_db_get_stats(db, &st);
    } while (st.idle < 2 && dbt_now_ms() - t0 < 5000);
    CU_ASSERT_EQUAL(st.idle, 2);
    CU_ASSERT_TRUE(st.reconnects >= 1);
    printf("\n    replaced the killed connection in %.0f ms\n", dbt_now_ms() - t0);
    dbt_res_free(&r);
    dbt_pool_free(db);
}

static int owner_exec(PGconn *c, const char *sql)
{
    PGresult *r = dbt_q(c, sql, 0, NULL);
    int ok = dbt_ok(r);

    if (!ok)
        fprintf(stderr, "\n    %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* A3: the connection lost while COMMIT runs.  The transaction may or may
 * not have committed, so the pool must say "unknown" (HOST_DB_EUNKNOWN),
 * never "unavailable", which the host answers 503 + Retry-After.  A deferred
 * constraint trigger waits for an advisory lock the test holds, so COMMIT
 * is provably in progress when the test terminates its backend. */
static void test_commit_outcome_unknown(void)
{
    static const char *const ddl[] = {
        "SET client_min_messages TO warning",
        "CREATE TABLE IF NOT EXISTS commit_probe (v text)",
        "CREATE OR REPLACE FUNCTION commit_probe_wait() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN PERFORM pg_advisory_xact_lock(724201); RETURN NULL; END$$",
        "DROP TRIGGER IF EXISTS commit_probe_wait ON commit_probe",
        "CREATE CONSTRAINT TRIGGER commit_probe_wait AFTER INSERT ON commit_probe "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_probe_wait()",
        "GRANT INSERT ON commit_probe TO PUBLIC",
    };
    PGconn *owner = dbt_connect(DBT_OWNER_URL()), *app = dbt_connect(DBT_APP_URL());
    host_db *db = dbt_pool_new(1, 8, 1000, 0);
    host_db_tx *tx;
    dbt_res r = {0}, end = {0};
    char pid[32], *v = NULL;
    const char *p[1] = {pid};
    double t0;
    size_t i;

    CU_ASSERT_FATAL(owner && app && db);
    for (i = 0; i < sizeof ddl / sizeof ddl[0]; i++)
        CU_ASSERT_FATAL(owner_exec(owner, ddl[i]));
    CU_ASSERT_FATAL(owner_exec(app, "SELECT pg_advisory_lock(724201)"));
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "SELECT pg_backend_pid()", 0, NULL, &r), HOST_DB_OK);
    snprintf(pid, sizeof pid, "%s", r.first ? r.first : "0");
    CU_ASSERT_EQUAL(dbt_query_wait(tx, "INSERT INTO commit_probe VALUES ('x')", 0, NULL, &r),
                    HOST_DB_OK);
    CU_ASSERT_EQUAL_FATAL(host_db_tx_commit(tx, dbt_end_cb, &end), 0);
    /* COMMIT runs the deferred trigger, which now waits for our lock. */
    t0 = dbt_now_ms();
    do {
        dbt_wait(&end.done, 20);
        free(v);
        v = dbt_scalar(app, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1::int", 1,
                       p);
    } while (!end.done && !(v && strcmp(v, "Lock") == 0) && dbt_now_ms() - t0 < 10000);
    CU_ASSERT_STRING_EQUAL_FATAL(v ? v : "", "Lock");
    CU_ASSERT_FALSE(end.done);
    free(v);
    v = dbt_scalar(app, "SELECT pg_terminate_backend($1::int)", 1, p);
    CU_ASSERT_STRING_EQUAL(v ? v : "", "t");
    CU_ASSERT_TRUE(dbt_wait(&end.done, 10000));
    CU_ASSERT_EQUAL(end.status, HOST_DB_EUNKNOWN);
    CU_ASSERT_FALSE(host_db_status_is_unavailable(end.status));
    CU_ASSERT_FATAL(owner_exec(app, "SELECT pg_advisory_unlock(724201)"));
    free(v);
    dbt_res_free(&r);
    dbt_res_free(&end);
    dbt_pool_free(db);
    PQfinish(app);
    PQfinish(owner);
}

/* Freeing with a waiter, a statement in flight and an open tx: everyone is
 * told ECLOSED, the tx can still be ended, nothing leaks (ASan). */
static void test_free_with_work_outstanding(void)
{
    host_db *db = dbt_pool_new(1, 8, 5000, 0);
    host_db_tx *tx;
    dbt_beg w = {0};
    dbt_res q = {0}, e = {0};

    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "pool_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(host_db_tx_begin(db, "pool_a", dbt_begin_cb, &w), 0);
    CU_ASSERT_EQUAL(host_db_tx_query(tx, "SELECT pg_sleep(1)", 0, NULL, dbt_query_cb, &q), 0);
    host_db_free(db);
    CU_ASSERT_EQUAL(host_db_tx_begin(db, "pool_a", dbt_begin_cb, &w), HOST_DB_ECLOSED);
    CU_ASSERT_TRUE(dbt_wait(&q.done, 1000));
    CU_ASSERT_TRUE(dbt_wait(&w.done, 1000));
    CU_ASSERT_EQUAL(w.status, HOST_DB_ECLOSED);
    CU_ASSERT_EQUAL(q.status, HOST_DB_ECLOSED);
    CU_ASSERT_EQUAL(host_db_tx_rollback(tx, dbt_end_cb, &e), 0);
    CU_ASSERT_TRUE(dbt_wait(&e.done, 1000));
    CU_ASSERT_EQUAL(e.status, HOST_DB_ECLOSED);
    dbt_loop_drain();
    dbt_res_free(&q);
    dbt_res_free(&e);
}

/* -- the server stopped mid-run ------------------------------------------- */

typedef struct load {
    host_db *db;
    uv_timer_t timer;
    int running; /* a transaction is in progress */
    int stop;
    long ok, failed;
    double last_ok_ms;
    int bad_status; /* a status that is neither OK nor an outage */
} load;

static void load_next(load *l);

static void load_end_cb(int status, const host_db_result *res, void *ud)
{
    load *l = ud;

    (void)res;
    l->running = 0;
    if (status == HOST_DB_OK) {
        l->ok++;
        l->last_ok_ms = dbt_now_ms();
    } else {
        l->failed++;
    }
}

static void load_query_cb(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    load *l = ud;

    /* An outage shows as EUNAVAIL, or as the server's own 57P01/57P02/57P03
     * ("terminating connection", "cannot connect now") on a statement. */
    if (status != HOST_DB_OK && !host_db_status_is_unavailable(status) &&
        !(status == HOST_DB_EQUERY && host_db_result_sqlstate(res) &&
          strncmp(host_db_result_sqlstate(res), "57P0", 4) == 0)) {
        fprintf(stderr, "unexpected: %s %s %s\n", host_db_strerror(status),
                host_db_result_sqlstate(res) ? host_db_result_sqlstate(res) : "",
                host_db_result_message(res));
        l->bad_status = 1;
    }
    if (host_db_tx_commit(tx, load_end_cb, l) != 0)
        l->bad_status = 1;
}

static void load_begin_cb(host_db_tx *tx, int status, void *ud)
{
    load *l = ud;

    if (status != HOST_DB_OK) {
        l->running = 0;
        l->failed++;
        if (!host_db_status_is_unavailable(status))
            l->bad_status = 1;
        return;
    }
    if (host_db_tx_query(tx, "SELECT count(*) FROM notes", 0, NULL, load_query_cb, l) != 0)
        l->bad_status = 1;
}

static void load_next(load *l)
{
    if (l->running || l->stop)
        return;
    l->running = 1;
    if (host_db_tx_begin(l->db, "pool_a", load_begin_cb, l) != 0) {
        l->running = 0;
        l->bad_status = 1;
    }
}

static void on_load_timer(uv_timer_t *t)
{
    load_next(t->data);
}

static void test_server_restart(void)
{
    load l;
    host_db_opts o;
    dbt_spawned sp;
    double t_stop, t_down = 0, t_started, t_recovered;
    long ok_before, failed_during;

    memset(&l, 0, sizeof l);
    /* Production defaults for the backoff (100 ms doubling to 2 s). */
    memset(&o, 0, sizeof o);
    o.conninfo = DBT_APP_URL();
    o.size = 2;
    o.queue_timeout_ms = 500;
    l.db = host_db_new(dbt_loop(), &o);
    CU_ASSERT_FATAL(l.db != NULL);
    CU_ASSERT_TRUE(dbt_wait_ready(l.db, 1, 5000));
    uv_timer_init(dbt_loop(), &l.timer);
    l.timer.data = &l;
    uv_timer_start(&l.timer, on_load_timer, 0, 2);

    /* Healthy traffic for a moment. */
    dbt_wait(&l.stop, 300);
    ok_before = l.ok;
    CU_ASSERT_TRUE(ok_before > 10);

    /* Fast shutdown while transactions run. */
    t_stop = dbt_now_ms();
    CU_ASSERT_EQUAL_FATAL(dbt_pg_sh("stop", &sp), 0);
    CU_ASSERT_TRUE(dbt_wait(&sp.done, 30000));
    CU_ASSERT_EQUAL(sp.status, 0);
    CU_ASSERT_TRUE(dbt_wait_ready(l.db, 0, 5000));
    t_down = dbt_now_ms();
    failed_during = l.failed;
    dbt_wait(&l.stop, 700); /* down for a while: errors, not crashes */
    CU_ASSERT_TRUE(l.failed > failed_during);
    CU_ASSERT_FALSE(host_db_ready(l.db));

    CU_ASSERT_EQUAL_FATAL(dbt_pg_sh("start", &sp), 0);
    CU_ASSERT_TRUE(dbt_wait(&sp.done, 60000));
    CU_ASSERT_EQUAL(sp.status, 0);
    t_started = dbt_now_ms();
    CU_ASSERT_TRUE(dbt_wait_ready(l.db, 1, 10000));
    while (l.last_ok_ms < t_started && dbt_now_ms() - t_started < 10000)
        uv_run(dbt_loop(), UV_RUN_ONCE);
    t_recovered = l.last_ok_ms;
    CU_ASSERT_TRUE(t_recovered >= t_started && t_recovered - t_started < 5000);
    CU_ASSERT_FALSE(l.bad_status);
    printf("\n    stop -> not ready %.0f ms; %ld failed while down; first commit %.0f ms after "
           "the server was up again\n",
           t_down - t_stop, l.failed, t_recovered - t_started);

    l.stop = 1;
    uv_timer_stop(&l.timer);
    uv_close((uv_handle_t *)&l.timer, NULL);
    while (l.running && dbt_now_ms() - t_recovered < 5000)
        uv_run(dbt_loop(), UV_RUN_ONCE);
    dbt_pool_free(l.db);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"S21 begin + tenant + statement round trip", test_roundtrip},
        {"S21 no tenant carried over on a pooled connection", test_tenant_not_carried},
        {"errors as values; aborted tx; COMMIT reports the abort", test_errors_and_abort},
        {"pipelined statements answer in order", test_pipelined},
        {"queue bound (EBUSY) and wait timeout (ETIMEDOUT) under exhaustion",
         test_queue_bound_and_timeout},
        {"a caller retrying on EBUSY cannot starve the loop", test_tight_retry_does_not_starve},
        {"statement_timeout per connection", test_statement_timeout},
        {"unreachable server: EUNAVAIL fast, not ready", test_unreachable_fails_fast},
        {"backend killed under a tx: error, then replaced", test_backend_killed},
        {"A3 connection lost during COMMIT: outcome unknown, not unavailable",
         test_commit_outcome_unknown},
        {"free with waiters, statements and an open tx", test_free_with_work_outstanding},
        {"A3 server stopped mid-run and restarted: recovers within seconds", test_server_restart},
        CU_TEST_INFO_NULL,
    };

    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    return dbt_run("pool", tests);
}
