/*
 * test_listen.c - host_db_listen() against its own PostgreSQL cluster:
 * notifications from another session, from the outbox trigger at commit
 * (never before, never for a rollback), listeners added while the LISTEN
 * connection is up, refused channel names, freeing with notifications on
 * the way, and the server stopped and restarted: a NULL ("rescan") once per
 * listener after the reconnect, then notifications again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbtest.h"

static int setup(void)
{
    const char *ids[2] = {"listen_a", "listen_b"};

    return dbt_migrate_std() == 0 && dbt_tenants(ids, 2) == 0 ? 0 : -1;
}

/* What one listener heard. */
typedef struct heard {
    int n;           /* notifications */
    int rescans;     /* NULL payloads */
    int in_call;     /* the test is inside host_db_listen() */
    int from_inside; /* a callback came from inside it */
    char channel[64];
    char payloads[512]; /* "[p1][p2]..." in arrival order */
    host_db *free_db;   /* freed by the first notification */
} heard;

static void on_heard(void *ud, const char *channel, const char *payload)
{
    heard *h = ud;
    size_t len = strlen(h->payloads);

    if (h->in_call)
        h->from_inside = 1;
    snprintf(h->channel, sizeof h->channel, "%s", channel);
    if (!payload) {
        h->rescans++;
        return;
    }
    snprintf(h->payloads + len, sizeof h->payloads - len, "[%s]", payload);
    h->n++;
    if (h->free_db) {
        host_db_free(h->free_db);
        h->free_db = NULL;
    }
}

static int listen_to(host_db *db, const char *channel, heard *h)
{
    int rc;

    h->in_call = 1;
    rc = host_db_listen(db, channel, on_heard, h);
    h->in_call = 0;
    return rc;
}

/* Runs the loop until *v >= want or ms pass; returns *v >= want. */
static int wait_count(const int *v, int want, double ms)
{
    double end = dbt_now_ms() + ms;

    dbt_loop();
    while (*v < want && dbt_now_ms() < end)
        uv_run(dbt_loop(), UV_RUN_ONCE);
    return *v >= want;
}

static int listening(host_db *db)
{
    host_db_stats st;

    host_db_get_stats(db, &st);
    return st.listening;
}

static int wait_listening(host_db *db, int want, double ms)
{
    double end = dbt_now_ms() + ms;

    while (listening(db) != want && dbt_now_ms() < end)
        uv_run(dbt_loop(), UV_RUN_ONCE);
    return listening(db) == want;
}

