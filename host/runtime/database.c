/*
 * database.c - the transaction machine (host_dbtx) over the worker's pool,
 * request-bound transactions on it, and the database part of the plugin
 * API.  See database.h.
 *
 * A transaction's statements wait in a queue until it has a connection,
 * then go out in order.  The machine outlives its owner if it must (a
 * client that hung up while a statement ran, a worker stopping under a
 * tn_tx): it is then rolled back, and callbacks for an owner that has gone
 * are dropped, so a plugin never sees a recycled request or handle.
 */
#include "database.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "context.h"
#include "http_util.h"
#include "log.h"
#include "names.h"
#include "outbox.h"
#include "request.h"

typedef enum { OP_QUERY, OP_COMMIT, OP_ROLLBACK } op_kind;

typedef struct db_op db_op;

struct db_op {
    db_op *next;
    host_dbtx *m;
    op_kind kind;
    char *sql;
    int nparams;
    char **params;
    host_dbtx_cbfn cb;
    void *ud;
    uv_timer_t later; /* for results delivered without a statement */
    int status;
};

struct host_dbtx {
    const host_dbtx_owner *ops;
    void *owner; /* NULL once released */
    host_worker *w;
    host_db_tx *tx;
    char *tenant;
    int beginning;
    int ending;
    int pending; /* statements sent, answers not yet in */
    int in_cb;
    int used;           /* a statement was asked */
    int failed;         /* a statement answered an error */
    int published;      /* outbox rows in this transaction */
    db_op *head, *tail; /* waiting for the transaction */
    int end_waiting;    /* a commit or rollback is among them */
};

int host_tn_status(int st)
{
    if (st == HOST_DB_OK)
        return TN_OK;
    if (host_db_status_is_unavailable(st) || st == HOST_DB_ECLOSED)
        return TN_EDB_UNAVAILABLE;
    if (st == HOST_DB_EABORTED)
        return TN_EDB_ABORTED;
    if (st == HOST_DB_EQUERY)
        return TN_EDB_QUERY;
    if (st == HOST_DB_EUNKNOWN)
        return TN_EDB_UNKNOWN;
    return TN_ESTATE;
}

static void pool_log(void *ud, int level, const char *msg)
{
    (void)ud;
    host_log(level ? HOST_LOG_WARN : HOST_LOG_INFO, "database: %s", msg);
}

int host_database_open(host_worker *w)
{
    const host_db_conf *c = &w->conf.server.db;
    host_db_opts o;

    if (!c->url)
        return 0;
    memset(&o, 0, sizeof o);
    o.conninfo = c->url;
    o.size = c->pool_size;
    o.queue_max = c->queue_max ? c->queue_max : -1;
    o.queue_timeout_ms = c->queue_timeout_ms;
    o.statement_timeout_ms = c->statement_timeout_ms;
    o.log = pool_log;
    w->db = host_db_new(w->loop, &o);
    return w->db ? 0 : -1;
}

void host_database_close(host_worker *w)
{
    if (w->db)
        host_db_free(w->db);
    w->db = NULL;
}

int host_database_ready(const host_worker *w)
{
    return !w->conf.server.db.url || (w->db && host_db_ready(w->db));
}

/* ---- the machine ------------------------------------------------------------ */

static void op_free(db_op *op)
{
    int i;

    for (i = 0; i < op->nparams; i++)
        free(op->params[i]);
    free(op->params);
    free(op->sql);
    free(op);
}

static db_op *op_new(op_kind kind, const char *sql, int nparams, const char *const *params,
                     host_dbtx_cbfn cb, void *ud)
{
    db_op *op = calloc(1, sizeof *op);
    int i;

    if (!op)
        return NULL;
    op->kind = kind;
    op->cb = cb;
    op->ud = ud;
    if (sql && !(op->sql = strdup(sql)))
        goto fail;
    if (nparams > 0) {
        if (!(op->params = calloc((size_t)nparams, sizeof *op->params)))
            goto fail;
        op->nparams = nparams;
        for (i = 0; i < nparams; i++)
            if (params[i] && !(op->params[i] = strdup(params[i])))
                goto fail;
    }
    return op;
fail:
    op_free(op);
    return NULL;
}

