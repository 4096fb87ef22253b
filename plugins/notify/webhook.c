/*
 * webhook.c - the webhook channel (Standard Webhooks) and its endpoints.
 *
 * Delivery: a durable subscription of its own (the host acknowledges each
 * subscriber apart, so a failing webhook does not resend e-mail).  In the
 * delivery's transaction: the tenant's enabled endpoints for the event and
 * the ones that already have it (delivery log); then one POST per endpoint
 * with http_call (the host's egress policy: public addresses only, TLS
 * verified) carrying
 *   webhook-id         the outbox event id (the same on every retry)
 *   webhook-timestamp  Unix seconds of this attempt
 *   webhook-signature  "v1," base64(HMAC-SHA256(key, id "." timestamp "." body))
 * where key is the base64 after "whsec_" of the endpoint's secret (stored
 * sealed).  2xx: sent; 410: the endpoint is disabled (not retried); else
 * the delivery fails and the outbox retries with backoff.
 *
 * Endpoints, tenant admins only, with a recent authentication (route
 * option max_auth_age_s = 300) and audited:
 *   POST   /api/v1/notify/webhooks {url, events?} -> 201 {id, url, events, secret}
 *   GET    /api/v1/notify/webhooks               -> 200 {webhooks: [...]} (no secrets)
 *   POST   /api/v1/notify/webhooks/:id/rotate {overlap_s?} -> 200 {id, secret}
 *   DELETE /api/v1/notify/webhooks/:id           -> 204
 * Account events carry reset codes: only order and announcement events go
 * to webhooks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "notify.h"

#define WH_MAX 10
#define WH_SECRET_BYTES 24

typedef struct wh_target {
    char id[40];
    char *url;
    unsigned char key[64], key2[64]; /* key2: the previous secret during an overlap */
    size_t key_len, key2_len;
    notify_row *row;
} wh_target;

typedef struct wh_job {
    notify_ctx *c;
    tn_delivery *d;
    char *tenant;
    char *event;
    int64_t event_id;
    int attempt;
    char *body;
    wh_target t[WH_MAX];
    int nt;
    notify_row rows[WH_MAX];
    int nrows;
    char gone[WH_MAX][40]; /* endpoints that answered 410 */
    int ngone;
    int pending;
    int failed;
} wh_job;

static void wh_free(wh_job *j)
{
    if (j == NULL)
        return;
    for (int i = 0; i < j->nt; i++) {
        sodium_memzero(j->t[i].key, sizeof j->t[i].key);
        sodium_memzero(j->t[i].key2, sizeof j->t[i].key2);
        free(j->t[i].url);
    }
    free(j->body);
    free(j->tenant);
    free(j->event);
    free(j);
}

/* "https://host[:port]/..." -> "https://host[:port]/…" for the log. */
static void mask_url(const char *url, char *out, size_t cap)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t n = strcspn(host, "/?#");
    snprintf(out, cap, "https://%.*s/...", (int)(n < 40 ? n : 40), host);
}

/* ---- the end -------------------------------------------------------------- */

static void own_committed(tn_tx *tx, const tn_db_result *res, void *ud)
{
    wh_job *j = ud;
    (void)tx;
    (void)res;
    j->c->api->delivery_done(j->d, 0, "webhook not delivered to every endpoint");
    wh_free(j);
}

static void own_rows(tn_tx *tx, int ok, void *ud)
{
    wh_job *j = ud;
    if (!ok || j->c->api->tx_commit(tx, own_committed, j) != TN_OK) {
        j->c->api->tx_rollback(tx, NULL, NULL);
        j->c->api->delivery_done(j->d, 0, "webhook not delivered; log not written");
        wh_free(j);
    }
}

static void acked_rows(tn_tx *tx, int ok, void *ud)
{
    wh_job *j = ud;
    (void)tx;
    j->c->api->delivery_done(j->d, ok, ok ? NULL : "delivery log not written");
    wh_free(j);
}

static void disabled(tn_tx *tx, const tn_db_result *res, void *ud)
{
    (void)tx;
    (void)res;
    (void)ud; /* a failure aborts the transaction: the ack fails and it retries */
}

