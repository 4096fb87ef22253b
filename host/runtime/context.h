/*
 * context.h - host_worker, the one context every runtime file works on: the
 * generation of configuration and plugins a worker serves, and the loop,
 * server and database handles they use.  The process around it (signals,
 * the status pipe, draining) is proc/worker.c's; loading it is
 * generation.c's.
 */
#ifndef HOST_CONTEXT_H
#define HOST_CONTEXT_H

#include <uv.h>

#include <tanomu/tanomu.h>

#include "config.h"
#include "errors.h"
#include "http_server.h"
#include "metrics.h"
#include "plugin_loader.h"
#include "router.h"

typedef struct host_hook {
    tn_plugin *plugin;
    tn_hook_fn fn;
    void *ud;
} host_hook;

typedef struct host_hooks {
    host_hook *v;
    int n;
} host_hooks;

typedef struct host_sub {
    tn_plugin *plugin;
    char *name;
    tn_event_fn fn;
    void *ud;
} host_sub;

typedef struct host_event host_event;

/* Series a request is counted in, by tenant, route and status class: a
 * direct-mapped cache so the hot path skips the shared table's lookup. */
typedef struct host_count_slot {
    const void *tenant;
    const void *route;
    int status_class;
    host_series *requests;
    host_series *duration;
} host_count_slot;
#define HOST_COUNT_SLOTS 256
typedef struct host_tenant_map host_tenant_map;

struct tn_timer {
    uv_timer_t timer;
    tn_plugin *plugin;
    tn_timer_fn fn;
    void *ud;
    struct tn_timer *prev, *next;
};

struct tn_metric {
    char family[64];
    host_metric_type type;
    struct host_worker *worker;
    char last_tenant[72]; /* the series used last, to skip the lookup */
    host_series *last;
};

typedef struct host_worker {
    uv_loop_t *loop;
    host_config conf;
    host_plugins plugins;
    host_router router;
    host_hooks hooks[TN_PHASE_COUNT];
    host_sub *subs;
    int nsubs;
    host_event *events_head, *events_tail;
    uv_idle_t events_idle;
    struct tn_timer *timers;
    tn_metric **metrics_v;
    int nmetrics;
    host_tenant_map *tenant_map;
    host_server srv;
    host_metrics *metrics;
    host_worker_slot *slot;
    int slot_index;
    int64_t generation;
    int initializing; /* registration calls are allowed */
    int loaded;
    int serving;
    int exiting;
    int status_fd; /* to the master: "R" ready or "E"+errors */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    uv_prepare_t log_flush;
    struct host_db *db; /* NULL without database.url */
    struct host_outbox *outbox;
    struct tn_tx *txs;   /* tx.c: open transactions outside requests */
    uv_timer_t db_watch; /* publishes database readiness to the slot */
    host_series *outbox_delivered, *outbox_failed, *outbox_dead;
    host_count_slot count_cache[HOST_COUNT_SLOTS];
    struct host_limit_region *limit_region; /* the master's rate-limit zones */
    struct tn_limit *limits;                /* limit_zones.c: this worker's handles */
    int limit_region_own;                   /* no master (tanomu check): the region is ours */
    struct host_jobs *jobs;                 /* jobs.c: scheduled jobs and their runs */
    int check_schema;         /* serving: refuse plugins whose schema_needs is not applied */
    struct host_calls *calls; /* outbound_api.c: plugins' outbound calls */
    struct host_commands *commands; /* commands.c: plugins' CLI commands */
} host_worker;

/* Does tenant t enable plugin p?  (Disabled plugins neither route nor hook.) */
int host_worker_enabled(const host_worker *w, const host_tenant *t, const tn_plugin *p);

/* Records what runs now in the worker's shared-memory slot, so the master
 * can name the plugin and route if this process dies in the middle of it;
 * p NULL clears it. */
void host_worker_running(host_worker *w, const tn_plugin *p, const char *what);

/* The tenant a Host header names, or NULL; the map is built per generation. */
host_tenant_map *host_tenant_map_build(const host_config *conf);
void host_tenant_map_free(host_tenant_map *m);
const host_tenant *host_worker_tenant(const host_worker *w, const char *host, size_t len);

#endif
