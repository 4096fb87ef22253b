/*
 * db.c - the database, scripted by the test.
 *
 * It keeps the host's rules (host/runtime/database.c) so that a plugin meets
 * them in its unit tests: a request's first statement begins a transaction
 * bound to its tenant; statements run in order and answer later, never
 * inside the call; a statement (or db_publish, db_audit, commit, rollback)
 * asked after commit or rollback was asked is refused at once with
 * TN_ESTATE, no callback; commit or rollback with nothing begun answers
 * TN_OK, and calls back;
 * after a failed statement the transaction is aborted, as PostgreSQL does
 * (25P02, then TN_EDB_ABORTED at commit); a transaction still open when the
 * request finishes is rolled back with a warning, and callbacks for a
 * finished request are dropped.  db_publish() and db_audit() write rows in
 * the transaction: they reach the outbox and the audit log only if it
 * commits.  resp_db_error() answers with the host's mapping (http_util.c).
 *
 * What the server would answer comes from the test's handler (tk_db_fn),
 * which fills a tn_db_result with the tk_db_* functions below.
 *
 * A transaction outside a request (tn_tx, tx.c) is the same machine with
 * another owner: its statements queue and run here, by the same rules.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tk_internal.h"

#define TK_SQL_COMMIT "COMMIT"
#define TK_SQL_ROLLBACK "ROLLBACK"
/* The host's limits (database.c, outbox.c and the tables' CHECKs). */
#define TK_DB_MAX_PARAMS 1000
#define TK_AUDIT_ACTION_MAX 128

typedef enum tk_db_kind {
    TK_DB_QUERY,
    TK_DB_COMMIT,
    TK_DB_ROLLBACK,
    TK_DB_PUBLISH, /* the host's INSERT INTO outbox */
    TK_DB_AUDIT    /* the host's INSERT INTO audit_log */
} tk_db_kind;

struct tk_db_op {
    tk_db_kind kind;
    int answered; /* no statement runs: status is the answer */
    int status;
    tk_stmt *stmt; /* QUERY, COMMIT, ROLLBACK: as the server gets it */
    tn_db_fn cb;
    tn_tx_fn tx_cb; /* a tn_tx's */
    void *ud;
    tk_outbox_row *row;  /* PUBLISH */
    tk_audit_row *audit; /* AUDIT */
};

/* -- statements and rows ----------------------------------------------- */

static void stmt_free(tk_stmt *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->view.nparams; i++)
        free(s->params[i]);
    free(s->params);
    free(s->sql);
    free(s->tenant);
    free(s);
}

static tk_stmt *stmt_new(const char *tenant, const char *sql, int nparams,
                         const char *const *params)
{
    tk_stmt *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->tenant = tenant ? tk_strdup(tenant) : NULL; /* NULL: a tx bound to no tenant */
    s->sql = tk_strdup(sql);
    if ((tenant && s->tenant == NULL) || s->sql == NULL)
        goto fail;
    if (nparams > 0) {
        s->params = calloc((size_t)nparams, sizeof *s->params);
        if (s->params == NULL)
            goto fail;
        s->view.nparams = nparams;
        for (int i = 0; i < nparams; i++)
            if (params[i] != NULL && (s->params[i] = tk_strdup(params[i])) == NULL)
                goto fail;
    }
    s->view.tenant = s->tenant;
    s->view.sql = s->sql;
    s->view.params = (const char *const *)s->params;
    return s;

fail:
    stmt_free(s);
    return NULL;
}

static void audit_free(tk_audit_row *a)
{
    if (a != NULL) {
        free(a->text);
        free(a);
    }
}