static void m_maybe_free(host_dbtx *m)
{
    if (m->owner || m->pending || m->tx || m->beginning || m->in_cb || m->head)
        return;
    free(m->tenant);
    free(m);
}

/* What the plugin reads: the pool closing under a strict owner means the
 * worker stops, which tn_tx documents as TN_ECANCELED. */
static int m_status(const host_dbtx *m, int status)
{
    if (status == HOST_DB_ECLOSED && m->ops->strict)
        return TN_ECANCELED;
    return host_tn_status(status);
}

static void deliver(db_op *op, int status, const host_db_result *res)
{
    host_dbtx *m = op->m;
    tn_db_result r = {m_status(m, status), res};

    if (op->kind == OP_QUERY && status != HOST_DB_OK)
        m->failed = 1;
    if (!op->cb || !m->owner)
        return;
    m->in_cb++;
    m->ops->invoke(m->owner, op->cb, &r, op->ud);
    m->in_cb--;
}

static void on_later_closed(uv_handle_t *h)
{
    db_op *op = h->data;
    host_dbtx *m = op->m;

    /* Counted until the handle is closed, so m outlives it. */
    m->pending--;
    op_free(op);
    m_maybe_free(m);
}

static void on_later(uv_timer_t *t)
{
    db_op *op = t->data;

    deliver(op, op->status, NULL);
    uv_close((uv_handle_t *)&op->later, on_later_closed);
}

/* Results that need no statement still arrive later, never inside the call
 * that asked (the SDK's promise). */
static void finish_later(db_op *op, int status)
{
    op->status = status;
    op->m->pending++;
    uv_timer_init(op->m->w->loop, &op->later);
    op->later.data = op;
    uv_timer_start(&op->later, on_later, 0, 0);
}

static void on_query(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    db_op *op = ud;
    host_dbtx *m = op->m;

    (void)tx;
    m->pending--;
    deliver(op, status, res);
    op_free(op);
    m_maybe_free(m);
}

/* The connection broke after COMMIT was sent: the writes may be in the
 * database although the owner is told it failed.  Said loudly, with the
 * request id or plugin, so an operator can reconcile, and counted. */
static void commit_unknown(host_dbtx *m)
{
    char labels[96], tenant[80];

    host_log_for(HOST_LOG_ERROR, m->owner ? m->ops->plugin(m->owner) : NULL,
                 m->owner ? m->ops->request_id(m->owner) : NULL,
                 "database COMMIT outcome unknown for tenant %s: the connection was lost "
                 "during COMMIT, the transaction may or may not have been applied",
                 m->tenant ? m->tenant : "-");
    host_metrics_label(tenant, sizeof tenant, m->tenant ? m->tenant : "");
    snprintf(labels, sizeof labels, "tenant=\"%s\"", tenant);
    host_series_add(host_metrics_series(m->w->metrics, "tanomu_db_commit_unknown_total", labels),
                    1);
}

static void on_end(int status, const host_db_result *res, void *ud)
{
    db_op *op = ud;
    host_dbtx *m = op->m;

    if (status == HOST_DB_EUNKNOWN)
        commit_unknown(m);
    m->pending--;
    m->tx = NULL;
    m->ending = 0;
    m->failed = 0;
    if (op->kind == OP_COMMIT && status == HOST_DB_OK && m->published)
        host_outbox_kick(m->w, m->tenant);
    m->published = 0;
    deliver(op, status, res);
    op_free(op);
    m_maybe_free(m);
}

static void issue(host_dbtx *m, db_op *op)
{
    int rc;

    switch (op->kind) {
    case OP_QUERY:
        rc = host_db_tx_query(m->tx, op->sql, op->nparams, (const char *const *)op->params,
                              on_query, op);
        break;
    case OP_COMMIT:
        m->ending = 1;
        rc = host_db_tx_commit(m->tx, on_end, op);
        break;
    default:
        m->ending = 1;
        rc = host_db_tx_rollback(m->tx, on_end, op);
        break;
    }
    if (rc < 0) {
        finish_later(op, rc);
        return;
    }
    m->pending++;
}