static void wh_finish(wh_job *j)
{
    const tn_api *api = j->c->api;
    tn_tx *tx = j->failed ? NULL : api->delivery_tx(j->d);

    if (j->failed && api->tx_begin(j->c->self, j->tenant, &tx) != TN_OK) {
        api->delivery_done(j->d, 0, "webhook not delivered to every endpoint");
        wh_free(j);
        return;
    }
    for (int i = 0; i < j->ngone; i++) {
        const char *p[1] = {j->gone[i]};
        api->tx_query(tx,
                      "UPDATE notify_webhooks SET enabled = false, disabled_reason = "
                      "'410 Gone from the endpoint', updated_at = now() WHERE id = $1::uuid",
                      1, p, disabled, j);
    }
    if (notify_log_rows(j->c, tx, j->event_id, j->event, "webhook", j->attempt, j->rows, j->nrows,
                        j->failed ? own_rows : acked_rows, j) != TN_OK) {
        if (j->failed)
            api->tx_rollback(tx, NULL, NULL);
        api->delivery_done(j->d, 0, "delivery log not written");
        wh_free(j);
    }
}

/* ---- sending -------------------------------------------------------------- */

typedef struct wh_send {
    wh_job *j;
    int i;
} wh_send;

static void answered(tn_plugin *self, const tn_http_response *res, void *ud)
{
    wh_send *s = ud;
    wh_job *j = s->j;
    wh_target *t = &j->t[s->i];
    notify_row *row = t->row;

    (void)self;
    free(s);
    if (res->result == TN_OK && res->status >= 200 && res->status < 300) {
        row->result = "sent";
        snprintf(row->detail, sizeof row->detail, "HTTP %d", res->status);
        j->c->api->metric_add(j->c->webhook_sent, j->tenant, 1);
    } else if (res->result == TN_OK && res->status == 410) {
        row->result = "refused";
        snprintf(row->detail, sizeof row->detail, "HTTP 410: endpoint disabled");
        memcpy(j->gone[j->ngone++], t->id, sizeof t->id);
    } else {
        row->result = "failed";
        snprintf(row->detail, sizeof row->detail, "%d HTTP %d %.80s", res->result, res->status,
                 res->error ? res->error : "");
        j->failed = 1;
        j->c->api->metric_add(j->c->webhook_failed, j->tenant, 1);
        j->c->api->log(j->c->self, TN_LOG_WARN,
                       "webhook for event %lld attempt %d to %s failed: %s", (long long)j->event_id,
                       j->attempt, row->recipient, row->detail);
    }
    if (--j->pending == 0)
        wh_finish(j);
}

static void post(wh_job *j, int i)
{
    const tn_api *api = j->c->api;
    wh_target *t = &j->t[i];
    char id[24], ts[24], sig[128], sig2[64];
    wh_send *s = calloc(1, sizeof *s);

    snprintf(id, sizeof id, "%lld", (long long)j->event_id);
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    if (s == NULL || notify_webhook_sign(t->key, t->key_len, id, ts, j->body, strlen(j->body), sig,
                                         sizeof sig) != 0) {
        free(s);
        t->row->result = "failed";
        j->failed = 1;
        return;
    }
    if (t->key2_len > 0 && notify_webhook_sign(t->key2, t->key2_len, id, ts, j->body,
                                               strlen(j->body), sig2, sizeof sig2) == 0) {
        size_t n = strlen(sig); /* "v1,new v1,old": either verifies */
        snprintf(sig + n, sizeof sig - n, " %s", sig2);
    }
    *s = (wh_send){.j = j, .i = i};
    tn_http_header h[] = {{"Content-Type", "application/json"},
                          {"webhook-id", id},
                          {"webhook-timestamp", ts},
                          {"webhook-signature", sig}};
    tn_http_request r = {.size = sizeof r,
                         .method = "POST",
                         .url = t->url,
                         .headers = h,
                         .nheaders = 4,
                         .body = j->body,
                         .body_len = strlen(j->body),
                         .timeout_ms = 15000,
                         .max_response = 65536};
    if (api->http_call(j->c->self, NULL, &r, answered, s, NULL) != TN_OK) {
        free(s);
        t->row->result = "failed";
        snprintf(t->row->detail, sizeof t->row->detail, "not started: %.100s",
                 api->last_error(j->c->self));
        j->failed = 1;
        return;
    }
    j->pending++;
}

