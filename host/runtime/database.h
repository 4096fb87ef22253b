/*
 * database.h - the database as plugins see it: each request gets one
 * transaction, begun on its first statement and bound to its tenant, on a
 * connection of the worker's pool (db_pool.c).  Durable events and audit
 * entries written through the request ride in the same transaction.
 *
 * The transaction itself is one machine (host_dbtx) with two kinds of
 * owner: a request (db_query & co, here) and a tn_tx (tx.c: timers, jobs,
 * deliveries).  Both get the same guarantees: begun on the first statement,
 * tenant bound by set_config, statements queued in order, results never
 * inside the call that asked, nothing asked after commit or rollback,
 * rolled back unless committed.
 */
#ifndef HOST_DATABASE_H
#define HOST_DATABASE_H

#include <tanomu/tanomu.h>

#include "db_pool.h"

struct host_worker;

struct tn_db_result {
    int status;                /* TN_OK or TN_EDB_* */
    const host_db_result *res; /* NULL when no statement ran */
};

/* ---- the transaction machine, for the owners (database.c, tx.c) ---------- */

typedef struct host_dbtx host_dbtx;
typedef void (*host_dbtx_cbfn)(void); /* the owner's callback type, cast back by invoke */

typedef struct host_dbtx_owner {
    /* Calls the owner's callback cb (its own type) with the result. */
    void (*invoke)(void *owner, host_dbtx_cbfn cb, const tn_db_result *res, void *ud);
    /* For log lines: the request id or NULL, the plugin name or NULL. */
    const char *(*request_id)(void *owner);
    const char *(*plugin)(void *owner);
    /* 1: the pool closing (the worker stops) reads TN_ECANCELED rather than
     * TN_EDB_UNAVAILABLE, and a commit after a failed statement with
     * nothing left open answers TN_EDB_ABORTED. */
    int strict;
} host_dbtx_owner;

/* A machine for tenant (copied; NULL: no tenant bound).  NULL on ENOMEM. */
host_dbtx *host_dbtx_new(struct host_worker *w, const char *tenant, const host_dbtx_owner *ops,
                         void *owner);
/* The owner goes: its callbacks are dropped from now on, an open
 * transaction is rolled back, and the machine frees itself when idle. */
void host_dbtx_release(host_dbtx *m);
/* TN_OK (cb runs later, exactly once unless the owner was released),
 * TN_ESTATE after commit or rollback was asked, TN_ENOMEM.  The statement
 * checks (host_sql_allowed) are the caller's. */
int host_dbtx_query(host_dbtx *m, const char *sql, int nparams, const char *const *params,
                    host_dbtx_cbfn cb, void *ud);
int host_dbtx_end(host_dbtx *m, int commit, host_dbtx_cbfn cb, void *ud);
/* A durable event in the outbox, in this transaction (tenant required). */
int host_dbtx_publish(host_dbtx *m, const char *name, const char *payload_json);
/* An audit_log row (S20) in this transaction (tenant required): the one
 * INSERT behind db_audit and tx_audit.  TN_EINVAL: no tenant, action empty
 * or over 128 bytes, result not ok/denied/failed.  user_id, client_addr
 * and request_id may be NULL. */
int host_dbtx_audit(host_dbtx *m, const char *user_id, const char *client_addr,
                    const char *request_id, const char *action, const char *target_type,
                    const char *target_id, const char *result);
/* 1 once a statement was asked (the transaction is or was begun). */
int host_dbtx_used(const host_dbtx *m);
/* 1 while commit or rollback is under way. */
int host_dbtx_ending(const host_dbtx *m);

/* Opens the worker's pool if database.url is set; 0, or -1 on bad options. */
int host_database_open(struct host_worker *w);
void host_database_close(struct host_worker *w);
/* 1 when no database is configured or a connection is up. */
int host_database_ready(const struct host_worker *w);

/* The request ended (sent or aborted): roll back what was not committed. */
void host_database_request_end(tn_request *req);

int host_tn_status(int db_status);

/* tn_api members. */
int host_api_db_query(tn_request *req, const char *sql, int nparams, const char *const *params,
                      tn_db_fn cb, void *ud);
int host_api_db_commit(tn_request *req, tn_db_fn cb, void *ud);
int host_api_db_rollback(tn_request *req, tn_db_fn cb, void *ud);
int host_api_db_status(const tn_db_result *res);
const char *host_api_db_sqlstate(const tn_db_result *res);
const char *host_api_db_message(const tn_db_result *res);
int host_api_db_rows(const tn_db_result *res);
int host_api_db_cols(const tn_db_result *res);
const char *host_api_db_colname(const tn_db_result *res, int col);
const char *host_api_db_value(const tn_db_result *res, int row, int col);
int64_t host_api_db_affected(const tn_db_result *res);
int host_api_resp_db_error(tn_request *req, const tn_db_result *res);
int host_api_db_publish(tn_request *req, const char *name, const char *payload_json);
int host_api_db_audit(tn_request *req, const char *action, const char *target_type,
                      const char *target_id, const char *result);

#endif
