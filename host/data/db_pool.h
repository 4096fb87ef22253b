/*
 * db_pool.h - asynchronous PostgreSQL for one worker's libuv loop.
 *
 * A fixed set of libpq connections, each driven without blocking
 * (PQconnectStart/PQconnectPoll, pipeline mode, PQsendQueryParams, a
 * uv_poll on PQsocket), a bounded queue of callers waiting for one, and
 * reconnection with exponential backoff when the server goes away.  All of
 * it runs on the loop's thread; nothing here is thread-safe.
 *
 * Work happens in transactions bound to a tenant.  host_db_tx_begin()
 * reserves a connection; the first statement goes out in one round trip
 * together with
 *     BEGIN; SELECT set_config('app.tenant_id', $1, true)
 * so row-level security sees the tenant, and the setting, being
 * transaction-local, ends with the transaction: a pooled connection never
 * carries a tenant into the next request (S21).  Values only ever travel
 * as parameters (S1); the extended protocol also refuses several statements
 * in one string.
 *
 * Callback contract (libuv style): a function that returns 0 calls its
 * callback exactly once, later, from the loop, never from inside the call
 * itself; one that returns < 0 never calls it.
 *
 * Ownership: a host_db_tx belongs to the caller from the begin callback
 * until it calls host_db_tx_commit() or host_db_tx_rollback() (exactly one of
 * them, always, even after an error); it is freed after that call's callback
 * returns.  A host_db_result, and every string read from it, is valid only
 * during the callback that receives it: copy what you keep.
 *
 * LISTEN/NOTIFY: host_db_listen() hears a channel on one more connection
 * of the pool's own (outside `size`: a pooled connection belongs to
 * whichever request holds it, so it cannot listen), connected, watched and
 * reconnected like the others.
 *
 * Hostnames in the conninfo are resolved by libpq with a blocking
 * getaddrinfo() inside PQconnectStart; use a Unix socket directory, an IP
 * address or hostaddr= on the loop.
 */
#ifndef HOST_DB_POOL_H
#define HOST_DB_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Status codes.  HOST_DB_EBUSY, HOST_DB_ETIMEDOUT and HOST_DB_EUNAVAIL mean
 * "the database cannot serve this now": the host answers 503 (see
 * host_db_status_is_unavailable). */
#define HOST_DB_OK 0
#define HOST_DB_EINVAL -1 /* bad argument */
#define HOST_DB_ENOMEM -2
#define HOST_DB_ESTATE -3  /* not now: tx already ending */
#define HOST_DB_ECLOSED -4 /* the pool is being freed */
#define HOST_DB_EBUSY -5   /* wait queue full */
#define HOST_DB_ETIMEDOUT                                                                          \
    -6 /* waited queue_timeout_ms for a connection, or a
                                  statement outlived query_timeout_ms */
#define HOST_DB_EUNAVAIL                                                                           \
    -7 /* no connection to the server; or the connection
                                  broke under this statement (a COMMIT says
                                  HOST_DB_EUNKNOWN instead) */
#define HOST_DB_EQUERY                                                                             \
    -8 /* the server refused the statement: see
                                  host_db_result_sqlstate/_message; the
                                  transaction is now aborted */
#define HOST_DB_EABORTED                                                                           \
    -9 /* COMMIT of a transaction that had failed: it was
                                  rolled back */
#define HOST_DB_EUNKNOWN                                                                           \
    -10 /* the connection broke (or the server was shut
                                  down) after COMMIT was sent: the transaction
                                  may or may not have committed.  Not an
                                  "unavailable": retrying could apply it twice */

typedef struct host_db host_db;
typedef struct host_db_tx host_db_tx;
typedef struct host_db_result host_db_result;

typedef struct host_db_opts {
    const char *conninfo;           /* libpq conninfo or URL (app role); copied */
    int size;                       /* connections; default 4 */
    int queue_max;                  /* callers that may wait; 0: default 64; -1: none */
    uint64_t queue_timeout_ms;      /* longest wait for a connection; default 1000 */
    uint64_t connect_timeout_ms;    /* abandon a connect attempt after; default 5000 */
    uint64_t statement_timeout_ms;  /* server side, per connection; 0: default 5000 */
    uint64_t idle_in_tx_timeout_ms; /* server ends a tx idle this long; default 60000 */
    uint64_t query_timeout_ms;      /* client side guard: a statement without an answer
                                      this long drops its connection; 0: default
                                      statement_timeout_ms + 2000 */
    uint64_t reconnect_min_ms;      /* first backoff; default 100 */
    uint64_t reconnect_max_ms;      /* backoff cap; default 2000 */
    /* Optional: connection events (lost, reconnected), for the host's log.
     * level is 0 info, 1 warn; msg carries no password. */
    void (*log)(void *log_ud, int level, const char *msg);
    void *log_ud;
} host_db_opts;

typedef struct host_db_stats {
    int size;
    int idle;             /* connected, free */
    int busy;             /* connected, in a transaction */
    int connecting;       /* connect in progress */
    int down;             /* waiting to reconnect */
    int waiting;          /* callers in the queue */
    uint64_t rejected;    /* HOST_DB_EBUSY given */
    uint64_t timed_out;   /* HOST_DB_ETIMEDOUT given to waiters */
    uint64_t unavailable; /* HOST_DB_EUNAVAIL given to host_db_tx_begin callers */
    uint64_t reconnects;  /* successful connects after the first of each slot */
    /* The LISTEN connection (not in the counts above). */
    int listeners;              /* host_db_listen() registrations */
    int listening;              /* of those, whose LISTEN is in effect right now */
    uint64_t listen_reconnects; /* its successful connects after the first */
    uint64_t notifications;     /* received on it */
} host_db_stats;