static void on_sent_before(tn_tx *tx, const tn_db_result *res, void *ud)
{
    wh_job *j = ud;
    const tn_api *api = j->c->api;

    (void)tx;
    if (api->db_status(res) != TN_OK) {
        api->delivery_done(j->d, 0, "delivery log unreadable");
        wh_free(j);
        return;
    }
    j->pending = 1;
    for (int i = 0; i < j->nt; i++) {
        notify_row *row = &j->rows[j->nrows];
        int already = 0;
        memset(row, 0, sizeof *row);
        notify_hash_addr(j->tenant, j->t[i].id, row->hash);
        for (int k = 0; k < api->db_rows(res); k++)
            if (strcmp(api->db_value(res, k, 0), row->hash) == 0)
                already = 1;
        if (already)
            continue;
        mask_url(j->t[i].url, row->recipient, sizeof row->recipient);
        snprintf(row->provider_id, sizeof row->provider_id, "%lld", (long long)j->event_id);
        j->t[i].row = row;
        j->nrows++;
        post(j, i);
    }
    if (--j->pending == 0)
        wh_finish(j);
}

static int open_secret(wh_job *j, const char *sealed, unsigned char *key, size_t *key_len)
{
    const tn_api *api = j->c->api;
    void *plain = NULL;
    size_t len = 0;
    int rc = -1;

    if (api->secret_unseal(j->c->self, j->tenant, sealed, &plain, &len, NULL) != TN_OK)
        return -1;
    if (len > 6 && memcmp(plain, "whsec_", 6) == 0 &&
        sodium_base642bin(key, 64, (const char *)plain + 6, len - 6, NULL, key_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0)
        rc = 0;
    api->free(plain);
    return rc;
}

static void on_targets(tn_tx *tx, const tn_db_result *res, void *ud)
{
    wh_job *j = ud;
    const tn_api *api = j->c->api;
    char id[24];

    if (api->db_status(res) != TN_OK) {
        api->delivery_done(j->d, 0, "endpoints unreadable");
        wh_free(j);
        return;
    }
    for (int r = 0; r < api->db_rows(res) && j->nt < WH_MAX; r++) {
        wh_target *t = &j->t[j->nt];
        snprintf(t->id, sizeof t->id, "%s", api->db_value(res, r, 0));
        const char *prev = api->db_value(res, r, 3);
        if (open_secret(j, api->db_value(res, r, 2), t->key, &t->key_len) != 0) {
            api->log(j->c->self, TN_LOG_ERROR, "webhook %s: secret does not open: %s", t->id,
                     api->last_error(j->c->self));
            continue;
        }
        if (prev != NULL && open_secret(j, prev, t->key2, &t->key2_len) != 0)
            t->key2_len = 0; /* the new secret still signs */
        if ((t->url = strdup(api->db_value(res, r, 1))) != NULL)
            j->nt++;
    }
    if (j->nt == 0) {
        api->delivery_done(j->d, 1, NULL);
        wh_free(j);
        return;
    }
    snprintf(id, sizeof id, "%lld", (long long)j->event_id);
    const char *p[1] = {id};
    if (api->tx_query(tx,
                      "SELECT recipient_hash FROM notify_deliveries WHERE event_id = $1::bigint "
                      "AND channel = 'webhook' AND result = 'sent'",
                      1, p, on_sent_before, j) != TN_OK) {
        api->delivery_done(j->d, 0, "delivery log unreadable");
        wh_free(j);
    }
}

static char *event_body(const tn_event *ev)
{
    json_t *data = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    char *text = NULL;

    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *o = json_pack("{s:s, s:s, s:o}", "type", ev->name, "timestamp", when, "data",
                          data ? data : json_object());
    if (o)
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

tn_status notify_webhook_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    wh_job *j;

    (void)self;
    if (ev->tenant_id == NULL)
        return TN_CONTINUE;
    j = calloc(1, sizeof *j);
    if (j == NULL)
        return TN_ERROR;
    *j = (wh_job){.c = c, .d = d, .event_id = ev->id, .attempt = ev->attempt};
    j->tenant = strdup(ev->tenant_id);
    j->event = strdup(ev->name);
    j->body = event_body(ev);
    const char *p[1] = {ev->name};
    if (!j->tenant || !j->event || !j->body ||
        api->tx_query(
            api->delivery_tx(d),
            "SELECT id, url, secret, CASE WHEN previous_until > now() THEN previous_secret END "
            "FROM notify_webhooks WHERE enabled AND "
            "('*' = ANY (string_to_array(events, ',')) OR "
            "$1 = ANY (string_to_array(events, ','))) ORDER BY created_at LIMIT 10",
            1, p, on_targets, j) != TN_OK) {
        wh_free(j);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}
