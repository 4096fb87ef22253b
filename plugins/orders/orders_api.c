/*
 * orders_api.c - orders: place (with Idempotency-Key), list, read, accept,
 * ship, cancel (docs/orders.md "Orders").
 *
 * The server computes every price, tax and total (tax.c) from the
 * product and the buyer's price; the client names products and
 * quantities only, and a body with any other field is refused, so a
 * client that thinks it can set a price learns it cannot.  The delivery
 * date is checked against the tenant's cut-off in JST (delivery.c).
 *
 * Each handler is a chain of statements in the request's transaction:
 * one op per request (req_alloc'd), each callback the next step, the last
 * one commits and answers.  Status changes lock the order (FOR UPDATE),
 * check If-Match against its version, then audit and publish in the same
 * transaction, so the event exists exactly when the change does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "delivery.h"
#include "normalize.h"
#include "orders.h"
#include "tax.h"

#define QTY_MAX 1000000
#define NOTE_MAX 1000
#define REASON_MAX 500
#define CODE_MAX 64
#define IDEM_MAX 255

typedef struct pline {
    const char *code; /* as the client named it */
    long long qty;
    int line_no;
} pline;

typedef struct sline {
    int line_no;
    long long qty;
    const char *product;
} sline;

typedef enum op_kind { OP_PLACE, OP_GET, OP_ACCEPT, OP_SHIP, OP_CANCEL } op_kind;

typedef struct op {
    orders_ctx *ctx;
    orders_caller who;
    op_kind kind;
    const char *id;    /* the order */
    const char *scope; /* buyer code a buyer is confined to, or NULL */
    int reply_status;  /* 200 or 201 */
    /* placing */
    const char *buyer_code;
    const char *delivery;
    const char *note;
    const char *idem;
    orders_settings settings;
    char hash[crypto_hash_sha256_BYTES * 2 + 1];
    pline *lines;
    int nlines;
    char *lines_json; /* what the insert writes, built from the lookup */
    tax_totals totals;
    /* moving */
    long long if_version;
    const char *reason;
    sline *ship;
    int nship;
    const char *new_status;
    const char *event;  /* order.placed ..., NULL: none */
    const char *action; /* audit action */
} op;

static const char *const statuses[] = {"placed",  "accepted",  "partially_shipped",
                                       "shipped", "cancelled", NULL};

/* ---- small helpers ----------------------------------------------------- */

static int is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-'
                 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* Characters (code points) of valid UTF-8, as the DB's length() counts. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void not_found(op *o, tn_request *req)
{
    o->ctx->api->resp_error(req, 404, "not_found", "No such order.");
}

/* Answers a failed statement and ends the request. */
static void db_failed(op *o, tn_request *req, const tn_db_result *res)
{
    o->ctx->api->resp_db_error(req, res);
    o->ctx->api->req_resume(req, TN_DONE);
}

static int db_ok(op *o, const tn_db_result *res)
{
    return o->ctx->api->db_status(res) == TN_OK;
}

static op *op_new(orders_ctx *ctx, tn_request *req, op_kind kind)
{
    op *o = ctx->api->req_alloc(req, sizeof *o);
    if (o == NULL)
        return NULL;
    memset(o, 0, sizeof *o);
    o->ctx = ctx;
    o->kind = kind;
    o->reply_status = 200;
    return o;
}

/* ---- reading one order as JSON -------------------------------------- */

/* The order as the API shows it, built by the server in one statement;
 * $2 confines a buyer to its own orders (another's is "not found"). */
static const char sql_render[] =
    "SELECT o.version, json_build_object("
    " 'id', o.id, 'number', o.number, 'buyer', b.code, 'status', o.status,"
    " 'delivery_date', o.delivery_date, 'note', o.note, 'placed_by', o.placed_by,"
    " 'placed_at', o.placed_at, 'accepted_at', o.accepted_at, 'shipped_at', o.shipped_at,"
    " 'cancelled_at', o.cancelled_at, 'cancel_reason', o.cancel_reason,"
    " 'totals', json_build_object('subtotal', o.subtotal, 'taxable_8', o.taxable_8,"
    "   'taxable_10', o.taxable_10, 'tax_8', o.tax_8, 'tax_10', o.tax_10, 'total', o.total),"
    " 'lines', coalesce((SELECT json_agg(json_build_object('line_no', l.line_no,"
    "   'product', l.product_code, 'name', l.product_name, 'unit', l.unit,"
    "   'unit_price', l.unit_price, 'tax_rate', l.tax_rate, 'quantity', l.quantity,"
    "   'shipped_quantity', l.shipped_quantity, 'amount', l.amount) ORDER BY l.line_no)"
    "   FROM orders_lines l WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id), '[]'))::text"
    " FROM orders_orders o JOIN orders_buyers b ON b.tenant_id = o.tenant_id AND b.id = o.buyer_id"
    " WHERE o.id = $1::uuid AND ($2::text IS NULL OR b.code = $2)";

static void committed(tn_request *req, const tn_db_result *res, void *ud);

/* The event's payload: what notifications, payments and FTP export need. */
static char *event_payload(op *o, json_t *order)
{
    json_t *p = json_pack("{s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(order, "id"), "number",
                          json_object_get(order, "number"), "buyer",
                          json_object_get(order, "buyer"), "status",
                          json_object_get(order, "status"), "totals",
                          json_object_get(order, "totals"));
    char *text = NULL;

    if (p == NULL)
        return NULL;
    if (o->kind == OP_PLACE)
        json_object_set(p, "delivery_date", json_object_get(order, "delivery_date"));
    if (o->kind == OP_SHIP) {
        json_t *arr = json_array();
        for (int i = 0; arr != NULL && i < o->nship; i++)
            json_array_append_new(arr, json_pack("{s:i, s:s, s:I}", "line_no", o->ship[i].line_no,
                                                 "product", o->ship[i].product, "quantity",
                                                 (json_int_t)o->ship[i].qty));
        json_object_set_new(p, "shipped_lines", arr);
    }
    text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return text;
}

