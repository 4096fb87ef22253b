/*
 * line.c - LINE messages (Messaging API push) for order events, to the
 * buyer's contacts that carry a LINE user ID (orders_buyers.contacts
 * [].line_user_id, "U" + 32 hex digits; from the database only, S8).
 *
 * POST {line_api_base}/v2/bot/message/push with the tenant's channel
 * access token (a sealed setting) and X-Line-Retry-Key: a UUID derived
 * from tenant, event id and recipient (SHA-256, version-4 layout), so a
 * retried push carries the same key and LINE sends it once; 409 means
 * LINE already accepted that key: success.  2xx sent; 409 sent (already);
 * 400/401/403/404 refused (not retried: the ID or the token is wrong);
 * anything else (429, 5xx, network) fails the delivery and the outbox
 * retries.  A durable subscription of its own (acknowledged apart from
 * e-mail and webhooks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "notify.h"
#include "template.h"

typedef struct line_to {
    char user[40];
    char *name;
    notify_row *row;
} line_to;

typedef struct line_job {
    notify_ctx *c;
    tn_delivery *d;
    char *tenant, *event;
    int64_t event_id;
    int attempt;
    json_t *vars;
    line_to to[NOTIFY_MAX_RCPT];
    int nto;
    notify_row rows[NOTIFY_MAX_RCPT];
    int nrows;
    int pending, failed;
    char *own_subject, *own_body; /* the tenant's own template, or NULL */
} line_job;

static void line_free(line_job *j)
{
    if (j == NULL)
        return;
    for (int i = 0; i < j->nto; i++)
        free(j->to[i].name);
    json_decref(j->vars);
    free(j->own_subject);
    free(j->own_body);
    free(j->tenant);
    free(j->event);
    free(j);
}

/* ---- the end ------------------------------------------------------------- */

static void own_committed(tn_tx *tx, const tn_db_result *res, void *ud)
{
    line_job *j = ud;
    (void)tx;
    (void)res;
    j->c->api->delivery_done(j->d, 0, "LINE push not accepted for every recipient");
    line_free(j);
}

static void own_rows(tn_tx *tx, int ok, void *ud)
{
    line_job *j = ud;
    if (!ok || j->c->api->tx_commit(tx, own_committed, j) != TN_OK) {
        j->c->api->tx_rollback(tx, NULL, NULL);
        j->c->api->delivery_done(j->d, 0, "LINE push failed; log not written");
        line_free(j);
    }
}

static void acked_rows(tn_tx *tx, int ok, void *ud)
{
    line_job *j = ud;
    (void)tx;
    j->c->api->delivery_done(j->d, ok, ok ? NULL : "delivery log not written");
    line_free(j);
}

static void line_finish(line_job *j)
{
    const tn_api *api = j->c->api;
    tn_tx *tx = NULL;

    if (!j->failed) {
        if (notify_log_rows(j->c, api->delivery_tx(j->d), j->event_id, j->event, "line", j->attempt,
                            j->rows, j->nrows, acked_rows, j) != TN_OK) {
            api->delivery_done(j->d, 0, "delivery log not written");
            line_free(j);
        }
        return;
    }
    if (api->tx_begin(j->c->self, j->tenant, &tx) != TN_OK ||
        notify_log_rows(j->c, tx, j->event_id, j->event, "line", j->attempt, j->rows, j->nrows,
                        own_rows, j) != TN_OK) {
        if (tx)
            api->tx_rollback(tx, NULL, NULL);
        api->delivery_done(j->d, 0, "LINE push not accepted for every recipient");
        line_free(j);
    }
}

/* ---- pushing ------------------------------------------------------------- */

typedef struct line_send {
    line_job *j;
    int i;
} line_send;

static void pushed(tn_plugin *self, const tn_http_response *res, void *ud)
{
    line_send *s = ud;
    line_job *j = s->j;
    notify_row *row = j->to[s->i].row;

    (void)self;
    free(s);
    if (res->result == TN_OK && ((res->status >= 200 && res->status < 300) || res->status == 409)) {
        row->result = "sent";
        snprintf(row->detail, sizeof row->detail, "HTTP %d%s", res->status,
                 res->status == 409 ? " (already accepted)" : "");
        j->c->api->metric_add(j->c->line_sent, j->tenant, 1);
    } else if (res->result == TN_OK && (res->status == 400 || res->status == 401 ||
                                        res->status == 403 || res->status == 404)) {
        row->result = "refused";
        snprintf(row->detail, sizeof row->detail, "HTTP %d", res->status);
        j->c->api->log(j->c->self, TN_LOG_WARN, "LINE push for event %lld refused: HTTP %d",
                       (long long)j->event_id, res->status);
    } else {
        row->result = "failed";
        snprintf(row->detail, sizeof row->detail, "%d HTTP %d %.80s", res->result, res->status,
                 res->error ? res->error : "");
        j->failed = 1;
        j->c->api->metric_add(j->c->line_failed, j->tenant, 1);
        j->c->api->log(j->c->self, TN_LOG_WARN, "LINE push for event %lld attempt %d failed: %s",
                       (long long)j->event_id, j->attempt, row->detail);
    }
    if (--j->pending == 0)
        line_finish(j);
}