/* One statement on a blocking session of our own (another backend). */
static int exec_on(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = dbt_ok(r);

    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Other sessions' NOTIFYs arrive, in commit order, on the channel listened
 * to only; a listener added while the connection is up hears too, on a
 * channel that is a reserved word (quoted as an identifier, or LISTEN would
 * not parse). */
static void test_notify(void)
{
    host_db *db = dbt_pool_new(1, 0, 0, 0);
    PGconn *other = dbt_connect(DBT_APP_URL());
    heard h, kw;
    host_db_stats st;

    memset(&h, 0, sizeof h);
    memset(&kw, 0, sizeof kw);
    CU_ASSERT_FATAL(db != NULL && other != NULL);
    CU_ASSERT_EQUAL(listen_to(db, "tl_basic", &h), 0);
    CU_ASSERT_TRUE(wait_listening(db, 1, 5000));
    CU_ASSERT_TRUE(
        exec_on(other, "SELECT pg_notify('tl_basic', 'one'), pg_notify('tl_else', 'x')"));
    CU_ASSERT_TRUE(exec_on(other, "BEGIN"));
    CU_ASSERT_TRUE(exec_on(other, "SELECT pg_notify('tl_basic', 'a')"));
    CU_ASSERT_TRUE(exec_on(other, "NOTIFY tl_basic, 'b'"));
    CU_ASSERT_TRUE(exec_on(other, "COMMIT"));
    CU_ASSERT_TRUE(exec_on(other, "NOTIFY tl_basic"));
    CU_ASSERT_TRUE(wait_count(&h.n, 4, 5000));
    CU_ASSERT_STRING_EQUAL(h.payloads, "[one][a][b][]");
    CU_ASSERT_STRING_EQUAL(h.channel, "tl_basic");
    CU_ASSERT_EQUAL(h.rescans, 0);

    /* Late: its own LISTEN on the connection that is up. */
    CU_ASSERT_EQUAL(listen_to(db, "user", &kw), 0);
    CU_ASSERT_TRUE(wait_listening(db, 2, 5000));
    CU_ASSERT_TRUE(exec_on(other, "SELECT pg_notify('user', 'kw')"));
    CU_ASSERT_TRUE(wait_count(&kw.n, 1, 5000));
    CU_ASSERT_STRING_EQUAL(kw.payloads, "[kw]");
    CU_ASSERT_STRING_EQUAL(kw.channel, "user");
    CU_ASSERT_EQUAL(h.n, 4);
    CU_ASSERT_FALSE(h.from_inside || kw.from_inside);

    /* The LISTEN connection is not one of the pool's. */
    host_db_get_stats(db, &st);
    CU_ASSERT_EQUAL(st.size, 1);
    CU_ASSERT_EQUAL(st.idle + st.busy + st.connecting + st.down, 1);
    CU_ASSERT_EQUAL(st.listeners, 2);
    CU_ASSERT_EQUAL(st.listening, 2);
    CU_ASSERT_EQUAL(st.notifications, 5);
    CU_ASSERT_EQUAL(st.listen_reconnects, 0);
    PQfinish(other);
    dbt_pool_free(db);
}

/* The outbox trigger: its NOTIFY arrives when the inserting transaction
 * commits (the pool's own, here, as a worker's would), not before, and not
 * at all for a rollback. */
static void test_outbox_trigger(void)
{
    host_db *db = dbt_pool_new(2, 0, 0, 0);
    const char *ins = "INSERT INTO outbox (tenant_id, name) VALUES ($1, 'listen.test')";
    const char *a[1] = {"listen_a"}, *b[1] = {"listen_b"};
    host_db_tx *tx;
    dbt_res r = {0};
    heard h;

    memset(&h, 0, sizeof h);
    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL(listen_to(db, "tanomu_outbox", &h), 0);
    CU_ASSERT_TRUE(wait_listening(db, 1, 5000));

    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "listen_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, ins, 1, a, &r), HOST_DB_OK);
    CU_ASSERT_FALSE(wait_count(&h.n, 1, 300)); /* inserted, not committed */
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    CU_ASSERT_TRUE(wait_count(&h.n, 1, 5000));
    CU_ASSERT_STRING_EQUAL(h.payloads, "[listen_a]");

    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "listen_b", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, ins, 1, b, &r), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 0, &r), HOST_DB_OK);
    CU_ASSERT_FALSE(wait_count(&h.n, 2, 300));
    /* And had it slipped through, it would come before this one. */
    CU_ASSERT_EQUAL_FATAL(dbt_begin_wait(db, "listen_a", &tx), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_query_wait(tx, ins, 1, a, &r), HOST_DB_OK);
    CU_ASSERT_EQUAL(dbt_end_wait(tx, 1, &r), HOST_DB_OK);
    CU_ASSERT_TRUE(wait_count(&h.n, 2, 5000));
    CU_ASSERT_STRING_EQUAL(h.payloads, "[listen_a][listen_a]");
    CU_ASSERT_EQUAL(h.rescans, 0);
    dbt_res_free(&r);
    dbt_pool_free(db);
}

/* Channel names outside [a-z_][a-z0-9_]{0,62} are refused before anything
 * reaches the server; so are a 17th listener and a closed pool. */
