/*
 * webhook_api.c - tenant admins manage webhook endpoints (see webhook.c):
 * important settings, so every route wants an authentication no older
 * than 300 s (the host answers 401 reauth_required) and each change is
 * audited in its transaction.  The signing secret is made here
 * (whsec_ + base64 of 24 random bytes), shown once in the answer (201, or
 * 200 for a rotation, which keeps the previous secret signing for an
 * overlap) and stored sealed (secret_seal, bound to the tenant and the
 * plugin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "notify.h"

#define WH_DEFAULT_EVENTS "order.placed,order.accepted,order.shipped,order.cancelled"

typedef struct wh_req {
    notify_ctx *c;
    char id[40];
    char *answer; /* the body of the answer */
    int status;   /* 201 created, 200 rotated */
} wh_req;

static const tn_route_opts reauth = {.size = sizeof(tn_route_opts), .max_auth_age_s = 300};

static int url_ok(const char *u)
{
    size_t n = strlen(u);
    if (n < 9 || n > 2000 || strncmp(u, "https://", 8) != 0 || u[8] == '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7F)
            return 0;
    return 1;
}

static int events_ok(const char *list)
{
    char buf[1001];
    if (strlen(list) == 0 || strlen(list) > 1000)
        return 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!notify_webhook_event_known(t))
            return 0;
    return 1;
}

static void finish_req(tn_request *req, wh_req *w)
{
    if (w->answer) /* it holds a secret */
        sodium_memzero(w->answer, strlen(w->answer));
    free(w->answer);
    free(w);
    (void)req;
}

static void committed(tn_request *req, const tn_db_result *res, void *ud)
{
    wh_req *w = ud;
    const tn_api *api = w->c->api;

    if (res != NULL && api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    else if (w->answer)
        api->resp_json(req, w->status ? w->status : 201, w->answer);
    else
        api->resp_status(req, 204);
    if (w->answer)
        sodium_memzero(w->answer, strlen(w->answer));
    finish_req(req, w);
    api->req_resume(req, TN_DONE);
}

static void fail(tn_request *req, wh_req *w, const tn_db_result *res, int status, const char *code,
                 const char *msg)
{
    const tn_api *api = w->c->api;
    if (res)
        api->resp_db_error(req, res);
    else
        api->resp_error(req, status, code, msg);
    if (w->answer)
        sodium_memzero(w->answer, strlen(w->answer));
    finish_req(req, w);
    if (api->db_rollback(req, NULL, NULL) != TN_OK) {
        /* nothing begun or already ending: the request's end rolls back */
    }
    api->req_resume(req, TN_DONE);
}

/* whsec_ + base64 of 24 random bytes into out[64]. */
static void make_secret(char out[64])
{
    unsigned char raw[24];

    randombytes_buf(raw, sizeof raw);
    memcpy(out, "whsec_", 6);
    sodium_bin2base64(out + 6, 64 - 6, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(raw, sizeof raw);
}

/* ---- POST ------------------------------------------------------------------ */

static void created(tn_request *req, const tn_db_result *res, void *ud)
{
    wh_req *w = ud;
    const tn_api *api = w->c->api;

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        fail(req, w, api->db_status(res) != TN_OK ? res : NULL, 500, "internal", "not stored");
        return;
    }
    snprintf(w->id, sizeof w->id, "%s", api->db_value(res, 0, 0));
    json_t *o = json_loads(w->answer, 0, NULL);
    json_object_set_new(o, "id", json_string(w->id));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    sodium_memzero(w->answer, strlen(w->answer));
    free(w->answer);
    w->answer = text;
    if (text == NULL ||
        api->db_audit(req, "notify.webhook_create", "webhook", w->id, "ok") != TN_OK ||
        api->db_commit(req, committed, w) != TN_OK)
        fail(req, w, NULL, 500, "internal", "not stored");
}

static tn_status post_webhook(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    size_t len = 0;
    const char *body = api->req_body(req, &len);
    json_error_t jerr;
    json_t *in = memchr(body, 0, len) ? NULL : json_loadb(body, len, 0, &jerr);
    const char *url = json_string_value(json_object_get(in, "url"));
    json_t *ev = json_object_get(in, "events");
    const char *events = ev ? json_string_value(ev) : WH_DEFAULT_EVENTS;
    char secret[64], *sealed = NULL;
    wh_req *w = NULL;

    if (!json_is_object(in)) {
        api->resp_error(req, 400, "invalid_json", "a JSON object is expected");
        json_decref(in);
        return TN_DONE;
    }
    if (url == NULL || !url_ok(url) || events == NULL || !events_ok(events)) {
        json_t *f = json_object();
        if (url == NULL || !url_ok(url))
            json_object_set_new(f, "url", json_string("an https:// URL of printable ASCII"));
        if (events == NULL || !events_ok(events))
            json_object_set_new(f, "events",
                                json_string("order and announcement events, "
                                            "comma-separated, or *"));
        json_t *e = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "invalid_input", "message",
                              "the endpoint is not valid", "fields", f);
        char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;
        api->resp_json(req, 400, t ? t : "{\"error\":{\"code\":\"invalid_input\"}}");
        free(t);
        json_decref(e);
        json_decref(in);
        return TN_DONE;
    }
    make_secret(secret);
    w = calloc(1, sizeof *w);
    json_t *out = json_pack("{s:s, s:s, s:s}", "url", url, "events", events, "secret", secret);
    if (w)
        w->c = c;
    if (w && out)
        w->answer = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (w == NULL || w->answer == NULL ||
        api->secret_seal(self, api->req_tenant(req), secret, strlen(secret), &sealed) != TN_OK) {
        sodium_memzero(secret, sizeof secret);
        api->resp_error(req, 500, "internal", "the secret could not be sealed");
        if (w)
            finish_req(req, w);
        json_decref(in);
        return TN_DONE;
    }
    sodium_memzero(secret, sizeof secret);
    const char *p[3] = {url, sealed, events};
    int rc = api->db_query(req,
                           "INSERT INTO notify_webhooks (tenant_id, url, secret, events) VALUES "
                           "(current_setting('app.tenant_id'), $1, $2, $3) RETURNING id",
                           3, p, created, w);
    api->free(sealed);
    json_decref(in);
    if (rc != TN_OK) {
        api->resp_error(req, 500, "internal", "not stored");
        finish_req(req, w);
        return TN_DONE;
    }
    return TN_SUSPEND;
}