/* The entry's strings, packed into one allocation; NULL ones stay NULL. */
static tk_audit_row *audit_new(const char *const fields[8])
{
    size_t len = 0;
    for (int i = 0; i < 8; i++)
        len += fields[i] ? strlen(fields[i]) + 1 : 0;
    tk_audit_row *a = calloc(1, sizeof *a);
    char *text = malloc(len ? len : 1);
    if (a == NULL || text == NULL) {
        free(a);
        free(text);
        return NULL;
    }
    a->text = text;
    const char **out[8] = {&a->entry.tenant,      &a->entry.user,      &a->entry.action,
                           &a->entry.target_type, &a->entry.target_id, &a->entry.client_addr,
                           &a->entry.request_id,  &a->entry.result};
    for (int i = 0; i < 8; i++) {
        if (fields[i] == NULL)
            continue;
        size_t n = strlen(fields[i]) + 1;
        memcpy(text, fields[i], n);
        *out[i] = text;
        text += n;
    }
    return a;
}

void tk_db_op_free(tk_db_op *op)
{
    if (op == NULL)
        return;
    stmt_free(op->stmt);
    tk_outbox_row_free(op->row);
    audit_free(op->audit);
    free(op);
}

void tk_tx_clear(tk_tx *tx)
{
    for (size_t i = 0; i < tx->rows.n; i++)
        tk_outbox_row_free(tx->rows.items[i]);
    tk_list_clear(&tx->rows);
    for (size_t i = 0; i < tx->audit.n; i++)
        audit_free(tx->audit.items[i]);
    tk_list_clear(&tx->audit);
    tx->open = 0;
    tx->ending = 0;
    tx->failed = 0;
}

/* -- results ------------------------------------------------------------ */

static void result_clear(tn_db_result *res)
{
    free(res->sqlstate);
    free(res->message);
    for (int i = 0; i < res->ncols; i++)
        free(res->colnames[i]);
    free(res->colnames);
    for (size_t r = 0; r < res->rows.n; r++) {
        char **row = res->rows.items[r];
        for (int c = 0; c < res->ncols; c++)
            free(row[c]);
        free(row);
    }
    tk_list_clear(&res->rows);
}

