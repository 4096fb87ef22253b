/*
 * orders.h - what the parts of the ordering plugin share: the worker's
 * context, a tenant's settings, who the caller is (role and buyer), and
 * the small request helpers every route uses (JSON bodies, field errors,
 * ETag/If-Match, cursors).  Each resource registers its own routes from
 * init(): buyers.c, products.c, prices.c, orders_api.c, announcements.c,
 * export.c, import.c.
 *
 * Written only against the public SDK (tanomu/tanomu.h), as any plugin.
 */
#ifndef ORDERS_ORDERS_H
#define ORDERS_ORDERS_H

#include <stdint.h>

#include <jansson.h>
#include <tanomu/tanomu.h>

#define ORDERS_API "/api/v1"
/* Important operations (bulk export, import) need an authentication at
 * most this old (S6, S9): the host answers 401 reauth_required. */
#define ORDERS_REAUTH_MAX_AGE_S 300
#define ORDERS_PAGE_DEFAULT 50
#define ORDERS_PAGE_MAX 200

/* One worker's state: the ud of every route, hook and job. */
typedef struct orders_ctx {
    const tn_api *api;
    tn_plugin *self;
    tn_metric *placed;     /* orders_placed_total{tenant} */
    tn_metric *transitions; /* order_transitions_total{tenant} */
} orders_ctx;

/* A tenant's settings, as one request reads them (orders.c). */
typedef struct orders_settings {
    int cutoff_minute;       /* minutes after 00:00 JST: orders after it count as next day */
    int lead_days;           /* earliest delivery: this many days after the order day */
    int max_days_ahead;      /* latest delivery date, in days from today */
    int max_lines;           /* lines in one order */
    int maint_weekday;       /* weekly maintenance window: 0 Sunday .. 6 Saturday (JST) */
    int maint_start_minute;  /* minutes after 00:00 JST */
    int maint_minutes;       /* its length */
} orders_settings;

void orders_settings_read(const orders_ctx *ctx, const tn_config *cfg, orders_settings *s);

/* Who is asking, as far as this plugin cares.  Roles rank: a tenant admin
 * is also staff; a buyer acts only for buyer_code (the principal's
 * "buyer_id" attribute, which holds the buyer's code). */
typedef enum orders_role {
    ORDERS_ROLE_NONE = 0,
    ORDERS_ROLE_BUYER = 1,
    ORDERS_ROLE_STAFF = 2,
    ORDERS_ROLE_ADMIN = 3
} orders_role;

typedef struct orders_caller {
    orders_role role;
    const char *user_id;    /* the principal; lives with the request */
    const char *buyer_code; /* for ORDERS_ROLE_BUYER only, else NULL */
} orders_caller;

/* Fills c; 0, or -1 after answering 403 (no role of this plugin, or a
 * buyer without a buyer attribute).  min: the weakest role allowed. */
int orders_caller_get(orders_ctx *ctx, tn_request *req, orders_role min, orders_caller *c);

/* The JSON object of the body; NULL after answering 400 (not JSON, not
 * an object, a NUL byte).  The caller json_decref()s it. */
json_t *orders_body_object(orders_ctx *ctx, tn_request *req);

/* {"error": {"code", "message", "fields": fields}}; steals fields (may
 * be NULL: no "fields"). */
void orders_error_fields(orders_ctx *ctx, tn_request *req, int status, const char *code,
                         const char *message, json_t *fields);
/* One field's reason added to *fields (made on first use). */
void orders_field_error(json_t **fields, const char *field, const char *reason);
/* Answers json (stolen) with status; 0, or -1 when it could not. */
int orders_reply(orders_ctx *ctx, tn_request *req, int status, json_t *json);

/* ETag of a row version: "\"v<version>\"".  orders_if_match() gives the
 * version named by If-Match, or 0 after answering: 428 precondition_required
 * when absent, 412 precondition_failed when it names no version. */
void orders_etag_set(orders_ctx *ctx, tn_request *req, const char *version);
long long orders_if_match(orders_ctx *ctx, tn_request *req);

/* Page size from ?limit= (default ORDERS_PAGE_DEFAULT, at most
 * ORDERS_PAGE_MAX); -1 after answering 400. */
int orders_limit(orders_ctx *ctx, tn_request *req);
/* Opaque cursors: base64url of a short text key (the last row's sort
 * key).  decode: 0 and out filled, or -1 after answering 400 invalid_cursor. */
char *orders_cursor_encode(orders_ctx *ctx, tn_request *req, const char *key);
int orders_cursor_decode(orders_ctx *ctx, tn_request *req, const char *cursor, char *out,
                         size_t outsz);

/* Routes of each part, registered from init(). */
int orders_buyers_routes_add(orders_ctx *ctx);
int orders_products_routes_add(orders_ctx *ctx);
int orders_prices_routes_add(orders_ctx *ctx);
int orders_orders_routes_add(orders_ctx *ctx);
int orders_announcements_routes_add(orders_ctx *ctx);
int orders_export_routes_add(orders_ctx *ctx);
int orders_import_routes_add(orders_ctx *ctx);
/* `tanomu orders-seed-demo` (seed.c). */
int orders_seed_command_add(orders_ctx *ctx);

#endif