static char *message_text(line_job *j, const tn_config *cfg, const line_to *to)
{
    const notify_template *shipped = tpl_find(j->event, j->c->api->config_str(cfg, "language"));
    notify_template own = {.event = j->event, .subject = j->own_subject, .body = j->own_body};
    const notify_template *t = j->own_subject && j->own_body ? &own : shipped;
    tpl_var v[16];
    size_t n = 0;
    const char *k;
    json_t *val;
    char *subject = NULL, *body = NULL, *text = NULL;

    if (t == NULL)
        return NULL;
    json_object_foreach(j->vars, k, val)
    {
        if (n + 1 < sizeof v / sizeof v[0])
            v[n++] = (tpl_var){k, json_string_value(val)};
    }
    v[n++] = (tpl_var){"contact_name", to->name ? to->name : ""};
    subject = tpl_render(t->subject, v, n, 0);
    body = tpl_render(t->body, v, n, 1);
    if (subject && body) {
        size_t len = strlen(subject) + strlen(body) + 3;
        text = malloc(len);
        if (text)
            snprintf(text, len, "%s\n\n%s", subject, body);
    }
    free(subject);
    free(body);
    return text;
}

static void push(line_job *j, const tn_config *cfg, int i)
{
    const tn_api *api = j->c->api;
    line_to *to = &j->to[i];
    char url[300], auth[600], key[37];
    char *text = message_text(j, cfg, to);
    json_t *o = text ? json_pack("{s:s, s:[{s:s, s:s}]}", "to", to->user, "messages", "type",
                                 "text", "text", text)
                     : NULL;
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    line_send *s = calloc(1, sizeof *s);

    json_decref(o);
    free(text);
    snprintf(url, sizeof url, "%s/v2/bot/message/push", api->config_str(cfg, "line_api_base"));
    snprintf(auth, sizeof auth, "Bearer %s", api->config_str(cfg, "line_channel_token"));
    notify_line_retry_key(j->tenant, j->event_id, to->user, key);
    snprintf(to->row->provider_id, sizeof to->row->provider_id, "%s", key);
    tn_http_header h[] = {{"Content-Type", "application/json"},
                          {"Authorization", auth},
                          {"X-Line-Retry-Key", key}};
    tn_http_request r = {.size = sizeof r,
                         .method = "POST",
                         .url = url,
                         .headers = h,
                         .nheaders = 3,
                         .body = body,
                         .body_len = body ? strlen(body) : 0,
                         .timeout_ms = 15000,
                         .max_response = 65536};
    *s = (line_send){.j = j, .i = i};
    if (body == NULL || api->http_call(j->c->self, NULL, &r, pushed, s, NULL) != TN_OK) {
        free(s);
        to->row->result = "failed";
        snprintf(to->row->detail, sizeof to->row->detail, "not started: %.100s",
                 api->last_error(j->c->self));
        j->failed = 1;
    } else {
        j->pending++;
    }
    sodium_memzero(auth, sizeof auth);
    free(body);
}

static void on_sent_before(tn_tx *tx, const tn_db_result *res, void *ud)
{
    line_job *j = ud;
    const tn_api *api = j->c->api;
    const tn_config *cfg = api->tenant_config(j->c->self, j->tenant);

    (void)tx;
    if (api->db_status(res) != TN_OK || cfg == NULL) {
        api->delivery_done(j->d, 0, "delivery log unreadable");
        line_free(j);
        return;
    }
    j->pending = 1;
    for (int i = 0; i < j->nto; i++) {
        notify_row *row = &j->rows[j->nrows];
        int already = 0;
        memset(row, 0, sizeof *row);
        notify_hash_addr(j->tenant, j->to[i].user, row->hash);
        for (int k = 0; k < api->db_rows(res); k++)
            if (strcmp(api->db_value(res, k, 0), row->hash) == 0)
                already = 1;
        if (already)
            continue;
        snprintf(row->recipient, sizeof row->recipient, "%.5s***", j->to[i].user);
        j->to[i].row = row;
        j->nrows++;
        push(j, cfg, i);
    }
    if (--j->pending == 0)
        line_finish(j);
}

