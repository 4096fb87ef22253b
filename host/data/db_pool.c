/*
 * db_pool.c - asynchronous PostgreSQL pool for one libuv loop.  See db_pool.h.
 *
 * Each connection is a small state machine (DOWN -> CONNECTING -> SETUP ->
 * IDLE <-> BUSY, back to DOWN on any failure) driven by a uv_poll on its
 * socket and one uv_timer (backoff, connect timeout or statement guard,
 * depending on the state).  Connections stay in libpq pipeline mode: every
 * operation is a segment of statements closed by a Sync, and its results
 * come back in order, so the operations in flight on a connection are a
 * FIFO.  A transaction's first segment carries BEGIN and set_config before
 * the caller's statement: one round trip.
 *
 * User callbacks never run inside libpq processing or inside an API call:
 * finished operations go to a `done` list that is drained at the end of
 * each loop callback, or from an idle handle when an API call finished
 * something itself.  That keeps the state machines free of reentrancy.
 *
 * The LISTEN connection is one more such state machine, outside the pool's
 * array: its setup segment carries a LISTEN per listener, and what it
 * reads is notifications, which go to the `done` list like results.
 */
#include "db_pool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

enum conn_state { C_DOWN, C_CONNECTING, C_SETUP, C_IDLE, C_BUSY, C_CLOSED };
enum op_kind { OP_BEGIN, OP_SETUP, OP_QUERY, OP_COMMIT, OP_ROLLBACK, OP_LISTEN, OP_NOTIFY };

#define MAX_PARAMS 65535 /* the protocol's limit */
#define MAX_TENANT 128
#define MAX_CHANNEL 63 /* NAMEDATALEN - 1 */
#define MAX_LISTENERS 16

typedef struct db_listener {
    struct db_listener *next;
    char channel[MAX_CHANNEL + 1];
    host_db_notify_cb cb;
    void *ud;
    int active; /* its LISTEN is in effect on the current connection */
    int missed; /* it was in effect on a connection that broke: owes a NULL */
} db_listener;

struct host_db_result {
    PGresult *pg;    /* NULL for errors that never reached the server */
    const char *msg; /* our message when pg says nothing */
};

typedef struct db_op {
    struct db_op *next;
    int kind;
    host_db_tx *tx;
    union {
        host_db_begin_cb begin;
        host_db_query_cb query;
        host_db_end_cb end;
    } cb;
    void *ud;
    char *tenant;      /* OP_BEGIN: copied, handed to the tx */
    uint64_t deadline; /* OP_BEGIN while queued */
    int nprologue;     /* statements before the caller's (BEGIN, set_config) */
    int stmt;          /* statement whose results are arriving */
    int got;           /* a result arrived for stmt */
    PGresult *res;     /* the caller's statement's result */
    PGresult *err;     /* first failure among the prologue statements */
    int status;
    char msg[256];
    db_listener *lis; /* OP_LISTEN; OP_NOTIFY without note: told to rescan */
    PGnotify *note;   /* OP_NOTIFY: for every listener on its channel */
} db_op;

typedef struct db_conn {
    host_db *db;
    int idx;
    int listen;    /* the LISTEN connection, not a pool slot */
    char name[24]; /* for the log */
    int state;
    PGconn *pg;
    uv_poll_t *poll; /* heap: its memory must outlive uv_close */
    int poll_events;
    uv_timer_t timer;
    db_op *head, *tail; /* sent, awaiting results */
    host_db_tx *tx;
    unsigned attempts; /* failed connects in a row */
    int connected_once;
    int want_write;
} db_conn;

struct host_db_tx {
    host_db *db;
    db_conn *conn; /* NULL once the connection broke or the pool closed */
    char *tenant;
    int started; /* BEGIN has been sent */
    int ending;
};

struct host_db {
    uv_loop_t *loop;
    host_db_opts o;
    char *conninfo;
    char timeout_s[24]; /* statement_timeout as a parameter */
    char idle_tx_s[24];
    db_conn *conns;
    int nconns;
    db_conn *lconn;         /* from the first host_db_listen() */
    db_listener *listeners; /* in registration order */
    int nlisteners;
    db_op *wait_head, *wait_tail;
    int nwait;
    db_op *done_head, *done_tail;
    uv_timer_t qtimer; /* the oldest waiter's deadline */
    uv_idle_t defer;   /* delivers what API calls finished, next iteration */
    int nup;           /* connections IDLE or BUSY */
    int down;          /* no connection and the last attempt failed: fail fast */
    int closing;
    int finishing; /* handles are closing; memory goes when nhandles is 0 */
    int draining;
    int ntx;
    int nhandles;
    uint64_t rng;
    host_db_stats st;
};

static void conn_start(db_conn *c);
static void conn_fail(db_conn *c, int status, const char *msg);
static void on_poll(uv_poll_t *h, int status, int events);
static void on_conn_timer(uv_timer_t *t);
static void maybe_finish(host_db *db);
static void free_all(host_db *db);
static void drain(host_db *db);

static void on_defer(uv_idle_t *h)
{
    /* drain() starts it again if callbacks finished more. */
    uv_idle_stop(h);
    drain(h->data);
}

/* -- small helpers ---------------------------------------------------------- */