/* After a change: audit, publish, count; 0 or -1. */
static int record_change(op *o, tn_request *req, json_t *order)
{
    const tn_api *api = o->ctx->api;
    char *payload = event_payload(o, order);
    int rc = -1;

    if (payload == NULL)
        goto fail;
    if (api->db_audit(req, o->action, "order", o->id, "ok") != TN_OK ||
        api->db_publish(req, o->event, payload) != TN_OK)
        goto fail;
    tn_metric *m = o->kind == OP_PLACE ? o->ctx->placed : o->ctx->transitions;
    if (m != NULL)
        api->metric_add(m, api->req_tenant(req), 1);
    rc = 0;
fail:
    free(payload);
    return rc;
}

typedef struct answer {
    op *o;
    char *body;
    char version[24];
} answer;

static void rendered(tn_request *req, const tn_db_result *res, void *ud)
{
    op *o = ud;
    const tn_api *api = o->ctx->api;
    answer *a = NULL;
    json_t *order = NULL;

    if (!db_ok(o, res))
        return db_failed(o, req, res);
    if (api->db_rows(res) != 1) {
        not_found(o, req);
        api->req_resume(req, TN_DONE);
        return;
    }
    a = api->req_alloc(req, sizeof *a);
    order = json_loads(api->db_value(res, 0, 1), 0, NULL);
    if (a == NULL || order == NULL)
        goto fail;
    a->o = o;
    snprintf(a->version, sizeof a->version, "%s", api->db_value(res, 0, 0));
    a->body = api->req_strdup(req, api->db_value(res, 0, 1));
    if (a->body == NULL)
        goto fail;
    if (o->event != NULL && record_change(o, req, order) != 0)
        goto fail;
    json_decref(order);
    if (api->db_commit(req, committed, a) != TN_OK) {
        api->req_resume(req, TN_ERROR);
        return;
    }
    return;
fail:
    json_decref(order);
    api->req_resume(req, TN_ERROR);
}

static void committed(tn_request *req, const tn_db_result *res, void *ud)
{
    answer *a = ud;
    op *o = a->o;
    const tn_api *api = o->ctx->api;
    char loc[128];

    if (!db_ok(o, res))
        return db_failed(o, req, res);
    orders_etag_set(o->ctx, req, a->version);
    if (o->reply_status == 201) {
        snprintf(loc, sizeof loc, ORDERS_API "/orders/%s", o->id);
        api->resp_header(req, "Location", loc);
    }
    api->resp_json(req, o->reply_status, a->body);
    api->req_resume(req, TN_DONE);
}

static int render(op *o, tn_request *req)
{
    const char *p[2] = {o->id, o->scope};
    return o->ctx->api->db_query(req, sql_render, 2, p, rendered, o);
}

static void render_or_fail(op *o, tn_request *req)
{
    if (render(o, req) != TN_OK)
        o->ctx->api->req_resume(req, TN_ERROR);
}

/* ---- GET /orders/:id ------------------------------------------------ */

static tn_status h_get(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    op *o = op_new(ctx, req, OP_GET);

    (void)self;
    if (o == NULL)
        return TN_ERROR;
    if (orders_caller_get(ctx, req, ORDERS_ROLE_BUYER, &o->who) != 0)
        return TN_DONE;
    o->scope = o->who.role == ORDERS_ROLE_BUYER ? o->who.buyer_code : NULL;
    o->id = ctx->api->req_param(req, "id");
    if (!is_uuid(o->id)) {
        not_found(o, req);
        return TN_DONE;
    }
    return render(o, req) == TN_OK ? TN_SUSPEND : TN_ERROR;
}

/* ---- GET /orders ------------------------------------------------------ */

static const char sql_list[] =
    "SELECT o.number, json_build_object('id', o.id, 'number', o.number, 'buyer', b.code,"
    " 'status', o.status, 'delivery_date', o.delivery_date, 'placed_at', o.placed_at,"
    " 'totals', json_build_object('subtotal', o.subtotal, 'taxable_8', o.taxable_8,"
    "   'taxable_10', o.taxable_10, 'tax_8', o.tax_8, 'tax_10', o.tax_10, 'total', o.total)"
    " )::text"
    " FROM orders_orders o JOIN orders_buyers b ON b.tenant_id = o.tenant_id AND b.id = o.buyer_id"
    " WHERE ($1::text IS NULL OR o.status = $1)"
    " AND ($2::date IS NULL OR o.placed_at >= ($2::date::timestamp AT TIME ZONE 'Asia/Tokyo'))"
    " AND ($3::date IS NULL OR o.placed_at < (($3::date + 1)::timestamp AT TIME ZONE 'Asia/Tokyo'))"
    " AND ($4::text IS NULL OR b.code = $4) AND ($5::text IS NULL OR b.code = $5)"
    " AND ($6::bigint IS NULL OR o.number < $6)"
    " ORDER BY o.number DESC LIMIT $7::int";

typedef struct list_op {
    orders_ctx *ctx;
    int limit;
    char *body; /* the page, answered once the transaction ends */
} list_op;