static void on_begin(host_db_tx *tx, int status, void *ud)
{
    host_dbtx *m = ud;
    db_op *op;

    m->beginning = 0;
    m->end_waiting = 0; /* issue() sets ending when it sends the end */
    if (status == HOST_DB_OK && !m->owner) {
        /* The owner went while we waited: nothing of it may commit. */
        m->tx = tx;
        m->ending = 1;
        m->pending++;
        op = calloc(1, sizeof *op);
        if (!op || host_db_tx_rollback(tx, on_end, op) < 0) {
            free(op);
            m->pending--;
        } else {
            op->m = m;
            op->kind = OP_ROLLBACK;
        }
    } else if (status == HOST_DB_OK) {
        m->tx = tx;
    }
    while ((op = m->head) != NULL) {
        m->head = op->next;
        if (!m->head)
            m->tail = NULL;
        if (status != HOST_DB_OK || !m->owner) {
            m->pending++;
            deliver(op, status != HOST_DB_OK ? status : HOST_DB_ECLOSED, NULL);
            m->pending--;
            op_free(op);
        } else {
            issue(m, op);
        }
    }
    m_maybe_free(m);
}

static int submit(host_dbtx *m, db_op *op)
{
    host_worker *w = m->w;
    int rc;

    op->m = m;
    if (op->kind == OP_QUERY)
        m->used = 1;
    if (m->tx && !m->ending) {
        issue(m, op);
        return TN_OK;
    }
    if (m->ending || m->end_waiting) {
        /* After commit or rollback was asked, nothing more belongs to this
         * transaction: say so now (no callback), whether or not the end
         * was sent yet, rather than drop it later. */
        op_free(op);
        return TN_ESTATE;
    }
    if ((op->kind == OP_COMMIT || op->kind == OP_ROLLBACK) && !m->beginning) {
        /* Nothing is open: nothing to end.  A strict owner whose statement
         * failed before any began (no connection) hears that it did not
         * commit. */
        rc = op->kind == OP_COMMIT && m->ops->strict && m->failed ? HOST_DB_EABORTED : HOST_DB_OK;
        m->failed = 0;
        finish_later(op, rc);
        return TN_OK;
    }
    if (!w->db) {
        finish_later(op, HOST_DB_EUNAVAIL);
        return TN_OK;
    }
    if (m->tail)
        m->tail->next = op;
    else
        m->head = op;
    m->tail = op;
    if (op->kind == OP_COMMIT || op->kind == OP_ROLLBACK)
        m->end_waiting = 1;
    if (!m->beginning) {
        m->beginning = 1;
        rc = host_db_tx_begin(w->db, m->tenant, on_begin, m);
        if (rc < 0) {
            m->beginning = 0;
            m->head = m->tail = NULL;
            finish_later(op, rc);
        }
    }
    return TN_OK;
}

host_dbtx *host_dbtx_new(host_worker *w, const char *tenant, const host_dbtx_owner *ops,
                         void *owner)
{
    host_dbtx *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    m->ops = ops;
    m->owner = owner;
    m->w = w;
    if (tenant && !(m->tenant = strdup(tenant))) {
        free(m);
        return NULL;
    }
    return m;
}

void host_dbtx_release(host_dbtx *m)
{
    db_op *op;

    if (!m)
        return;
    if (m->tx && !m->ending) {
        if (m->ops->request_id(m->owner))
            host_log_for(HOST_LOG_WARN, NULL, m->ops->request_id(m->owner),
                         "transaction not committed when the request ended: rolled back");
        else
            host_log_for(HOST_LOG_WARN, m->ops->plugin(m->owner), NULL,
                         "transaction not committed when its handle ended: rolled back");
    }
    m->owner = NULL;
    if (m->tx && !m->ending && (op = op_new(OP_ROLLBACK, NULL, 0, NULL, NULL, NULL)) != NULL) {
        op->m = m;
        issue(m, op);
    }
    m_maybe_free(m);
}