/* The tenant's own template, if any; then who already has the push. */
static void on_override(tn_tx *tx, const tn_db_result *res, void *ud)
{
    line_job *j = ud;
    const tn_api *api = j->c->api;
    char id[24];

    if (api->db_status(res) != TN_OK) {
        api->delivery_done(j->d, 0, "templates unreadable");
        line_free(j);
        return;
    }
    if (api->db_rows(res) == 1) {
        j->own_subject = strdup(api->db_value(res, 0, 0));
        j->own_body = strdup(api->db_value(res, 0, 1));
    }
    snprintf(id, sizeof id, "%lld", (long long)j->event_id);
    const char *p[1] = {id};
    if (api->tx_query(tx,
                      "SELECT recipient_hash FROM notify_deliveries WHERE event_id = $1::bigint "
                      "AND channel = 'line' AND result = 'sent'",
                      1, p, on_sent_before, j) != TN_OK) {
        api->delivery_done(j->d, 0, "delivery log unreadable");
        line_free(j);
    }
}

static void on_rcpts(tn_tx *tx, const tn_db_result *res, void *ud)
{
    line_job *j = ud;
    const tn_api *api = j->c->api;

    if (api->db_status(res) != TN_OK) {
        api->delivery_done(j->d, 0, "recipients unreadable");
        line_free(j);
        return;
    }
    for (int r = 0; r < api->db_rows(res); r++) {
        if (r == 0) {
            json_object_set_new(j->vars, "order_number", json_string(api->db_value(res, 0, 0)));
            json_object_set_new(j->vars, "total", json_string(api->db_value(res, 0, 1)));
            json_object_set_new(j->vars, "delivery_date", json_string(api->db_value(res, 0, 2)));
            json_object_set_new(j->vars, "buyer_name", json_string(api->db_value(res, 0, 3)));
        }
        const char *user = api->db_value(res, r, 5);
        if (notify_line_user_ok(user) && j->nto < NOTIFY_MAX_RCPT) {
            snprintf(j->to[j->nto].user, sizeof j->to[0].user, "%s", user);
            const char *name = api->db_value(res, r, 4);
            j->to[j->nto].name = name ? strdup(name) : NULL;
            j->nto++;
        }
    }
    if (j->nto == 0) {
        api->delivery_done(j->d, 1, NULL);
        line_free(j);
        return;
    }
    const tn_config *cfg = api->tenant_config(j->c->self, j->tenant);
    if (notify_override_query(j->c, tx, j->event, cfg ? api->config_str(cfg, "language") : "ja",
                              on_override, j) != TN_OK) {
        api->delivery_done(j->d, 0, "templates unreadable");
        line_free(j);
    }
}

tn_status notify_line_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    const tn_config *cfg = ev->tenant_id ? api->tenant_config(self, ev->tenant_id) : NULL;
    json_t *payload;
    line_job *j;

    if (cfg == NULL || api->config_str(cfg, "line_channel_token")[0] == '\0' ||
        !notify_list_has(api->config_str(cfg, "line_events"), ev->name))
        return TN_CONTINUE;
    payload = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    const char *oid = json_string_value(json_object_get(payload, "id"));
    if (oid == NULL || !notify_uuid_ok(oid)) {
        json_decref(payload);
        return TN_CONTINUE; /* no order to read: retrying cannot help */
    }
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        json_decref(payload);
        return TN_ERROR;
    }
    *j = (line_job){.c = c, .d = d, .event_id = ev->id, .attempt = ev->attempt};
    j->tenant = strdup(ev->tenant_id);
    j->event = strdup(ev->name);
    j->vars = json_object();
    const char *p[1] = {oid};
    if (!j->tenant || !j->event || !j->vars ||
        api->tx_query(api->delivery_tx(d),
                      "SELECT o.number::text, o.total::text, o.delivery_date::text, b.name, "
                      "c.value->>'name', c.value->>'line_user_id' FROM orders_orders o "
                      "JOIN orders_buyers b ON b.tenant_id = o.tenant_id AND b.id = o.buyer_id "
                      "LEFT JOIN LATERAL jsonb_array_elements(b.contacts) WITH ORDINALITY "
                      "AS c(value, ordinality) ON jsonb_typeof(c.value) = 'object' "
                      "WHERE o.id = $1::uuid ORDER BY c.ordinality LIMIT 10",
                      1, p, on_rcpts, j) != TN_OK) {
        json_decref(payload);
        line_free(j);
        return TN_ERROR;
    }
    json_decref(payload);
    return TN_SUSPEND;
}