static void db_log(host_db *db, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void db_log(host_db *db, int level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (!db->o.log)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    db->o.log(db->o.log_ud, level, buf);
}

/* Copies a libpq message without its trailing newline. */
static void set_msg(char *dst, size_t cap, const char *m)
{
    size_t n;

    snprintf(dst, cap, "%s", m && *m ? m : "connection failed");
    n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
        dst[--n] = '\0';
}

static void op_free(db_op *op)
{
    if (!op)
        return;
    PQclear(op->res);
    PQclear(op->err);
    PQfreemem(op->note);
    free(op->tenant);
    free(op);
}

static void tx_free(host_db_tx *tx)
{
    host_db *db = tx->db;

    free(tx->tenant);
    free(tx);
    db->ntx--;
}

static void push_done(host_db *db, db_op *op)
{
    op->next = NULL;
    if (db->done_tail)
        db->done_tail->next = op;
    else
        db->done_head = op;
    db->done_tail = op;
}

/* For API calls: deliver on the next loop iteration, never inside the call. */
static void schedule(host_db *db)
{
    /* An idle handle, not a zero timer: libuv 1.44 runs a timer restarted
     * with timeout 0 from its own callback again in the same pass, so a
     * caller retrying on EBUSY would spin there forever.  An idle callback
     * runs once per iteration.  uv_idle_start cannot fail on an open
     * handle, and the handle closes only once nothing is left to deliver. */
    if (db->done_head && !db->finishing)
        (void)uv_idle_start(&db->defer, on_defer);
}

/* A notification to its channel's listeners, or a listener's "rescan".
 * Nothing after host_db_free(): the listeners' ud may be gone. */
static void deliver_notify(host_db *db, db_op *op)
{
    db_listener *l;

    if (!op->note) {
        if (!db->closing)
            op->lis->cb(op->lis->ud, op->lis->channel, NULL);
        return;
    }
    for (l = db->listeners; l && !db->closing; l = l->next)
        if (strcmp(l->channel, op->note->relname) == 0)
            l->cb(l->ud, l->channel, op->note->extra);
}

static void deliver(host_db *db, db_op *op)
{
    host_db_result view;

    view.pg = op->err ? op->err : op->res;
    view.msg = op->msg;
    switch (op->kind) {
    case OP_BEGIN: {
        host_db_tx *tx = op->tx;
        int status = op->status;
        /* The connection may have broken between assignment and now. */
        if (tx && !tx->conn) {
            status = db->closing ? HOST_DB_ECLOSED : HOST_DB_EUNAVAIL;
            tx_free(tx);
            tx = NULL;
        }
        op->cb.begin(tx, status, op->ud);
        break;
    }
    case OP_QUERY: op->cb.query(op->tx, op->status, &view, op->ud); break;
    case OP_COMMIT:
    case OP_ROLLBACK:
        if (op->cb.end)
            op->cb.end(op->status, &view, op->ud);
        tx_free(op->tx);
        break;
    case OP_NOTIFY: deliver_notify(db, op); break;
    default: break;
    }
    op_free(op);
}

/*
 * Runs the finished operations' callbacks.  Only those finished so far: a
 * callback may call back into the API, which may finish something at once
 * (EBUSY for a caller that retries in a tight loop); that waits for the next
 * loop iteration, so such a caller cannot starve the loop.
 */
static void drain(host_db *db)
{
    db_op *op, *batch;

    if (db->draining)
        return;
    db->draining = 1;
    batch = db->done_head;
    db->done_head = db->done_tail = NULL;
    while ((op = batch) != NULL) {
        batch = op->next;
        deliver(db, op);
    }
    db->draining = 0;
    schedule(db);
    maybe_finish(db);
}

static uint64_t next_rand(host_db *db)
{
    /* xorshift64: jitter only, no secrecy needed. */
    db->rng ^= db->rng << 13;
    db->rng ^= db->rng >> 7;
    db->rng ^= db->rng << 17;
    return db->rng;
}

/* -- the wait queue ------------------------------------------------------- */

static void waiters_fail_all(host_db *db, int status)
{
    db_op *op;

    while ((op = db->wait_head) != NULL) {
        db->wait_head = op->next;
        db->nwait--;
        op->status = status;
        if (status == HOST_DB_EUNAVAIL)
            db->st.unavailable++;
        push_done(db, op);
    }
    db->wait_tail = NULL;
    uv_timer_stop(&db->qtimer);
}

static void on_qtimer(uv_timer_t *t)
{
    host_db *db = t->data;
    uint64_t now = uv_now(db->loop);
    db_op *op;

    /* One timeout for all: the queue is in deadline order. */
    while ((op = db->wait_head) != NULL && op->deadline <= now) {
        db->wait_head = op->next;
        if (!db->wait_head)
            db->wait_tail = NULL;
        db->nwait--;
        op->status = HOST_DB_ETIMEDOUT;
        db->st.timed_out++;
        push_done(db, op);
    }
    if (db->wait_head)
        uv_timer_start(&db->qtimer, on_qtimer, db->wait_head->deadline - now, 0);
    drain(db);
}

/* Hands an IDLE connection to a BEGIN: the tx exists from here on. */
static int assign(db_conn *c, db_op *op)
{
    host_db *db = c->db;
    host_db_tx *tx = calloc(1, sizeof *tx);

    if (!tx)
        return -1;
    tx->db = db;
    tx->conn = c;
    tx->tenant = op->tenant;
    op->tenant = NULL;
    db->ntx++;
    c->tx = tx;
    c->state = C_BUSY;
    op->tx = tx;
    op->status = HOST_DB_OK;
    push_done(db, op);
    return 0;
}

static void dispatch(db_conn *c)
{
    host_db *db = c->db;
    db_op *op;

    if (c->state != C_IDLE || db->closing || !(op = db->wait_head))
        return;
    db->wait_head = op->next;
    if (!db->wait_head) {
        db->wait_tail = NULL;
        uv_timer_stop(&db->qtimer);
    }
    db->nwait--;
    if (assign(c, op) != 0) {
        op->status = HOST_DB_ENOMEM;
        push_done(db, op);
    }
}

/* -- socket and sending ----------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h)
{
    host_db *db = h->data;

    free(h);
    db->nhandles--;
    if (db->finishing && db->nhandles == 0)
        free_all(db);
}

static void poll_close(db_conn *c)
{
    if (!c->poll)
        return;
    c->poll->data = c->db;
    uv_close((uv_handle_t *)c->poll, on_poll_closed);
    c->poll = NULL;
    c->poll_events = 0;
}

/*
 * Watches the connection's socket for events.  fresh makes a new handle:
 * while connecting, libpq may close its socket and open another (even under
 * the same number), and a stale epoll registration would never fire.
 */
static int poll_watch(db_conn *c, int events, int fresh)
{
    int fd = PQsocket(c->pg);

    if (fd < 0)
        return -1;
    if (c->poll && fresh)
        poll_close(c);
    if (!c->poll) {
        c->poll = malloc(sizeof *c->poll);
        if (!c->poll)
            return -1;
        if (uv_poll_init(c->db->loop, c->poll, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return -1;
        }
        c->poll->data = c;
        c->db->nhandles++;
    } else if (events == c->poll_events) {
        return 0;
    }
    if (uv_poll_start(c->poll, events, on_poll) != 0)
        return -1;
    c->poll_events = events;
    return 0;
}

/* Pushes buffered output; watches for writability while some remains
 * (reading stays on, so the server can never block us both). */
static int conn_flush(db_conn *c)
{
    int r = PQflush(c->pg);

    if (r < 0)
        return -1;
    c->want_write = r == 1;
    return poll_watch(c, UV_READABLE | (c->want_write ? UV_WRITABLE : 0), 0);
}

static void guard_start(db_conn *c)
{
    uint64_t ms = c->db->o.query_timeout_ms;

    if (ms && (c->state == C_IDLE || c->state == C_BUSY))
        uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

static void fifo_push(db_conn *c, db_op *op)
{
    op->next = NULL;
    if (c->tail)
        c->tail->next = op;
    else
        c->head = op;
    c->tail = op;
}

static db_op *fifo_pop(db_conn *c)
{
    db_op *op = c->head;

    if (op) {
        c->head = op->next;
        if (!c->head)
            c->tail = NULL;
        op->next = NULL;
    }
    return op;
}

/* -- LISTEN ----------------------------------------------------------------- */

/* [a-z_][a-z0-9_]{0,62}: a name pg_notify() and NOTIFY agree on unquoted. */
static int channel_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > MAX_CHANNEL || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* "LISTEN <channel>": validated already, and still quoted as an identifier,
 * never spliced in raw (LISTEN takes no parameters). */
static int listen_sql(PGconn *pg, const char *channel, char *buf, size_t cap)
{
    char *q = PQescapeIdentifier(pg, channel, strlen(channel));
    int n;

    if (!q)
        return -1;
    n = snprintf(buf, cap, "LISTEN %s", q);
    PQfreemem(q);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The LISTEN connection's setup segment: a LISTEN per listener before the
 * settings, in the same round trip; op->nprologue says how many went. */
static int send_listens(db_conn *c, db_op *op)
{
    db_listener *l;
    char sql[16 + 2 * MAX_CHANNEL];

    for (l = c->db->listeners; l; l = l->next) {
        if (listen_sql(c->pg, l->channel, sql, sizeof sql) != 0 ||
            !PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0))
            return 0;
        op->nprologue++;
    }
    return 1;
}

/* A listener heard nothing while it was not listening: it owes a NULL. */
static void owe_rescan(host_db *db, db_listener *l)
{
    db_op *op;

    if (!l->missed || !(op = calloc(1, sizeof *op)))
        return; /* out of memory: still owed, at the next reconnect */
    l->missed = 0;
    op->kind = OP_NOTIFY;
    op->lis = l;
    push_done(db, op);
}

/* LISTEN took effect for l, or (l NULL) for the first n listeners: those
 * the setup segment carried. */
static void listens_in_effect(host_db *db, db_listener *l, int n)
{
    if (l) {
        l->active = 1;
        owe_rescan(db, l);
        return;
    }
    for (l = db->listeners; l && n > 0; l = l->next, n--) {
        l->active = 1;
        owe_rescan(db, l);
    }
}

static void listens_lost(host_db *db)
{
    db_listener *l;

    for (l = db->listeners; l; l = l->next) {
        if (l->active)
            l->missed = 1;
        l->active = 0;
    }
}

static void push_notify(host_db *db, PGnotify *n)
{
    db_op *op = calloc(1, sizeof *op);

    db->st.notifications++;
    if (!op) {
        db_log(db, 1, "db: out of memory: a notification on %s was dropped", n->relname);
        PQfreemem(n);
        return;
    }
    op->kind = OP_NOTIFY;
    op->note = n;
    push_done(db, op);
}

/*
 * Sends one segment: [BEGIN, set_config,] the statement, Sync.  The op joins
 * the FIFO first, so if sending fails, conn_fail finishes it with the rest.
 * Returns 0, or -1 after failing the connection.
 */
static int send_op(db_conn *c, db_op *op, const char *sql, int nparams, const char *const *params)
{
    host_db_tx *tx = op->tx;
    int ok = 1;

    if (!c->head)
        guard_start(c);
    fifo_push(c, op);
    if (tx && !tx->started && op->kind == OP_QUERY) {
        /* An empty tenant matches no row: the fail-closed default, and it
         * overrides any session-level value a statement might have set. */
        const char *t[1] = {tx->tenant ? tx->tenant : ""};
        ok = PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
             PQsendQueryParams(c->pg, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL, t,
                               NULL, NULL, 0);
        op->nprologue = 2;
        tx->started = 1;
    } else if (op->kind == OP_SETUP && c->listen) {
        ok = send_listens(c, op);
    }
    ok = ok && PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0) &&
         PQpipelineSync(c->pg);
    if (!ok || conn_flush(c) != 0) {
        conn_fail(c, HOST_DB_EUNAVAIL, PQerrorMessage(c->pg));
        return -1;
    }
    return 0;
}

/* -- connection lifecycle ------------------------------------------------- */

static void on_notice(void *arg, const PGresult *res)
{
    db_conn *c = arg;
    char buf[256];

    /* libpq would print to stderr; route it to the host's log instead. */
    set_msg(buf, sizeof buf, PQresultErrorMessage(res));
    db_log(c->db, 0, "db: server notice on %s: %s", c->name, buf);
}

static void conn_ready(db_conn *c)
{
    host_db *db = c->db;

    uv_timer_stop(&c->timer);
    c->state = C_IDLE;
    c->attempts = 0;
    if (c->listen) {
        /* Not for transactions: nothing to dispatch, no bearing on ready. */
        if (c->connected_once) {
            db->st.listen_reconnects++;
            db_log(db, 0, "db: %s up again", c->name);
        }
        c->connected_once = 1;
        return;
    }
    db->nup++;
    if (db->down)
        db_log(db, 0, "db: %s up again", c->name);
    db->down = 0;
    if (c->connected_once)
        db->st.reconnects++;
    c->connected_once = 1;
    dispatch(c);
}

static void conn_connected(db_conn *c)
{
    host_db *db = c->db;
    const char *p[2] = {db->timeout_s, db->idle_tx_s};
    db_op *op;

    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_fail(c, HOST_DB_EUNAVAIL, PQerrorMessage(c->pg));
        return;
    }
    op = calloc(1, sizeof *op);
    if (!op) {
        conn_fail(c, HOST_DB_ENOMEM, "out of memory");
        return;
    }
    op->kind = OP_SETUP;
    c->state = C_SETUP;
    poll_close(c); /* the socket is final now: one fresh handle for good */
    /* Per-connection limits; the connect timer still runs until ready. */
    send_op(c, op,
            "SELECT set_config('statement_timeout', $1, false),"
            " set_config('idle_in_transaction_session_timeout', $2, false)",
            2, p);
}

static void connect_step(db_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (poll_watch(c, UV_READABLE, 1) != 0)
            conn_fail(c, HOST_DB_EUNAVAIL, "cannot watch the socket");
        break;
    case PGRES_POLLING_WRITING:
        if (poll_watch(c, UV_WRITABLE, 1) != 0)
            conn_fail(c, HOST_DB_EUNAVAIL, "cannot watch the socket");
        break;
    case PGRES_POLLING_OK: conn_connected(c); break;
    default: conn_fail(c, HOST_DB_EUNAVAIL, PQerrorMessage(c->pg)); break;
    }
}

