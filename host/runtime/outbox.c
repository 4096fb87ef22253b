/*
 * outbox.c - claiming, delivering and settling durable events.  See
 * outbox.h.
 *
 * One batch is in flight per worker: claim (one tenant, up to `batch` due
 * rows, locked), deliver every row to its subscribers, then one UPDATE per
 * row and COMMIT.  Tenants with due events come from this worker's own
 * commits (a kick), from NOTIFY tanomu_outbox (any worker's commits, the
 * tenant as payload), from the sweep timer asking outbox_due_tenants()
 * (which also finds retries whose backoff has run out: nothing notifies
 * those), and are queued without duplicates.
 *
 * A subscriber that asks for delivery_tx() gets a transaction of its own
 * (tx.c) on another pooled connection: when it succeeds, the host adds a
 * row to outbox_acks (event, subscriber) to that transaction and commits
 * it, so the subscriber's writes and its acknowledgement commit together
 * or not at all.  A later delivery of the event (a retry because another
 * subscriber failed, or a worker killed before the batch settled) skips
 * subscribers whose ack is there: exactly once in effect.  Claiming takes
 * FOR NO KEY UPDATE, which lets the ack's foreign key lock the row while
 * the batch holds it.
 */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "db_pool.h"
#include "log.h"
#include "names.h"

#define DELIVERY_TIMEOUT_MS 30000
#define MAX_QUEUED_TENANTS 4096
#define NOTIFY_CHANNEL "tanomu_outbox" /* 0002_outbox_dispatch.sql's trigger */
#define RESCAN_RETRY_MS 250

typedef struct host_dsub {
    tn_plugin *plugin;
    char *name;
    tn_durable_fn fn;
    void *ud;
    char key[48]; /* in outbox_acks: plugin, or plugin#k for its k-th on name */
} host_dsub;

typedef struct batch_event batch_event;
typedef struct batch batch;

/* A delivery a plugin may hold on to (TN_SUSPEND) beyond its batch: when
 * the batch gives up on it (timeout) it is orphaned, and freed by the
 * plugin's late delivery_done() instead of by the batch. */
struct tn_delivery {
    batch_event *ev;
    const host_dsub *sub;
    tn_tx *tx; /* delivery_tx(): committed with the ack */
    const host_delivery_tx_ops *tx_ops;
    int done;
    int held; /* the plugin suspended it */
    int orphaned;
};

struct batch_event {
    int64_t id;
    int attempts;
    char *name;
    char *payload;
    char *acked;     /* keys of subscribers whose ack committed, space-separated */
    int outstanding; /* subscribers not finished */
    int failed;
    char error[200];
    tn_delivery **deliveries;
    int ndeliveries;
    batch *b;
};

struct batch {
    struct host_outbox *o;
    char *tenant;
    host_db_tx *tx;
    batch_event *events;
    int nevents;
    int outstanding; /* events not settled */
    int full;        /* claimed a whole batch: look again */
    uv_timer_t timeout;
    int settling;
};

struct host_outbox {
    host_worker *w;
    host_dsub *subs;
    int nsubs;
    char **queue; /* tenants with due events */
    int nqueue;
    batch *cur;
    uv_timer_t sweep;
    int sweeping;
    int rescan; /* a sweep is owed: notifications went unheard */
    int stopping;
};

static void next(host_outbox *o);

/* ---- subscriptions --------------------------------------------------------- */

static host_outbox *outbox_of(host_worker *w)
{
    if (!w->outbox) {
        w->outbox = calloc(1, sizeof(host_outbox));
        if (w->outbox)
            ((host_outbox *)w->outbox)->w = w;
    }
    return w->outbox;
}

/* A subscriber's name in outbox_acks, stable as long as the plugin
 * subscribes in the same order. */
static void subscriber_key(const host_outbox *o, const tn_plugin *p, const char *name, char *out,
                           size_t cap)
{
    int i, k = 0;

    for (i = 0; i < o->nsubs; i++)
        if (o->subs[i].plugin == p && strcmp(o->subs[i].name, name) == 0)
            k++;
    if (k)
        snprintf(out, cap, "%s#%d", p->name, k);
    else
        snprintf(out, cap, "%s", p->name);
}

