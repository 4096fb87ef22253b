/*
 * master.c - the routes every master-data resource has (master.h): list,
 * read, create, update.  Each request is one chain of callbacks on the
 * request's transaction (RLS binds it to the tenant: S21); a write ends
 * with its audit row and its outbox event in that transaction, then the
 * commit, then the answer, so a client never sees a change that is not
 * durable, nor a change without its audit trail (S20).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master.h"

#define MASTER_QUERY_MAX 400 /* bytes of ?q= */

typedef struct mreq {
    orders_ctx *ctx;
    tn_request *req;
    const master_kind *kind;
    orders_caller who;
    char code[ORDERS_CODE_MAX + 1];
    char own[ORDERS_CODE_MAX + 1];
    int limit;
    long long if_match;
    json_t *patch; /* update: the validated fields */
    int status;    /* of the answer after commit */
    char *answer;  /* JSON text (request memory) */
    char version[24];
} mreq;

static mreq *mreq_new(orders_ctx *ctx, tn_request *req, const master_kind *kind)
{
    mreq *m = ctx->api->req_alloc(req, sizeof *m);

    if (m != NULL) {
        memset(m, 0, sizeof *m);
        m->ctx = ctx;
        m->req = req;
        m->kind = kind;
    }
    return m;
}

static void mreq_end(mreq *m, tn_status st)
{
    json_decref(m->patch);
    m->patch = NULL;
    m->ctx->api->req_resume(m->req, st);
}

/* A failed statement: the host's answer for it (503, 409, ...). */
static void db_failed(mreq *m, const tn_db_result *res)
{
    m->ctx->api->resp_db_error(m->req, res);
    mreq_end(m, TN_DONE);
}

static void not_found(mreq *m)
{
    char msg[80];

    snprintf(msg, sizeof msg, "No such %s.", m->kind->name);
    m->ctx->api->resp_error(m->req, 404, "not_found", msg);
    mreq_end(m, TN_DONE);
}

void master_invalid(orders_ctx *ctx, tn_request *req, json_t *fields)
{
    orders_error_fields(ctx, req, 400, "invalid_fields", "Some fields are not valid.", fields);
}

int master_own_code(const orders_caller *c, char out[ORDERS_CODE_MAX + 1])
{
    return c->buyer_code != NULL && orders_code_normalize(c->buyer_code, out) == NULL ? 0 : -1;
}

/* ---- validation helpers ------------------------------------------------------ */

static void text_field(const json_t *in, json_t *out, json_t **fields, const char *field,
                       int create, long min, long max, int nfkc)
{
    const json_t *v = json_object_get(in, field);
    char reason[80];
    char *t;
    long n;

    if (v == NULL) {
        if (create && min > 0)
            orders_field_error(fields, field, "is required");
        return;
    }
    if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v))) {
        orders_field_error(fields, field, "must be a string");
        return;
    }
    t = nfkc ? orders_nfkc_trim(json_string_value(v)) : orders_text_trim(json_string_value(v));
    if (t == NULL) {
        orders_field_error(fields, field, "must be UTF-8 text");
        return;
    }
    n = orders_text_chars(t);
    if (n < 0)
        orders_field_error(fields, field, "must not contain control characters");
    else if (n < min || n > max) {
        snprintf(reason, sizeof reason, "must be %ld to %ld characters", min, max);
        orders_field_error(fields, field, reason);
    } else
        json_object_set_new(out, field, json_string(t));
    free(t);
}

void master_text(const json_t *in, json_t *out, json_t **fields, const char *field, int create,
                 long min, long max)
{
    text_field(in, out, fields, field, create, min, max, 0);
}

void master_text_nfkc(const json_t *in, json_t *out, json_t **fields, const char *field, int create,
                      long min, long max)
{
    text_field(in, out, fields, field, create, min, max, 1);
}

void master_kana(const json_t *in, json_t *out, json_t **fields, const char *field)
{
    const json_t *v;

    master_text_nfkc(in, out, fields, field, 0, 0, 200);
    v = json_object_get(out, field);
    if (v != NULL && !orders_kana_valid(json_string_value(v))) {
        json_object_del(out, field);
        orders_field_error(fields, field, "may contain only katakana, hiragana, 'ー' and spaces");
    }
}

