/*
 * preview.c - templates of a tenant, for tenant admins:
 *   GET    /api/v1/notify/preview?event=E&lang=ja|en  the tenant's template
 *          of E (its own, else the shipped one) rendered with sample values
 *          -> 200 {event, lang, source: "tenant"|"default", subject, body}
 *   PUT    /api/v1/notify/templates/:event/:lang {subject, body} -> 200
 *   DELETE /api/v1/notify/templates/:event/:lang  (back to the default) -> 204
 * Writes want an authentication no older than 300 s and are audited
 * (notify.template_set, notify.template_reset).  Only events with a shipped
 * template take one; subjects are one line, bodies use LF; both valid
 * UTF-8 without other controls.  Rendering escapes as for the defaults.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mail.h"
#include "notify.h"
#include "template.h"

static const tpl_var samples[] = {
    {"order_number", "1001"},
    {"buyer_name", "株式会社サンプル商店"},
    {"contact_name", "山田 太郎"},
    {"total", "12,345"},
    {"delivery_date", "2026-12-24"},
    {"status", "placed"},
    {"login", "yamada"},
    {"operation", "password_change"},
    {"token", "SAMPLE-CODE"},
    {"expires_min", "30"},
    {"blocked", "12"},
    {"detected", "0"},
    {"interval_s", "60"},
    {"other_rule_hits", "0"},
    {"window_start", "2026-12-06 07:00:00"},
    {"window_end", "2026-12-06 07:01:00"},
    {"rules", "942100 (sqli): 9\n941100 (xss): 3"},
    {"families", "sqli: 9\nxss: 3"},
};

int notify_override_query(notify_ctx *c, tn_tx *tx, const char *event, const char *lang,
                          tn_tx_fn fn, void *ud)
{
    const char *p[2] = {event, lang};
    return c->api->tx_query(tx,
                            "SELECT subject, body FROM notify_templates WHERE event = $1 AND "
                            "lang = $2",
                            2, p, fn, ud);
}

typedef struct tpl_op {
    notify_ctx *c;
    char event[130], lang[3], target[140];
    char *answer;
    const char *sample_lang;
} tpl_op;

static void op_free(tpl_op *o)
{
    if (o) {
        free(o->answer);
        free(o);
    }
}

static void render_answer(tn_request *req, notify_ctx *c, const char *event, const char *lang,
                          const char *source, const char *subject_t, const char *body_t)
{
    const tn_api *api = c->api;
    size_t n = sizeof samples / sizeof samples[0];
    char *subject = tpl_render(subject_t, samples, n, 0);
    char *body = tpl_render(body_t, samples, n, 1);
    json_t *o = subject && body
                    ? json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", event, "lang", lang, "source",
                                source, "subject", subject, "body", body)
                    : NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

    if (text)
        api->resp_json(req, 200, text);
    else
        api->resp_error(req, 500, "internal", "out of memory");
    free(text);
    json_decref(o);
    free(subject);
    free(body);
}

static void previewed(tn_request *req, const tn_db_result *res, void *ud)
{
    tpl_op *o = ud;
    const tn_api *api = o->c->api;
    const notify_template *t = tpl_find(o->event, o->lang);

    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    else if (api->db_rows(res) == 1)
        render_answer(req, o->c, o->event, o->lang, "tenant", api->db_value(res, 0, 0),
                      api->db_value(res, 0, 1));
    else
        render_answer(req, o->c, o->event, t->lang, "default", t->subject, t->body);
    op_free(o);
    api->req_resume(req, TN_DONE);
}

/* The event and language of a request (query or path); 0, or -1 answered. */
static int target(tn_request *req, const tn_api *api, const char *event, const char *lang,
                  tpl_op *o)
{
    if (strcmp(lang, "ja") != 0 && strcmp(lang, "en") != 0) {
        api->resp_error(req, 400, "invalid_query", "lang is ja or en");
        return -1;
    }
    const notify_template *t = event && strlen(event) < sizeof o->event ? tpl_find(event, lang)
                                                                        : NULL;
    if (t == NULL || strcmp(t->event, event) != 0) {
        api->resp_error(req, 404, "not_found", "no template for this event");
        return -1;
    }
    snprintf(o->event, sizeof o->event, "%s", event);
    snprintf(o->lang, sizeof o->lang, "%s", lang);
    snprintf(o->target, sizeof o->target, "%s/%s", event, lang);
    return 0;
}

tn_status notify_preview_route(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    const char *lang = api->req_query_param(req, "lang");
    tpl_op *o = calloc(1, sizeof *o);

    if (o == NULL) {
        api->resp_error(req, 500, "internal", "out of memory");
        return TN_DONE;
    }
    o->c = c;
    if (lang == NULL)
        lang = api->config_str(api->req_config(req, self), "language");
    if (target(req, api, api->req_query_param(req, "event"), lang, o) != 0) {
        op_free(o);
        return TN_DONE;
    }
    const char *p[2] = {o->event, o->lang};
    if (api->db_query(req,
                      "SELECT subject, body FROM notify_templates WHERE event = $1 AND "
                      "lang = $2",
                      2, p, previewed, o) != TN_OK) {
        op_free(o);
        api->resp_error(req, 500, "internal", "query refused");
        return TN_DONE;
    }
    return TN_SUSPEND;
}

