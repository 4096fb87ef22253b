/*
 * notify.c - the notifications plugin (issue 11; docs/notify.md):
 * descriptor, per-tenant settings and init.  Every event the plugin
 * knows is a durable subscription: a delivery that fails is retried by
 * the outbox, and what went out is in the delivery log.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "mail.h"
#include "notify.h"

#define NOTIFY_VERSION "0.1.0"
#define MAIL_EVENTS                                                                                \
    "order.placed,order.accepted,order.shipped,order.cancelled,security.important_operation,"      \
    "auth.password_reset_requested,auth.user_invited,auth.account_locked,auth.email_changed,"      \
    "announcement.published,waf.alert"

static notify_ctx notify_state; /* this worker's; the ud of every callback */

static const char *const events[] = {"order.placed",
                                     "order.accepted",
                                     "order.shipped",
                                     "order.cancelled",
                                     "security.important_operation",
                                     "auth.password_reset_requested",
                                     "auth.user_invited",
                                     "auth.account_locked",
                                     "auth.email_changed",
                                     NOTIFY_ANNOUNCE_MAIL,
                                     "waf.alert",
                                     NULL};

/* Events that go to webhooks: never account events (they carry reset
 * codes and addresses). */
static const char *const webhook_events[] = {"order.placed",           "order.accepted",
                                             "order.shipped",          "order.cancelled",
                                             "announcement.published", NULL};

int notify_webhook_event_known(const char *name)
{
    if (strcmp(name, "*") == 0)
        return 1;
    for (int i = 0; webhook_events[i]; i++)
        if (strcmp(webhook_events[i], name) == 0)
            return 1;
    return 0;
}

int notify_uuid_ok(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdefABCDEF", s[i])) {
            return 0;
        }
    }
    return 1;
}

static const tn_config_key keys[] = {
    {.name = "language",
     .type = TN_TYPE_STRING,
     .default_value = "ja",
     .min = 2,
     .max = 2,
     .description = "Language of the messages: ja or en."},
    {.name = "mail_events",
     .type = TN_TYPE_STRING,
     .default_value = MAIL_EVENTS,
     .min = 0,
     .max = 2000,
     .description = "Comma-separated events sent by e-mail (empty: none)."},
    {.name = "smtp_url",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 255,
     .description = "SMTP submission server, smtp://host:587/ehlo-domain (STARTTLS is "
                    "required) or smtps://host:465/ehlo-domain; empty: no e-mail."},
    {.name = "smtp_user",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 255,
     .description = "SMTP AUTH user name (empty: no AUTH)."},
    {.name = "smtp_password",
     .type = TN_TYPE_STRING,
     .flags = TN_KEY_SECRET,
     .default_value = "",
     .min = 0,
     .max = 255,
     .description = "SMTP AUTH password; write it sealed (tanomu secret seal)."},
    {.name = "mail_from",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 254,
     .description = "Our sender address (a plain addr-spec)."},
    {.name = "mail_from_name",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 200,
     .description = "Display name of the sender (UTF-8)."},
    {.name = "smtp_timeout_ms",
     .type = TN_TYPE_INT,
     .default_value = "15000",
     .min = 1000,
     .max = 25000,
     .description = "Time allowed for one message (the delivery has 30 s)."},
    {.name = "line_channel_token",
     .type = TN_TYPE_STRING,
     .flags = TN_KEY_SECRET,
     .default_value = "",
     .min = 0,
     .max = 500,
     .description = "LINE Messaging API channel access token, sealed; empty: no LINE."},
    {.name = "line_events",
     .type = TN_TYPE_STRING,
     .default_value = "order.placed,order.accepted,order.shipped,order.cancelled",
     .min = 0,
     .max = 2000,
     .description = "Comma-separated order events pushed by LINE."},
    {.name = "line_api_base",
     .type = TN_TYPE_STRING,
     .default_value = "https://api.line.me",
     .min = 9,
     .max = 255,
     .description = "Messaging API base URL (tests: a local peer)."},
    {.name = NULL},
};

