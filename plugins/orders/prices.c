/*
 * prices.c - per-buyer prices that override a product's list price:
 *   GET    /api/v1/prices                      staff: all (?buyer=, ?product=);
 *                                              a buyer: its own only
 *   PUT    /api/v1/prices/:buyer/:product      staff: {unit_price}; If-Match
 *                                              when the price exists, none to create
 *   DELETE /api/v1/prices/:buyer/:product      staff; If-Match optional
 * Writes are audited (orders.price.set / orders.price.delete, S20) and
 * published (price.changed) in their transaction (docs/orders.md "Prices").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master.h"

typedef struct preq {
    orders_ctx *ctx;
    tn_request *req;
    orders_caller who;
    char buyer[ORDERS_CODE_MAX + 1];
    char product[ORDERS_CODE_MAX + 1];
    char target[2 * ORDERS_CODE_MAX + 2]; /* "BUYER/PRODUCT" */
    char price[24];
    long long if_match; /* 0: none sent */
    int limit;
    int status;
    const char *change; /* "set" or "deleted" */
    char *answer;
    char version[24];
} preq;

#define PRICE_JSON                                                                                 \
    "jsonb_build_object('buyer', $5::text, 'product', $6::text, 'unit_price', x.unit_price, "      \
    "'version', x.version, 'updated_at', x.updated_at)::text"

static const char sql_list[] =
    "SELECT jsonb_strip_nulls(jsonb_build_object('buyer', b.code, 'product', p.code, "
    "'unit_price', x.unit_price, 'list_price', CASE WHEN $6::text IS NULL THEN p.unit_price END, "
    "'version', x.version, 'updated_at', x.updated_at))::text, b.code, p.code "
    "FROM orders_prices x JOIN orders_buyers b ON b.id = x.buyer_id "
    "JOIN orders_products p ON p.id = x.product_id "
    "WHERE ($1::text IS NULL OR b.code = $1) AND ($2::text IS NULL OR p.code = $2) "
    "AND ($6::text IS NULL OR p.active) "
    "AND ($3::text IS NULL OR (b.code COLLATE \"C\", p.code COLLATE \"C\") > ($3, $4)) "
    "ORDER BY b.code COLLATE \"C\", p.code COLLATE \"C\" LIMIT $5::int";

/* The buyer's and product's ids and the price now, if any. */
static const char sql_find[] =
    "SELECT b.id, p.id, x.version, x.unit_price FROM orders_buyers b "
    "JOIN orders_products p ON p.code = $2 "
    "LEFT JOIN orders_prices x ON x.buyer_id = b.id AND x.product_id = p.id "
    "WHERE b.code = $1";

static const char sql_insert[] =
    "INSERT INTO orders_prices AS x (tenant_id, buyer_id, product_id, unit_price) "
    "VALUES ($1, $2::uuid, $3::uuid, $4::bigint) ON CONFLICT DO NOTHING "
    "RETURNING " PRICE_JSON ", x.version";

static const char sql_update[] =
    "UPDATE orders_prices AS x SET unit_price = $4::bigint, version = x.version + 1, "
    "updated_at = now() WHERE x.buyer_id = $2::uuid AND x.product_id = $3::uuid "
    "AND x.version = $1::int RETURNING " PRICE_JSON ", x.version";

static const char sql_delete[] =
    "WITH t AS (SELECT x.tenant_id, x.buyer_id, x.product_id, x.version FROM orders_prices x "
    "JOIN orders_buyers b ON b.id = x.buyer_id JOIN orders_products p ON p.id = x.product_id "
    "WHERE b.code = $1 AND p.code = $2 FOR UPDATE OF x), "
    "d AS (DELETE FROM orders_prices x USING t WHERE x.tenant_id = t.tenant_id "
    "AND x.buyer_id = t.buyer_id AND x.product_id = t.product_id "
    "AND ($3::int IS NULL OR t.version = $3::int) RETURNING 1) "
    "SELECT t.version, (SELECT count(*) FROM d) FROM t";