static void list_done(tn_request *req, const tn_db_result *res, void *ud)
{
    list_op *l = ud;
    const tn_api *api = l->ctx->api;

    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    else
        api->resp_json(req, 200, l->body);
    api->req_resume(req, TN_DONE);
}

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    list_op *l = ud;
    const tn_api *api = l->ctx->api;
    json_t *items = json_array(), *top = NULL;
    char *text = NULL;
    int n = 0;

    if (api->db_status(res) != TN_OK) {
        json_decref(items);
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    n = api->db_rows(res);
    for (int i = 0; items != NULL && i < n && i < l->limit; i++)
        json_array_append_new(items, json_loads(api->db_value(res, i, 1), 0, NULL));
    top = json_pack("{s:o, s:n}", "items", items, "next_cursor");
    if (top != NULL && n > l->limit) {
        char *c = orders_cursor_encode(l->ctx, req, api->db_value(res, l->limit - 1, 0));
        json_object_set_new(top, "next_cursor", c ? json_string(c) : json_null());
    }
    text = top ? json_dumps(top, JSON_COMPACT) : NULL;
    json_decref(top);
    l->body = text ? api->req_strdup(req, text) : NULL;
    free(text);
    /* Read only: ending it explicitly keeps the host from warning. */
    if (l->body == NULL || api->db_rollback(req, list_done, l) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

static int valid_date_param(const char *s)
{
    int64_t d;
    return s == NULL || delivery_parse_date(s, &d) == 0;
}

static tn_status h_list(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    orders_caller who;
    list_op *l = api->req_alloc(req, sizeof *l);
    const char *status = api->req_query_param(req, "status");
    const char *from = api->req_query_param(req, "from");
    const char *to = api->req_query_param(req, "to");
    const char *buyer = api->req_query_param(req, "buyer");
    const char *cursor = api->req_query_param(req, "cursor");
    char after[32], lim[16], bcode[ORDERS_CODE_MAX + 1];
    const char *p[7];
    json_t *f = NULL;
    int ok_status = status == NULL;

    (void)self;
    if (l == NULL)
        return TN_ERROR;
    if (orders_caller_get(ctx, req, ORDERS_ROLE_BUYER, &who) != 0)
        return TN_DONE;
    l->ctx = ctx;
    if ((l->limit = orders_limit(ctx, req)) < 0)
        return TN_DONE;
    for (int i = 0; statuses[i] && status; i++)
        ok_status |= strcmp(status, statuses[i]) == 0;
    if (!ok_status)
        orders_field_error(&f, "status",
                           "must be placed, accepted, partially_shipped, shipped "
                           "or cancelled");
    if (!valid_date_param(from))
        orders_field_error(&f, "from", "must be a date YYYY-MM-DD");
    if (!valid_date_param(to))
        orders_field_error(&f, "to", "must be a date YYYY-MM-DD");
    if (buyer != NULL && orders_code_normalize(buyer, bcode) != NULL)
        orders_field_error(&f, "buyer", "must be a buyer code");
    else if (buyer != NULL)
        buyer = bcode;
    if (f != NULL) {
        orders_error_fields(ctx, req, 400, "invalid_query", "A query parameter is not valid.", f);
        return TN_DONE;
    }
    if (cursor != NULL) {
        if (orders_cursor_decode(ctx, req, cursor, after, sizeof after) != 0)
            return TN_DONE;
        if (after[0] == '\0' || strspn(after, "0123456789") != strlen(after)) {
            api->resp_error(req, 400, "invalid_cursor", "The cursor is not one this API gave.");
            return TN_DONE;
        }
    }
    snprintf(lim, sizeof lim, "%d", l->limit + 1);
    p[0] = status;
    p[1] = from;
    p[2] = to;
    p[3] = buyer;
    p[4] = who.role == ORDERS_ROLE_BUYER ? who.buyer_code : NULL;
    p[5] = cursor ? after : NULL;
    p[6] = lim;
    return api->db_query(req, sql_list, 7, p, listed, l) == TN_OK ? TN_SUSPEND : TN_ERROR;
}

/* ---- POST /orders: the body ------------------------------------------- */

static int only_keys(json_t *obj, const char *const *allowed, const char *prefix, json_t **fields,
                     const char *reason)
{
    const char *key;
    json_t *v;
    int bad = 0;

    json_object_foreach(obj, key, v)
    {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char name[160];
            snprintf(name, sizeof name, "%s%s", prefix, key);
            orders_field_error(fields, name, reason);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* A string member: NULL if absent, else *bad set when not a string. */
static const char *str_member(tn_request *req, const tn_api *api, json_t *obj, const char *key,
                              json_t **fields, const char *field)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        orders_field_error(fields, field, "must be a string");
        return NULL;
    }
    return api->req_strdup(req, json_string_value(v));
}

/* A code member, normalised as every code is stored (normalize.c): NULL
 * if absent or not a code (a field error then). */
static const char *code_member(tn_request *req, const tn_api *api, json_t *obj, const char *key,
                               json_t **fields, const char *field)
{
    const char *raw = str_member(req, api, obj, key, fields, field);
    char code[ORDERS_CODE_MAX + 1];
    const char *why;

    if (raw == NULL)
        return NULL;
    if ((why = orders_code_normalize(raw, code)) != NULL) {
        orders_field_error(fields, field, why);
        return NULL;
    }
    return api->req_strdup(req, code);
}

static void parse_lines(op *o, tn_request *req, json_t *arr, int max_lines, json_t **fields)
{
    const tn_api *api = o->ctx->api;
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    char name[64];

    if (!json_is_array(arr) || n == 0 || n > (size_t)max_lines) {
        snprintf(name, sizeof name, "must be a list of 1 to %d lines", max_lines);
        orders_field_error(fields, "lines", name);
        return;
    }
    o->lines = api->req_alloc(req, n * sizeof *o->lines);
    if (o->lines == NULL)
        return;
    memset(o->lines, 0, n * sizeof *o->lines);
    o->nlines = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *ln = json_array_get(arr, i), *q;
        pline *pl = &o->lines[i];
        char prefix[32];

        pl->line_no = (int)i + 1;
        snprintf(prefix, sizeof prefix, "lines[%zu].", i);
        if (!json_is_object(ln)) {
            snprintf(name, sizeof name, "lines[%zu]", i);
            orders_field_error(fields, name, "must be an object {product, quantity}");
            continue;
        }
        snprintf(name, sizeof name, "%sproduct", prefix);
        pl->code = code_member(req, api, ln, "product", fields, name);
        if (pl->code == NULL || pl->code[0] == '\0' || utf8_chars(pl->code) > CODE_MAX)
            orders_field_error(fields, name, "must be a product code");
        for (size_t k = 0; pl->code && k < i; k++)
            if (o->lines[k].code && strcmp(o->lines[k].code, pl->code) == 0)
                orders_field_error(fields, name,
                                   "the product is on another line: put the quantity there");
        snprintf(name, sizeof name, "%squantity", prefix);
        q = json_object_get(ln, "quantity");
        if (!json_is_integer(q) || json_integer_value(q) < 1 || json_integer_value(q) > QTY_MAX)
            orders_field_error(fields, name, "must be a whole number from 1 to 1000000");
        else
            pl->qty = json_integer_value(q);
    }
}

/* SHA-256 of the canonical body (sorted keys, compact) and the buyer. */
static int body_hash(op *o, json_t *body)
{
    char *canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;

    if (canon == NULL)
        return -1;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)o->buyer_code, strlen(o->buyer_code) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)canon, strlen(canon));
    crypto_hash_sha256_final(&st, h);
    free(canon);
    sodium_bin2hex(o->hash, sizeof o->hash, h, sizeof h);
    return 0;
}

