/*
 * database.c - request-bound transactions over the worker's pool, and the
 * database part of the plugin API.  See database.h.
 *
 * A request's statements wait in a queue until its transaction has a
 * connection, then go out in order.  The transaction outlives the request
 * if it must (a client that hung up while a statement ran): it is then
 * rolled back, and callbacks for a request that has ended are dropped, so a
 * plugin never sees a recycled request.
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
typedef struct host_req_db host_req_db;

struct db_op {
    db_op *next;
    host_req_db *rd;
    op_kind kind;
    char *sql;
    int nparams;
    char **params;
    tn_db_fn cb;
    void *ud;
    uv_timer_t later; /* for results delivered without a statement */
    int status;
};

struct host_req_db {
    tn_request *req; /* NULL once the request has ended */
    host_worker *w;
    host_db_tx *tx;
    char *tenant;
    int beginning;
    int ending;
    int pending; /* statements sent, answers not yet in */
    int in_cb;
    int published;      /* outbox rows in this transaction */
    db_op *head, *tail; /* waiting for the transaction */
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

/* ---- operations ------------------------------------------------------------ */

static void op_free(db_op *op)
{
    int i;

    for (i = 0; i < op->nparams; i++)
        free(op->params[i]);
    free(op->params);
    free(op->sql);
    free(op);
}

static void rd_maybe_free(host_req_db *rd)
{
    if (rd->req || rd->pending || rd->tx || rd->beginning || rd->in_cb || rd->head)
        return;
    free(rd->tenant);
    free(rd);
}

static void deliver(db_op *op, int status, const host_db_result *res)
{
    host_req_db *rd = op->rd;
    tn_db_result r = {host_tn_status(status), res};

    if (!op->cb || !rd->req)
        return;
    rd->in_cb++;
    op->cb(rd->req, &r, op->ud);
    rd->in_cb--;
}

static void on_later_closed(uv_handle_t *h)
{
    db_op *op = h->data;
    host_req_db *rd = op->rd;

    /* Counted until the handle is closed, so rd outlives it. */
    rd->pending--;
    op_free(op);
    rd_maybe_free(rd);
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
    op->rd->pending++;
    uv_timer_init(op->rd->w->loop, &op->later);
    op->later.data = op;
    uv_timer_start(&op->later, on_later, 0, 0);
}

static void on_query(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    db_op *op = ud;
    host_req_db *rd = op->rd;

    (void)tx;
    rd->pending--;
    deliver(op, status, res);
    op_free(op);
    rd_maybe_free(rd);
}

/* The connection broke after COMMIT was sent: the writes may be in the
 * database although the request fails.  Said loudly, with the request id,
 * so an operator can reconcile, and counted. */
static void commit_unknown(host_req_db *rd)
{
    char labels[96], tenant[80];

    host_log_for(HOST_LOG_ERROR, NULL, rd->req ? rd->req->request_id : NULL,
                 "database COMMIT outcome unknown for tenant %s: the connection was lost "
                 "during COMMIT, the transaction may or may not have been applied",
                 rd->tenant ? rd->tenant : "-");
    host_metrics_label(tenant, sizeof tenant, rd->tenant ? rd->tenant : "");
    snprintf(labels, sizeof labels, "tenant=\"%s\"", tenant);
    host_series_add(host_metrics_series(rd->w->metrics, "tanomu_db_commit_unknown_total", labels),
                    1);
}

static void on_end(int status, const host_db_result *res, void *ud)
{
    db_op *op = ud;
    host_req_db *rd = op->rd;

    if (status == HOST_DB_EUNKNOWN)
        commit_unknown(rd);
    rd->pending--;
    rd->tx = NULL;
    rd->ending = 0;
    if (op->kind == OP_COMMIT && status == HOST_DB_OK && rd->published)
        host_outbox_kick(rd->w, rd->tenant);
    rd->published = 0;
    deliver(op, status, res);
    op_free(op);
    rd_maybe_free(rd);
}

static void issue(host_req_db *rd, db_op *op)
{
    int rc;

    switch (op->kind) {
    case OP_QUERY:
        rc = host_db_tx_query(rd->tx, op->sql, op->nparams, (const char *const *)op->params,
                              on_query, op);
        break;
    case OP_COMMIT:
        rd->ending = 1;
        rc = host_db_tx_commit(rd->tx, on_end, op);
        break;
    default:
        rd->ending = 1;
        rc = host_db_tx_rollback(rd->tx, on_end, op);
        break;
    }
    if (rc < 0) {
        finish_later(op, rc);
        return;
    }
    rd->pending++;
}

static void on_begin(host_db_tx *tx, int status, void *ud)
{
    host_req_db *rd = ud;
    db_op *op;

    rd->beginning = 0;
    if (status == HOST_DB_OK && !rd->req) {
        /* The request ended while we waited: nothing of it may commit. */
        rd->tx = tx;
        rd->ending = 1;
        rd->pending++;
        op = calloc(1, sizeof *op);
        if (!op || host_db_tx_rollback(tx, on_end, op) < 0) {
            free(op);
            rd->pending--;
        } else {
            op->rd = rd;
            op->kind = OP_ROLLBACK;
        }
    } else if (status == HOST_DB_OK) {
        rd->tx = tx;
    }
    while ((op = rd->head) != NULL) {
        rd->head = op->next;
        if (!rd->head)
            rd->tail = NULL;
        if (status != HOST_DB_OK || !rd->req) {
            rd->pending++;
            deliver(op, status != HOST_DB_OK ? status : HOST_DB_ECLOSED, NULL);
            rd->pending--;
            op_free(op);
        } else {
            issue(rd, op);
        }
    }
    rd_maybe_free(rd);
}

static host_req_db *rd_get(tn_request *req)
{
    host_worker *w = req->srv->ctx;
    host_req_db *rd = req->db;

    if (rd)
        return rd;
    if (!(rd = calloc(1, sizeof *rd)))
        return NULL;
    rd->req = req;
    rd->w = w;
    if (req->tenant && !(rd->tenant = strdup(req->tenant->id))) {
        free(rd);
        return NULL;
    }
    req->db = rd;
    return rd;
}

static int submit(tn_request *req, db_op *op)
{
    host_req_db *rd = rd_get(req);
    host_worker *w = req->srv->ctx;
    int rc;

    if (!rd) {
        op_free(op);
        return TN_ENOMEM;
    }
    op->rd = rd;
    if (rd->tx && !rd->ending) {
        issue(rd, op);
        return TN_OK;
    }
    if (rd->ending) {
        /* After commit or rollback was asked, nothing more belongs to this
         * transaction: say so now rather than drop it later. */
        op_free(op);
        return TN_ESTATE;
    }
    if ((op->kind == OP_COMMIT || op->kind == OP_ROLLBACK) && !rd->beginning) {
        finish_later(op, HOST_DB_OK); /* nothing ran: nothing to end */
        return TN_OK;
    }
    if (!w->db) {
        finish_later(op, HOST_DB_EUNAVAIL);
        return TN_OK;
    }
    if (rd->tail)
        rd->tail->next = op;
    else
        rd->head = op;
    rd->tail = op;
    if (!rd->beginning) {
        rd->beginning = 1;
        rc = host_db_tx_begin(w->db, rd->tenant, on_begin, rd);
        if (rc < 0) {
            rd->beginning = 0;
            rd->head = rd->tail = NULL;
            finish_later(op, rc);
        }
    }
    return TN_OK;
}

static db_op *op_new(op_kind kind, const char *sql, int nparams, const char *const *params,
                     tn_db_fn cb, void *ud)
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

void host_database_request_end(tn_request *req)
{
    host_req_db *rd = req->db;
    db_op *op;

    if (!rd)
        return;
    req->db = NULL;
    rd->req = NULL;
    if (rd->tx && !rd->ending) {
        host_log_for(HOST_LOG_WARN, NULL, req->request_id,
                     "transaction not committed when the request ended: rolled back");
        if ((op = op_new(OP_ROLLBACK, NULL, 0, NULL, NULL, NULL)) != NULL) {
            op->rd = rd;
            issue(rd, op);
        }
    }
    rd_maybe_free(rd);
}

/* ---- the API ----------------------------------------------------------------- */

int host_api_db_query(tn_request *req, const char *sql, int nparams, const char *const *params,
                      tn_db_fn cb, void *ud)
{
    db_op *op;

    if (!req || !req->active || !sql || !*sql || nparams < 0 || nparams > 1000 ||
        (nparams > 0 && !params))
        return TN_EINVAL;
    if (!host_sql_allowed(sql)) {
        host_log_for(HOST_LOG_ERROR, NULL, req->request_id,
                     "statement refused: transaction control and app.tenant_id are the host's");
        return TN_EINVAL;
    }
    if (!(op = op_new(OP_QUERY, sql, nparams, params, cb, ud)))
        return TN_ENOMEM;
    return submit(req, op);
}

int host_api_db_commit(tn_request *req, tn_db_fn cb, void *ud)
{
    db_op *op;

    if (!req || !req->active)
        return TN_EINVAL;
    if (!(op = op_new(OP_COMMIT, NULL, 0, NULL, cb, ud)))
        return TN_ENOMEM;
    return submit(req, op);
}

int host_api_db_rollback(tn_request *req, tn_db_fn cb, void *ud)
{
    db_op *op;

    if (!req || !req->active)
        return TN_EINVAL;
    if (!(op = op_new(OP_ROLLBACK, NULL, 0, NULL, cb, ud)))
        return TN_ENOMEM;
    return submit(req, op);
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
    static const char sql[] = "INSERT INTO outbox (tenant_id, name, payload) "
                              "VALUES (current_setting('app.tenant_id'), $1, $2::jsonb)";
    const char *params[2];
    json_t *j;
    db_op *op;
    int rc;

    if (!req || !req->tenant || !host_event_name_valid(name))
        return TN_EINVAL;
    payload = payload ? payload : "{}";
    if (!(j = json_loads(payload, JSON_DECODE_ANY, NULL)))
        return TN_EINVAL;
    json_decref(j);
    params[0] = name;
    params[1] = payload;
    if (!(op = op_new(OP_QUERY, sql, 2, params, NULL, NULL)))
        return TN_ENOMEM;
    rc = submit(req, op);
    if (rc == TN_OK && req->db)
        req->db->published++;
    return rc;
}

int host_api_db_audit(tn_request *req, const char *action, const char *target_type,
                      const char *target_id, const char *result)
{
    static const char sql[] =
        "INSERT INTO audit_log (tenant_id, user_id, action, target_type, target_id, "
        "client_ip, request_id, result) VALUES (current_setting('app.tenant_id'), "
        "$1, $2, $3, $4, $5::inet, $6, $7)";
    const char *params[7];
    db_op *op;

    if (!req || !req->tenant || !action || !*action || strlen(action) > 128 || !result ||
        (strcmp(result, "ok") != 0 && strcmp(result, "denied") != 0 &&
         strcmp(result, "failed") != 0))
        return TN_EINVAL;
    params[0] = req->user_id;
    params[1] = action;
    params[2] = target_type;
    params[3] = target_id;
    params[4] = req->client_addr && req->client_addr[0] ? req->client_addr : NULL;
    params[5] = req->request_id;
    params[6] = result;
    if (!(op = op_new(OP_QUERY, sql, 7, params, NULL, NULL)))
        return TN_ENOMEM;
    return submit(req, op);
}
