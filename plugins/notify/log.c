/*
 * log.c - the delivery log (migrations/0001_notify.sql): rows written in
 * a transaction the caller chose (the delivery's own, so a success and its
 * acknowledgement commit together; or a separate one for a failed
 * attempt, so what was sent stays known across the retry), and
 * GET /api/v1/notify/deliveries?limit=N&before=ID for tenant admins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"

static const char insert_sql[] =
    "INSERT INTO notify_deliveries (tenant_id, event_id, event_name, channel, recipient, "
    "recipient_hash, attempts, result, provider_id, detail) VALUES "
    "(current_setting('app.tenant_id'), $1::bigint, $2, $3, $4, $5, $6::int, $7, "
    "nullif($8, ''), nullif($9, ''))";

typedef struct rows_op {
    notify_ctx *c;
    int remaining;
    int ok;
    notify_rows_fn done;
    void *ud;
} rows_op;

static void inserted(tn_tx *tx, const tn_db_result *res, void *ud)
{
    rows_op *op = ud;

    if (op->c->api->db_status(res) != TN_OK) {
        if (op->ok) /* the status and SQLSTATE only: the message may quote values */
            op->c->api->log(op->c->self, TN_LOG_WARN,
                            "delivery log not written: status %d sqlstate %s",
                            op->c->api->db_status(res), op->c->api->db_sqlstate(res));
        op->ok = 0;
    }
    if (--op->remaining > 0)
        return;
    op->done(tx, op->ok, op->ud);
    free(op);
}

int notify_log_rows(notify_ctx *c, tn_tx *tx, int64_t event_id, const char *event,
                    const char *channel, int attempt, const notify_row *rows, int nrows,
                    notify_rows_fn done, void *ud)
{
    char id[24], att[16];
    rows_op *op;

    if (nrows <= 0) {
        done(tx, 1, ud);
        return TN_OK;
    }
    op = calloc(1, sizeof *op);
    if (op == NULL)
        return TN_ENOMEM;
    *op = (rows_op){.c = c, .remaining = nrows, .ok = 1, .done = done, .ud = ud};
    snprintf(id, sizeof id, "%lld", (long long)event_id);
    snprintf(att, sizeof att, "%d", attempt);
    for (int i = 0; i < nrows; i++) {
        const char *p[9] = {id,
                            event,
                            channel,
                            rows[i].recipient,
                            rows[i].hash,
                            att,
                            rows[i].result,
                            rows[i].provider_id,
                            rows[i].detail};
        if (c->api->tx_query(tx, insert_sql, 9, p, inserted, op) != TN_OK) {
            if (i == 0) { /* nothing queued: the caller decides */
                free(op);
                return TN_EINVAL;
            }
            op->ok = 0; /* the queued ones answer and finish */
            op->remaining -= nrows - i;
            break;
        }
    }
    return TN_OK;
}

/* ---- GET /api/v1/notify/deliveries ---------------------------------------- */

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    json_t *out = json_object(), *arr = json_array();
    char *text = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        goto done;
    }
    for (int r = 0; arr && r < api->db_rows(res); r++) {
        const char *v[11];
        for (int k = 0; k < 11; k++)
            v[k] = api->db_value(res, r, k);
        json_array_append_new(arr,
                              json_pack("{s:I, s:I, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:s, s:s}",
                                        "id", (json_int_t)strtoll(v[0], NULL, 10), "event_id",
                                        (json_int_t)strtoll(v[1], NULL, 10), "event", v[2],
                                        "channel", v[3], "recipient", v[4], "attempts", atoi(v[5]),
                                        "result", v[6], "provider_id",
                                        v[7] ? json_string(v[7]) : json_null(), "detail",
                                        v[8] ? json_string(v[8]) : json_null(), "created_at", v[9],
                                        "recipient_hash", v[10]));
    }
    if (out && arr && json_object_set(out, "deliveries", arr) == 0)
        text = json_dumps(out, JSON_COMPACT);
    if (text)
        api->resp_json(req, 200, text);
    else
        api->resp_error(req, 500, "internal", "out of memory");
done:
    free(text);
    json_decref(arr);
    json_decref(out);
    api->req_resume(req, TN_DONE);
}

static int number_param(tn_request *req, const tn_api *api, const char *name, long long min,
                        long long max, long long dflt, long long *out)
{
    const char *v = api->req_query_param(req, name);
    char *end;

    *out = dflt;
    if (v == NULL)
        return 0;
    long long n = strtoll(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

tn_status notify_deliveries_route(tn_plugin *self, tn_request *req, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    long long limit, before;
    char lim[24], bef[24];

    (void)self;
    if (number_param(req, api, "limit", 1, 200, 50, &limit) != 0 ||
        number_param(req, api, "before", 1, 9007199254740991LL, 9007199254740991LL, &before) != 0) {
        api->resp_error(req, 400, "invalid_query", "limit is 1..200, before a delivery id");
        return TN_DONE;
    }
    snprintf(lim, sizeof lim, "%lld", limit);
    snprintf(bef, sizeof bef, "%lld", before);
    const char *p[2] = {bef, lim};
    if (api->db_query(req,
                      "SELECT id, event_id, event_name, channel, recipient, attempts, result, "
                      "provider_id, detail, "
                      "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                      "recipient_hash FROM notify_deliveries WHERE id < $1::bigint "
                      "ORDER BY id DESC LIMIT $2::int",
                      2, p, listed, c) != TN_OK) {
        api->resp_error(req, 500, "internal", "query refused");
        return TN_DONE;
    }
    return TN_SUSPEND;
}