static int valid_idem_key(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n < 1 || n > IDEM_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return 0;
    return 1;
}

/* Fields an order does not take, at the top or in a line: refused (400)
 * rather than ignored, so a client that sends a price or a total learns
 * that the server sets them.  0, or -1 with *fields filled. */
static int unknown_fields(json_t *body, json_t **fields)
{
    static const char *const keys[] = {"lines", "delivery_date", "note", "buyer", NULL};
    static const char *const line_keys[] = {"product", "quantity", NULL};
    json_t *lines = json_object_get(body, "lines"), *ln;
    size_t i;
    int bad = only_keys(body, keys, "", fields,
                        "not accepted: the server computes prices, tax and totals");

    json_array_foreach(lines, i, ln)
    {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "lines[%zu].", i);
        if (json_is_object(ln) &&
            only_keys(ln, line_keys, prefix, fields,
                      "not accepted: a line names a product and a quantity; the server sets "
                      "prices") != 0)
            bad = -1;
    }
    return bad;
}

/* Checks the body into o: 0, or -1 after answering. */
static int parse_place(op *o, tn_request *req, json_t *body, const orders_settings *s)
{
    const tn_api *api = o->ctx->api;
    json_t *fields = NULL;
    int64_t day = 0;
    delivery_window w;
    char d1[16];

    if (unknown_fields(body, &fields) != 0) {
        orders_error_fields(o->ctx, req, 400, "unknown_field",
                            "The body has fields an order does not take.", fields);
        return -1;
    }
    o->buyer_code = code_member(req, api, body, "buyer", &fields, "buyer");
    if (o->who.role == ORDERS_ROLE_BUYER) {
        if (o->buyer_code != NULL && strcmp(o->buyer_code, o->who.buyer_code) != 0) {
            json_decref(fields);
            api->resp_error(req, 403, "forbidden", "A buyer places orders for itself only.");
            return -1;
        }
        o->buyer_code = o->who.buyer_code;
    } else if (o->buyer_code == NULL || o->buyer_code[0] == '\0') {
        orders_field_error(&fields, "buyer", "required: the code of the buyer ordering");
    }
    o->note = str_member(req, api, body, "note", &fields, "note");
    if (o->note == NULL)
        o->note = "";
    else if (utf8_chars(o->note) > NOTE_MAX)
        orders_field_error(&fields, "note", "must be at most 1000 characters");
    parse_lines(o, req, json_object_get(body, "lines"), s->max_lines, &fields);
    o->delivery = str_member(req, api, body, "delivery_date", &fields, "delivery_date");
    delivery_window_at((int64_t)time(NULL), s->cutoff_minute, s->lead_days, s->max_days_ahead, &w);
    if (o->delivery == NULL || delivery_parse_date(o->delivery, &day) != 0) {
        orders_field_error(&fields, "delivery_date", "required: a date YYYY-MM-DD");
    } else if (day < w.earliest || day > w.latest) {
        char msg[96], d2[16];
        delivery_format_date(w.earliest, d1, sizeof d1);
        delivery_format_date(w.latest, d2, sizeof d2);
        snprintf(msg, sizeof msg, "must be from %s (the earliest now) to %s", d1, d2);
        orders_field_error(&fields, "delivery_date", msg);
    }
    if (fields != NULL) {
        orders_error_fields(o->ctx, req, 422, "validation_failed", "The order is not valid.",
                            fields);
        return -1;
    }
    return 0;
}

/* Before anything else is checked: the key, and the hash of the body for
 * the buyer it names, so a retry finds its order even when the rules
 * would now refuse the body (a delivery date past, a product out of
 * stock since).  0, or -1 after answering. */
static int idem_prepare(op *o, tn_request *req, json_t *body)
{
    const tn_api *api = o->ctx->api;
    json_t *fields = NULL, *b = json_object_get(body, "buyer");

    if (!valid_idem_key(o->idem)) {
        orders_field_error(&fields, "Idempotency-Key", "must be 1 to 255 visible ASCII characters");
        orders_error_fields(o->ctx, req, 400, "invalid_header", "A header is not valid.", fields);
        return -1;
    }
    /* The buyer as parse_place() will settle it, so both hash the same. */
    o->buyer_code = o->who.role == ORDERS_ROLE_BUYER ? o->who.buyer_code
                    : json_is_string(b)              ? json_string_value(b)
                                                     : "";
    if (body_hash(o, body) != 0) {
        api->resp_error(req, 500, "internal", "The request could not be read.");
        return -1;
    }
    o->buyer_code = NULL;
    return 0;
}

/* ---- POST /orders: the statements ------------------------------------ */

static const char sql_idem[] =
    "SELECT id, request_hash FROM orders_orders WHERE placed_by = $1 AND idempotency_key = $2";

/* The buyer, and per line its product and price (the buyer's own, else
 * the list price), in the order of the lines. */
