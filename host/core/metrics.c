/*
 * metrics.c - the shared metrics region.  See metrics.h.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define FAMILY_MAX 64
#define LABELS_MAX 184
#define MAX_FAMILIES 256
#define POISON_SLOTS 256

enum { SLOT_EMPTY = 0, SLOT_WRITING = 1, SLOT_READY = 2 };

struct host_series {
    _Atomic uint32_t state;
    uint32_t hash;
    char family[FAMILY_MAX];
    char labels[LABELS_MAX];
    _Atomic int64_t v[HOST_HIST_BUCKETS + 2]; /* counter: v[0]; histogram: buckets, count, sum */
};

typedef struct metric_family {
    _Atomic uint32_t state;
    uint32_t type;
    char name[FAMILY_MAX];
    char help[160];
} metric_family;

typedef struct poison {
    int64_t event_id;
    int64_t crashes;
} poison;

struct host_metrics {
    size_t map_size;
    uint32_t nseries;
    _Atomic int64_t dropped; /* lookups refused because the table is full */
    host_worker_slot workers[HOST_MAX_WORKER_SLOTS];
    poison poison[POISON_SLOTS];
    host_breakers breakers;
    metric_family families[MAX_FAMILIES];
    host_series series[];
};

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t bucket_us[HOST_HIST_BUCKETS] = {250,    500,     1000,    2500,    5000,
                                                      10000,  25000,   50000,   100000,  250000,
                                                      500000, 1000000, 2500000, 10000000};

host_metrics *host_metrics_create(size_t max_series)
{
    size_t size = sizeof(host_metrics) + max_series * sizeof(host_series);
    host_metrics *m;

    m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    /* mmap hands out zeroed pages: every slot starts SLOT_EMPTY. */
    m->map_size = size;
    m->nseries = (uint32_t)max_series;
    return m;
}

void host_metrics_destroy(host_metrics *m)
{
    if (m)
        munmap(m, m->map_size);
}

static uint32_t hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 16777619u;
    h = (h ^ '{') * 16777619u;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 16777619u;
    return h;
}

int host_metrics_family(host_metrics *m, const char *name, host_metric_type type, const char *help)
{
    int i;

    if (strlen(name) >= FAMILY_MAX)
        return -1;
    for (i = 0; i < MAX_FAMILIES; i++) {
        metric_family *f = &m->families[i];
        uint32_t expect = SLOT_EMPTY;
        uint32_t st = atomic_load(&f->state);
        if (st == SLOT_EMPTY) {
            if (atomic_compare_exchange_strong(&f->state, &expect, SLOT_WRITING)) {
                f->type = type;
                snprintf(f->name, sizeof f->name, "%s", name);
                snprintf(f->help, sizeof f->help, "%s", help ? help : "");
                atomic_store(&f->state, SLOT_READY);
                return 0;
            }
            st = expect;
        }
        /* Another worker is declaring a family here right now, maybe this
         * one (all workers declare theirs at start): wait and look, or the
         * family would be listed twice and every sum doubled. */
        while (st == SLOT_WRITING)
            st = atomic_load(&f->state);
        if (strcmp(f->name, name) == 0)
            return 0;
    }
    return -1;
}

host_series *host_metrics_series(host_metrics *m, const char *family, const char *labels)
{
    uint32_t h, i, n;

    if (!m || strlen(family) >= FAMILY_MAX || strlen(labels) >= LABELS_MAX)
        return NULL;
    n = m->nseries;
    h = hash2(family, labels);
    for (i = 0; i < n; i++) {
        host_series *s = &m->series[(h + i) % n];
        uint32_t st = atomic_load(&s->state);
        uint32_t expect = SLOT_EMPTY;
        if (st == SLOT_EMPTY) {
            if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_WRITING)) {
                st = expect; /* someone else took it: look at what they wrote */
            } else {
                s->hash = h;
                strcpy(s->family, family);
                strcpy(s->labels, labels);
                atomic_store(&s->state, SLOT_READY);
                return s;
            }
        }
        while (st == SLOT_WRITING) /* a few stores away from READY */
            st = atomic_load(&s->state);
        if (s->hash == h && strcmp(s->family, family) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    }
    atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
    return NULL;
}

void host_series_add(host_series *s, int64_t delta)
{
    if (s)
        atomic_fetch_add_explicit(&s->v[0], delta, memory_order_relaxed);
}

void host_series_set(host_series *s, int64_t value)
{
    if (s)
        atomic_store_explicit(&s->v[0], value, memory_order_relaxed);
}

void host_series_observe_us(host_series *s, uint64_t us)
{
    int b = 0;

    if (!s)
        return;
    while (b < HOST_HIST_BUCKETS && us > bucket_us[b])
        b++;
    if (b < HOST_HIST_BUCKETS)
        atomic_fetch_add_explicit(&s->v[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->v[HOST_HIST_BUCKETS], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->v[HOST_HIST_BUCKETS + 1], (int64_t)us, memory_order_relaxed);
}

host_worker_slot *host_metrics_slot(host_metrics *m, int index)
{
    if (!m || index < 0 || index >= HOST_MAX_WORKER_SLOTS)
        return NULL;
    return &m->workers[index];
}

/* The balancing only ever makes a worker wait for a peer that would take
 * the connection instead.  A peer that is stopped or stuck in a plugin
 * would not: waiting for it stalls every new connection for as long as it
 * is stuck.  So a peer whose loop has not turned lately (its heartbeat,
 * written on every turn) counts as not accepting.  Taking a stale peer for
 * a live one costs at most HOST_SLOT_STALE_MS of waiting; taking a live
 * one for a stale one only makes this worker take a little more than its
 * share, so the threshold leans long. */
int64_t host_metrics_min_conns(host_metrics *m, int64_t generation, int64_t now_ms)
{
    int64_t best = INT64_MAX;
    int i;

    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++) {
        host_worker_slot *w = &m->workers[i];
        if (__atomic_load_n(&w->pid, __ATOMIC_RELAXED) == 0 ||
            __atomic_load_n(&w->accepting, __ATOMIC_RELAXED) == 0 ||
            __atomic_load_n(&w->generation, __ATOMIC_RELAXED) != generation ||
            now_ms - __atomic_load_n(&w->tick_ms, __ATOMIC_RELAXED) > HOST_SLOT_STALE_MS)
            continue;
        int64_t c = __atomic_load_n(&w->conns_open, __ATOMIC_RELAXED);
        if (c < best)
            best = c;
    }
    return best == INT64_MAX ? 0 : best;
}