static preq *preq_new(orders_ctx *ctx, tn_request *req)
{
    preq *m = ctx->api->req_alloc(req, sizeof *m);

    if (m != NULL) {
        memset(m, 0, sizeof *m);
        m->ctx = ctx;
        m->req = req;
    }
    return m;
}

static void done(preq *m)
{
    m->ctx->api->req_resume(m->req, TN_DONE);
}

static void db_failed(preq *m, const tn_db_result *res)
{
    m->ctx->api->resp_db_error(m->req, res);
    done(m);
}

static void not_found(preq *m)
{
    m->ctx->api->resp_error(m->req, 404, "not_found", "No such price, buyer or product.");
    done(m);
}

static void stale(preq *m)
{
    m->ctx->api->resp_error(m->req, 412, "precondition_failed",
                            "The price changed since you read it: read it again.");
    done(m);
}

/* :buyer and :product of the path, normalised; 0, or -1 after 404. */
static int path_codes(preq *m)
{
    const tn_api *api = m->ctx->api;
    const char *b = api->req_param(m->req, "buyer"), *p = api->req_param(m->req, "product");

    if (b == NULL || p == NULL || orders_code_normalize(b, m->buyer) != NULL ||
        orders_code_normalize(p, m->product) != NULL) {
        api->resp_error(m->req, 404, "not_found", "No such price, buyer or product.");
        return -1;
    }
    snprintf(m->target, sizeof m->target, "%s/%s", m->buyer, m->product);
    return 0;
}

/* ---- list ---------------------------------------------------------------------- */

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    preq *m = ud;
    const tn_api *api = m->ctx->api;
    json_t *items, *top;
    int i, n;

    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    n = api->db_rows(res);
    items = json_array();
    for (i = 0; i < n && i < m->limit; i++)
        json_array_append_new(items, json_loads(api->db_value(res, i, 0), 0, NULL));
    top = json_pack("{s:o, s:n}", "items", items, "next_cursor");
    if (top != NULL && n > m->limit) {
        char key[2 * ORDERS_CODE_MAX + 2], *c;
        snprintf(key, sizeof key, "%s\t%s", api->db_value(res, m->limit - 1, 1),
                 api->db_value(res, m->limit - 1, 2));
        c = orders_cursor_encode(m->ctx, req, key);
        json_object_set_new(top, "next_cursor", c ? json_string(c) : json_null());
    }
    orders_reply(m->ctx, req, 200, top);
    done(m);
}

/* A code filter from the query into out (a code that cannot be matches
 * nothing: "" never is one). */
static const char *code_filter(tn_request *req, const tn_api *api, const char *name,
                               char out[ORDERS_CODE_MAX + 1])
{
    const char *v = api->req_query_param(req, name);

    if (v == NULL)
        return NULL;
    if (orders_code_normalize(v, out) != NULL)
        out[0] = '\0';
    return out;
}