int host_dbtx_query(host_dbtx *m, const char *sql, int nparams, const char *const *params,
                    host_dbtx_cbfn cb, void *ud)
{
    db_op *op = op_new(OP_QUERY, sql, nparams, params, cb, ud);

    return op ? submit(m, op) : TN_ENOMEM;
}

int host_dbtx_end(host_dbtx *m, int commit, host_dbtx_cbfn cb, void *ud)
{
    db_op *op = op_new(commit ? OP_COMMIT : OP_ROLLBACK, NULL, 0, NULL, cb, ud);

    return op ? submit(m, op) : TN_ENOMEM;
}

int host_dbtx_publish(host_dbtx *m, const char *name, const char *payload)
{
    static const char sql[] = "INSERT INTO outbox (tenant_id, name, payload) "
                              "VALUES (current_setting('app.tenant_id'), $1, $2::jsonb)";
    const char *params[2];
    json_t *j;
    int rc;

    if (!m->tenant || !host_event_name_valid(name))
        return TN_EINVAL;
    payload = payload ? payload : "{}";
    if (!(j = json_loads(payload, JSON_DECODE_ANY, NULL)))
        return TN_EINVAL;
    json_decref(j);
    params[0] = name;
    params[1] = payload;
    rc = host_dbtx_query(m, sql, 2, params, NULL, NULL);
    if (rc == TN_OK)
        m->published++;
    return rc;
}

int host_dbtx_used(const host_dbtx *m)
{
    return m && m->used;
}

int host_dbtx_ending(const host_dbtx *m)
{
    return m && m->ending;
}

/* ---- the request as an owner ------------------------------------------------ */

static void req_invoke(void *owner, host_dbtx_cbfn cb, const tn_db_result *res, void *ud)
{
    ((tn_db_fn)cb)(owner, res, ud);
}

static const char *req_request_id(void *owner)
{
    return owner ? ((tn_request *)owner)->request_id : NULL;
}

static const char *req_plugin(void *owner)
{
    (void)owner;
    return NULL;
}

static const host_dbtx_owner req_owner = {req_invoke, req_request_id, req_plugin, 0};

static host_dbtx *req_machine(tn_request *req)
{
    if (!req->db)
        req->db = host_dbtx_new(req->srv->ctx, req->tenant ? req->tenant->id : NULL, &req_owner,
                                req);
    return req->db;
}

void host_database_request_end(tn_request *req)
{
    host_dbtx *m = req->db;

    req->db = NULL;
    host_dbtx_release(m);
}

/* ---- the API ----------------------------------------------------------------- */

int host_api_db_query(tn_request *req, const char *sql, int nparams, const char *const *params,
                      tn_db_fn cb, void *ud)
{
    host_dbtx *m;

    if (!req || !req->active || !sql || !*sql || nparams < 0 || nparams > 1000 ||
        (nparams > 0 && !params))
        return TN_EINVAL;
    if (!host_sql_allowed(sql)) {
        host_log_for(HOST_LOG_ERROR, NULL, req->request_id,
                     "statement refused: transaction control and app.tenant_id are the host's");
        return TN_EINVAL;
    }
    if (!(m = req_machine(req)))
        return TN_ENOMEM;
    return host_dbtx_query(m, sql, nparams, params, (host_dbtx_cbfn)cb, ud);
}

static int req_end(tn_request *req, int commit, tn_db_fn cb, void *ud)
{
    host_dbtx *m;

    if (!req || !req->active)
        return TN_EINVAL;
    if (!(m = req_machine(req)))
        return TN_ENOMEM;
    return host_dbtx_end(m, commit, (host_dbtx_cbfn)cb, ud);
}

int host_api_db_commit(tn_request *req, tn_db_fn cb, void *ud)
{
    return req_end(req, 1, cb, ud);
}