void master_code(const json_t *in, json_t *out, json_t **fields, int create)
{
    const json_t *v = json_object_get(in, "code");
    char code[ORDERS_CODE_MAX + 1];
    const char *why;

    if (v == NULL) {
        if (create)
            orders_field_error(fields, "code", "is required");
        return;
    }
    if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v))) {
        orders_field_error(fields, "code", "must be a string");
        return;
    }
    if ((why = orders_code_normalize(json_string_value(v), code)) != NULL)
        orders_field_error(fields, "code", why);
    else
        json_object_set_new(out, "code", json_string(code));
}

void master_bool(const json_t *in, json_t *out, json_t **fields, const char *field)
{
    const json_t *v = json_object_get(in, field);

    if (v == NULL)
        return;
    if (!json_is_boolean(v))
        orders_field_error(fields, field, "must be true or false");
    else
        json_object_set(out, field, (json_t *)v);
}

void master_int(const json_t *in, json_t *out, json_t **fields, const char *field, int create,
                long long min, long long max)
{
    const json_t *v = json_object_get(in, field);
    char reason[80];

    if (v == NULL) {
        if (create)
            orders_field_error(fields, field, "is required");
        return;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(reason, sizeof reason, "must be a whole number from %lld to %lld", min, max);
        orders_field_error(fields, field, reason);
        return;
    }
    json_object_set(out, field, (json_t *)v);
}

/* Unknown fields are refused rather than ignored: a typo must not pass. */
static void unknown_fields(const json_t *in, const json_t *out, json_t **fields)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)in, k, v)
    {
        if (json_object_get(out, k) == NULL &&
            (*fields == NULL || json_object_get(*fields, k) == NULL))
            orders_field_error(fields, k, "is not a field of this object");
    }
}

/* search_text of obj from its code, name and kana. */
static int set_search_text(json_t *obj)
{
    char buf[1024];
    char *folded;

    snprintf(buf, sizeof buf, "%s %s %s", json_string_value(json_object_get(obj, "code")),
             json_string_value(json_object_get(obj, "name")),
             json_string_value(json_object_get(obj, "kana")) ?: "");
    if ((folded = orders_search_fold(buf)) == NULL)
        return -1;
    json_object_set_new(obj, "search_text", json_string(folded));
    free(folded);
    return 0;
}

/* ---- list -------------------------------------------------------------------- */

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    mreq *m = ud;
    const tn_api *api = m->ctx->api;
    json_t *items, *top;
    int i, n;

    (void)req;
    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    n = api->db_rows(res);
    items = json_array();
    for (i = 0; i < n && i < m->limit; i++)
        json_array_append_new(items, json_loads(api->db_value(res, i, 0), 0, NULL));
    top = json_pack("{s:o, s:n}", "items", items, "next_cursor");
    if (top != NULL && n > m->limit) {
        char *c = orders_cursor_encode(m->ctx, m->req, api->db_value(res, m->limit - 1, 1));
        json_object_set_new(top, "next_cursor", c ? json_string(c) : json_null());
    }
    orders_reply(m->ctx, m->req, 200, top);
    mreq_end(m, TN_DONE);
}