static void conn_start(db_conn *c)
{
    host_db *db = c->db;

    c->state = C_CONNECTING;
    c->pg = PQconnectStart(db->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, HOST_DB_EUNAVAIL, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetNoticeReceiver(c->pg, on_notice, c);
    uv_timer_start(&c->timer, on_conn_timer, db->o.connect_timeout_ms, 0);
    /* The docs' loop starts as if PQconnectPoll had said WRITING. */
    if (poll_watch(c, UV_WRITABLE, 1) != 0)
        conn_fail(c, HOST_DB_EUNAVAIL, "cannot watch the socket");
}

/*
 * Drops the connection: operations in flight fail with status, the tx on
 * it (if any) is marked broken, and a reconnect is scheduled with
 * exponential backoff and jitter.
 */
static void conn_fail(db_conn *c, int status, const char *msg)
{
    host_db *db = c->db;
    int was_up = c->state == C_IDLE || c->state == C_BUSY;
    int was_connecting = c->state == C_CONNECTING || c->state == C_SETUP;
    char why[256];
    db_op *op;
    uint64_t delay;

    if (c->state == C_DOWN || c->state == C_CLOSED)
        return;
    set_msg(why, sizeof why, msg);
    while ((op = fifo_pop(c)) != NULL) {
        if (op->kind == OP_SETUP || op->kind == OP_LISTEN) {
            op_free(op);
            continue;
        }
        /* A lost connection rolls back on the server: a rollback is done.
         * A COMMIT already sent may have committed or not: say unknown,
         * never "unavailable", which invites a retry. */
        op->status = op->kind == OP_ROLLBACK ? HOST_DB_OK
                     : op->kind == OP_COMMIT ? HOST_DB_EUNKNOWN
                                             : status;
        if (op->kind == OP_ROLLBACK) {
            PQclear(op->res);
            PQclear(op->err);
            op->res = op->err = NULL;
        }
        snprintf(op->msg, sizeof op->msg, "%s", why);
        push_done(db, op);
    }
    if (c->tx) {
        c->tx->conn = NULL;
        c->tx = NULL;
    }
    poll_close(c);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->want_write = 0;
    uv_timer_stop(&c->timer);
    if (c->listen)
        listens_lost(db);
    else if (was_up)
        db->nup--;
    if (db->closing) {
        c->state = C_CLOSED;
        return;
    }
    c->state = C_DOWN;
    delay = db->o.reconnect_min_ms << (c->attempts < 16 ? c->attempts : 16);
    if (delay > db->o.reconnect_max_ms || delay == 0)
        delay = db->o.reconnect_max_ms;
    delay = delay / 2 + next_rand(db) % (delay / 2 + 1);
    c->attempts++;
    if (was_up || c->attempts == 1 || (was_connecting && c->attempts % 10 == 0))
        db_log(db, 1, "db: %s %s: %s; retrying in %llu ms", c->name, was_up ? "lost" : "failed",
               why, (unsigned long long)delay);
    uv_timer_start(&c->timer, on_conn_timer, delay, 0);
    if (!c->listen && db->nup == 0) {
        /* Nothing can serve the queue: tell waiters now rather than at
         * their timeout, and fail new callers fast until a connect works. */
        db->down = 1;
        waiters_fail_all(db, HOST_DB_EUNAVAIL);
    }
}

/* Did COMMIT end without saying what became of the transaction?  No result,
 * or an error that is about the connection rather than the transaction:
 * class 08 (connection exception), 57P0x (terminated, shut down) or none
 * (libpq's own "server closed the connection").  A refusal such as a
 * deferred constraint (23xxx) or a serialization failure (40001) is a
 * definite rollback. */
static int commit_outcome_unknown(const PGresult *final)
{
    const char *state;

    if (!final)
        return 1;
    if (PQresultStatus(final) != PGRES_FATAL_ERROR)
        return 0;
    state = PQresultErrorField(final, PG_DIAG_SQLSTATE);
    return !state || !state[0] || strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0;
}

/* A finished segment.  Returns -1 when the connection must be dropped. */
static int op_done(db_conn *c, db_op *op)
{
    host_db *db = c->db;
    PGresult *final = op->err ? op->err : op->res;
    int kind = op->kind;

    if (!final) {
        op->status = HOST_DB_EUNAVAIL;
        snprintf(op->msg, sizeof op->msg, "no result from the server");
    } else {
        switch (PQresultStatus(final)) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
        case PGRES_EMPTY_QUERY: op->status = HOST_DB_OK; break;
        default:
            op->status = HOST_DB_EQUERY;
            set_msg(op->msg, sizeof op->msg, PQresultErrorMessage(final));
            break;
        }
    }
    if (kind == OP_COMMIT && commit_outcome_unknown(final))
        op->status = HOST_DB_EUNKNOWN;
    if (kind == OP_COMMIT && op->status == HOST_DB_OK &&
        strcmp(PQcmdStatus(final), "COMMIT") != 0) {
        /* COMMIT of an aborted transaction answers ROLLBACK, no error. */
        op->status = HOST_DB_EABORTED;
        snprintf(op->msg, sizeof op->msg, "transaction was aborted and rolled back");
    }
    if (kind == OP_SETUP || kind == OP_LISTEN) {
        /* Ours, not a caller's: a failure drops the connection, and the
         * next one tries again. */
        int st = op->status, n = op->nprologue;
        db_listener *l = op->lis;
        op_free(op);
        if (st != HOST_DB_OK)
            return -1;
        if (kind == OP_SETUP)
            conn_ready(c);
        if (c->head)
            guard_start(c);
        else
            uv_timer_stop(&c->timer);
        if (c->listen)
            listens_in_effect(db, l, n);
        return 0;
    }
    push_done(db, op);
    if (c->head)
        guard_start(c);
    else
        uv_timer_stop(&c->timer);
    if (kind == OP_COMMIT || kind == OP_ROLLBACK) {
        if (c->tx) {
            c->tx->conn = NULL;
            c->tx = NULL;
        }
        /* Anything but a clean idle session is not handed to the next
         * request: reconnect instead. */
        if (c->head || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            return -1;
        c->state = C_IDLE;
        dispatch(c);
    }
    return 0;
}

/* Reads whatever arrived and matches results to the FIFO. */
static void conn_read(db_conn *c)
{
    PGresult *r;
    PGnotify *n;
    db_op *op;

    if (!PQconsumeInput(c->pg)) {
        conn_fail(c, HOST_DB_EUNAVAIL, PQerrorMessage(c->pg));
        return;
    }
    for (;;) {
        if (PQstatus(c->pg) == CONNECTION_BAD || PQisBusy(c->pg))
            break;
        r = PQgetResult(c->pg);
        op = c->head;
        if (!r) {
            /* NULL closes one statement's results; a NULL with nothing
             * pending means there is no more to read now. */
            if (op && op->got) {
                op->got = 0;
                op->stmt++;
                continue;
            }
            break;
        }
        if (!op) {
            PQclear(r);
            continue;
        }
        switch (PQresultStatus(r)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(r);
            op = fifo_pop(c);
            if (op_done(c, op) != 0) {
                conn_fail(c, HOST_DB_EUNAVAIL, "connection not reusable");
                return;
            }
            continue;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            PQclear(r);
            conn_fail(c, HOST_DB_EUNAVAIL, "COPY is not supported by the pool");
            return;
        default: break;
        }
        op->got = 1;
        if (op->stmt < op->nprologue) {
            if (!op->err && PQresultStatus(r) != PGRES_COMMAND_OK &&
                PQresultStatus(r) != PGRES_TUPLES_OK)
                op->err = r;
            else
                PQclear(r);
        } else if (!op->err && !op->res) {
            op->res = r;
        } else {
            PQclear(r);
        }
    }
    /* Notifications are the LISTEN connection's business.  Pooled ones are
     * not for LISTEN (a NOTIFY would go to whichever request holds the
     * connection): drop any there, or libpq keeps them all.  libpq parses
     * them while we read results, so this comes last. */
    while ((n = PQnotifies(c->pg)) != NULL) {
        if (c->listen)
            push_notify(c->db, n);
        else
            PQfreemem(n);
    }
    if (PQstatus(c->pg) == CONNECTION_BAD)
        conn_fail(c, HOST_DB_EUNAVAIL, PQerrorMessage(c->pg));
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    db_conn *c = h->data;
    host_db *db = c->db;

    if (status < 0) {
        conn_fail(c, HOST_DB_EUNAVAIL, uv_strerror(status));
    } else if (c->state == C_CONNECTING) {
        connect_step(c);
    } else {
        if ((events & UV_WRITABLE) && conn_flush(c) != 0)
            conn_fail(c, HOST_DB_EUNAVAIL, PQerrorMessage(c->pg));
        if (c->pg && (events & UV_READABLE))
            conn_read(c);
        /* libpq: after reading, try the rest of a pending write. */
        if (c->pg && c->want_write && conn_flush(c) != 0)
            conn_fail(c, HOST_DB_EUNAVAIL, PQerrorMessage(c->pg));
    }
    drain(db);
}

static void on_conn_timer(uv_timer_t *t)
{
    db_conn *c = t->data;
    host_db *db = c->db;

    switch (c->state) {
    case C_DOWN: conn_start(c); break;
    case C_CONNECTING:
    case C_SETUP: conn_fail(c, HOST_DB_EUNAVAIL, "connect timed out"); break;
    case C_IDLE:
    case C_BUSY:
        if (c->head)
            conn_fail(c, HOST_DB_ETIMEDOUT, "no answer from the server in time");
        break;
    default: break;
    }
    drain(db);
}

/* -- create and free ------------------------------------------------------ */

static void free_all(host_db *db)
{
    db_listener *l;

    while ((l = db->listeners) != NULL) {
        db->listeners = l->next;
        free(l);
    }
    free(db->lconn);
    free(db->conns);
    free(db->conninfo);
    free(db);
}

static void on_handle_closed(uv_handle_t *h)
{
    host_db *db = h->data;

    db->nhandles--;
    if (db->nhandles == 0)
        free_all(db);
}

static void maybe_finish(host_db *db)
{
    int i;

    if (!db->closing || db->finishing || db->draining || db->ntx > 0 || db->done_head)
        return;
    db->finishing = 1;
    db->qtimer.data = db;
    db->defer.data = db;
    uv_close((uv_handle_t *)&db->qtimer, on_handle_closed);
    uv_close((uv_handle_t *)&db->defer, on_handle_closed);
    for (i = 0; i < db->nconns; i++) {
        db->conns[i].timer.data = db;
        uv_close((uv_handle_t *)&db->conns[i].timer, on_handle_closed);
    }
    if (db->lconn && db->lconn->db) {
        db->lconn->timer.data = db;
        uv_close((uv_handle_t *)&db->lconn->timer, on_handle_closed);
    }
}

/* idx < 0: the LISTEN connection. */
static void conn_init(host_db *db, db_conn *c, int idx)
{
    c->db = db;
    c->idx = idx;
    c->listen = idx < 0;
    if (c->listen)
        snprintf(c->name, sizeof c->name, "listen connection");
    else
        snprintf(c->name, sizeof c->name, "connection %d", idx);
    c->state = C_DOWN;
    uv_timer_init(db->loop, &c->timer); /* cannot fail on Unix */
    c->timer.data = c;
    db->nhandles++;
}

static void conn_close(db_conn *c)
{
    if (c->state == C_DOWN) {
        uv_timer_stop(&c->timer);
        c->state = C_CLOSED;
    } else {
        conn_fail(c, HOST_DB_ECLOSED, "the pool is closing");
    }
}

static uint64_t or_default(uint64_t v, uint64_t d)
{
    return v ? v : d;
}

host_db *host_db_new(uv_loop_t *loop, const host_db_opts *opts)
{
    host_db *db = NULL;
    PQconninfoOption *parsed;
    char *perr = NULL;
    int i;

    if (!loop || !opts || !opts->conninfo || opts->size < 0 || opts->size > 1000 ||
        opts->queue_max < -1)
        return NULL;
    /* Refuse a malformed conninfo now rather than retry it forever. */
    parsed = PQconninfoParse(opts->conninfo, &perr);
    PQfreemem(perr);
    if (!parsed)
        return NULL;
    PQconninfoFree(parsed);

    db = calloc(1, sizeof *db);
    if (!db)
        goto fail;
    db->loop = loop;
    db->o = *opts;
    db->o.size = opts->size ? opts->size : 4;
    db->o.queue_max = opts->queue_max == 0 ? 64 : opts->queue_max < 0 ? 0 : opts->queue_max;
    db->o.queue_timeout_ms = or_default(opts->queue_timeout_ms, 1000);
    db->o.connect_timeout_ms = or_default(opts->connect_timeout_ms, 5000);
    db->o.idle_in_tx_timeout_ms = or_default(opts->idle_in_tx_timeout_ms, 60000);
    db->o.reconnect_min_ms = or_default(opts->reconnect_min_ms, 100);
    db->o.reconnect_max_ms = or_default(opts->reconnect_max_ms, 2000);
    if (db->o.reconnect_max_ms < db->o.reconnect_min_ms)
        db->o.reconnect_max_ms = db->o.reconnect_min_ms;
    /* 0 from a zeroed struct means "default" everywhere: a pool without a
     * statement timeout is never what a request path wants. */
    db->o.statement_timeout_ms = or_default(opts->statement_timeout_ms, 5000);
    db->o.query_timeout_ms = or_default(opts->query_timeout_ms, db->o.statement_timeout_ms + 2000);
    snprintf(db->timeout_s, sizeof db->timeout_s, "%llu",
             (unsigned long long)db->o.statement_timeout_ms);
    snprintf(db->idle_tx_s, sizeof db->idle_tx_s, "%llu",
             (unsigned long long)db->o.idle_in_tx_timeout_ms);
    db->conninfo = strdup(opts->conninfo);
    db->conns = calloc((size_t)db->o.size, sizeof *db->conns);
    if (!db->conninfo || !db->conns)
        goto fail;
    db->o.conninfo = db->conninfo;
    db->nconns = db->o.size;
    db->rng = uv_hrtime() | 1;
    db->st.size = db->nconns;
    if (uv_timer_init(loop, &db->qtimer) != 0 || uv_idle_init(loop, &db->defer) != 0)
        goto fail; /* these cannot fail on Unix; no handle to undo */
    db->qtimer.data = db;
    db->defer.data = db;
    db->nhandles = 2;
    for (i = 0; i < db->nconns; i++)
        conn_init(db, &db->conns[i], i);
    for (i = 0; i < db->nconns; i++)
        conn_start(&db->conns[i]);
    return db;
fail:
    if (db) {
        free(db->conns);
        free(db->conninfo);
        free(db);
    }
    return NULL;
}

void host_db_free(host_db *db)
{
    int i;

    if (!db || db->closing)
        return;
    db->closing = 1;
    waiters_fail_all(db, HOST_DB_ECLOSED);
    for (i = 0; i < db->nconns; i++)
        conn_close(&db->conns[i]);
    if (db->lconn && db->lconn->db)
        conn_close(db->lconn);
    schedule(db);
    maybe_finish(db);
}

int host_db_ready(const host_db *db)
{
    return db && !db->closing && db->nup > 0;
}

void host_db_get_stats(const host_db *db, host_db_stats *out)
{
    const db_listener *l;
    int i;

    *out = db->st;
    out->listeners = db->nlisteners;
    out->listening = 0;
    for (l = db->listeners; l; l = l->next)
        out->listening += l->active;
    out->idle = out->busy = out->connecting = out->down = 0;
    for (i = 0; i < db->nconns; i++) {
        switch (db->conns[i].state) {
        case C_IDLE: out->idle++; break;
        case C_BUSY: out->busy++; break;
        case C_CONNECTING:
        case C_SETUP: out->connecting++; break;
        default: out->down++; break;
        }
    }
    out->waiting = db->nwait;
}

/* -- transactions --------------------------------------------------------- */

static int tenant_ok(const char *t)
{
    size_t n = strlen(t), i;

    if (n == 0 || n > MAX_TENANT)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
            return 0;
    return 1;
}

int host_db_tx_begin(host_db *db, const char *tenant_id, host_db_begin_cb cb, void *ud)
{
    db_op *op;
    int i;

    if (!db || !cb || (tenant_id && !tenant_ok(tenant_id)))
        return HOST_DB_EINVAL;
    if (db->closing)
        return HOST_DB_ECLOSED;
    op = calloc(1, sizeof *op);
    if (!op)
        return HOST_DB_ENOMEM;
    op->kind = OP_BEGIN;
    op->cb.begin = cb;
    op->ud = ud;
    if (tenant_id && !(op->tenant = strdup(tenant_id))) {
        free(op);
        return HOST_DB_ENOMEM;
    }
    for (i = 0; i < db->nconns; i++) {
        if (db->conns[i].state == C_IDLE) {
            if (assign(&db->conns[i], op) != 0) {
                op_free(op);
                return HOST_DB_ENOMEM;
            }
            schedule(db);
            return 0;
        }
    }
    if (db->nup == 0 && db->down) {
        op->status = HOST_DB_EUNAVAIL;
        db->st.unavailable++;
        push_done(db, op);
    } else if (db->nwait >= db->o.queue_max) {
        op->status = HOST_DB_EBUSY;
        db->st.rejected++;
        push_done(db, op);
    } else {
        op->deadline = uv_now(db->loop) + db->o.queue_timeout_ms;
        if (db->wait_tail)
            db->wait_tail->next = op;
        else
            db->wait_head = op;
        db->wait_tail = op;
        db->nwait++;
        if (!uv_is_active((uv_handle_t *)&db->qtimer))
            uv_timer_start(&db->qtimer, on_qtimer, db->o.queue_timeout_ms, 0);
    }
    schedule(db);
    return 0;
}

int host_db_tx_query(host_db_tx *tx, const char *sql, int nparams, const char *const *params,
                     host_db_query_cb cb, void *ud)
{
    host_db *db;
    db_op *op;

    if (!tx || !sql || !cb || nparams < 0 || nparams > MAX_PARAMS || (nparams > 0 && !params))
        return HOST_DB_EINVAL;
    if (tx->ending)
        return HOST_DB_ESTATE;
    db = tx->db;
    op = calloc(1, sizeof *op);
    if (!op)
        return HOST_DB_ENOMEM;
    op->kind = OP_QUERY;
    op->tx = tx;
    op->cb.query = cb;
    op->ud = ud;
    if (!tx->conn) {
        op->status = db->closing ? HOST_DB_ECLOSED : HOST_DB_EUNAVAIL;
        snprintf(op->msg, sizeof op->msg, "%s", host_db_strerror(op->status));
        push_done(db, op);
    } else {
        send_op(tx->conn, op, sql, nparams, params);
    }
    schedule(db);
    return 0;
}

static int tx_end(host_db_tx *tx, int kind, host_db_end_cb cb, void *ud)
{
    host_db *db;
    db_conn *c;
    db_op *op;

    if (!tx)
        return HOST_DB_EINVAL;
    if (tx->ending)
        return HOST_DB_ESTATE;
    db = tx->db;
    op = calloc(1, sizeof *op);
    if (!op)
        return HOST_DB_ENOMEM;
    tx->ending = 1;
    op->kind = kind;
    op->tx = tx;
    op->cb.end = cb;
    op->ud = ud;
    c = tx->conn;
    if (!c) {
        if (db->closing)
            op->status = HOST_DB_ECLOSED;
        else
            op->status = kind == OP_ROLLBACK ? HOST_DB_OK : HOST_DB_EUNAVAIL;
        snprintf(op->msg, sizeof op->msg, "%s", host_db_strerror(op->status));
        push_done(db, op);
    } else if (!tx->started) {
        /* Nothing was sent: nothing to end on the server. */
        c->tx = NULL;
        tx->conn = NULL;
        c->state = C_IDLE;
        op->status = HOST_DB_OK;
        push_done(db, op);
        dispatch(c);
    } else {
        send_op(c, op, kind == OP_COMMIT ? "COMMIT" : "ROLLBACK", 0, NULL);
    }
    schedule(db);
    return 0;
}

int host_db_tx_commit(host_db_tx *tx, host_db_end_cb cb, void *ud)
{
    return tx_end(tx, OP_COMMIT, cb, ud);
}

int host_db_tx_rollback(host_db_tx *tx, host_db_end_cb cb, void *ud)
{
    return tx_end(tx, OP_ROLLBACK, cb, ud);
}

const char *host_db_tx_tenant(const host_db_tx *tx)
{
    return tx ? tx->tenant : NULL;
}

/* -- LISTEN ----------------------------------------------------------------- */

/* A listener added while the connection is set up already: its own LISTEN,
 * after what is in flight.  On failure the connection goes down, and the
 * next one's setup carries this listener with the others. */
static void listen_send(db_conn *c, db_listener *l)
{
    db_op *op = calloc(1, sizeof *op);
    char sql[16 + 2 * MAX_CHANNEL];

    if (!op || listen_sql(c->pg, l->channel, sql, sizeof sql) != 0) {
        free(op);
        conn_fail(c, HOST_DB_ENOMEM, "out of memory for LISTEN");
        return;
    }
    op->kind = OP_LISTEN;
    op->lis = l;
    send_op(c, op, sql, 0, NULL);
}

int host_db_listen(host_db *db, const char *channel, host_db_notify_cb cb, void *ud)
{
    db_listener *l, **tail;
    db_conn *c;

    if (!db || !channel || !cb || !channel_ok(channel))
        return HOST_DB_EINVAL;
    if (db->closing)
        return HOST_DB_ECLOSED;
    if (db->nlisteners >= MAX_LISTENERS)
        return HOST_DB_EINVAL;
    if (!db->lconn && !(db->lconn = calloc(1, sizeof *db->lconn)))
        return HOST_DB_ENOMEM;
    l = calloc(1, sizeof *l);
    if (!l)
        return HOST_DB_ENOMEM;
    snprintf(l->channel, sizeof l->channel, "%s", channel);
    l->cb = cb;
    l->ud = ud;
    for (tail = &db->listeners; *tail; tail = &(*tail)->next)
        ;
    *tail = l;
    db->nlisteners++;
    c = db->lconn;
    if (!c->db) {
        /* The first listener: the connection starts now, and its setup
         * carries the LISTEN. */
        conn_init(db, c, -1);
        conn_start(c);
    } else if (c->state == C_SETUP || c->state == C_IDLE) {
        listen_send(c, l);
    }
    /* Otherwise DOWN or CONNECTING: the coming setup carries it. */
    return 0;
}

/* -- results -------------------------------------------------------------- */

static int ok_cell(const host_db_result *res, int row, int col)
{
    return res && res->pg && row >= 0 && col >= 0 && row < PQntuples(res->pg) &&
           col < PQnfields(res->pg);
}

int host_db_result_nrows(const host_db_result *res)
{
    return res && res->pg ? PQntuples(res->pg) : 0;
}

int host_db_result_ncols(const host_db_result *res)
{
    return res && res->pg ? PQnfields(res->pg) : 0;
}

const char *host_db_result_colname(const host_db_result *res, int col)
{
    return res && res->pg ? PQfname(res->pg, col) : NULL;
}

const char *host_db_result_value(const host_db_result *res, int row, int col)
{
    if (!ok_cell(res, row, col) || PQgetisnull(res->pg, row, col))
        return NULL;
    return PQgetvalue(res->pg, row, col);
}

size_t host_db_result_length(const host_db_result *res, int row, int col)
{
    return ok_cell(res, row, col) ? (size_t)PQgetlength(res->pg, row, col) : 0;
}

int64_t host_db_result_affected(const host_db_result *res)
{
    const char *n = res && res->pg ? PQcmdTuples(res->pg) : "";

    return *n ? strtoll(n, NULL, 10) : -1;
}

const char *host_db_result_sqlstate(const host_db_result *res)
{
    return res && res->pg ? PQresultErrorField(res->pg, PG_DIAG_SQLSTATE) : NULL;
}

const char *host_db_result_message(const host_db_result *res)
{
    const char *m = NULL;

    if (!res)
        return "";
    if (res->pg)
        m = PQresultErrorField(res->pg, PG_DIAG_MESSAGE_PRIMARY);
    if (!m)
        m = res->msg;
    return m ? m : "";
}

const char *host_db_strerror(int status)
{
    switch (status) {
    case HOST_DB_OK: return "ok";
    case HOST_DB_EINVAL: return "invalid argument";
    case HOST_DB_ENOMEM: return "out of memory";
    case HOST_DB_ESTATE: return "transaction already ending";
    case HOST_DB_ECLOSED: return "database pool closed";
    case HOST_DB_EBUSY: return "too many requests waiting for a database connection";
    case HOST_DB_ETIMEDOUT: return "timed out waiting for the database";
    case HOST_DB_EUNAVAIL: return "database unavailable";
    case HOST_DB_EQUERY: return "statement failed";
    case HOST_DB_EABORTED: return "transaction aborted and rolled back";
    case HOST_DB_EUNKNOWN: return "connection lost during COMMIT: outcome unknown";
    default: return "unknown database error";
    }
}

int host_db_status_is_unavailable(int status)
{
    return status == HOST_DB_EBUSY || status == HOST_DB_ETIMEDOUT || status == HOST_DB_EUNAVAIL ||
           status == HOST_DB_ECLOSED;
}