static int check(const tn_api *api, const tn_config *cfg, tn_check *chk)
{
    const char *lang = api->config_str(cfg, "language");
    const char *url = api->config_str(cfg, "smtp_url");
    const char *from = api->config_str(cfg, "mail_from");
    int bad = 0;

    if (strcmp(lang, "ja") != 0 && strcmp(lang, "en") != 0) {
        api->check_error(chk, "language", "must be ja or en");
        bad = 1;
    }
    if (url[0] != '\0' && strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
        api->check_error(chk, "smtp_url", "must start with smtp:// or smtps://");
        bad = 1;
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7F) {
            api->check_error(chk, "smtp_url", "must not hold spaces or controls");
            bad = 1;
            break;
        }
    const char *base = api->config_str(cfg, "line_api_base");
    if (strncmp(base, "https://", 8) != 0 || base[strlen(base) - 1] == '/' ||
        strpbrk(base, " \t\r\n?#") != NULL) {
        api->check_error(chk, "line_api_base", "must be https://host[:port] without a trailing /");
        bad = 1;
    }
    if (url[0] != '\0' && !mail_addr_ok(from)) {
        api->check_error(chk, "mail_from", "must be a plain address (name@example.jp)");
        bad = 1;
    }
    return bad;
}

int notify_list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;

    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

static int init(tn_plugin *self, const tn_api *api)
{
    notify_ctx *c = &notify_state;
    int rc;

    if (sodium_init() < 0)
        return TN_EINVAL;
    memset(c, 0, sizeof *c);
    c->api = api;
    c->self = self;
    c->mail_sent = api->metric_counter(self, "email_sent_total", "E-mail messages accepted.");
    c->mail_failed = api->metric_counter(self, "email_failed_total",
                                         "E-mail sends that failed (retried).");
    c->mail_refused = api->metric_counter(self, "email_refused_total",
                                          "Recipients refused before sending (bad address).");
    c->webhook_sent = api->metric_counter(self, "webhook_sent_total", "Webhooks answered 2xx.");
    c->webhook_failed = api->metric_counter(self, "webhook_failed_total",
                                            "Webhook calls that failed (retried).");
    c->line_sent = api->metric_counter(self, "line_sent_total", "LINE pushes accepted (2xx, 409).");
    c->line_failed = api->metric_counter(self, "line_failed_total",
                                         "LINE pushes that failed (retried).");
    for (int i = 0; events[i]; i++) {
        rc = api->event_subscribe_durable(self, events[i], notify_email_event, c);
        if (rc != TN_OK)
            return rc;
    }
    for (int i = 0; webhook_events[i]; i++) {
        rc = api->event_subscribe_durable(self, webhook_events[i], notify_webhook_event, c);
        if (rc != TN_OK)
            return rc;
    }
    for (int i = 0; i < 4; i++) { /* the order events */
        rc = api->event_subscribe_durable(self, webhook_events[i], notify_line_event, c);
        if (rc != TN_OK)
            return rc;
    }
    rc = api->event_subscribe_durable(self, "announcement.published", notify_announce_event, c);
    if (rc != TN_OK)
        return rc;
    rc = notify_webhook_routes(c);
    if (rc == TN_OK)
        rc = notify_template_routes(c);
    if (rc != TN_OK)
        return rc;
    return api->route_add(self, "GET", "/api/v1/notify/deliveries", TN_ACCESS_ROLES, "tenant_admin",
                          notify_deliveries_route, c);
}

static const tn_plugin_desc notify_desc = {
    .size = sizeof notify_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "notify",
    .version = NOTIFY_VERSION,
    .description = "Notifications from durable events: e-mail (SMTP, STARTTLS), Standard "
                   "Webhooks, LINE push, a delivery log.",
    .settings = keys,
    .check = check,
    .init = init,
    .schema_needs = "0003_notify_templates",
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &notify_desc;
}
