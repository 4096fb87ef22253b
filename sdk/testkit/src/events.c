/*
 * events.c - publish and subscribe, and durable events.
 *
 * The host delivers events asynchronously; the testkit queues them until
 * the test calls tk_run_events(), and keeps every one so the test can read
 * what was published.  A tenant's event reaches only subscribers whose
 * plugin the tenant enables; an event without tenant reaches every
 * subscriber.
 *
 * Durable events (db_publish) are outbox rows of committed transactions.
 * As the host's dispatcher (host/runtime/outbox.c) does with a batch, each
 * tk_run_events() claims every pending row once, hands it to the durable
 * subscribers of its name whose plugin the tenant enables, with its id and
 * attempt number, and settles it when every delivery has finished: all
 * accepted (TN_CONTINUE, TN_DONE, delivery_done(ok)) marks it delivered;
 * any failure (TN_ERROR, delivery_done(not ok), 30 s of virtual time
 * without an answer) leaves it pending for the next call, with attempt + 1,
 * for every subscriber, or dead after the maximum.  At least once: a
 * subscriber may see an event again.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tk_internal.h"

#define TK_DELIVERY_TIMEOUT_MS 30000 /* the host's, per batch */
#define TK_DELIVERY_ERROR_MAX 199    /* the host keeps this much */

int tk_api_event_subscribe(tn_plugin *self, const char *name, tn_event_fn fn, void *ud)
{
    if (self == NULL)
        return TN_EINVAL;
    tk_kit *tk = self->tk;
    if (tk->registering != self)
        return TN_ESTATE;
    if (!host_event_name_valid(name) || fn == NULL)
        return TN_EINVAL;
    tk_sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TN_ENOMEM;
    s->plugin = self;
    s->fn = fn;
    s->ud = ud;
    s->name = tk_strdup(name);
    if (s->name == NULL || tk_list_push(&tk->subs, s) != TN_OK) {
        free(s->name);
        free(s);
        return TN_ENOMEM;
    }
    return TN_OK;
}

