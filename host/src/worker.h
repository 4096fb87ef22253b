/*
 * worker.h - one worker process: a libuv loop serving one generation of
 * configuration and plugins.
 *
 * host_worker is the worker's whole context.  The same load path
 * (host_generation_load) serves `tanomu check`, `tanomu plugins` and a
 * worker starting up, so what check accepts is exactly what serves.
 */
#ifndef HOST_WORKER_H
#define HOST_WORKER_H

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
    char last_tenant[72];       /* the series used last, to skip the lookup */
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
    int initializing;           /* registration calls are allowed */
    int loaded;
    int serving;
    int exiting;
    int status_fd;              /* to the master: "R" ready or "E"+errors */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    uv_prepare_t log_flush;
    struct host_db *db;         /* NULL without database.url */
    struct host_outbox *outbox;
    uv_timer_t db_watch;        /* publishes database readiness to the slot */
    host_series *outbox_delivered, *outbox_failed, *outbox_dead;
    host_count_slot count_cache[HOST_COUNT_SLOTS];
} host_worker;

/* Loads config from snap, plugins, binds features, runs every plugin's
 * init().  Lenient (strict = 0) as on first start: refused plugins are
 * reported in errs and skipped. */
int host_generation_load(host_worker *w, uv_loop_t *loop, const host_snapshot *snap,
                         int strict, host_errors *errs);
void host_generation_unload(host_worker *w);

/* The body of a worker process; returns the exit status. */
typedef struct host_worker_args {
    const host_snapshot *snap;
    host_metrics *metrics;
    int slot_index;
    int64_t generation;
    int strict;
    int quiet_load_errors;      /* another worker reports them */
    int status_fd;
    const int *listen_fds;
    int nlisten;
    const int *tls_fds;
    int ntls;
    struct host_tls_ctx *tls;   /* the master's, shared by the generation */
} host_worker_args;

int host_worker_main(const host_worker_args *args);

/* pipeline.c */
void host_pipeline_dispatch(tn_request *req);
void host_pipeline_complete(tn_request *req);
void host_pipeline_resume(tn_request *req, tn_status status);
const tn_config *host_pipeline_config(tn_request *req, const tn_plugin *p);
int host_pipeline_in_phase(const tn_request *req, tn_phase phase);
int host_roles_contain(const char *roles, const char *role, size_t len);
int host_worker_enabled(const host_worker *w, const host_tenant *t, const tn_plugin *p);
void host_worker_running(host_worker *w, const tn_plugin *p, const char *what);

/* api.c */
extern const tn_api host_api;
void host_worker_events_init(host_worker *w);
void host_worker_api_cleanup(host_worker *w);

/* tenant map (worker.c) */
const host_tenant *host_worker_tenant(const host_worker *w, const char *host, size_t len);

#endif