/* The master is the only writer; a full table forgets the oldest slot in
 * the probe line, which only costs that event a few more attempts. */
void host_metrics_poison_add(host_metrics *m, int64_t id)
{
    uint32_t h = (uint32_t)((uint64_t)id * 2654435761u) % POISON_SLOTS, i;

    if (!m || id <= 0)
        return;
    for (i = 0; i < 8; i++) {
        poison *p = &m->poison[(h + i) % POISON_SLOTS];
        int64_t cur = __atomic_load_n(&p->event_id, __ATOMIC_RELAXED);
        if (cur == id || cur == 0) {
            __atomic_store_n(&p->event_id, id, __ATOMIC_RELAXED);
            __atomic_fetch_add(&p->crashes, 1, __ATOMIC_RELAXED);
            return;
        }
    }
    __atomic_store_n(&m->poison[h].crashes, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&m->poison[h].event_id, id, __ATOMIC_RELAXED);
}

int64_t host_metrics_poison_get(host_metrics *m, int64_t id)
{
    uint32_t h = (uint32_t)((uint64_t)id * 2654435761u) % POISON_SLOTS, i;

    if (!m || id <= 0)
        return 0;
    for (i = 0; i < 8; i++) {
        poison *p = &m->poison[(h + i) % POISON_SLOTS];
        if (__atomic_load_n(&p->event_id, __ATOMIC_RELAXED) == id)
            return __atomic_load_n(&p->crashes, __ATOMIC_RELAXED);
    }
    return 0;
}

host_breakers *host_metrics_breakers(host_metrics *m)
{
    return m ? &m->breakers : NULL;
}

static void render_worker_slots(host_metrics *m, host_buf *out)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } cols[] = {
        {"tanomu_connections_open", "gauge", "Open client connections per worker slot.",
         offsetof(host_worker_slot, conns_open)},
        {"tanomu_worker_connections_total", "counter", "Connections accepted per worker slot.",
         offsetof(host_worker_slot, conns_total)},
        {"tanomu_worker_requests_total", "counter", "Requests served per worker slot.",
         offsetof(host_worker_slot, requests_total)},
    };
    size_t c;
    int i;

    for (c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        host_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", cols[c].name, cols[c].help,
                        cols[c].name, cols[c].type);
        for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++) {
            host_worker_slot *w = &m->workers[i];
            int64_t v = __atomic_load_n((int64_t *)((char *)w + cols[c].off), __ATOMIC_RELAXED);
            if (w->pid == 0 && w->conns_total == 0)
                continue;
            host_buf_printf(out, "%s{worker=\"%d\"} %lld\n", cols[c].name, i, (long long)v);
        }
    }
}

static void render_histogram(const host_series *s, host_buf *out)
{
    int64_t cum = 0;
    int b;

    for (b = 0; b < HOST_HIST_BUCKETS; b++) {
        cum += atomic_load(&s->v[b]);
        host_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %lld\n", s->family, s->labels,
                        s->labels[0] ? "," : "", (double)bucket_us[b] / 1e6, (long long)cum);
    }
    host_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", s->family, s->labels,
                    s->labels[0] ? "," : "", (long long)atomic_load(&s->v[HOST_HIST_BUCKETS]));
    host_buf_printf(out, "%s_sum{%s} %.6f\n%s_count{%s} %lld\n", s->family, s->labels,
                    (double)atomic_load(&s->v[HOST_HIST_BUCKETS + 1]) / 1e6, s->family, s->labels,
                    (long long)atomic_load(&s->v[HOST_HIST_BUCKETS]));
}

void host_metrics_render(host_metrics *m, host_buf *out)
{
    static const char *types[] = {"untyped", "counter", "gauge", "histogram"};
    uint32_t i;
    int f;

    render_worker_slots(m, out);
    /* So a full table is seen, not silently missing series. */
    host_buf_printf(out,
                    "# HELP tanomu_metrics_series_dropped_total Updates lost because the "
                    "metrics table is full.\n# TYPE tanomu_metrics_series_dropped_total "
                    "counter\ntanomu_metrics_series_dropped_total %lld\n",
                    (long long)atomic_load(&m->dropped));
    for (f = 0; f < MAX_FAMILIES; f++) {
        metric_family *fam = &m->families[f];
        if (atomic_load(&fam->state) != SLOT_READY)
            continue;
        host_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                        types[fam->type & 3]);
        for (i = 0; i < m->nseries; i++) {
            host_series *s = &m->series[i];
            if (atomic_load(&s->state) != SLOT_READY || strcmp(s->family, fam->name) != 0)
                continue;
            if (fam->type == HOST_METRIC_HISTOGRAM)
                render_histogram(s, out);
            else if (s->labels[0])
                host_buf_printf(out, "%s{%s} %lld\n", s->family, s->labels,
                                (long long)atomic_load(&s->v[0]));
            else
                host_buf_printf(out, "%s %lld\n", s->family, (long long)atomic_load(&s->v[0]));
        }
    }
}