int tk_db_columns(tn_db_result *res, int ncols, ...)
{
    if (res == NULL || ncols < 1 || res->ncols > 0)
        return TN_EINVAL;
    char **names = calloc((size_t)ncols, sizeof *names);
    if (names == NULL)
        return TN_ENOMEM;
    va_list ap;
    va_start(ap, ncols);
    int rc = TN_OK;
    for (int i = 0; i < ncols; i++) {
        const char *name = va_arg(ap, const char *);
        names[i] = tk_strdup(name ? name : "?column?");
        if (names[i] == NULL)
            rc = TN_ENOMEM;
    }
    va_end(ap);
    if (rc != TN_OK) {
        for (int i = 0; i < ncols; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    res->colnames = names;
    res->ncols = ncols;
    return TN_OK;
}

int tk_db_row(tn_db_result *res, ...)
{
    if (res == NULL)
        return TN_EINVAL;
    if (res->ncols == 0)
        return TN_ESTATE;
    char **row = calloc((size_t)res->ncols, sizeof *row);
    if (row == NULL)
        return TN_ENOMEM;
    va_list ap;
    va_start(ap, res);
    int rc = TN_OK;
    for (int i = 0; i < res->ncols; i++) {
        const char *v = va_arg(ap, const char *);
        if (v != NULL && (row[i] = tk_strdup(v)) == NULL)
            rc = TN_ENOMEM;
    }
    va_end(ap);
    if (rc == TN_OK)
        rc = tk_list_push(&res->rows, row);
    if (rc != TN_OK) {
        for (int i = 0; i < res->ncols; i++)
            free(row[i]);
        free(row);
    }
    return rc;
}

void tk_db_affected(tn_db_result *res, int64_t n)
{
    if (res != NULL) {
        res->affected = n;
        res->affected_set = 1;
    }
}

int tk_db_fail(tn_db_result *res, int status, const char *sqlstate, const char *message)
{
    if (res == NULL || (status != TN_EDB_QUERY && status != TN_EDB_UNAVAILABLE &&
                        status != TN_EDB_ABORTED && status != TN_EDB_UNKNOWN))
        return TN_EINVAL;
    char *s = sqlstate ? tk_strdup(sqlstate) : NULL;
    char *m = message ? tk_strdup(message) : NULL;
    if ((sqlstate && s == NULL) || (message && m == NULL)) {
        free(s);
        free(m);
        return TN_ENOMEM;
    }
    free(res->sqlstate);
    free(res->message);
    res->status = status;
    res->sqlstate = s;
    res->message = m;
    return TN_OK;
}

/* The readers a plugin has: a result of no statement reads as empty. */

int tk_api_db_status(const tn_db_result *res)
{
    return res ? res->status : TN_EINVAL;
}

const char *tk_api_db_sqlstate(const tn_db_result *res)
{
    return res && res->ran && res->sqlstate ? res->sqlstate : "";
}

const char *tk_api_db_message(const tn_db_result *res)
{
    return res && res->ran && res->message ? res->message : "";
}

int tk_api_db_rows(const tn_db_result *res)
{
    return res && res->ran ? (int)res->rows.n : 0;
}

int tk_api_db_cols(const tn_db_result *res)
{
    return res && res->ran ? res->ncols : 0;
}

const char *tk_api_db_colname(const tn_db_result *res, int col)
{
    if (res == NULL || !res->ran || col < 0 || col >= res->ncols)
        return NULL;
    return res->colnames[col];
}

const char *tk_api_db_value(const tn_db_result *res, int row, int col)
{
    if (res == NULL || !res->ran || row < 0 || (size_t)row >= res->rows.n || col < 0 ||
        col >= res->ncols)
        return NULL;
    const char *const *r = res->rows.items[row];
    return r[col];
}

/* From the command tag, as libpq's PQcmdTuples: a failed statement has no
 * count, and a handler that said nothing gives one only for rows. */
int64_t tk_api_db_affected(const tn_db_result *res)
{
    if (res == NULL || !res->ran || res->status != TN_OK)
        return -1;
    if (res->affected_set)
        return res->affected;
    return res->ncols > 0 ? (int64_t)res->rows.n : -1;
}

int tk_api_resp_db_error(tn_request *req, const tn_db_result *res)
{
    const char *state = tk_api_db_sqlstate(res);
    host_db_answer a;
    host_db_answer_for(res ? res->status : TN_EDB_UNAVAILABLE, state, &a);
    /* The status and SQLSTATE only: the server's message may quote values
     * (S16). */
    if (a.log && req != NULL)
        tk_log_req(req, TN_LOG_ERROR, "database error: status %d sqlstate %s", res->status,
                   state[0] ? state : "-");
    int rc = tk_api_resp_error(req, a.status, a.code, a.message);
    if (a.retry_after != NULL)
        tk_api_resp_header(req, "Retry-After", a.retry_after);
    return rc;
}

/* -- asking ------------------------------------------------------------- */

static tk_db_op *op_new(tk_db_kind kind, tn_db_fn cb, void *ud)
{
    tk_db_op *op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->kind = kind;
    op->cb = cb;
    op->ud = ud;
    return op;
}

/* As the host's submit(): what the transaction's state makes of an op. */
static void classify(tk_tx *tx, tk_db_op *op)
{
    int ends = op->kind == TK_DB_COMMIT || op->kind == TK_DB_ROLLBACK;
    if (tx->ending) {
        /* Asked after commit or rollback was: the next transaction has
         * to wait for that one's answer. */
        op->answered = 1;
        op->status = TN_ESTATE;
    } else if (!tx->open && ends) {
        op->answered = 1; /* nothing ran: nothing to end */
        op->status = TN_OK;
    }
}

/* Asked after commit or rollback was: the host refuses it at once, with
 * no callback (its submit()); frees op then. */
static int refused_now(tk_db_op *op)
{
    if (!op->answered || op->status != TN_ESTATE)
        return 0;
    tk_db_op_free(op);
    return 1;
}

static void queued(tk_tx *tx, tk_db_op *op)
{
    if (!op->answered) {
        tx->open = 1; /* begun by its first statement */
        tx->ending = op->kind == TK_DB_COMMIT || op->kind == TK_DB_ROLLBACK;
    }
}

static int submit(tn_request *r, tk_db_op *op)
{
    classify(&r->tx, op);
    if (refused_now(op))
        return TN_ESTATE;
    int rc = tk_queue_db(r, r->tk->current, op);
    if (rc != TN_OK) {
        tk_db_op_free(op);
        return rc;
    }
    queued(&r->tx, op);
    return TN_OK;
}

static int submit_tx(tn_tx *t, tk_db_op *op)
{
    classify(&t->state, op);
    if (refused_now(op))
        return TN_ESTATE;
    tk_pending *p = calloc(1, sizeof *p);
    if (p == NULL || tk_list_push(&t->tk->pending, p) != TN_OK) {
        free(p);
        tk_db_op_free(op);
        return TN_ENOMEM;
    }
    p->kind = TK_PENDING_DB;
    p->plugin = t->plugin;
    p->tx = t;
    p->op = op;
    t->pending++;
    queued(&t->state, op);
    return TN_OK;
}

int tk_api_db_query(tn_request *req, const char *sql, int nparams, const char *const *params,
                    tn_db_fn cb, void *ud)
{
    if (!tk_req_usable(req) || sql == NULL || sql[0] == '\0' || nparams < 0 ||
        nparams > TK_DB_MAX_PARAMS || (nparams > 0 && params == NULL))
        return TN_EINVAL;
    /* Transaction control, SET and set_config() are the host's (S21). */
    if (!host_sql_allowed(sql)) {
        tk_log_req(req, TN_LOG_ERROR,
                   "statement refused: transaction control and "
                   "app.tenant_id are the host's");
        return TN_EINVAL;
    }
    tk_db_op *op = op_new(TK_DB_QUERY, cb, ud);
    if (op == NULL || (op->stmt = stmt_new(req->tenant, sql, nparams, params)) == NULL) {
        tk_db_op_free(op);
        return TN_ENOMEM;
    }
    return submit(req, op);
}

static int end_tx(tn_request *req, tk_db_kind kind, tn_db_fn cb, void *ud)
{
    if (!tk_req_usable(req))
        return TN_EINVAL;
    tk_db_op *op = op_new(kind, cb, ud);
    if (op == NULL)
        return TN_ENOMEM;
    return submit(req, op);
}

int tk_api_db_commit(tn_request *req, tn_db_fn cb, void *ud)
{
    return end_tx(req, TK_DB_COMMIT, cb, ud);
}

int tk_api_db_rollback(tn_request *req, tn_db_fn cb, void *ud)
{
    return end_tx(req, TK_DB_ROLLBACK, cb, ud);
}

/* The host's INSERT INTO outbox, as an op carrying the row. */
static tk_db_op *publish_op(tk_kit *tk, const char *tenant, const char *name, const char *payload)
{
    tk_db_op *op = op_new(TK_DB_PUBLISH, NULL, NULL);
    tk_outbox_row *row = calloc(1, sizeof *row);
    if (op == NULL || row == NULL) {
        free(row);
        tk_db_op_free(op);
        return NULL;
    }
    op->row = row;
    row->tk = tk;
    row->tenant = tk_strdup(tenant);
    row->name = tk_strdup(name);
    row->payload = tk_strdup(payload);
    if (row->tenant == NULL || row->name == NULL || row->payload == NULL) {
        tk_db_op_free(op);
        return NULL;
    }
    row->ev.tenant = row->tenant;
    row->ev.name = row->name;
    row->ev.payload = row->payload;
    row->ev.state = "pending";
    return op;
}

int tk_api_db_publish(tn_request *req, const char *name, const char *payload_json)
{
    if (!tk_req_usable(req) || !host_event_name_valid(name))
        return TN_EINVAL;
    const char *payload = payload_json ? payload_json : "{}";
    json_t *doc = json_loads(payload, JSON_DECODE_ANY, NULL); /* a jsonb column */
    if (doc == NULL)
        return TN_EINVAL;
    json_decref(doc);
    tk_db_op *op = publish_op(req->tk, req->tenant, name, payload);
    return op ? submit(req, op) : TN_ENOMEM;
}

/* The one audit INSERT behind db_audit and tx_audit, checked as the
 * table's CHECKs check it (fields: the row's eight columns in order). */
static tk_db_op *audit_op(const char *const fields[8])
{
    const char *action = fields[2], *result = fields[7];
    if (fields[0] == NULL || action == NULL || action[0] == '\0' ||
        strlen(action) > TK_AUDIT_ACTION_MAX || result == NULL ||
        (strcmp(result, "ok") != 0 && strcmp(result, "denied") != 0 &&
         strcmp(result, "failed") != 0))
        return NULL;
    tk_db_op *op = op_new(TK_DB_AUDIT, NULL, NULL);
    if (op == NULL || (op->audit = audit_new(fields)) == NULL) {
        tk_db_op_free(op);
        return NULL;
    }
    return op;
}

int tk_api_db_audit(tn_request *req, const char *action, const char *target_type,
                    const char *target_id, const char *result)
{
    if (!tk_req_usable(req))
        return TN_EINVAL;
    /* Who, from where and in which request come from the request (S20). */
    const char *fields[8] = {req->tenant, req->user, action,
                             target_type, target_id, req->client_addr[0] ? req->client_addr : NULL,
                             req->id,     result};
    tk_db_op *op = audit_op(fields);
    return op ? submit(req, op) : TN_EINVAL;
}

/* -- answering ---------------------------------------------------------- */

/* The handler's answer to one statement; untouched, a success. */
static void ask_handler(tk_kit *tk, const tk_stmt *s, tn_db_result *res)
{
    res->ran = 1;
    if (tk_jobs_answer(tk, s->tenant, s->sql, s->view.nparams, s->view.params, res))
        return;
    if (tk->db_fn != NULL)
        tk->db_fn(s->tenant, s->sql, s->view.nparams, s->view.params, res, tk->db_ud);
}

/* The statement reaches the server: record it (the op gives it up). */
static const tk_stmt *receive(tk_kit *tk, tk_db_op *op)
{
    if (tk_list_push(&tk->stmts, op->stmt) != TN_OK)
        return op->stmt; /* out of memory: not recorded, freed with the op */
    const tk_stmt *s = op->stmt;
    op->stmt = NULL;
    return s;
}

static void run_query(tk_kit *tk, tk_tx *tx, tk_db_op *op, tn_db_result *res)
{
    if (tx->failed == TN_EDB_UNAVAILABLE) {
        res->status = TN_EDB_UNAVAILABLE; /* the connection is gone */
        return;
    }
    const tk_stmt *s = receive(tk, op);
    if (tx->failed == TN_EDB_QUERY) {
        res->ran = 1;
        tk_db_fail(res, TN_EDB_QUERY, "25P02",
                   "current transaction is aborted, "
                   "commands ignored until end of transaction block");
        return;
    }
    ask_handler(tk, s, res);
    if (res->status != TN_OK)
        tx->failed = res->status == TN_EDB_UNAVAILABLE ? TN_EDB_UNAVAILABLE : TN_EDB_QUERY;
}

/* The host's INSERTs for db_publish() and db_audit(): they succeed unless
 * the transaction is already aborted, and are not shown to the handler. */
static void run_insert(tk_kit *tk, tk_tx *tx, tk_db_op *op)
{
    if (tx->failed != 0)
        return;
    if (op->row != NULL) {
        op->row->ev.id = ++tk->outbox_seq; /* a sequence: rolled back ids are gaps */
        if (tk_list_push(&tx->rows, op->row) == TN_OK)
            op->row = NULL;
    } else if (op->audit != NULL && tk_list_push(&tx->audit, op->audit) == TN_OK) {
        op->audit = NULL;
    }
}

/* Committed rows join the outbox in id order, as the dispatcher reads it. */
static void outbox_add(tk_kit *tk, tk_outbox_row *row)
{
    size_t at = tk->outbox.n;
    while (at > 0 && ((tk_outbox_row *)tk->outbox.items[at - 1])->ev.id > row->ev.id)
        at--;
    if (tk_list_push(&tk->outbox, row) != TN_OK) {
        tk_outbox_row_free(row);
        return;
    }
    memmove(&tk->outbox.items[at + 1], &tk->outbox.items[at],
            (tk->outbox.n - 1 - at) * sizeof *tk->outbox.items);
    tk->outbox.items[at] = row;
}

static void publish(tk_kit *tk, tk_tx *tx)
{
    for (size_t i = 0; i < tx->rows.n; i++)
        outbox_add(tk, tx->rows.items[i]);
    tk_list_clear(&tx->rows);
    for (size_t i = 0; i < tx->audit.n; i++)
        if (tk_list_push(&tk->audit, tx->audit.items[i]) != TN_OK)
            audit_free(tx->audit.items[i]);
    tk_list_clear(&tx->audit);
}

static void run_end(tk_kit *tk, tk_tx *tx, tk_db_op *op, tn_db_result *res)
{
    int commit = op->kind == TK_DB_COMMIT;
    if (tx->failed == TN_EDB_UNAVAILABLE) {
        /* No connection: the server has rolled back already, and a
         * COMMIT never sent is unavailable, as in the host (a COMMIT whose
         * connection breaks after sending is TN_EDB_UNKNOWN: tk_db_fail). */
        res->status = commit ? TN_EDB_UNAVAILABLE : TN_OK;
    } else if (commit && tx->failed == TN_EDB_QUERY) {
        receive(tk, op);
        res->ran = 1;
        res->status = TN_EDB_ABORTED; /* the server rolled it back */
    } else {
        ask_handler(tk, receive(tk, op), res);
        if (commit && res->status == TN_OK)
            publish(tk, tx);
    }
    tk_tx_clear(tx); /* what was not published is rolled back */
}

void tk_db_run(tk_kit *tk, tk_pending *p)
{
    tn_request *r = p->req;
    tn_tx *t = p->tx;
    tk_tx *state = r ? &r->tx : &t->state;
    tk_db_op *op = p->op;
    tn_db_result res;
    memset(&res, 0, sizeof res);
    res.status = op->status;
    if (!op->answered) {
        /* The statement is sent now; a COMMIT or ROLLBACK needs one too. */
        if ((op->kind == TK_DB_COMMIT || op->kind == TK_DB_ROLLBACK) &&
            (op->stmt = stmt_new(r ? r->tenant : t->tenant,
                                 op->kind == TK_DB_COMMIT ? TK_SQL_COMMIT : TK_SQL_ROLLBACK, 0,
                                 NULL)) == NULL) {
            tk_log_kit(tk, TN_LOG_ERROR, "out of memory running a database statement");
            res.status = TN_EDB_UNAVAILABLE;
            tk_tx_clear(state);
        } else if (op->kind == TK_DB_QUERY) {
            run_query(tk, state, op, &res);
        } else if (op->kind == TK_DB_PUBLISH || op->kind == TK_DB_AUDIT) {
            run_insert(tk, state, op);
        } else {
            run_end(tk, state, op, &res);
        }
    }
    if (t != NULL) {
        tk_tx_answer(t, op->kind == TK_DB_COMMIT || op->kind == TK_DB_ROLLBACK, op->tx_cb, &res,
                     op->ud);
    } else {
        r->pending--;
        /* A finished request's callbacks are dropped: the plugin must not
         * see a request that has ended. */
        if (op->cb != NULL && r->state != TK_REQ_FINISHED) {
            tn_plugin *saved;
            tk_enter(tk, p->plugin, &saved);
            op->cb(r, &res, op->ud);
            tk_leave(tk, saved);
        }
    }
    result_clear(&res);
    tk_db_op_free(op);
}

/* The kit goes with a tn_tx statement queued: TN_ECANCELED, as a
 * stopping worker answers (tx.c). */
void tk_db_cancel(tk_pending *p)
{
    tk_db_op *op = p->op;
    tn_db_result res;
    memset(&res, 0, sizeof res);
    res.status = TN_ECANCELED;
    if (p->tx != NULL) {
        tk_tx_answer(p->tx, op->kind == TK_DB_COMMIT || op->kind == TK_DB_ROLLBACK, op->tx_cb, &res,
                     op->ud);
    } else {
        p->req->pending--; /* no callback: the requests go with the kit */
    }
    tk_db_op_free(op);
}

/* -- a tn_tx's statements (tx.c checks its arguments) -------------------- */

int tk_db_tx_query(tn_tx *t, const char *sql, int nparams, const char *const *params, tn_tx_fn cb,
                   void *ud)
{
    tk_db_op *op = op_new(TK_DB_QUERY, NULL, ud);
    if (op == NULL || (op->stmt = stmt_new(t->tenant, sql, nparams, params)) == NULL) {
        tk_db_op_free(op);
        return TN_ENOMEM;
    }
    op->tx_cb = cb;
    return submit_tx(t, op);
}

int tk_db_tx_end(tn_tx *t, int commit, tn_tx_fn cb, void *ud)
{
    tk_db_op *op = op_new(commit ? TK_DB_COMMIT : TK_DB_ROLLBACK, NULL, ud);
    if (op == NULL)
        return TN_ENOMEM;
    op->tx_cb = cb;
    return submit_tx(t, op);
}

int tk_db_tx_publish(tn_tx *t, const char *name, const char *payload_json)
{
    if (t->tenant == NULL || !host_event_name_valid(name))
        return TN_EINVAL;
    const char *payload = payload_json ? payload_json : "{}";
    json_t *doc = json_loads(payload, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return TN_EINVAL;
    json_decref(doc);
    tk_db_op *op = publish_op(t->tk, t->tenant, name, payload);
    return op ? submit_tx(t, op) : TN_ENOMEM;
}

int tk_db_tx_audit(tn_tx *t, const char *actor, const char *action, const char *target_type,
                   const char *target_id, const char *result)
{
    /* No request: no client address and no request id. */
    const char *fields[8] = {t->tenant, actor, action, target_type, target_id, NULL, NULL, result};
    tk_db_op *op = audit_op(fields);
    return op ? submit_tx(t, op) : TN_EINVAL;
}

void tk_db_request_end(tn_request *r)
{
    if (!r->tx.open || r->tx.ending)
        return;
    tk_log_req(r, TN_LOG_WARN, "transaction not committed when the request ended: rolled back");
    tk_db_op *op = op_new(TK_DB_ROLLBACK, NULL, NULL);
    if (op == NULL || tk_queue_db(r, NULL, op) != TN_OK) {
        tk_db_op_free(op);
        tk_tx_clear(&r->tx); /* rolled back all the same */
        return;
    }
    r->tx.ending = 1;
}

/* -- what the test reads ------------------------------------------------ */

void tk_db_handler(tk_kit *tk, tk_db_fn fn, void *ud)
{
    tk->db_fn = fn;
    tk->db_ud = ud;
}

size_t tk_db_count(const tk_kit *tk)
{
    return tk->stmts.n;
}

const tk_db_stmt *tk_db_at(const tk_kit *tk, size_t i)
{
    const tk_stmt *s = i < tk->stmts.n ? tk->stmts.items[i] : NULL;
    return s ? &s->view : NULL;
}

size_t tk_audit_count(const tk_kit *tk)
{
    return tk->audit.n;
}

const tk_audit_entry *tk_audit_at(const tk_kit *tk, size_t i)
{
    const tk_audit_row *a = i < tk->audit.n ? tk->audit.items[i] : NULL;
    return a ? &a->entry : NULL;
}

void tk_db_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->stmts.n; i++)
        stmt_free(tk->stmts.items[i]);
    tk_list_clear(&tk->stmts);
    for (size_t i = 0; i < tk->outbox.n; i++)
        tk_outbox_row_free(tk->outbox.items[i]);
    tk_list_clear(&tk->outbox);
    for (size_t i = 0; i < tk->audit.n; i++)
        audit_free(tk->audit.items[i]);
    tk_list_clear(&tk->audit);
}