int tk_api_event_publish(tn_plugin *self, const char *tenant_id, const char *name,
                         const char *payload_json)
{
    if (self == NULL || !host_event_name_valid(name))
        return TN_EINVAL;
    if (payload_json == NULL)
        payload_json = "{}"; /* as the host does */
    /* The host passes any text on; the testkit insists on JSON, as the
     * API promises subscribers. */
    json_t *doc = json_loads(payload_json, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return TN_EINVAL;
    json_decref(doc);
    tk_event_rec *e = calloc(1, sizeof *e);
    if (e == NULL)
        return TN_ENOMEM;
    e->name = tk_strdup(name);
    e->tenant = tenant_id ? tk_strdup(tenant_id) : NULL;
    e->payload = tk_strdup(payload_json);
    if (e->name == NULL || (tenant_id && e->tenant == NULL) || e->payload == NULL ||
        tk_list_push(&self->tk->events, e) != TN_OK) {
        free(e->name);
        free(e->tenant);
        free(e->payload);
        free(e);
        return TN_ENOMEM;
    }
    return TN_OK;
}

/* Subscribers in plugin order, then in the order they subscribed. */
static void deliver(tk_kit *tk, const tk_event_rec *e)
{
    tn_event ev = {.size = sizeof ev,
                   .name = e->name,
                   .tenant_id = e->tenant,
                   .payload = e->payload,
                   .payload_len = strlen(e->payload),
                   .id = 0,
                   .attempt = 1};
    for (size_t i = 0; i < tk->order.n; i++) {
        tn_plugin *p = tk->order.items[i];
        if (p->failed)
            continue;
        if (e->tenant != NULL && !tk_enabled(tk->live, p, e->tenant))
            continue;
        for (size_t j = 0; j < tk->subs.n; j++) {
            tk_sub *s = tk->subs.items[j];
            if (s->plugin != p || strcmp(s->name, e->name) != 0)
                continue;
            tn_plugin *saved;
            tk_enter(tk, p, &saved);
            s->fn(p, &ev, s->ud);
            tk_leave(tk, saved);
        }
    }
}

/* -- durable events ---------------------------------------------------- */

int tk_api_event_subscribe_durable(tn_plugin *self, const char *name, tn_durable_fn fn, void *ud)
{
    if (self == NULL || self->tk->registering != self)
        return TN_ESTATE;
    if (!host_event_name_valid(name) || fn == NULL)
        return TN_EINVAL;
    tk_sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TN_ENOMEM;
    s->plugin = self;
    s->durable = fn;
    s->ud = ud;
    s->name = tk_strdup(name);
    if (s->name == NULL || tk_list_push(&self->tk->dsubs, s) != TN_OK) {
        free(s->name);
        free(s);
        return TN_ENOMEM;
    }
    return TN_OK;
}

void tk_outbox_row_free(tk_outbox_row *row)
{
    if (row == NULL)
        return;
    for (size_t i = 0; i < row->deliveries.n; i++) {
        tn_delivery *d = row->deliveries.items[i];
        tk_tx_free(d->tx);
        free(d);
    }
    tk_list_clear(&row->deliveries);
    tk_list_clear(&row->acked);
    free(row->tenant);
    free(row->name);
    free(row->payload);
    free(row->error);
    free(row->round_error);
    free(row);
}

/* Every delivery has finished: the row's outcome, as the host's UPDATE. */
static void settle(tk_kit *tk, tk_outbox_row *row)
{
    if (row->timeout != NULL) {
        tk_api_timer_stop(row->timeout);
        row->timeout = NULL;
    }
    row->claimed = 0;
    row->ev.attempts++;
    free(row->error);
    row->error = row->failed ? row->round_error : NULL;
    row->ev.error = row->error;
    row->round_error = NULL;
    if (!row->failed) {
        row->ev.state = "delivered";
    } else if (row->ev.attempts >= tk->outbox_max_attempts) {
        row->ev.state = "dead";
        tk_log_kit(tk, TN_LOG_ERROR,
                   "outbox: event %lld (%s, tenant %s) is dead after %d "
                   "attempts",
                   (long long)row->ev.id, row->name, row->tenant, row->ev.attempts);
    } else {
        row->ev.state = "pending";
    }
}

/* The delivery's outcome is final: with a delivery_tx that committed,
 * the subscriber is acknowledged, and later deliveries skip it. */
void tk_delivery_settled(tn_delivery *d, int ok, const char *error)
{
    tk_outbox_row *row = d->row;
    tk_kit *tk = row->tk;
    if (ok && d->tx != NULL && d->tx->used && tk_list_push(&row->acked, d->sub) != TN_OK)
        ok = 0; /* the ack was not recorded: retried, as a failed commit */
    if (!ok) {
        const char *why = error && *error ? error : "subscriber failed";
        row->failed = 1;
        if (row->round_error == NULL)
            row->round_error = tk_strndup(why, strnlen(why, TK_DELIVERY_ERROR_MAX));
    }
    if (--row->outstanding == 0)
        settle(tk, row);
}

/* Ends one delivery; one that has ended already is left alone.  With a
 * delivery_tx that ran statements, the outcome is its commit's. */
static void delivery_finish(tk_kit *tk, tn_delivery *d, int ok, const char *error)
{
    (void)tk;
    if (d->done)
        return;
    d->done = 1;
    int rc = d->tx != NULL ? tk_tx_settle(d->tx, ok) : 0;
    if (rc > 0)
        return; /* tk_delivery_settled() follows from tk_run_pending() */
    if (rc < 0 && ok)
        tk_delivery_settled(d, 0, "the delivery's transaction could not commit");
    else
        tk_delivery_settled(d, ok, error);
}

static int acked(const tk_outbox_row *row, const tk_sub *s)
{
    for (size_t i = 0; i < row->acked.n; i++)
        if (row->acked.items[i] == s)
            return 1;
    return 0;
}

void tk_api_delivery_done(tn_delivery *d, int ok, const char *error)
{
    if (d == NULL)
        return;
    tk_kit *tk = d->row->tk;
    if (d->done) {
        tk_log_kit(tk, TN_LOG_ERROR,
                   "delivery_done() on event %lld, whose delivery has "
                   "ended (done twice, or timed out: on the host, a use after free)",
                   (long long)d->row->ev.id);
        return;
    }
    delivery_finish(tk, d, ok, error);
}

/* The batch's time is up: what has not answered has failed. */
static void delivery_timeout(tn_plugin *self, void *ud)
{
    tk_outbox_row *row = ud;
    (void)self;
    row->timeout = NULL; /* fired: nothing to stop */
    for (size_t i = 0; i < row->deliveries.n && row->claimed; i++)
        delivery_finish(row->tk, row->deliveries.items[i], 0, "delivery timed out");
}

/* Hands one claimed row to its durable subscribers. */
static void deliver_row(tk_kit *tk, tk_outbox_row *row)
{
    tn_event ev = {.size = sizeof ev,
                   .name = row->name,
                   .tenant_id = row->tenant,
                   .payload = row->payload,
                   .payload_len = strlen(row->payload),
                   .id = row->ev.id,
                   .attempt = row->ev.attempts + 1};
    row->claimed = 1;
    row->failed = 0;
    row->timeout = tk_timer_kit(tk, TK_DELIVERY_TIMEOUT_MS, delivery_timeout, row);
    row->outstanding = 1; /* held while calling out, so nothing settles early */
    for (size_t i = 0; i < tk->order.n; i++) {
        tn_plugin *p = tk->order.items[i];
        if (!tk_enabled(tk->live, p, row->tenant))
            continue;
        for (size_t j = 0; j < tk->dsubs.n; j++) {
            tk_sub *s = tk->dsubs.items[j];
            if (s->plugin != p || strcmp(s->name, row->name) != 0 || acked(row, s))
                continue;
            tn_delivery *d = calloc(1, sizeof *d);
            if (d == NULL || tk_list_push(&row->deliveries, d) != TN_OK) {
                free(d);
                row->failed = 1; /* retried, as the host does */
                continue;
            }
            d->row = row;
            d->sub = s;
            row->outstanding++;
            tn_plugin *saved;
            tk_enter(tk, p, &saved);
            tn_status st = s->durable(p, &ev, d, s->ud);
            tk_leave(tk, saved);
            if (st == TN_CONTINUE || st == TN_DONE)
                delivery_finish(tk, d, 1, NULL);
            else if (st != TN_SUSPEND)
                delivery_finish(tk, d, 0, "subscriber returned an error");
        }
    }
    if (--row->outstanding == 0)
        settle(tk, row);
}

size_t tk_run_events(tk_kit *tk)
{
    size_t n = 0, before;
    uint64_t run = ++tk->event_runs;
    tk_settings_apply(tk);
    do {
        before = n;
        /* Handlers may publish: those are delivered in this run too. */
        while (tk->events_delivered < tk->events.n) {
            deliver(tk, tk->events.items[tk->events_delivered++]);
            n++;
        }
        /* The host dispatches the outbox only with durable subscribers.
         * A row claimed once in this run waits for the next. */
        for (size_t i = 0; tk->dsubs.n > 0 && i < tk->outbox.n; i++) {
            tk_outbox_row *row = tk->outbox.items[i];
            if (strcmp(row->ev.state, "pending") != 0 || row->claimed || row->last_run == run)
                continue;
            row->last_run = run;
            deliver_row(tk, row);
            n++;
        }
    } while (n != before);
    return n;
}

size_t tk_outbox_count(const tk_kit *tk)
{
    return tk->outbox.n;
}

const tk_outbox_event *tk_outbox_at(const tk_kit *tk, size_t i)
{
    const tk_outbox_row *row = i < tk->outbox.n ? tk->outbox.items[i] : NULL;
    return row ? &row->ev : NULL;
}

void tk_outbox_max_attempts(tk_kit *tk, int n)
{
    if (n >= 1)
        tk->outbox_max_attempts = n;
}

size_t tk_event_count(const tk_kit *tk)
{
    return tk->events.n;
}

static const tk_event_rec *event_at(const tk_kit *tk, size_t i)
{
    return i < tk->events.n ? tk->events.items[i] : NULL;
}

const char *tk_event_name(const tk_kit *tk, size_t i)
{
    const tk_event_rec *e = event_at(tk, i);
    return e ? e->name : NULL;
}

const char *tk_event_tenant(const tk_kit *tk, size_t i)
{
    const tk_event_rec *e = event_at(tk, i);
    return e ? e->tenant : NULL;
}

const char *tk_event_payload(const tk_kit *tk, size_t i)
{
    const tk_event_rec *e = event_at(tk, i);
    return e ? e->payload : NULL;
}

void tk_events_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->events.n; i++) {
        tk_event_rec *e = tk->events.items[i];
        free(e->name);
        free(e->tenant);
        free(e->payload);
        free(e);
    }
    tk_list_clear(&tk->events);
    tk_list *lists[2] = {&tk->subs, &tk->dsubs};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->n; i++) {
            tk_sub *s = lists[l]->items[i];
            free(s->name);
            free(s);
        }
        tk_list_clear(lists[l]);
    }
}