static const char sql_lookup[] =
    "SELECT b.id, b.active, c.n, p.id, p.name, p.unit, coalesce(pr.unit_price, p.unit_price),"
    " p.tax_rate, p.active, p.stock_status"
    " FROM orders_buyers b"
    " CROSS JOIN json_array_elements_text($2::json) WITH ORDINALITY AS c(code, n)"
    " LEFT JOIN orders_products p ON p.tenant_id = b.tenant_id AND p.code = c.code"
    " LEFT JOIN orders_prices pr ON pr.tenant_id = b.tenant_id AND pr.buyer_id = b.id"
    "   AND pr.product_id = p.id"
    " WHERE b.code = $1 ORDER BY c.n";

/* The order and its lines in one statement.  A concurrent retry with the
 * same key meets the unique index: DO NOTHING (no error, so the
 * transaction stays usable) returns no row, and the next statement reads
 * the winner's order, which it then sees committed. */
static const char sql_insert[] =
    "WITH o AS (INSERT INTO orders_orders (tenant_id, buyer_id, delivery_date, note, subtotal,"
    "   taxable_8, taxable_10, tax_8, tax_10, total, placed_by, idempotency_key, request_hash)"
    " VALUES ($1, $2::uuid, $3::date, $4, $5::bigint, $6::bigint, $7::bigint, $8::bigint,"
    "   $9::bigint, $10::bigint, $11, $12, $13)"
    " ON CONFLICT (tenant_id, placed_by, idempotency_key) WHERE idempotency_key IS NOT NULL"
    " DO NOTHING RETURNING tenant_id, id),"
    " l AS (INSERT INTO orders_lines (tenant_id, order_id, line_no, product_id, product_code,"
    "   product_name, unit, unit_price, tax_rate, quantity, amount)"
    " SELECT o.tenant_id, o.id, x.n, x.p, x.c, x.name, x.unit, x.price, x.rate, x.q, x.amount"
    " FROM o, json_to_recordset($14::json) AS x(n smallint, p uuid, c text, name text,"
    "   unit text, price bigint, rate smallint, q int, amount bigint))"
    " SELECT id FROM o";

static void idem_checked(tn_request *req, const tn_db_result *res, void *ud);
static int place_checked(op *o, tn_request *req);
static void looked_up(tn_request *req, const tn_db_result *res, void *ud);

static int lookup(op *o, tn_request *req)
{
    json_t *codes = json_array();
    char *text = NULL;
    const char *p[2];
    int rc;

    for (int i = 0; codes != NULL && i < o->nlines; i++)
        json_array_append_new(codes, json_string(o->lines[i].code));
    text = codes ? json_dumps(codes, JSON_COMPACT) : NULL;
    json_decref(codes);
    if (text == NULL)
        return TN_ENOMEM;
    p[0] = o->buyer_code;
    p[1] = text;
    rc = o->ctx->api->db_query(req, sql_lookup, 2, p, looked_up, o);
    free(text);
    return rc;
}

static int idem_lookup(op *o, tn_request *req)
{
    const char *p[2] = {o->who.user_id, o->idem};
    return o->ctx->api->db_query(req, sql_idem, 2, p, idem_checked, o);
}

/* An order under this key exists: the same body gets it back (200), a
 * different one is refused. */
static void idem_checked(tn_request *req, const tn_db_result *res, void *ud)
{
    op *o = ud;
    const tn_api *api = o->ctx->api;
    int rc;

    if (!db_ok(o, res))
        return db_failed(o, req, res);
    if (api->db_rows(res) == 0) {
        if (o->id != NULL) { /* lost the insert, yet nothing to read: cannot be */
            api->resp_error(req, 500, "internal", "The order could not be placed.");
            api->req_resume(req, TN_DONE);
            return;
        }
        rc = place_checked(o, req);
        if (rc == 1) { /* refused: answered */
            api->req_resume(req, TN_DONE);
            return;
        }
    } else {
        const char *h = api->db_value(res, 0, 1);
        if (h == NULL || strcmp(h, o->hash) != 0) {
            orders_error_fields(o->ctx, req, 422, "idempotency_key_reused",
                                "This Idempotency-Key was used for a different order.", NULL);
            api->req_resume(req, TN_DONE);
            return;
        }
        o->id = api->req_strdup(req, api->db_value(res, 0, 0));
        o->event = NULL;
        o->reply_status = 200;
        o->scope = NULL; /* the same principal placed it */
        rc = o->id ? render(o, req) : TN_ENOMEM;
    }
    if (rc != TN_OK)
        api->req_resume(req, TN_ERROR);
}

static void inserted(tn_request *req, const tn_db_result *res, void *ud)
{
    op *o = ud;
    const tn_api *api = o->ctx->api;

    if (!db_ok(o, res))
        return db_failed(o, req, res);
    if (api->db_rows(res) == 0) {
        /* A concurrent request with this key won: read its order.  o->id
         * marks that this is the second look. */
        o->id = "";
        if (idem_lookup(o, req) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    o->id = api->req_strdup(req, api->db_value(res, 0, 0));
    o->reply_status = 201;
    o->event = "order.placed";
    o->action = "orders.order.place";
    if (o->id == NULL)
        api->req_resume(req, TN_ERROR);
    else
        render_or_fail(o, req);
}

/* Prices each line from the lookup: 0, or -1 with *fields filled. */
static int price_lines(op *o, const tn_db_result *res, json_t **fields, json_t *out)
{
    const tn_api *api = o->ctx->api;
    char name[48];

    tax_begin(&o->totals);
    for (int i = 0; i < o->nlines; i++) {
        const char *pid = api->db_value(res, i, 3);
        const char *active = api->db_value(res, i, 8);
        const char *stock = api->db_value(res, i, 9);
        long long price = pid ? strtoll(api->db_value(res, i, 6), NULL, 10) : 0;
        int rate = pid ? atoi(api->db_value(res, i, 7)) : 0;
        int64_t amount = 0;

        snprintf(name, sizeof name, "lines[%d].product", i);
        if (pid == NULL || strcmp(active, "t") != 0) {
            orders_field_error(fields, name, "no such product (or no longer sold)");
            continue;
        }
        if (strcmp(stock, "out_of_stock") == 0) {
            orders_field_error(fields, name, "out of stock");
            continue;
        }
        snprintf(name, sizeof name, "lines[%d].quantity", i);
        if (tax_line_amount(price, o->lines[i].qty, &amount) != 0 ||
            tax_add(&o->totals, rate, amount) != 0) {
            orders_field_error(fields, name, "the amount is too large");
            continue;
        }
        json_array_append_new(out,
                              json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:i, s:I, s:I}", "n", i + 1,
                                        "p", pid, "c", o->lines[i].code, "name",
                                        api->db_value(res, i, 4), "unit", api->db_value(res, i, 5),
                                        "price", (json_int_t)price, "rate", rate, "q",
                                        (json_int_t)o->lines[i].qty, "amount", (json_int_t)amount));
    }
    tax_finish(&o->totals);
    return *fields == NULL ? 0 : -1;
}

