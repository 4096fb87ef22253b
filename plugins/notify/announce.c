/*
 * announce.c - an announcement by e-mail: announcement.published (orders
 * plugin, payload "id") fans out, in the delivery's own transaction, into
 * one durable notify.announcement_mail event per active buyer the
 * announcement addresses (audience "all" or "buyers") with contacts, up to
 * NOTIFY_ANNOUNCE_MAX.  The fan-out commits with the acknowledgement, so
 * it happens once; each buyer's event is then sent (email.c) and retried
 * on its own, so one unreachable buyer does not resend to the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"

#define NOTIFY_ANNOUNCE_MAX 5000

typedef struct announce_job {
    notify_ctx *c;
    tn_delivery *d;
    char id[40];
} announce_job;

static void buyers_read(tn_tx *tx, const tn_db_result *res, void *ud)
{
    announce_job *j = ud;
    const tn_api *api = j->c->api;
    int ok = api->db_status(res) == TN_OK;

    for (int r = 0; ok && r < api->db_rows(res); r++) {
        json_t *p = json_pack("{s:s, s:s}", "announcement_id", j->id, "buyer_id",
                              api->db_value(res, r, 0));
        char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
        ok = text != NULL && api->tx_publish(tx, NOTIFY_ANNOUNCE_MAIL, text) == TN_OK;
        free(text);
        json_decref(p);
    }
    api->delivery_done(j->d, ok, ok ? NULL : "announcement not fanned out");
    free(j);
}

tn_status notify_announce_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    const tn_config *cfg = ev->tenant_id ? api->tenant_config(self, ev->tenant_id) : NULL;
    json_t *payload;
    announce_job *j;
    char max[16];

    if (cfg == NULL || api->config_str(cfg, "smtp_url")[0] == '\0' ||
        !notify_list_has(api->config_str(cfg, "mail_events"), ev->name))
        return TN_CONTINUE;
    payload = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    const char *id = json_string_value(json_object_get(payload, "id"));
    if (id == NULL || !notify_uuid_ok(id)) {
        json_decref(payload);
        return TN_CONTINUE; /* nothing to read: retrying cannot help */
    }
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        json_decref(payload);
        return TN_ERROR;
    }
    j->c = c;
    j->d = d;
    snprintf(j->id, sizeof j->id, "%s", id);
    json_decref(payload);
    snprintf(max, sizeof max, "%d", NOTIFY_ANNOUNCE_MAX);
    const char *p[2] = {j->id, max};
    if (api->tx_query(api->delivery_tx(d),
                      "SELECT b.id FROM orders_announcements a JOIN orders_buyers b "
                      "ON b.tenant_id = a.tenant_id WHERE a.id = $1::uuid "
                      "AND a.audience IN ('all', 'buyers') AND b.active "
                      "AND jsonb_array_length(b.contacts) > 0 ORDER BY b.id LIMIT $2::int",
                      2, p, buyers_read, j) != TN_OK) {
        free(j);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}