/* tx is NULL unless status is HOST_DB_OK. */
typedef void (*host_db_begin_cb)(host_db_tx *tx, int status, void *ud);
/* res is never NULL; status is HOST_DB_OK or an error code. */
typedef void (*host_db_query_cb)(host_db_tx *tx, int status, const host_db_result *res, void *ud);
/* For commit and rollback: the tx is gone once this returns. */
typedef void (*host_db_end_cb)(int status, const host_db_result *res, void *ud);

/* A notification on channel; payload is "" for a NOTIFY without one.  NULL
 * payload: the LISTEN connection was lost and is back (LISTEN again in
 * effect), so notifications may have gone by unheard: rescan. */
typedef void (*host_db_notify_cb)(void *ud, const char *channel, const char *payload);

/* Starts connecting at once.  NULL on bad options or out of memory. */
host_db *host_db_new(uv_loop_t *loop, const host_db_opts *opts);

/*
 * Closes the pool: waiting callers get HOST_DB_ECLOSED, statements in flight
 * get HOST_DB_ECLOSED, connections close (the server rolls back open
 * transactions), listeners are not called again.  Transactions the caller
 * still holds must still be ended; their commit/rollback callbacks get
 * HOST_DB_ECLOSED.  The memory goes once those have ended and the loop has
 * run the handles' close callbacks.
 */
void host_db_free(host_db *db);

/* 1 if at least one connection is up (for /readyz). */
int host_db_ready(const host_db *db);
void host_db_get_stats(const host_db *db, host_db_stats *out);

/*
 * Begins a transaction for tenant_id (copied; NULL for platform work that
 * touches no tenant-owned table - RLS then matches no rows).  cb gets the
 * tx, or HOST_DB_EBUSY (queue full), HOST_DB_ETIMEDOUT (no connection in
 * queue_timeout_ms), HOST_DB_EUNAVAIL (the server is unreachable: fails
 * fast instead of queueing) or HOST_DB_ECLOSED.
 */
int host_db_tx_begin(host_db *db, const char *tenant_id, host_db_begin_cb cb, void *ud);

/*
 * Sends one statement with $1..$n text parameters (NULL pointer = SQL
 * NULL).  sql and params are copied before this returns.  Several queries
 * may be outstanding on one tx; they run and call back in order.  After a
 * HOST_DB_EQUERY the transaction is aborted: later statements fail with
 * SQLSTATE 25P02 until it ends.
 */
int host_db_tx_query(host_db_tx *tx, const char *sql, int nparams, const char *const *params,
                     host_db_query_cb cb, void *ud);

/* Ends the transaction and gives the connection back.  Commit reports
 * HOST_DB_EABORTED if an earlier statement had failed (the server rolled
 * back), HOST_DB_EUNAVAIL if the connection had broken before COMMIT was
 * sent (rolled back), and HOST_DB_EUNKNOWN if it broke after (outcome
 * unknown).
 * cb may be NULL. */
int host_db_tx_commit(host_db_tx *tx, host_db_end_cb cb, void *ud);
int host_db_tx_rollback(host_db_tx *tx, host_db_end_cb cb, void *ud);

const char *host_db_tx_tenant(const host_db_tx *tx); /* NULL if none */

/*
 * Listens on channel ([a-z_][a-z0-9_]{0,62}: what pg_notify() names without
 * quoting; at most 16 listeners a pool) and calls cb for every notification
 * on it, from the loop, never from inside this call, until host_db_free().
 * The first listener opens the pool's LISTEN connection; it reconnects with
 * the same backoff as the others, LISTENs again and then calls cb with a
 * NULL payload, once per loss, for each listener whose LISTEN had been in
 * effect.  Before its LISTEN first takes effect a listener hears nothing and
 * is not told: scan once yourself (host_db_get_stats: listening).
 * Notifications come in the order their transactions committed.  Errors:
 * HOST_DB_EINVAL (bad channel, no cb, too many), HOST_DB_ECLOSED,
 * HOST_DB_ENOMEM.
 */
int host_db_listen(host_db *db, const char *channel, host_db_notify_cb cb, void *ud);

/* -- the result view: valid during the callback only ---------------------- */
int host_db_result_nrows(const host_db_result *res);
int host_db_result_ncols(const host_db_result *res);
const char *host_db_result_colname(const host_db_result *res, int col);
/* Text value; NULL for SQL NULL or out of range. */
const char *host_db_result_value(const host_db_result *res, int row, int col);
size_t host_db_result_length(const host_db_result *res, int row, int col);
/* Rows inserted/updated/deleted/selected, from the command tag; -1 if none. */
int64_t host_db_result_affected(const host_db_result *res);
/* Five-character SQLSTATE of a server error, or NULL. */
const char *host_db_result_sqlstate(const host_db_result *res);
/* The error's primary message ("" if none).  May quote values: do not log
 * it where parameters could be secrets (S16). */
const char *host_db_result_message(const host_db_result *res);

const char *host_db_strerror(int status);
/* 1 for the codes the host maps to 503 Service Unavailable. */
int host_db_status_is_unavailable(int status);

#endif