static int insert(op *o, tn_request *req, const char *buyer_id)
{
    const tn_api *api = o->ctx->api;
    char num[6][24];
    const int64_t v[6] = {o->totals.subtotal, o->totals.taxable_8, o->totals.taxable_10,
                          o->totals.tax_8,    o->totals.tax_10,    o->totals.total};
    const char *p[14];

    for (int i = 0; i < 6; i++)
        snprintf(num[i], sizeof num[i], "%lld", (long long)v[i]);
    p[0] = api->req_tenant(req);
    p[1] = buyer_id;
    p[2] = o->delivery;
    p[3] = o->note;
    for (int i = 0; i < 6; i++)
        p[4 + i] = num[i];
    p[10] = o->who.user_id;
    p[11] = o->idem;
    p[12] = o->idem ? o->hash : NULL;
    p[13] = o->lines_json;
    return api->db_query(req, sql_insert, 14, p, inserted, o);
}

static void looked_up(tn_request *req, const tn_db_result *res, void *ud)
{
    op *o = ud;
    const tn_api *api = o->ctx->api;
    json_t *fields = NULL, *out = json_array();
    char *text = NULL;
    int rc = TN_ENOMEM;

    if (!db_ok(o, res)) {
        json_decref(out);
        return db_failed(o, req, res);
    }
    if (api->db_rows(res) != o->nlines || strcmp(api->db_value(res, 0, 1), "t") != 0) {
        json_decref(out);
        orders_field_error(&fields, "buyer", "no such buyer (or no longer active)");
        orders_error_fields(o->ctx, req, 422, "validation_failed", "The order is not valid.",
                            fields);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (out == NULL)
        goto fail;
    if (price_lines(o, res, &fields, out) != 0) {
        json_decref(out);
        orders_error_fields(o->ctx, req, 422, "validation_failed", "The order is not valid.",
                            fields);
        api->req_resume(req, TN_DONE);
        return;
    }
    text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    out = NULL;
    o->lines_json = text ? api->req_strdup(req, text) : NULL;
    free(text);
    if (o->lines_json == NULL)
        goto fail;
    rc = insert(o, req, api->db_value(res, 0, 0));
fail:
    json_decref(out);
    if (rc != TN_OK)
        api->req_resume(req, TN_ERROR);
}

/* The body checked and its products looked up: TN_OK, 1 answered, or an
 * error.  The body is read again from the request (it lives as long). */
static int place_checked(op *o, tn_request *req)
{
    json_t *body = orders_body_object(o->ctx, req);
    int rc;

    if (body == NULL)
        return 1;
    rc = parse_place(o, req, body, &o->settings);
    json_decref(body);
    return rc != 0 ? 1 : lookup(o, req);
}

static tn_status h_place(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    op *o = op_new(ctx, req, OP_PLACE);
    json_t *body = NULL;
    int rc;

    if (o == NULL)
        return TN_ERROR;
    if (orders_caller_get(ctx, req, ORDERS_ROLE_BUYER, &o->who) != 0)
        return TN_DONE;
    orders_settings_read(ctx, ctx->api->req_config(req, self), &o->settings);
    o->idem = ctx->api->req_header(req, "Idempotency-Key");
    if (o->idem == NULL)
        rc = place_checked(o, req);
    else if ((body = orders_body_object(ctx, req)) == NULL)
        return TN_DONE;
    else {
        rc = idem_prepare(o, req, body);
        json_decref(body);
        if (rc != 0)
            return TN_DONE;
        rc = idem_lookup(o, req);
    }
    return rc == TN_OK ? TN_SUSPEND : rc == 1 ? TN_DONE : TN_ERROR;
}

/* ---- transitions ------------------------------------------------------ */

static const char sql_lock[] =
    "SELECT o.status, o.version, coalesce((SELECT json_agg(json_build_object("
    "   'line_no', l.line_no, 'product', l.product_code, 'quantity', l.quantity,"
    "   'shipped', l.shipped_quantity) ORDER BY l.line_no)"
    "   FROM orders_lines l WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id), '[]')::text"
    " FROM orders_orders o JOIN orders_buyers b ON b.tenant_id = o.tenant_id AND b.id = o.buyer_id"
    " WHERE o.id = $1::uuid AND ($2::text IS NULL OR b.code = $2) FOR UPDATE OF o";

static const char sql_accept[] =
    "UPDATE orders_orders SET status = 'accepted', accepted_at = now(), version = version + 1,"
    " updated_at = now() WHERE id = $1::uuid";

static const char sql_cancel[] =
    "UPDATE orders_orders SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2,"
    " version = version + 1, updated_at = now() WHERE id = $1::uuid";

static const char sql_ship[] =
    "WITH u AS (UPDATE orders_lines l SET shipped_quantity = l.shipped_quantity + x.q"
    " FROM json_to_recordset($3::json) AS x(line_no int, q int)"
    " WHERE l.order_id = $1::uuid AND l.line_no = x.line_no)"
    " UPDATE orders_orders SET status = $2,"
    " shipped_at = CASE WHEN $2 = 'shipped' THEN now() ELSE shipped_at END,"
    " version = version + 1, updated_at = now() WHERE id = $1::uuid";

static void updated(tn_request *req, const tn_db_result *res, void *ud)
{
    op *o = ud;
    if (!db_ok(o, res))
        return db_failed(o, req, res);
    render_or_fail(o, req);
}

static void invalid_transition(op *o, tn_request *req, const char *status)
{
    json_t *err = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "invalid_transition", "message",
                            "The order's status does not allow this.", "status", status);
    orders_reply(o->ctx, req, 409, err);
}

