/*
 * metrics.h - counters shared by the master and every worker.
 *
 * One anonymous MAP_SHARED region is mapped by the master before it forks,
 * so workers of every generation add to the same numbers with atomic
 * operations, and the master renders /metrics without asking anyone.
 * Series are found by hashing "family{labels}" into a fixed open-addressed
 * table; a slot is claimed with a compare-and-swap, so no lock is held and
 * a worker that dies mid-update cannot block the others.
 *
 * The region also holds one slot per worker: its pid, generation, live
 * connection count, and what it is running right now (plugin and route),
 * which the master reads when the worker dies to name the culprit.
 */
#ifndef HOST_METRICS_H
#define HOST_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "breaker.h"
#include "labels.h"
#include "buf.h"

#define HOST_MAX_WORKER_SLOTS 64
#define HOST_HIST_BUCKETS 14

typedef enum host_metric_type {
    HOST_METRIC_COUNTER = 1,
    HOST_METRIC_GAUGE = 2,
    HOST_METRIC_HISTOGRAM = 3
} host_metric_type;

typedef struct host_worker_slot {
    int64_t pid; /* 0: free */
    int64_t generation;
    int64_t accepting; /* takes part in accept balancing */
    int64_t conns_open;
    int64_t conns_total;
    int64_t requests_total;
    int64_t db_state;  /* 0 no database, 1 down, 2 up */
    int64_t tick_ms;   /* CLOCK_MONOTONIC ms of the worker's last loop turn */
    char running[128]; /* "plugin\0route" while a plugin runs */
    char tenant[72];   /* the tenant of the request it runs for, or "" */
} host_worker_slot;

typedef struct host_metrics host_metrics;
typedef struct host_series host_series;

host_metrics *host_metrics_create(size_t max_series);
void host_metrics_destroy(host_metrics *m);

/* Declares a family once (type and help for the page). */
int host_metrics_family(host_metrics *m, const char *name, host_metric_type type, const char *help);
/* Finds or creates a series; labels like `tenant="a",route="/x"` (already
 * escaped) or "".  NULL when the table is full. */
host_series *host_metrics_series(host_metrics *m, const char *family, const char *labels);
void host_series_add(host_series *s, int64_t delta);
void host_series_set(host_series *s, int64_t value);
void host_series_observe_us(host_series *s, uint64_t us);

host_worker_slot *host_metrics_slot(host_metrics *m, int index);
/* A worker whose loop has not turned for this long is not taking
 * connections (stopped, or stuck in a plugin): the balancing ignores it.
 * Workers turn at least every 250 ms (their database watch timer). */
#define HOST_SLOT_STALE_MS 1000
/* Smallest conns_open among accepting slots of a generation whose loop
 * turned within HOST_SLOT_STALE_MS of now_ms (CLOCK_MONOTONIC ms). */
int64_t host_metrics_min_conns(host_metrics *m, int64_t generation, int64_t now_ms);

/* Durable events whose delivery killed a worker, by outbox id: written by
 * the master when it reaps the worker, read by the dispatchers. */
void host_metrics_poison_add(host_metrics *m, int64_t event_id);
int64_t host_metrics_poison_get(host_metrics *m, int64_t event_id);

/* The crash circuit breakers (breaker.h), shared like everything here. */
host_breakers *host_metrics_breakers(host_metrics *m);

void host_metrics_render(host_metrics *m, host_buf *out);

#endif
