/*
 * notify.h - the notifications plugin's shared state and parts:
 *   notify.c     descriptor, settings, init: durable subscriptions
 *   email.c      one event -> recipients from the database -> messages
 *                sent with curl_run (SMTP, STARTTLS), delivery log rows
 *   webhook.c    Standard Webhooks deliveries; webhook_api.c their endpoints
 *   line.c       LINE pushes with retry keys
 *   log.c        the delivery log: rows, and GET /api/v1/notify/deliveries
 *   mail.c       the message builder (pure), template.c the templates,
 *   keys.c       hashes, signatures and retry keys (pure)
 *   waf_alert.c  the waf.alert summary for the security contacts (pure)
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <tanomu/tanomu.h>

#include "keys.h"

#define NOTIFY_MAX_RCPT 10 /* recipients of one event per channel */
/* One buyer's share of an announcement (announce.c fans out, email.c sends). */
#define NOTIFY_ANNOUNCE_MAIL "notify.announcement_mail"

/* announcement.published -> one NOTIFY_ANNOUNCE_MAIL per buyer (announce.c). */
tn_status notify_announce_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud);

typedef struct notify_ctx {
    const tn_api *api;
    tn_plugin *self;
    tn_metric *mail_sent, *mail_failed, *mail_refused;
    tn_metric *webhook_sent, *webhook_failed, *line_sent, *line_failed;
} notify_ctx;

/* One delivery log row, kept until the attempt's rows are written. */
typedef struct notify_row {
    char recipient[64]; /* masked */
    char hash[65];      /* hex SHA-256 of tenant and address */
    const char *result; /* "sent", "failed", "refused" */
    char provider_id[128];
    char detail[128];
} notify_row;

/* Whether the comma-separated list holds name exactly. */
int notify_list_has(const char *list, const char *name);

/* The durable subscriber of the e-mail channel (every event it knows). */
tn_status notify_email_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud);

/* Inserts rows (event, channel, attempt) into notify_deliveries in tx;
 * done(tx, ok, ud) after the last (ok 0 when a statement failed). */
typedef void (*notify_rows_fn)(tn_tx *tx, int ok, void *ud);
int notify_log_rows(notify_ctx *c, tn_tx *tx, int64_t event_id, const char *event,
                    const char *channel, int attempt, const notify_row *rows, int nrows,
                    notify_rows_fn done, void *ud);

/* 1: s is a UUID in its text form. */
int notify_uuid_ok(const char *s);

/* The webhook channel (webhook.c): its durable subscriber and the events it
 * carries. */
tn_status notify_webhook_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud);
int notify_webhook_event_known(const char *name);
/* POST/GET/DELETE /api/v1/notify/webhooks (webhook_api.c). */
int notify_webhook_routes(notify_ctx *c);

/* LINE push (line.c). */
tn_status notify_line_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud);

/* The tenant's own template of event in lang: SELECT subject, body (0 or
 * 1 row) in tx, answered to fn (preview.c). */
int notify_override_query(notify_ctx *c, tn_tx *tx, const char *event, const char *lang,
                          tn_tx_fn fn, void *ud);

/* GET /api/v1/notify/preview, PUT/DELETE /api/v1/notify/templates/:event/:lang
 * (tenant admins; preview.c). */
tn_status notify_preview_route(tn_plugin *self, tn_request *req, void *ud);
int notify_template_routes(notify_ctx *c);

/* GET /api/v1/notify/deliveries (tenant admins). */
tn_status notify_deliveries_route(tn_plugin *self, tn_request *req, void *ud);

#endif