/* Ship: which quantities move, from the body or everything remaining;
 * the new status into o.  0, or -1 with *fields filled. */
static int plan_shipment(op *o, tn_request *req, json_t *lines, json_t **fields, char **json)
{
    const tn_api *api = o->ctx->api;
    size_t n = json_array_size(lines);
    long long left = 0;
    json_t *out = json_array();
    char name[48];

    if (out == NULL)
        return -1;
    if (o->ship == NULL) { /* no body: everything that remains */
        o->ship = api->req_alloc(req, (n ? n : 1) * sizeof *o->ship);
        for (size_t i = 0; o->ship && i < n; i++) {
            json_t *l = json_array_get(lines, i);
            long long rem = json_integer_value(json_object_get(l, "quantity")) -
                            json_integer_value(json_object_get(l, "shipped"));
            if (rem > 0)
                o->ship[o->nship++] =
                    (sline){(int)json_integer_value(json_object_get(l, "line_no")), rem, NULL};
        }
        if (o->ship == NULL) {
            json_decref(out);
            return -1;
        }
    }
    for (int k = 0; k < o->nship; k++) {
        sline *s = &o->ship[k];
        json_t *l = s->line_no >= 1 && (size_t)s->line_no <= n
                        ? json_array_get(lines, s->line_no - 1)
                        : NULL;
        long long rem = l ? json_integer_value(json_object_get(l, "quantity")) -
                                json_integer_value(json_object_get(l, "shipped"))
                          : 0;
        for (int j = 0; j < k; j++)
            if (o->ship[j].line_no == s->line_no) {
                snprintf(name, sizeof name, "lines[%d].line_no", k);
                orders_field_error(fields, name, "named twice");
            }
        if (l == NULL) {
            snprintf(name, sizeof name, "lines[%d].line_no", k);
            orders_field_error(fields, name, "no such line");
            continue;
        }
        if (s->qty > rem) {
            char msg[64];
            snprintf(name, sizeof name, "lines[%d].quantity", k);
            snprintf(msg, sizeof msg, "more than remains to ship (%lld)", rem);
            orders_field_error(fields, name, msg);
            continue;
        }
        s->product = api->req_strdup(req, json_string_value(json_object_get(l, "product")));
        json_array_append_new(out, json_pack("{s:i, s:I}", "line_no", s->line_no, "q",
                                             (json_int_t)s->qty));
    }
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(lines, i);
        left += json_integer_value(json_object_get(l, "quantity")) -
                json_integer_value(json_object_get(l, "shipped"));
    }
    for (int k = 0; k < o->nship; k++)
        left -= o->ship[k].qty;
    if (o->nship == 0 && *fields == NULL)
        orders_field_error(fields, "lines", "nothing to ship");
    o->new_status = left <= 0 ? "shipped" : "partially_shipped";
    *json = *fields == NULL ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    return *fields == NULL && *json != NULL ? 0 : -1;
}

static int allowed_from(op *o, const char *status)
{
    switch (o->kind) {
    case OP_ACCEPT: return strcmp(status, "placed") == 0;
    case OP_SHIP:
        return strcmp(status, "accepted") == 0 || strcmp(status, "partially_shipped") == 0;
    case OP_CANCEL:
        if (o->who.role == ORDERS_ROLE_BUYER)
            return strcmp(status, "placed") == 0;
        return strcmp(status, "placed") == 0 || strcmp(status, "accepted") == 0;
    default: return 0;
    }
}

static void locked(tn_request *req, const tn_db_result *res, void *ud)
{
    op *o = ud;
    const tn_api *api = o->ctx->api;
    const char *status;
    json_t *lines = NULL, *fields = NULL;
    char *ship_json = NULL;
    int rc = TN_ERROR;

    if (!db_ok(o, res))
        return db_failed(o, req, res);
    if (api->db_rows(res) != 1) {
        not_found(o, req);
        goto answered;
    }
    status = api->db_value(res, 0, 0);
    if (strtoll(api->db_value(res, 0, 1), NULL, 10) != o->if_version) {
        api->resp_error(req, 412, "precondition_failed",
                        "The order changed since you read it: read it again.");
        goto answered;
    }
    if (!allowed_from(o, status)) {
        invalid_transition(o, req, status);
        goto answered;
    }
    if (o->kind == OP_ACCEPT) {
        const char *p[1] = {o->id};
        rc = api->db_query(req, sql_accept, 1, p, updated, o);
    } else if (o->kind == OP_CANCEL) {
        const char *p[2] = {o->id, o->reason};
        rc = api->db_query(req, sql_cancel, 2, p, updated, o);
    } else {
        lines = json_loads(api->db_value(res, 0, 2), 0, NULL);
        if (lines == NULL || plan_shipment(o, req, lines, &fields, &ship_json) != 0) {
            json_decref(lines);
            if (fields == NULL)
                goto fail;
            orders_error_fields(o->ctx, req, 422, "validation_failed", "The shipment is not valid.",
                                fields);
            goto answered;
        }
        json_decref(lines);
        const char *p[3] = {o->id, o->new_status, ship_json};
        rc = api->db_query(req, sql_ship, 3, p, updated, o);
        free(ship_json);
    }
fail:
    if (rc != TN_OK)
        api->req_resume(req, TN_ERROR);
    return;
answered:
    api->req_resume(req, TN_DONE);
}