static void test_bad_channel(void)
{
    static const char *const bad[] = {
        "",
        "Upper",
        "1abc",
        "a-b",
        "a b",
        "x;LISTEN y",
        "x\"y",
        "caf\xc3\xa9",
        "ab01234567890123456789012345678901234567890123456789012345678901", /* 64 */
    };
    host_db *db = dbt_pool_new(1, 0, 0, 0);
    heard h;
    char name[16];
    size_t i;

    memset(&h, 0, sizeof h);
    CU_ASSERT_FATAL(db != NULL);
    for (i = 0; i < sizeof bad / sizeof *bad; i++)
        CU_ASSERT_EQUAL(host_db_listen(db, bad[i], on_heard, &h), HOST_DB_EINVAL);
    CU_ASSERT_EQUAL(host_db_listen(db, NULL, on_heard, &h), HOST_DB_EINVAL);
    CU_ASSERT_EQUAL(host_db_listen(db, "tl_ok", NULL, &h), HOST_DB_EINVAL);
    CU_ASSERT_EQUAL(host_db_listen(NULL, "tl_ok", on_heard, &h), HOST_DB_EINVAL);
    CU_ASSERT_EQUAL(listening(db), 0);
    CU_ASSERT_EQUAL(host_db_listen(db, "_", on_heard, &h), 0);
    CU_ASSERT_EQUAL(host_db_listen(db, bad[8] + 1, on_heard, &h), 0); /* 63 */
    for (i = 2; i < 16; i++) {
        snprintf(name, sizeof name, "tl_%zu", i);
        CU_ASSERT_EQUAL(host_db_listen(db, name, on_heard, &h), 0);
    }
    CU_ASSERT_EQUAL(host_db_listen(db, "tl_17", on_heard, &h), HOST_DB_EINVAL);
    CU_ASSERT_TRUE(wait_listening(db, 16, 5000));
    host_db_free(db);
    CU_ASSERT_EQUAL(host_db_listen(db, "tl_ok", on_heard, &h), HOST_DB_ECLOSED);
    dbt_loop_drain();
    CU_ASSERT_EQUAL(h.n + h.rescans, 0);
}

/* Freed with notifications on their way, freed from a listener with more
 * read already, and freed while the LISTEN connection is still connecting:
 * no call after host_db_free, no leak. */
static void test_free(void)
{
    host_db *db = dbt_pool_new(1, 0, 0, 0);
    PGconn *other = dbt_connect(DBT_APP_URL());
    heard h;

    memset(&h, 0, sizeof h);
    CU_ASSERT_FATAL(db != NULL && other != NULL);
    CU_ASSERT_EQUAL(listen_to(db, "tl_free", &h), 0);
    CU_ASSERT_TRUE(wait_listening(db, 1, 5000));
    CU_ASSERT_TRUE(exec_on(other, "SELECT pg_notify('tl_free', 'late')"));
    host_db_free(db);
    dbt_loop_drain();
    CU_ASSERT_EQUAL(h.n + h.rescans, 0);

    /* One commit sends both at once: read together, the second is
     * waiting for delivery when the first one's listener frees the pool. */
    db = dbt_pool_new(1, 0, 0, 0);
    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL(listen_to(db, "tl_free", &h), 0);
    CU_ASSERT_TRUE(wait_listening(db, 1, 5000));
    h.free_db = db;
    CU_ASSERT_TRUE(exec_on(other, "SELECT pg_notify('tl_free', '1'), pg_notify('tl_free', '2')"));
    CU_ASSERT_TRUE(wait_count(&h.n, 1, 5000));
    dbt_loop_drain();
    CU_ASSERT_STRING_EQUAL(h.payloads, "[1]");
    memset(&h, 0, sizeof h);

    db = dbt_pool_new(1, 0, 0, 0);
    CU_ASSERT_FATAL(db != NULL);
    CU_ASSERT_EQUAL(listen_to(db, "tl_free", &h), 0);
    dbt_pool_free(db);
    CU_ASSERT_EQUAL(h.n + h.rescans, 0);
    PQfinish(other);
}