int host_api_db_rollback(tn_request *req, tn_db_fn cb, void *ud)
{
    return req_end(req, 0, cb, ud);
}

int host_api_db_status(const tn_db_result *r)
{
    return r ? r->status : TN_EINVAL;
}

const char *host_api_db_sqlstate(const tn_db_result *r)
{
    const char *s = r && r->res ? host_db_result_sqlstate(r->res) : NULL;

    return s ? s : "";
}

const char *host_api_db_message(const tn_db_result *r)
{
    const char *s = r && r->res ? host_db_result_message(r->res) : NULL;

    return s ? s : "";
}

int host_api_db_rows(const tn_db_result *r)
{
    return r && r->res ? host_db_result_nrows(r->res) : 0;
}

int host_api_db_cols(const tn_db_result *r)
{
    return r && r->res ? host_db_result_ncols(r->res) : 0;
}

const char *host_api_db_colname(const tn_db_result *r, int col)
{
    return r && r->res ? host_db_result_colname(r->res, col) : NULL;
}

const char *host_api_db_value(const tn_db_result *r, int row, int col)
{
    return r && r->res ? host_db_result_value(r->res, row, col) : NULL;
}

int64_t host_api_db_affected(const tn_db_result *r)
{
    return r && r->res ? host_db_result_affected(r->res) : -1;
}

int host_api_resp_db_error(tn_request *req, const tn_db_result *r)
{
    const char *state = host_api_db_sqlstate(r);
    host_db_answer a;
    int rc;

    host_db_answer_for(r ? r->status : TN_EDB_UNAVAILABLE, state, &a);
    if (a.log) /* the status and SQLSTATE only: the message may quote values (S16) */
        host_log_for(HOST_LOG_ERROR, NULL, req->request_id, "database error: status %d sqlstate %s",
                     r ? r->status : 0, state[0] ? state : "-");
    rc = host_resp_error(req, a.status, a.code, a.message);
    if (a.retry_after)
        host_resp_header(req, "Retry-After", a.retry_after);
    return rc;
}

int host_api_db_publish(tn_request *req, const char *name, const char *payload)
{
    host_dbtx *m;

    if (!req || !req->tenant || !host_event_name_valid(name))
        return TN_EINVAL;
    if (!(m = req_machine(req)))
        return TN_ENOMEM;
    return host_dbtx_publish(m, name, payload);
}

int host_dbtx_audit(host_dbtx *m, const char *user_id, const char *client_addr,
                    const char *request_id, const char *action, const char *target_type,
                    const char *target_id, const char *result)
{
    static const char sql[] =
        "INSERT INTO audit_log (tenant_id, user_id, action, target_type, target_id, "
        "client_ip, request_id, result) VALUES (current_setting('app.tenant_id'), "
        "$1, $2, $3, $4, $5::inet, $6, $7)";
    const char *params[7];

    /* The table's own CHECKs, answered before a round trip (and before a
     * failed INSERT could abort the caller's transaction). */
    if (!m->tenant || !action || !*action || strlen(action) > 128 || !result ||
        (strcmp(result, "ok") != 0 && strcmp(result, "denied") != 0 &&
         strcmp(result, "failed") != 0))
        return TN_EINVAL;
    params[0] = user_id;
    params[1] = action;
    params[2] = target_type;
    params[3] = target_id;
    params[4] = client_addr && client_addr[0] ? client_addr : NULL;
    params[5] = request_id;
    params[6] = result;
    return host_dbtx_query(m, sql, 7, params, NULL, NULL);
}

int host_api_db_audit(tn_request *req, const char *action, const char *target_type,
                      const char *target_id, const char *result)
{
    host_dbtx *m;

    if (!req || !req->tenant || !action || !result)
        return TN_EINVAL;
    if (!(m = req_machine(req)))
        return TN_ENOMEM;
    return host_dbtx_audit(m, req->user_id, req->client_addr, req->request_id, action, target_type,
                           target_id, result);
}