static int acked_by(const char *list, const char *key)
{
    size_t n = strlen(key);
    const char *p = list;

    while (p && *p) {
        if (strncmp(p, key, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
            return 1;
        p = strchr(p, ' ');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

int host_api_event_subscribe_durable(tn_plugin *self, const char *name, tn_durable_fn fn, void *ud)
{
    host_worker *w = self ? self->worker : NULL;
    host_outbox *o;
    host_dsub *v;

    if (!w || !w->initializing)
        return TN_ESTATE;
    if (!host_event_name_valid(name) || !fn)
        return TN_EINVAL;
    if (!(o = outbox_of(w)))
        return TN_ENOMEM;
    if (!(v = realloc(o->subs, (size_t)(o->nsubs + 1) * sizeof *v)))
        return TN_ENOMEM;
    o->subs = v;
    if (!(v[o->nsubs].name = strdup(name)))
        return TN_ENOMEM;
    subscriber_key(o, self, name, v[o->nsubs].key, sizeof v[o->nsubs].key);
    v[o->nsubs].plugin = self;
    v[o->nsubs].fn = fn;
    v[o->nsubs].ud = ud;
    o->nsubs++;
    return TN_OK;
}

/* ---- the batch --------------------------------------------------------------- */

static void delivery_free(tn_delivery *d)
{
    if (d->tx)
        d->tx_ops->free(d->tx);
    free(d);
}

static void batch_free(batch *b)
{
    int i, j;

    for (i = 0; i < b->nevents; i++) {
        free(b->events[i].name);
        free(b->events[i].payload);
        free(b->events[i].acked);
        for (j = 0; j < b->events[i].ndeliveries; j++) {
            tn_delivery *d = b->events[i].deliveries[j];
            if (d->held) {
                d->orphaned = 1; /* the plugin still has it (timed out) */
            } else {
                delivery_free(d);
            }
        }
        free(b->events[i].deliveries);
    }
    free(b->events);
    free(b->tenant);
    free(b);
}

static void on_timeout_closed(uv_handle_t *h)
{
    batch_free(h->data);
}

static void batch_end(host_outbox *o, batch *b)
{
    int again = b->full && !o->stopping;
    char *tenant = again ? strdup(b->tenant) : NULL;

    o->cur = NULL;
    uv_close((uv_handle_t *)&b->timeout, on_timeout_closed);
    if (tenant) {
        host_outbox_kick(o->w, tenant);
        free(tenant);
    }
    next(o);
}

static void on_commit(int status, const host_db_result *res, void *ud)
{
    batch *b = ud;

    (void)res;
    b->tx = NULL;
    if (status != HOST_DB_OK)
        host_log(HOST_LOG_WARN, "outbox: settling tenant %s failed: %s; events will be retried",
                 b->tenant, host_db_strerror(status));
    batch_end(b->o, b);
}

static uint64_t backoff_ms(const host_db_conf *c, int attempts)
{
    uint64_t ms = c->outbox_backoff_ms;
    int i;

    for (i = 1; i < attempts && ms < c->outbox_max_backoff_ms; i++)
        ms *= 2;
    return ms < c->outbox_max_backoff_ms ? ms : c->outbox_max_backoff_ms;
}

static void on_update(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    (void)tx;
    (void)res;
    (void)ud;
    if (status != HOST_DB_OK)
        host_log(HOST_LOG_WARN, "outbox: update failed: %s", host_db_strerror(status));
}

/* Every event has an outcome: write them all, then commit. */
static void settle(batch *b)
{
    host_worker *w = b->o->w;
    const host_db_conf *c = &w->conf.server.db;
    static const char ok_sql[] = "UPDATE outbox SET state = 'delivered', attempts = $2::int, "
                                 "delivered_at = now(), last_error = NULL WHERE id = $1";
    static const char fail_sql[] =
        "UPDATE outbox SET attempts = $3::int, last_error = $2, "
        "state = CASE WHEN $3::int >= $4::int THEN 'dead' ELSE 'pending' END, "
        "next_attempt_at = now() + make_interval(secs => $5::double precision / 1000) "
        "WHERE id = $1";
    char id[32], max[16], delay[32], tries[16];
    int i;

    if (b->settling)
        return;
    b->settling = 1;
    uv_timer_stop(&b->timeout);
    for (i = 0; i < b->nevents; i++) {
        batch_event *e = &b->events[i];
        snprintf(id, sizeof id, "%lld", (long long)e->id);
        snprintf(tries, sizeof tries, "%d", e->attempts + 1);
        if (!e->failed) {
            const char *p[2] = {id, tries};
            host_db_tx_query(b->tx, ok_sql, 2, p, on_update, NULL);
            host_series_add(w->outbox_delivered, 1);
            continue;
        }
        snprintf(max, sizeof max, "%d", c->outbox_max_attempts);
        snprintf(delay, sizeof delay, "%llu", (unsigned long long)backoff_ms(c, e->attempts + 1));
        {
            const char *p[5] = {id, e->error[0] ? e->error : "failed", tries, max, delay};
            host_db_tx_query(b->tx, fail_sql, 5, p, on_update, NULL);
        }
        host_series_add(w->outbox_failed, 1);
        if (e->attempts + 1 >= c->outbox_max_attempts) {
            host_series_add(w->outbox_dead, 1);
            host_log(HOST_LOG_ERROR, "outbox: event %lld (%s, tenant %s) is dead after %d attempts",
                     (long long)e->id, e->name, b->tenant, e->attempts + 1);
        }
    }
    if (host_db_tx_commit(b->tx, on_commit, b) < 0) {
        b->tx = NULL;
        batch_end(b->o, b);
    }
}

static void event_settled(batch_event *e)
{
    batch *b = e->b;

    if (--b->outstanding == 0)
        settle(b);
}

static void delivery_settled(void *ud, int ok, const char *error)
{
    tn_delivery *d = ud;
    batch_event *e = d->ev;

    if (!ok) {
        e->failed = 1;
        if (!e->error[0])
            snprintf(e->error, sizeof e->error, "%s",
                     error && *error ? error : "subscriber failed");
    }
    if (--e->outstanding == 0)
        event_settled(e);
}

/* The subscriber's outcome.  With a delivery_tx that ran statements, the
 * outcome is the transaction's: the ack commits with them, or they roll
 * back with the retry. */
static void delivery_finish(tn_delivery *d, int ok, const char *error)
{
    static const char ack_sql[] = "INSERT INTO outbox_acks (outbox_id, subscriber, tenant_id) "
                                  "VALUES ($1::bigint, $2, current_setting('app.tenant_id'))";
    char id[32];
    const char *p[2] = {id, d->sub ? d->sub->key : ""};
    int rc = 0;

    if (d->done)
        return;
    d->done = 1;
    if (d->tx) {
        snprintf(id, sizeof id, "%lld", (long long)d->ev->id);
        rc = d->tx_ops->settle(d->tx, ok, ack_sql, 2, p, delivery_settled, d);
        if (rc > 0)
            return; /* delivery_settled() follows */
    }
    if (rc < 0 && ok)
        delivery_settled(d, 0, "the delivery's transaction could not commit");
    else
        delivery_settled(d, ok, error);
}

tn_tx *host_outbox_delivery_tx(const tn_delivery *d)
{
    return d ? d->tx : NULL;
}

int host_outbox_delivery_open(const tn_delivery *d, tn_plugin **plugin, const char **tenant)
{
    if (!d || d->done || d->orphaned || !d->sub)
        return 0;
    *plugin = d->sub->plugin;
    *tenant = d->ev->b->tenant;
    return 1;
}

void host_outbox_delivery_attach(tn_delivery *d, tn_tx *tx, const host_delivery_tx_ops *ops)
{
    d->tx = tx;
    d->tx_ops = ops;
}

void host_api_delivery_done(tn_delivery *d, int ok, const char *error)
{
    if (!d)
        return;
    if (d->orphaned) { /* too late: the batch has gone, the event is retried */
        delivery_free(d);
        return;
    }
    d->held = 0;
    delivery_finish(d, ok, error);
}

static void on_delivery_timeout(uv_timer_t *t)
{
    batch *b = t->data;
    int i, j;

    for (i = 0; i < b->nevents; i++)
        for (j = 0; j < b->events[i].ndeliveries; j++)
            delivery_finish(b->events[i].deliveries[j], 0, "delivery timed out");
}

static void deliver_event(host_outbox *o, batch *b, batch_event *e)
{
    host_worker *w = o->w;
    const host_tenant *t = NULL;
    tn_event ev;
    char what[160];
    int i, k = 0;

    for (i = 0; i < w->conf.ntenants; i++)
        if (w->conf.tenants[i].id && strcmp(w->conf.tenants[i].id, b->tenant) == 0)
            t = &w->conf.tenants[i];
    e->deliveries = calloc((size_t)o->nsubs + 1, sizeof *e->deliveries);
    if (!e->deliveries) {
        e->failed = 1;
        event_settled(e);
        return;
    }
    memset(&ev, 0, sizeof ev);
    ev.size = sizeof ev;
    ev.name = e->name;
    ev.tenant_id = b->tenant;
    ev.payload = e->payload;
    ev.payload_len = strlen(e->payload);
    ev.id = e->id;
    ev.attempt = e->attempts + 1;
    e->outstanding = 1; /* held while we call out, so no callback settles early */
    for (i = 0; i < o->nsubs; i++) {
        host_dsub *s = &o->subs[i];
        tn_delivery *d;
        tn_status st;
        if (strcmp(s->name, e->name) != 0 || !host_worker_enabled(w, t, s->plugin))
            continue;
        if (e->acked && acked_by(e->acked, s->key))
            continue; /* its transaction committed with the ack already */
        if (!(d = calloc(1, sizeof *d))) {
            e->failed = 1;
            continue;
        }
        e->deliveries[k++] = d;
        d->ev = e;
        d->sub = s;
        e->ndeliveries = k;
        e->outstanding++;
        /* "name#id": if this kills the worker, the master counts it against
         * the event, so a poison event ends dead instead of crash-looping. */
        snprintf(what, sizeof what, "%s#%lld", e->name, (long long)e->id);
        host_worker_running(w, s->plugin, what);
        st = s->fn(s->plugin, &ev, d, s->ud);
        host_worker_running(w, NULL, NULL);
        if (st == TN_CONTINUE || st == TN_DONE)
            delivery_finish(d, 1, NULL);
        else if (st == TN_SUSPEND)
            d->held = !d->done; /* unless it already called delivery_done */
        else
            delivery_finish(d, 0, "subscriber returned an error");
    }
    if (--e->outstanding == 0)
        event_settled(e);
}

static void on_claim(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    batch *b = ud;
    host_outbox *o = b->o;
    host_worker *w = o->w;
    int i, n, crashes;

    (void)tx;
    if (status != HOST_DB_OK) {
        host_log(HOST_LOG_WARN, "outbox: claim for tenant %s failed: %s", b->tenant,
                 host_db_strerror(status));
        b->full = 0;
        if (host_db_tx_rollback(b->tx, on_commit, b) < 0) {
            b->tx = NULL;
            batch_end(o, b);
        }
        return;
    }
    n = host_db_result_nrows(res);
    b->full = n >= w->conf.server.db.outbox_batch;
    if (o->stopping && n > 0) {
        /* The claim was in flight when the worker began to stop: deliver
         * nothing it could no longer settle; the rows go back unlocked to
         * the next worker, attempts untouched. */
        b->full = 0;
        if (host_db_tx_rollback(b->tx, on_commit, b) < 0) {
            b->tx = NULL;
            batch_end(o, b);
        }
        return;
    }
    if (n == 0) {
        settle(b);
        return;
    }
    b->events = calloc((size_t)n, sizeof *b->events);
    if (!b->events) {
        settle(b);
        return;
    }
    b->nevents = n;
    b->outstanding = n + 1;
    for (i = 0; i < n; i++) {
        batch_event *e = &b->events[i];
        e->b = b;
        e->id = strtoll(host_db_result_value(res, i, 0), NULL, 10);
        e->name = strdup(host_db_result_value(res, i, 1));
        e->payload = strdup(host_db_result_value(res, i, 2));
        e->attempts = atoi(host_db_result_value(res, i, 3));
        if (host_db_result_value(res, i, 4) &&
            !(e->acked = strdup(host_db_result_value(res, i, 4))))
            e->failed = 1;
        if (!e->name || !e->payload)
            e->failed = 1;
        /* Deliveries that killed a worker never committed their attempt:
         * count them from the master's record. */
        crashes = (int)host_metrics_poison_get(w->metrics, e->id);
        if (crashes > 0) {
            e->attempts += crashes;
            if (e->attempts >= w->conf.server.db.outbox_max_attempts - 1) {
                e->failed = 1;
                snprintf(e->error, sizeof e->error, "its delivery killed the worker %d times",
                         crashes);
            }
        }
    }
    uv_timer_start(&b->timeout, on_delivery_timeout, DELIVERY_TIMEOUT_MS, 0);
    for (i = 0; i < n; i++) {
        if (b->events[i].failed)
            event_settled(&b->events[i]);
        else
            deliver_event(o, b, &b->events[i]);
    }
    if (--b->outstanding == 0)
        settle(b);
}

static void on_begin(host_db_tx *tx, int status, void *ud)
{
    static const char claim_sql[] =
        "SELECT o.id, o.name, o.payload::text, o.attempts, "
        "(SELECT string_agg(a.subscriber, ' ') FROM outbox_acks a WHERE a.outbox_id = o.id) "
        "FROM outbox o WHERE o.state = 'pending' AND o.next_attempt_at <= now() "
        "ORDER BY o.id LIMIT $1 FOR NO KEY UPDATE OF o SKIP LOCKED";
    batch *b = ud;
    host_worker *w = b->o->w;
    char limit[16];
    const char *p[1] = {limit};

    if (status != HOST_DB_OK) {
        b->full = 0;
        batch_end(b->o, b);
        return;
    }
    b->tx = tx;
    snprintf(limit, sizeof limit, "%d", w->conf.server.db.outbox_batch);
    if (host_db_tx_query(tx, claim_sql, 1, p, on_claim, b) < 0) {
        b->full = 0;
        if (host_db_tx_rollback(tx, on_commit, b) < 0) {
            b->tx = NULL;
            batch_end(b->o, b);
        }
    }
}

static void next(host_outbox *o)
{
    batch *b;
    char *tenant;

    if (o->cur || o->nqueue == 0 || o->stopping || !o->w->db)
        return;
    tenant = o->queue[0];
    memmove(o->queue, o->queue + 1, (size_t)(o->nqueue - 1) * sizeof *o->queue);
    o->nqueue--;
    if (!(b = calloc(1, sizeof *b))) {
        free(tenant);
        return;
    }
    b->o = o;
    b->tenant = tenant;
    uv_timer_init(o->w->loop, &b->timeout);
    b->timeout.data = b;
    o->cur = b;
    if (host_db_tx_begin(o->w->db, tenant, on_begin, b) < 0) {
        b->full = 0;
        batch_end(o, b);
    }
}

void host_outbox_kick(host_worker *w, const char *tenant)
{
    host_outbox *o = w->outbox;
    char **v;
    int i;

    if (!o || o->nsubs == 0 || !tenant || o->stopping)
        return;
    for (i = 0; i < o->nqueue; i++)
        if (strcmp(o->queue[i], tenant) == 0)
            return;
    if (o->nqueue >= MAX_QUEUED_TENANTS)
        return; /* the sweep finds the rest */
    if (!(v = realloc(o->queue, (size_t)(o->nqueue + 1) * sizeof *v)))
        return;
    o->queue = v;
    if (!(v[o->nqueue] = strdup(tenant)))
        return;
    o->nqueue++;
    next(o);
}

/* ---- the sweep ------------------------------------------------------------------ */

static void on_due(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    host_outbox *o = ud;
    int i;

    (void)tx;
    if (status == HOST_DB_OK)
        for (i = 0; i < host_db_result_nrows(res); i++)
            host_outbox_kick(o->w, host_db_result_value(res, i, 0));
}

static void sweep(host_outbox *o);

static void on_sweep_end(int status, const host_db_result *res, void *ud)
{
    host_outbox *o = ud;

    (void)status;
    (void)res;
    o->sweeping = 0;
    /* Owed since this sweep began: its snapshot may predate the loss. */
    if (o->rescan)
        sweep(o);
}

static void on_sweep_begin(host_db_tx *tx, int status, void *ud)
{
    host_outbox *o = ud;
    const char *p[1] = {"1000"};

    if (status != HOST_DB_OK) {
        o->sweeping = 0;
        return;
    }
    host_db_tx_query(tx, "SELECT outbox_due_tenants($1::int)", 1, p, on_due, o);
    if (host_db_tx_commit(tx, on_sweep_end, o) < 0)
        o->sweeping = 0;
}

static void on_sweep(uv_timer_t *t)
{
    sweep(t->data);
}

static void sweep(host_outbox *o)
{
    if (o->sweeping || o->stopping || !o->w->db)
        return;
    if (!host_db_ready(o->w->db)) {
        /* The LISTEN connection may be back before the pool: an owed
         * sweep tries again soon rather than a whole sweep_ms later. */
        if (o->rescan)
            uv_timer_start(&o->sweep, on_sweep, RESCAN_RETRY_MS,
                           o->w->conf.server.db.outbox_sweep_ms);
        return;
    }
    o->sweeping = 1;
    o->rescan = 0;
    if (host_db_tx_begin(o->w->db, NULL, on_sweep_begin, o) < 0)
        o->sweeping = 0;
}

/* NOTIFY tanomu_outbox: some worker committed events for the tenant in the
 * payload.  No payload (an operator's bare NOTIFY), or NULL (the LISTEN
 * connection was lost and is back, notifications may have gone by): sweep
 * now. */
static void on_notify(void *ud, const char *channel, const char *payload)
{
    host_outbox *o = ud;

    (void)channel;
    if (o->stopping)
        return;
    if (payload && *payload) {
        host_outbox_kick(o->w, payload);
        return;
    }
    o->rescan = 1;
    sweep(o);
}

int host_outbox_start(host_worker *w)
{
    host_outbox *o = w->outbox;
    int rc;

    if (!o || o->nsubs == 0 || !w->db)
        return 0;
    w->outbox_delivered = host_metrics_series(w->metrics, "tanomu_outbox_delivered_total", "");
    w->outbox_failed = host_metrics_series(w->metrics, "tanomu_outbox_failed_total", "");
    w->outbox_dead = host_metrics_series(w->metrics, "tanomu_outbox_dead_total", "");
    uv_timer_init(w->loop, &o->sweep);
    o->sweep.data = o;
    /* The first sweep soon after start: what a dead worker left behind. */
    uv_timer_start(&o->sweep, on_sweep, 200, w->conf.server.db.outbox_sweep_ms);
    /* Other workers' commits wake us at once; the sweep stays for retries
     * whose backoff runs out, and as the safety net. */
    rc = host_db_listen(w->db, NOTIFY_CHANNEL, on_notify, o);
    if (rc != HOST_DB_OK)
        host_log(HOST_LOG_WARN, "outbox: cannot listen for new events (%s); sweeping every %llu ms",
                 host_db_strerror(rc), (unsigned long long)w->conf.server.db.outbox_sweep_ms);
    return 0;
}

void host_outbox_stop(host_worker *w)
{
    host_outbox *o = w->outbox;

    if (!o)
        return;
    o->stopping = 1;
    if (o->sweep.loop && !uv_is_closing((uv_handle_t *)&o->sweep))
        uv_close((uv_handle_t *)&o->sweep, NULL);
}

void host_outbox_free(host_worker *w)
{
    host_outbox *o = w->outbox;
    int i;

    if (!o)
        return;
    for (i = 0; i < o->nqueue; i++)
        free(o->queue[i]);
    free(o->queue);
    for (i = 0; i < o->nsubs; i++)
        free(o->subs[i].name);
    free(o->subs);
    free(o);
    w->outbox = NULL;
}