/* The server stops and starts again: each listener whose LISTEN was in
 * effect gets one NULL after the reconnect, then notifications again. */
static void test_server_restart(void)
{
    host_db *db = dbt_pool_new(1, 0, 0, 0);
    PGconn *other = dbt_connect(DBT_APP_URL());
    dbt_spawned sp;
    heard h1, h2;
    host_db_stats st;
    double t_start, t_started;

    memset(&h1, 0, sizeof h1);
    memset(&h2, 0, sizeof h2);
    CU_ASSERT_FATAL(db != NULL && other != NULL);
    CU_ASSERT_EQUAL(listen_to(db, "tl_restart", &h1), 0);
    CU_ASSERT_TRUE(wait_listening(db, 1, 5000));
    CU_ASSERT_EQUAL(listen_to(db, "tl_restart2", &h2), 0);
    CU_ASSERT_TRUE(wait_listening(db, 2, 5000));
    CU_ASSERT_TRUE(exec_on(other, "SELECT pg_notify('tl_restart', 'before')"));
    CU_ASSERT_TRUE(wait_count(&h1.n, 1, 5000));
    PQfinish(other);

    CU_ASSERT_EQUAL_FATAL(dbt_pg_sh("stop", &sp), 0);
    CU_ASSERT_TRUE(dbt_wait(&sp.done, 30000));
    CU_ASSERT_EQUAL(sp.status, 0);
    CU_ASSERT_TRUE(wait_listening(db, 0, 5000));
    dbt_wait(&h1.rescans, 300); /* down a while: retries fail, no NULL yet */
    CU_ASSERT_EQUAL(h1.rescans + h2.rescans, 0);

    t_start = dbt_now_ms();
    CU_ASSERT_EQUAL_FATAL(dbt_pg_sh("start", &sp), 0);
    CU_ASSERT_TRUE(dbt_wait(&sp.done, 60000));
    CU_ASSERT_EQUAL(sp.status, 0);
    t_started = dbt_now_ms();
    CU_ASSERT_TRUE(wait_count(&h1.rescans, 1, 10000));
    CU_ASSERT_TRUE(wait_count(&h2.rescans, 1, 1000));
    /* The loop runs while pg.sh waits for the server: the LISTEN connection
     * is often back before pg.sh returns. */
    printf("\n    pg.sh start took %.0f ms; rescan %.0f ms after it began\n", t_started - t_start,
           dbt_now_ms() - t_start);
    CU_ASSERT_EQUAL(listening(db), 2);

    other = dbt_connect(DBT_APP_URL());
    CU_ASSERT_FATAL(other != NULL);
    CU_ASSERT_TRUE(exec_on(other, "SELECT pg_notify('tl_restart', 'after'),"
                                  " pg_notify('tl_restart2', 'after2')"));
    CU_ASSERT_TRUE(wait_count(&h1.n, 2, 5000));
    CU_ASSERT_TRUE(wait_count(&h2.n, 1, 5000));
    CU_ASSERT_STRING_EQUAL(h1.payloads, "[before][after]");
    CU_ASSERT_STRING_EQUAL(h2.payloads, "[after2]");
    CU_ASSERT_FALSE(wait_count(&h1.rescans, 2, 200));
    CU_ASSERT_EQUAL(h1.rescans, 1);
    CU_ASSERT_EQUAL(h2.rescans, 1);
    host_db_get_stats(db, &st);
    CU_ASSERT_EQUAL(st.listen_reconnects, 1);
    PQfinish(other);
    dbt_pool_free(db);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"NOTIFY from another session; late listener; quoted channel", test_notify},
        {"outbox trigger: at commit, not before, not on rollback", test_outbox_trigger},
        {"bad channel names, too many listeners, closed pool refused", test_bad_channel},
        {"free with notifications on the way and while connecting", test_free},
        {"server stopped and restarted: NULL once, then notifications", test_server_restart},
        CU_TEST_INFO_NULL,
    };

    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    return dbt_run("listen", tests);
}