/* The ship body's lines into o->ship: 0, or -1 with *fields filled. */
static int parse_ship(op *o, tn_request *req, json_t *body, json_t **fields)
{
    static const char *const keys[] = {"lines", NULL};
    static const char *const line_keys[] = {"line_no", "quantity", NULL};
    json_t *arr = json_object_get(body, "lines");
    size_t n;

    only_keys(body, keys, "", fields, "not accepted");
    if (arr == NULL)
        return *fields ? -1 : 0;
    n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n == 0 || n > 1000) {
        orders_field_error(fields, "lines", "must be a list of {line_no, quantity}");
        return -1;
    }
    o->ship = o->ctx->api->req_alloc(req, n * sizeof *o->ship);
    if (o->ship == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(arr, i);
        json_t *ln = json_object_get(l, "line_no"), *q = json_object_get(l, "quantity");
        char prefix[32], name[48];

        snprintf(prefix, sizeof prefix, "lines[%zu].", i);
        if (json_is_object(l))
            only_keys(l, line_keys, prefix, fields, "not accepted");
        snprintf(name, sizeof name, "%sline_no", prefix);
        if (!json_is_integer(ln) || json_integer_value(ln) < 1 || json_integer_value(ln) > 1000)
            orders_field_error(fields, name, "must be a line number of the order");
        snprintf(name, sizeof name, "%squantity", prefix);
        if (!json_is_integer(q) || json_integer_value(q) < 1 || json_integer_value(q) > QTY_MAX)
            orders_field_error(fields, name, "must be a whole number from 1 to 1000000");
        o->ship[i] = (sline){json_is_integer(ln) ? (int)json_integer_value(ln) : 0,
                             json_is_integer(q) ? json_integer_value(q) : 0, NULL};
    }
    o->nship = (int)n;
    return *fields ? -1 : 0;
}

static int parse_cancel(op *o, tn_request *req, json_t *body, json_t **fields)
{
    static const char *const keys[] = {"reason", NULL};
    const char *r;

    only_keys(body, keys, "", fields, "not accepted");
    r = body ? str_member(req, o->ctx->api, body, "reason", fields, "reason") : NULL;
    if (r != NULL && utf8_chars(r) > REASON_MAX)
        orders_field_error(fields, "reason", "must be at most 500 characters");
    if ((r == NULL || r[0] == '\0') && o->who.role != ORDERS_ROLE_BUYER)
        orders_field_error(fields, "reason", "required: why the order is cancelled");
    o->reason = r ? r : "";
    return *fields ? -1 : 0;
}

static tn_status transition(orders_ctx *ctx, tn_plugin *self, tn_request *req, op_kind kind)
{
    const tn_api *api = ctx->api;
    op *o = op_new(ctx, req, kind);
    orders_role min = kind == OP_CANCEL ? ORDERS_ROLE_BUYER : ORDERS_ROLE_STAFF;
    json_t *body = NULL, *fields = NULL;
    size_t len = 0;
    const char *p[2];
    int rc = 0;

    (void)self;
    if (o == NULL)
        return TN_ERROR;
    if (orders_caller_get(ctx, req, min, &o->who) != 0)
        return TN_DONE;
    o->scope = o->who.role == ORDERS_ROLE_BUYER ? o->who.buyer_code : NULL;
    o->id = api->req_param(req, "id");
    if (!is_uuid(o->id)) {
        not_found(o, req);
        return TN_DONE;
    }
    if ((o->if_version = orders_if_match(ctx, req)) == 0)
        return TN_DONE;
    if (api->req_body(req, &len) != NULL && len > 0 &&
        (body = orders_body_object(ctx, req)) == NULL)
        return TN_DONE;
    if (kind == OP_SHIP && body != NULL)
        rc = parse_ship(o, req, body, &fields);
    else if (kind == OP_CANCEL)
        rc = parse_cancel(o, req, body, &fields);
    else if (body != NULL && json_object_size(body) > 0)
        rc = only_keys(body, (const char *const[]){NULL}, "", &fields, "not accepted");
    json_decref(body);
    if (rc != 0) {
        if (fields == NULL)
            return TN_ERROR;
        orders_error_fields(ctx, req, 422, "validation_failed", "The request is not valid.",
                            fields);
        return TN_DONE;
    }
    o->event = kind == OP_ACCEPT ? "order.accepted"
               : kind == OP_SHIP ? "order.shipped"
                                 : "order.cancelled";
    o->action = kind == OP_ACCEPT ? "orders.order.accept"
                : kind == OP_SHIP ? "orders.order.ship"
                                  : "orders.order.cancel";
    p[0] = o->id;
    p[1] = o->scope;
    return api->db_query(req, sql_lock, 2, p, locked, o) == TN_OK ? TN_SUSPEND : TN_ERROR;
}

static tn_status h_accept(tn_plugin *self, tn_request *req, void *ud)
{
    return transition(ud, self, req, OP_ACCEPT);
}

static tn_status h_ship(tn_plugin *self, tn_request *req, void *ud)
{
    return transition(ud, self, req, OP_SHIP);
}

static tn_status h_cancel(tn_plugin *self, tn_request *req, void *ud)
{
    return transition(ud, self, req, OP_CANCEL);
}

int orders_orders_routes_add(orders_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_plugin *self = ctx->self;
    const tn_access a = TN_ACCESS_AUTHENTICATED;

    if (api->route_add(self, "POST", ORDERS_API "/orders", a, NULL, h_place, ctx) != TN_OK ||
        api->route_add(self, "GET", ORDERS_API "/orders", a, NULL, h_list, ctx) != TN_OK ||
        api->route_add(self, "GET", ORDERS_API "/orders/:id", a, NULL, h_get, ctx) != TN_OK ||
        api->route_add(self, "POST", ORDERS_API "/orders/:id/accept", a, NULL, h_accept, ctx) !=
            TN_OK ||
        api->route_add(self, "POST", ORDERS_API "/orders/:id/ship", a, NULL, h_ship, ctx) !=
            TN_OK ||
        api->route_add(self, "POST", ORDERS_API "/orders/:id/cancel", a, NULL, h_cancel, ctx) !=
            TN_OK)
        return -1;
    return 0;
}