static tn_status list_handler(tn_request *req, mreq *m)
{
    const tn_api *api = m->ctx->api;
    const master_kind *k = m->kind;
    const char *q = api->req_query_param(req, "q"), *active = api->req_query_param(req, "active");
    const char *cursor = api->req_query_param(req, "cursor");
    char *qf = NULL, *cur = NULL, lim[16];
    const char *p[6];
    json_t *f = NULL;

    if (orders_caller_get(m->ctx, req, k->list_min, &m->who) != 0)
        return TN_DONE;
    if (m->who.role == ORDERS_ROLE_BUYER && master_own_code(&m->who, m->own) != 0) {
        api->resp_error(req, 403, "forbidden", "Your role does not allow this.");
        return TN_DONE;
    }
    if ((m->limit = orders_limit(m->ctx, req)) < 0)
        return TN_DONE;
    if (active != NULL && strcmp(active, "true") != 0 && strcmp(active, "false") != 0)
        orders_field_error(&f, "active", "must be true or false");
    if (q != NULL && strlen(q) > MASTER_QUERY_MAX)
        orders_field_error(&f, "q", "must be at most 400 bytes");
    else if (q != NULL && (qf = orders_search_fold(q)) == NULL)
        orders_field_error(&f, "q", "must be UTF-8 text");
    if (f != NULL) {
        free(qf);
        orders_error_fields(m->ctx, req, 400, "invalid_query", "A query parameter is not valid.",
                            f);
        return TN_DONE;
    }
    if (qf != NULL) {
        q = api->req_strdup(req, qf);
        free(qf);
        if (q == NULL) /* never an unfiltered list instead */
            return TN_ERROR;
    }
    if (cursor != NULL) {
        if ((cur = api->req_alloc(req, ORDERS_CODE_MAX + 2)) == NULL)
            return TN_ERROR;
        if (orders_cursor_decode(m->ctx, req, cursor, cur, ORDERS_CODE_MAX + 2) != 0)
            return TN_DONE;
    }
    snprintf(lim, sizeof lim, "%d", m->limit + 1);
    p[0] = q && q[0] ? q : NULL;
    p[1] = active;
    p[2] = cur;
    p[3] = lim;
    p[4] = api->req_query_param(req, "category");
    p[5] = m->who.role == ORDERS_ROLE_BUYER ? m->own : NULL;
    if (api->db_query(req, k->sql_list, k->list_nparams, p, listed, m) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- read -------------------------------------------------------------------- */

static void got(tn_request *req, const tn_db_result *res, void *ud)
{
    mreq *m = ud;
    const tn_api *api = m->ctx->api;

    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    if (api->db_rows(res) != 1)
        return not_found(m);
    orders_etag_set(m->ctx, req, api->db_value(res, 0, 1));
    api->resp_json(req, 200, api->db_value(res, 0, 0));
    mreq_end(m, TN_DONE);
}

/* The :code of the path, normalised; 0, or -1 after answering 404. */
static int path_code(mreq *m)
{
    const char *raw = m->ctx->api->req_param(m->req, "code");

    if (raw == NULL || orders_code_normalize(raw, m->code) != NULL) {
        char msg[80];
        snprintf(msg, sizeof msg, "No such %s.", m->kind->name);
        m->ctx->api->resp_error(m->req, 404, "not_found", msg);
        return -1;
    }
    return 0;
}

static tn_status get_handler(tn_request *req, mreq *m)
{
    const tn_api *api = m->ctx->api;
    const char *p[2];

    if (orders_caller_get(m->ctx, req, ORDERS_ROLE_BUYER, &m->who) != 0 || path_code(m) != 0)
        return TN_DONE;
    if (m->who.role == ORDERS_ROLE_BUYER && master_own_code(&m->who, m->own) != 0) {
        api->resp_error(req, 404, "not_found", "Not found.");
        return TN_DONE;
    }
    /* A buyer reads its own buyer only: any other is as if it did not
     * exist (S11, S19). */
    if (m->who.role == ORDERS_ROLE_BUYER && m->kind->own_only && strcmp(m->own, m->code) != 0) {
        api->resp_error(req, 404, "not_found", "No such buyer.");
        return TN_DONE;
    }
    p[0] = m->code;
    p[1] = m->who.role == ORDERS_ROLE_BUYER ? m->own : NULL;
    if (api->db_query(req, m->kind->sql_get, m->kind->get_nparams, p, got, m) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- writes: the common end ----------------------------------------------------- */

static void committed(tn_request *req, const tn_db_result *res, void *ud)
{
    mreq *m = ud;
    const tn_api *api = m->ctx->api;

    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    orders_etag_set(m->ctx, req, m->version);
    if (m->status == 201) {
        char loc[200];
        snprintf(loc, sizeof loc, "%s/%s", m->kind->path, m->code);
        api->resp_header(req, "Location", loc);
    }
    api->resp_json(req, m->status, m->answer);
    mreq_end(m, TN_DONE);
}

/* The row written (json, version): audit, event, commit. */
static void written(tn_request *req, const tn_db_result *res, void *ud)
{
    mreq *m = ud;
    const tn_api *api = m->ctx->api;
    const char *action = m->status == 201 ? m->kind->audit_create : m->kind->audit_update;
    char *payload = NULL;
    json_t *ev;

    if (api->db_status(res) != TN_OK) {
        if (strcmp(api->db_sqlstate(res), "23505") == 0) {
            json_t *f = NULL;
            orders_field_error(&f, "code", "is already taken");
            orders_error_fields(m->ctx, req, 409, "duplicate_code",
                                "An object with this code exists.", f);
            return mreq_end(m, TN_DONE);
        }
        return db_failed(m, res);
    }
    if (api->db_rows(res) != 1) /* the row changed since it was locked: never, but */
        return not_found(m);
    m->answer = api->req_strdup(req, api->db_value(res, 0, 0));
    snprintf(m->version, sizeof m->version, "%s", api->db_value(res, 0, 1));
    ev = json_pack("{s:s, s:s}", "code", m->code, "change",
                   m->status == 201 ? "created" : "updated");
    payload = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (m->answer == NULL || payload == NULL ||
        api->db_audit(req, action, m->kind->name, m->code, "ok") != TN_OK ||
        api->db_publish(req, m->kind->event, payload) != TN_OK ||
        api->db_commit(req, committed, m) != TN_OK) {
        free(payload);
        api->resp_error(req, 500, "internal", "The change could not be recorded.");
        return mreq_end(m, TN_DONE);
    }
    free(payload);
}

/* ---- create -------------------------------------------------------------------- */

static tn_status create_handler(tn_request *req, mreq *m)
{
    const tn_api *api = m->ctx->api;
    json_t *in, *obj = NULL, *f = NULL;
    char *text = NULL;
    const char *p[2];
    tn_status st = TN_DONE;

    if (orders_caller_get(m->ctx, req, ORDERS_ROLE_STAFF, &m->who) != 0)
        return TN_DONE;
    if ((in = orders_body_object(m->ctx, req)) == NULL)
        return TN_DONE;
    obj = m->kind->defaults();
    m->kind->validate(in, obj, &f, 1);
    unknown_fields(in, obj, &f);
    if (f != NULL) {
        master_invalid(m->ctx, req, f);
        goto done;
    }
    snprintf(m->code, sizeof m->code, "%s", json_string_value(json_object_get(obj, "code")));
    if (set_search_text(obj) != 0 || (text = json_dumps(obj, JSON_COMPACT)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    p[0] = api->req_tenant(req);
    p[1] = text;
    m->status = 201;
    st = api->db_query(req, m->kind->sql_insert, 2, p, written, m) == TN_OK ? TN_SUSPEND : TN_ERROR;
done:
    free(text);
    json_decref(obj);
    json_decref(in);
    return st;
}

/* ---- update -------------------------------------------------------------------- */

static void locked(tn_request *req, const tn_db_result *res, void *ud)
{
    mreq *m = ud;
    const tn_api *api = m->ctx->api;
    json_t *cur;
    const char *k;
    json_t *v;
    char *text = NULL;
    int changed = 0;
    const char *p[2];

    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    if (api->db_rows(res) != 1)
        return not_found(m);
    if (atoll(api->db_value(res, 0, 1)) != m->if_match) {
        api->resp_error(req, 412, "precondition_failed",
                        "The object changed since you read it: read it again.");
        return mreq_end(m, TN_DONE);
    }
    if ((cur = json_loads(api->db_value(res, 0, 2), 0, NULL)) == NULL)
        goto fail;
    json_object_foreach(m->patch, k, v)
    {
        if (!json_equal(json_object_get(cur, k), v)) {
            changed = 1;
            json_object_set(cur, k, v);
        }
    }
    if (!changed) { /* nothing to write: same version, no audit, no event */
        json_decref(cur);
        p[0] = m->code;
        p[1] = NULL;
        if (api->db_query(req, m->kind->sql_get, m->kind->get_nparams, p, got, m) != TN_OK)
            goto fail;
        return;
    }
    if (set_search_text(cur) != 0 || (text = json_dumps(cur, JSON_COMPACT)) == NULL) {
        json_decref(cur);
        goto fail;
    }
    json_decref(cur);
    p[0] = api->db_value(res, 0, 0);
    p[1] = text;
    m->status = 200;
    if (api->db_query(req, m->kind->sql_update, 2, p, written, m) != TN_OK) {
        free(text);
        goto fail;
    }
    free(text);
    return;
fail:
    api->resp_error(req, 500, "internal", "The change could not be made.");
    mreq_end(m, TN_DONE);
}

static tn_status update_handler(tn_request *req, mreq *m)
{
    const tn_api *api = m->ctx->api;
    json_t *in, *f = NULL;
    const json_t *code;
    const char *p[1];

    if (orders_caller_get(m->ctx, req, ORDERS_ROLE_STAFF, &m->who) != 0 || path_code(m) != 0)
        return TN_DONE;
    if ((m->if_match = orders_if_match(m->ctx, req)) == 0)
        return TN_DONE;
    if ((in = orders_body_object(m->ctx, req)) == NULL)
        return TN_DONE;
    m->patch = json_object();
    m->kind->validate(in, m->patch, &f, 0);
    unknown_fields(in, m->patch, &f);
    /* The code names the object: it is not changed by an update. */
    code = json_object_get(m->patch, "code");
    if (code != NULL && strcmp(json_string_value(code), m->code) != 0)
        orders_field_error(&f, "code", "cannot be changed");
    json_decref(in);
    if (f != NULL) {
        json_decref(m->patch);
        m->patch = NULL;
        master_invalid(m->ctx, req, f);
        return TN_DONE;
    }
    p[0] = m->code;
    if (api->db_query(req, m->kind->sql_lock, 1, p, locked, m) != TN_OK) {
        json_decref(m->patch);
        m->patch = NULL;
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

/* ---- routes ---------------------------------------------------------------------- */

typedef tn_status (*mhandler)(tn_request *req, mreq *m);

/* One route's ud: the context, the kind and the handler. */
typedef struct mroute {
    orders_ctx *ctx;
    const master_kind *kind;
    mhandler fn;
} mroute;

static tn_status dispatch(tn_plugin *self, tn_request *req, void *ud)
{
    mroute *r = ud;
    mreq *m = mreq_new(r->ctx, req, r->kind);

    (void)self;
    return m != NULL ? r->fn(req, m) : TN_ERROR;
}

/* Four routes per kind, kind->slot 0 or 1: this worker's, (re)filled at
 * init(), as orders.c's orders_state. */
#define MASTER_ROUTES_MAX 8
static mroute master_routes[MASTER_ROUTES_MAX];

static int add(orders_ctx *ctx, const master_kind *kind, int i, const char *method,
               const char *pattern, mhandler fn)
{
    tn_route_opts opts = {.size = sizeof opts};
    mroute *r;

    if (kind->slot < 0 || kind->slot * 4 + i >= MASTER_ROUTES_MAX)
        return -1;
    r = &master_routes[kind->slot * 4 + i];
    r->ctx = ctx;
    r->kind = kind;
    r->fn = fn;
    return ctx->api->route_add_opts(ctx->self, method, pattern, TN_ACCESS_ROLES,
                                    "tenant_admin,staff,buyer", dispatch, r, &opts) == TN_OK
               ? 0
               : -1;
}

int master_routes_add(orders_ctx *ctx, const master_kind *kind)
{
    char one[128];

    snprintf(one, sizeof one, "%s/:code", kind->path);
    if (add(ctx, kind, 0, "GET", kind->path, list_handler) != 0 ||
        add(ctx, kind, 1, "GET", one, get_handler) != 0 ||
        add(ctx, kind, 2, "POST", kind->path, create_handler) != 0 ||
        add(ctx, kind, 3, "PATCH", one, update_handler) != 0)
        return -1;
    return 0;
}