/* ---- GET -------------------------------------------------------------------- */

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    json_t *arr = json_array();
    char *text = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else {
        for (int r = 0; arr && r < api->db_rows(res); r++) {
            const char *reason = api->db_value(res, r, 4);
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:b, s:o}", "id", api->db_value(res, r, 0), "url",
                               api->db_value(res, r, 1), "events", api->db_value(res, r, 2),
                               "enabled", strcmp(api->db_value(res, r, 3), "t") == 0,
                               "disabled_reason", reason ? json_string(reason) : json_null()));
        }
        json_t *o = json_pack("{s:O}", "webhooks", arr);
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (text)
            api->resp_json(req, 200, text);
        else
            api->resp_error(req, 500, "internal", "out of memory");
    }
    free(text);
    json_decref(arr);
    api->req_resume(req, TN_DONE);
}

static tn_status get_webhooks(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    (void)self;
    if (c->api->db_query(req,
                         "SELECT id, url, events, enabled, disabled_reason FROM notify_webhooks "
                         "ORDER BY created_at, id LIMIT 100",
                         0, NULL, listed, c) != TN_OK) {
        c->api->resp_error(req, 500, "internal", "query refused");
        return TN_DONE;
    }
    return TN_SUSPEND;
}

/* ---- DELETE ----------------------------------------------------------------- */

static void deleted(tn_request *req, const tn_db_result *res, void *ud)
{
    wh_req *w = ud;
    const tn_api *api = w->c->api;

    if (api->db_status(res) != TN_OK) {
        fail(req, w, res, 0, NULL, NULL);
        return;
    }
    if (api->db_rows(res) != 1) {
        fail(req, w, NULL, 404, "not_found", "no such webhook");
        return;
    }
    if (api->db_audit(req, "notify.webhook_delete", "webhook", w->id, "ok") != TN_OK ||
        api->db_commit(req, committed, w) != TN_OK)
        fail(req, w, NULL, 500, "internal", "not deleted");
}

static tn_status delete_webhook(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    const char *id = api->req_param(req, "id");
    wh_req *w;

    (void)self;
    if (id == NULL || !notify_uuid_ok(id)) {
        api->resp_error(req, 404, "not_found", "no such webhook");
        return TN_DONE;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        api->resp_error(req, 500, "internal", "out of memory");
        return TN_DONE;
    }
    w->c = c;
    snprintf(w->id, sizeof w->id, "%s", id);
    const char *p[1] = {id};
    if (api->db_query(req, "DELETE FROM notify_webhooks WHERE id = $1::uuid RETURNING id", 1, p,
                      deleted, w) != TN_OK) {
        free(w);
        api->resp_error(req, 500, "internal", "query refused");
        return TN_DONE;
    }
    return TN_SUSPEND;
}

