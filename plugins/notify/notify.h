/*
 * notify.h - the notifications plugin's shared state and parts:
 *   notify.c     descriptor, settings, init: durable subscriptions
 *   email.c      one event -> recipients from the database -> messages
 *                sent with curl_run (SMTP, STARTTLS), delivery log rows
 *   log.c        the delivery log: rows, and GET /api/v1/notify/deliveries
 *   mail.c       the message builder (pure), template.c the templates
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <tanomu/tanomu.h>

#define NOTIFY_MAX_RCPT 10 /* recipients of one event per channel */

typedef struct notify_ctx {
    const tn_api *api;
    tn_plugin *self;
    tn_metric *mail_sent, *mail_failed, *mail_refused;
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

/* Hex SHA-256 of "tenant\naddress-in-lower-case" into out[65]. */
void notify_hash_addr(const char *tenant, const char *addr, char out[65]);

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

/* The webhook channel (webhook.c): its durable subscriber, the events it
 * carries, and the Standard Webhooks signature "v1,<base64>" of
 * id.ts.body under key (out: at least 48 bytes); 0 or -1. */
tn_status notify_webhook_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud);
int notify_webhook_event_known(const char *name);
int notify_webhook_sign(const unsigned char *key, size_t key_len, const char *id, const char *ts,
                        const char *body, size_t body_len, char *out, size_t cap);
/* POST/GET/DELETE /api/v1/notify/webhooks (webhook_api.c). */
int notify_webhook_routes(notify_ctx *c);

/* LINE push (line.c): the subscriber, the user ID rule (U + 32 hex)
 * and the retry key of (tenant, event, user) as a UUID text (37 bytes). */
tn_status notify_line_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud);
int notify_line_user_ok(const char *s);
void notify_line_retry_key(const char *tenant, int64_t event_id, const char *user, char out[37]);

/* GET /api/v1/notify/deliveries (tenant admins). */
tn_status notify_deliveries_route(tn_plugin *self, tn_request *req, void *ud);

#endif