static void committed(tn_request *req, const tn_db_result *res, void *ud)
{
    tpl_op *o = ud;
    const tn_api *api = o->c->api;

    if (res != NULL && api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    else if (o->answer)
        api->resp_json(req, 200, o->answer);
    else
        api->resp_status(req, 204);
    op_free(o);
    api->req_resume(req, TN_DONE);
}

static void written(tn_request *req, const tn_db_result *res, void *ud)
{
    tpl_op *o = ud;
    const tn_api *api = o->c->api;
    int set = o->answer != NULL;

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        if (api->db_status(res) != TN_OK)
            api->resp_db_error(req, res);
        else
            api->resp_error(req, 404, "not_found", "the event has no template of its own");
        op_free(o);
        if (api->db_rollback(req, NULL, NULL) != TN_OK) {
            /* the request's end rolls back */
        }
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_audit(req, set ? "notify.template_set" : "notify.template_reset", "template",
                      o->target, "ok") != TN_OK ||
        api->db_commit(req, committed, o) != TN_OK) {
        api->resp_error(req, 500, "internal", "not stored");
        op_free(o);
        api->req_resume(req, TN_DONE);
    }
}

/* 1: text is valid UTF-8 without controls (LF allowed when multi_line). */
static int text_ok(const char *text, size_t max, int multi_line)
{
    char *clean;
    int ok;

    if (text == NULL || text[0] == '\0' || strlen(text) > max)
        return 0;
    clean = mail_clean_text(text, multi_line);
    ok = clean != NULL && strcmp(clean, text) == 0 && (multi_line || !strchr(text, '\t'));
    free(clean);
    return ok;
}

static tn_status put_template(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    size_t len = 0;
    const char *raw = api->req_body(req, &len);
    json_t *in = memchr(raw, 0, len) ? NULL : json_loadb(raw, len, 0, NULL);
    const char *subject = json_string_value(json_object_get(in, "subject"));
    const char *body = json_string_value(json_object_get(in, "body"));
    tpl_op *o = calloc(1, sizeof *o);

    (void)self;
    if (o == NULL || !json_is_object(in)) {
        api->resp_error(req, o ? 400 : 500, o ? "invalid_json" : "internal",
                        o ? "a JSON object is expected" : "out of memory");
        goto done;
    }
    o->c = c;
    if (target(req, api, api->req_param(req, "event"), api->req_param(req, "lang"), o) != 0)
        goto done;
    if (!text_ok(subject, 200, 0) || !text_ok(body, 5000, 1)) {
        json_t *f = json_object();
        if (!text_ok(subject, 200, 0))
            json_object_set_new(f, "subject", json_string("1 to 200 bytes, one line"));
        if (!text_ok(body, 5000, 1))
            json_object_set_new(f, "body", json_string("1 to 5000 bytes, LF line ends"));
        json_t *e = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "invalid_input", "message",
                              "the template is not valid", "fields", f);
        char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;
        api->resp_json(req, 400, t ? t : "{\"error\":{\"code\":\"invalid_input\"}}");
        free(t);
        json_decref(e);
        goto done;
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "event", o->event, "lang", o->lang, "subject",
                            subject, "body", body);
    o->answer = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    const char *p[4] = {o->event, o->lang, subject, body};
    if (o->answer == NULL ||
        api->db_query(req,
                      "INSERT INTO notify_templates (tenant_id, event, lang, subject, body) "
                      "VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4) "
                      "ON CONFLICT (tenant_id, event, lang) DO UPDATE SET subject = "
                      "EXCLUDED.subject, body = EXCLUDED.body, updated_at = now() RETURNING 1",
                      4, p, written, o) != TN_OK) {
        api->resp_error(req, 500, "internal", "not stored");
        goto done;
    }
    json_decref(in);
    return TN_SUSPEND;
done:
    op_free(o);
    json_decref(in);
    return TN_DONE;
}

static tn_status delete_template(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    tpl_op *o = calloc(1, sizeof *o);

    (void)self;
    if (o == NULL) {
        api->resp_error(req, 500, "internal", "out of memory");
        return TN_DONE;
    }
    o->c = c;
    if (target(req, api, api->req_param(req, "event"), api->req_param(req, "lang"), o) != 0) {
        op_free(o);
        return TN_DONE;
    }
    const char *p[2] = {o->event, o->lang};
    if (api->db_query(req,
                      "DELETE FROM notify_templates WHERE event = $1 AND lang = $2 "
                      "RETURNING 1",
                      2, p, written, o) != TN_OK) {
        op_free(o);
        api->resp_error(req, 500, "internal", "query refused");
        return TN_DONE;
    }
    return TN_SUSPEND;
}

int notify_template_routes(notify_ctx *c)
{
    static const tn_route_opts reauth = {.size = sizeof(tn_route_opts), .max_auth_age_s = 300};
    const tn_api *api = c->api;
    int rc = api->route_add(c->self, "GET", "/api/v1/notify/preview", TN_ACCESS_ROLES,
                            "tenant_admin", notify_preview_route, c);
    if (rc == TN_OK)
        rc = api->route_add_opts(c->self, "PUT", "/api/v1/notify/templates/:event/:lang",
                                 TN_ACCESS_ROLES, "tenant_admin", put_template, c, &reauth);
    if (rc == TN_OK)
        rc = api->route_add_opts(c->self, "DELETE", "/api/v1/notify/templates/:event/:lang",
                                 TN_ACCESS_ROLES, "tenant_admin", delete_template, c, &reauth);
    return rc;
}