static tn_status list_handler(tn_plugin *self, tn_request *req, void *ud)
{
    preq *m = preq_new(ud, req);
    const tn_api *api;
    const char *cursor, *p[6];
    char cur[2 * ORDERS_CODE_MAX + 2], lim[16], *tab;

    (void)self;
    if (m == NULL)
        return TN_ERROR;
    api = m->ctx->api;
    if (orders_caller_get(m->ctx, req, ORDERS_ROLE_BUYER, &m->who) != 0)
        return TN_DONE;
    if ((m->limit = orders_limit(m->ctx, req)) < 0)
        return TN_DONE;
    p[0] = code_filter(req, api, "buyer", m->buyer);
    p[1] = code_filter(req, api, "product", m->product);
    p[2] = p[3] = NULL;
    /* A buyer sees its own prices only, whatever it asks for (S11). */
    if (m->who.role == ORDERS_ROLE_BUYER) {
        if (master_own_code(&m->who, m->buyer) != 0) {
            api->resp_error(req, 403, "forbidden", "Your role does not allow this.");
            return TN_DONE;
        }
        p[0] = m->buyer;
    }
    if ((cursor = api->req_query_param(req, "cursor")) != NULL) {
        if (orders_cursor_decode(m->ctx, req, cursor, cur, sizeof cur) != 0)
            return TN_DONE;
        if ((tab = strchr(cur, '\t')) == NULL) {
            api->resp_error(req, 400, "invalid_cursor", "The cursor is not one this API gave.");
            return TN_DONE;
        }
        *tab = '\0';
        p[2] = api->req_strdup(req, cur);
        p[3] = api->req_strdup(req, tab + 1);
        if (p[2] == NULL || p[3] == NULL) /* never the first page instead */
            return TN_ERROR;
    }
    snprintf(lim, sizeof lim, "%d", m->limit + 1);
    p[4] = lim;
    p[5] = m->who.role == ORDERS_ROLE_BUYER ? m->buyer : NULL;
    if (api->db_query(req, sql_list, 6, p, listed, m) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- writes ---------------------------------------------------------------------- */

static void committed(tn_request *req, const tn_db_result *res, void *ud)
{
    preq *m = ud;
    const tn_api *api = m->ctx->api;

    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    if (m->answer == NULL) { /* deleted */
        api->resp_status(req, 204);
        return done(m);
    }
    orders_etag_set(m->ctx, req, m->version);
    api->resp_json(req, m->status, m->answer);
    done(m);
}

/* Audit, event, commit. */
static void record(preq *m)
{
    const tn_api *api = m->ctx->api;
    json_t *ev = json_pack("{s:s, s:s, s:s}", "buyer", m->buyer, "product", m->product, "change",
                           m->change);
    char *payload = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    const char *action = strcmp(m->change, "deleted") == 0 ? "orders.price.delete"
                                                           : "orders.price.set";

    json_decref(ev);
    if (payload == NULL || api->db_audit(m->req, action, "price", m->target, "ok") != TN_OK ||
        api->db_publish(m->req, "price.changed", payload) != TN_OK ||
        api->db_commit(m->req, committed, m) != TN_OK) {
        free(payload);
        api->resp_error(m->req, 500, "internal", "The change could not be recorded.");
        return done(m);
    }
    free(payload);
}

static void written(tn_request *req, const tn_db_result *res, void *ud)
{
    preq *m = ud;
    const tn_api *api = m->ctx->api;

    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    if (api->db_rows(res) != 1) /* created or changed by someone else meanwhile */
        return stale(m);
    m->answer = api->req_strdup(req, api->db_value(res, 0, 0));
    snprintf(m->version, sizeof m->version, "%s", api->db_value(res, 0, 1));
    if (m->answer == NULL) {
        api->resp_error(req, 500, "internal", "Out of memory.");
        return done(m);
    }
    record(m);
}

static void found(tn_request *req, const tn_db_result *res, void *ud)
{
    preq *m = ud;
    const tn_api *api = m->ctx->api;
    const char *version, *p[6];
    int rc;

    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    if (api->db_rows(res) != 1)
        return not_found(m);
    version = api->db_value(res, 0, 2);
    p[1] = api->db_value(res, 0, 0);
    p[2] = api->db_value(res, 0, 1);
    p[3] = m->price;
    p[4] = m->buyer;
    p[5] = m->product;
    if (version == NULL) { /* none yet: create, and only without If-Match */
        if (m->if_match != 0)
            return stale(m);
        p[0] = api->req_tenant(req);
        m->status = 201;
        rc = api->db_query(req, sql_insert, 6, p, written, m);
    } else {
        char v[24];
        if (m->if_match == 0) {
            api->resp_error(req, 428, "precondition_required",
                            "Send If-Match with the ETag you read, so no change is lost.");
            return done(m);
        }
        if (atoll(version) != m->if_match)
            return stale(m);
        if (strcmp(api->db_value(res, 0, 3), m->price) == 0) { /* unchanged: no write */
            json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "buyer", m->buyer, "product", m->product,
                                  "unit_price", (json_int_t)atoll(m->price), "version",
                                  (json_int_t)m->if_match);
            orders_etag_set(m->ctx, req, version);
            orders_reply(m->ctx, req, 200, j);
            return done(m);
        }
        snprintf(v, sizeof v, "%lld", m->if_match);
        p[0] = api->req_strdup(req, v);
        m->status = 200;
        rc = api->db_query(req, sql_update, 6, p, written, m);
    }
    if (rc != TN_OK) {
        api->resp_error(req, 500, "internal", "The change could not be made.");
        done(m);
    }
}

/* If-Match when sent: 0 none, -1 after answering 412, else the version. */
static long long optional_if_match(preq *m)
{
    if (m->ctx->api->req_header(m->req, "If-Match") == NULL)
        return 0;
    long long v = orders_if_match(m->ctx, m->req);
    return v == 0 ? -1 : v;
}

static tn_status put_handler(tn_plugin *self, tn_request *req, void *ud)
{
    preq *m = preq_new(ud, req);
    json_t *in, *out, *f = NULL;
    const char *k, *p[2];
    json_t *v;

    (void)self;
    if (m == NULL)
        return TN_ERROR;
    if (orders_caller_get(m->ctx, req, ORDERS_ROLE_STAFF, &m->who) != 0 || path_codes(m) != 0)
        return TN_DONE;
    if ((m->if_match = optional_if_match(m)) < 0)
        return TN_DONE;
    if ((in = orders_body_object(m->ctx, req)) == NULL)
        return TN_DONE;
    out = json_object();
    master_int(in, out, &f, "unit_price", 1, 0, 100000000000LL);
    json_object_foreach(in, k, v)
    {
        if (strcmp(k, "unit_price") != 0)
            orders_field_error(&f, k, "is not a field of a price");
    }
    snprintf(m->price, sizeof m->price, "%lld",
             (long long)json_integer_value(json_object_get(out, "unit_price")));
    json_decref(out);
    json_decref(in);
    if (f != NULL) {
        master_invalid(m->ctx, req, f);
        return TN_DONE;
    }
    m->change = "set";
    p[0] = m->buyer;
    p[1] = m->product;
    if (m->ctx->api->db_query(req, sql_find, 2, p, found, m) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

static void deleted(tn_request *req, const tn_db_result *res, void *ud)
{
    preq *m = ud;
    const tn_api *api = m->ctx->api;

    (void)req;
    if (api->db_status(res) != TN_OK)
        return db_failed(m, res);
    if (api->db_rows(res) != 1)
        return not_found(m);
    if (strcmp(api->db_value(res, 0, 1), "0") == 0)
        return stale(m);
    record(m);
}

static tn_status delete_handler(tn_plugin *self, tn_request *req, void *ud)
{
    preq *m = preq_new(ud, req);
    const char *p[3];
    char v[24];

    (void)self;
    if (m == NULL)
        return TN_ERROR;
    if (orders_caller_get(m->ctx, req, ORDERS_ROLE_STAFF, &m->who) != 0 || path_codes(m) != 0)
        return TN_DONE;
    if ((m->if_match = optional_if_match(m)) < 0)
        return TN_DONE;
    snprintf(v, sizeof v, "%lld", m->if_match);
    m->change = "deleted";
    p[0] = m->buyer;
    p[1] = m->product;
    p[2] = m->if_match ? v : NULL;
    if (m->ctx->api->db_query(req, sql_delete, 3, p, deleted, m) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

int orders_prices_routes_add(orders_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_route_opts opts = {.size = sizeof opts};
    const char *one = ORDERS_API "/prices/:buyer/:product";

    if (api->route_add_opts(ctx->self, "GET", ORDERS_API "/prices", TN_ACCESS_ROLES,
                            "tenant_admin,staff,buyer", list_handler, ctx, &opts) != TN_OK ||
        api->route_add_opts(ctx->self, "PUT", one, TN_ACCESS_ROLES, "tenant_admin,staff,buyer",
                            put_handler, ctx, &opts) != TN_OK ||
        api->route_add_opts(ctx->self, "DELETE", one, TN_ACCESS_ROLES, "tenant_admin,staff,buyer",
                            delete_handler, ctx, &opts) != TN_OK)
        return -1;
    return 0;
}
