/*
 * preview.c - GET /api/v1/notify/preview?event=E&lang=ja|en for tenant
 * admins: the template of an event rendered with sample values, as the
 * e-mail's subject and body (and the LINE text) would read.  Nothing is
 * read from the database and nothing is sent.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"
#include "template.h"

static const tpl_var samples[] = {
    {"order_number", "1001"}, {"buyer_name", "株式会社サンプル商店"}, {"contact_name", "山田 太郎"},
    {"total", "12,345"},      {"delivery_date", "2026-12-24"},        {"status", "placed"},
    {"login", "yamada"},      {"operation", "password_change"},       {"token", "SAMPLE-CODE"},
    {"expires_min", "30"},
};

tn_status notify_preview_route(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    const char *event = api->req_query_param(req, "event");
    const char *lang = api->req_query_param(req, "lang");
    const notify_template *t;
    char *subject = NULL, *body = NULL, *text = NULL;
    json_t *o;

    (void)self;
    if (lang == NULL)
        lang = api->config_str(api->req_config(req, self), "language");
    if (strcmp(lang, "ja") != 0 && strcmp(lang, "en") != 0) {
        api->resp_error(req, 400, "invalid_query", "lang is ja or en");
        return TN_DONE;
    }
    t = event ? tpl_find(event, lang) : NULL;
    if (t == NULL) {
        api->resp_error(req, 404, "not_found", "no template for this event");
        return TN_DONE;
    }
    subject = tpl_render(t->subject, samples, sizeof samples / sizeof samples[0], 0);
    body = tpl_render(t->body, samples, sizeof samples / sizeof samples[0], 1);
    o = subject && body ? json_pack("{s:s, s:s, s:s, s:s}", "event", t->event, "lang", t->lang,
                                    "subject", subject, "body", body)
                        : NULL;
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
        api->resp_json(req, 200, text);
    else
        api->resp_error(req, 500, "internal", "out of memory");
    free(text);
    json_decref(o);
    free(subject);
    free(body);
    return TN_DONE;
}