/* ---- POST /:id/rotate -------------------------------------------------------- */

static void rotated(tn_request *req, const tn_db_result *res, void *ud)
{
    wh_req *w = ud;
    const tn_api *api = w->c->api;

    if (api->db_status(res) != TN_OK) {
        fail(req, w, res, 0, NULL, NULL);
        return;
    }
    if (api->db_rows(res) != 1) {
        fail(req, w, NULL, 404, "not_found", "no such webhook");
        return;
    }
    if (api->db_audit(req, "notify.webhook_rotate", "webhook", w->id, "ok") != TN_OK ||
        api->db_commit(req, committed, w) != TN_OK)
        fail(req, w, NULL, 500, "internal", "not rotated");
}

/* The new secret signs at once; the previous one signs too (a second v1
 * signature) for overlap_s seconds (default a day, 0..7 days). */
static tn_status rotate_webhook(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    const char *id = api->req_param(req, "id");
    size_t len = 0;
    const char *body = api->req_body(req, &len);
    json_t *in = len == 0               ? json_object()
                 : memchr(body, 0, len) ? NULL
                                        : json_loadb(body, len, 0, NULL);
    json_t *ov = json_object_get(in, "overlap_s");
    json_int_t overlap = ov ? json_integer_value(ov) : 86400;
    char secret[64], secs[24], *sealed = NULL;
    wh_req *w = NULL;
    int rc;

    if (id == NULL || !notify_uuid_ok(id)) {
        json_decref(in);
        api->resp_error(req, 404, "not_found", "no such webhook");
        return TN_DONE;
    }
    if (!json_is_object(in) || (ov && !json_is_integer(ov)) || overlap < 0 || overlap > 604800) {
        json_decref(in);
        api->resp_error(req, 400, "invalid_input", "overlap_s is 0..604800 seconds");
        return TN_DONE;
    }
    json_decref(in);
    make_secret(secret);
    w = calloc(1, sizeof *w);
    json_t *out = json_pack("{s:s, s:s}", "id", id, "secret", secret);
    if (w) {
        w->c = c;
        w->status = 200;
        snprintf(w->id, sizeof w->id, "%s", id);
        w->answer = out ? json_dumps(out, JSON_COMPACT) : NULL;
    }
    json_decref(out);
    rc = w && w->answer
             ? api->secret_seal(self, api->req_tenant(req), secret, strlen(secret), &sealed)
             : TN_ENOMEM;
    sodium_memzero(secret, sizeof secret);
    if (rc != TN_OK) {
        api->resp_error(req, 500, "internal", "the secret could not be sealed");
        if (w)
            finish_req(req, w);
        return TN_DONE;
    }
    snprintf(secs, sizeof secs, "%lld", (long long)overlap);
    const char *p[3] = {id, sealed, secs};
    rc = api->db_query(req,
                       "UPDATE notify_webhooks SET previous_secret = secret, previous_until = "
                       "now() + make_interval(secs => $3::int), secret = $2, updated_at = now() "
                       "WHERE id = $1::uuid RETURNING id",
                       3, p, rotated, w);
    api->free(sealed);
    if (rc != TN_OK) {
        api->resp_error(req, 500, "internal", "query refused");
        finish_req(req, w);
        return TN_DONE;
    }
    return TN_SUSPEND;
}

int notify_webhook_routes(notify_ctx *c)
{
    const tn_api *api = c->api;
    int rc = api->route_add_opts(c->self, "POST", "/api/v1/notify/webhooks", TN_ACCESS_ROLES,
                                 "tenant_admin", post_webhook, c, &reauth);
    if (rc == TN_OK)
        rc = api->route_add_opts(c->self, "GET", "/api/v1/notify/webhooks", TN_ACCESS_ROLES,
                                 "tenant_admin", get_webhooks, c, &reauth);
    if (rc == TN_OK)
        rc = api->route_add_opts(c->self, "POST", "/api/v1/notify/webhooks/:id/rotate",
                                 TN_ACCESS_ROLES, "tenant_admin", rotate_webhook, c, &reauth);
    if (rc == TN_OK)
        rc = api->route_add_opts(c->self, "DELETE", "/api/v1/notify/webhooks/:id", TN_ACCESS_ROLES,
                                 "tenant_admin", delete_webhook, c, &reauth);
    return rc;
}
