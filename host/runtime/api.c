/*
 * api.c - the tn_api function table handed to plugins, and the parts of
 * it that are not about requests: registration, events, timers, thread
 * pool work, metrics and logging.
 *
 * Every entry checks its arguments: a plugin bug becomes an error code and
 * a log line naming the plugin, not a crash of the host.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "api.h"
#include "auth_api.h"
#include "database.h"
#include "context.h"
#include "iface.h"
#include "limit_zones.h"
#include "log.h"
#include "names.h"
#include "outbound_api.h"
#include "outbox.h"
#include "jobs.h"
#include "pipeline.h"
#include "plugin_settings.h"
#include "request.h"
#include "secret_api.h"
#include "settings.h"
#include "tx.h"
#include "commands.h"

struct host_event {
    host_event *next;
    char *name;
    char *tenant_id;
    char *payload;
};

static host_worker *worker_of_plugin(const tn_plugin *p)
{
    return p ? p->worker : NULL;
}

static const char *api_host_version(void)
{
    return TANOMU_VERSION;
}

static const char *api_plugin_name(const tn_plugin *p)
{
    return p ? p->name : NULL;
}

static void api_log(tn_plugin *p, tn_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_logv((int)level, p ? p->name : NULL, NULL, fmt, ap);
    va_end(ap);
}

static const char *api_last_error(const tn_plugin *p)
{
    return p ? p->last_error : "";
}

static void api_free(void *ptr)
{
    host_api_free(ptr); /* wipes first: it may hold a secret (secret_api.c) */
}

/* ---- registration ------------------------------------------------------- */

static int registering(const tn_plugin *p, const char *what)
{
    host_worker *w = worker_of_plugin(p);

    if (w && w->initializing)
        return 1;
    host_log_for(HOST_LOG_ERROR, p ? p->name : NULL, NULL, "%s outside init() refused", what);
    return 0;
}

/* route_add is route_add_opts without options: one path (ABI 1.2). */
static int api_route_add_opts(tn_plugin *p, const char *method, const char *pattern,
                              tn_access access, const char *roles, tn_hook_fn fn, void *ud,
                              const tn_route_opts *opts)
{
    int rc;

    if (!registering(p, "route_add"))
        return host_plugin_fail(p, TN_ESTATE, "route_add outside init()");
    rc = host_router_add_opts(&p->worker->router, p, method, pattern, access, roles, fn, ud, opts);
    if (rc != TN_OK) {
        host_log_for(HOST_LOG_ERROR, p->name, NULL, "route %s %s refused (%s)",
                     method ? method : "?", pattern ? pattern : "?",
                     rc == TN_EEXIST ? "already registered" : "invalid");
        host_plugin_fail(p, rc, "route %s %s refused (%s)", method ? method : "?",
                         pattern ? pattern : "?",
                         rc == TN_EEXIST ? "already registered" : "invalid");
    }
    return rc;
}

static int api_route_add(tn_plugin *p, const char *method, const char *pattern, tn_access access,
                         const char *roles, tn_hook_fn fn, void *ud)
{
    return api_route_add_opts(p, method, pattern, access, roles, fn, ud, NULL);
}

/* Hooks of a phase are kept in plugin order (the before/after order the
 * loader resolved), then registration order within a plugin. */
static int api_hook_add(tn_plugin *p, tn_phase phase, tn_hook_fn fn, void *ud)
{
    host_hooks *hs;
    host_hook *v;
    int i;

    if (!registering(p, "hook_add"))
        return TN_ESTATE;
    if ((int)phase < 0 || phase >= TN_PHASE_COUNT || !fn)
        return TN_EINVAL;
    hs = &p->worker->hooks[phase];
    if (!(v = realloc(hs->v, (size_t)(hs->n + 1) * sizeof *v)))
        return TN_ENOMEM;
    hs->v = v;
    for (i = hs->n; i > 0 && v[i - 1].plugin->index > p->index; i--)
        v[i] = v[i - 1];
    v[i].plugin = p;
    v[i].fn = fn;
    v[i].ud = ud;
    hs->n++;
    return TN_OK;
}

static int api_event_subscribe(tn_plugin *p, const char *name, tn_event_fn fn, void *ud)
{
    host_worker *w = worker_of_plugin(p);
    host_sub *v;

    if (!registering(p, "event_subscribe"))
        return TN_ESTATE;
    if (!host_event_name_valid(name) || !fn)
        return TN_EINVAL;
    if (!(v = realloc(w->subs, (size_t)(w->nsubs + 1) * sizeof *v)))
        return TN_ENOMEM;
    w->subs = v;
    if (!(v[w->nsubs].name = strdup(name)))
        return TN_ENOMEM;
    v[w->nsubs].plugin = p;
    v[w->nsubs].fn = fn;
    v[w->nsubs].ud = ud;
    w->nsubs++;
    return TN_OK;
}

static tn_metric *metric_new(tn_plugin *p, const char *name, const char *help,
                             host_metric_type type)
{
    host_worker *w = worker_of_plugin(p);
    tn_metric *m, **v;

    char family[64];
    int i;

    if (!registering(p, "metric registration") || !host_metric_name_valid(name))
        return NULL;
    snprintf(family, sizeof family, "tanomu_plugin_%s_%s", p->name, name);
    for (i = 0; i < w->nmetrics; i++)
        if (strcmp(w->metrics_v[i]->family, family) == 0) {
            host_log_for(HOST_LOG_ERROR, p->name, NULL, "metric %s registered twice", name);
            return NULL;
        }
    if (!(m = calloc(1, sizeof *m)))
        return NULL;
    memcpy(m->family, family, sizeof family);
    m->type = type;
    m->worker = w;
    if (!(v = realloc(w->metrics_v, (size_t)(w->nmetrics + 1) * sizeof *v))) {
        free(m);
        return NULL;
    }
    w->metrics_v = v;
    v[w->nmetrics++] = m;
    if (w->metrics)
        host_metrics_family(w->metrics, m->family, type, help ? help : "");
    return m;
}

static tn_metric *api_metric_counter(tn_plugin *p, const char *name, const char *help)
{
    return metric_new(p, name, help, HOST_METRIC_COUNTER);
}

static tn_metric *api_metric_gauge(tn_plugin *p, const char *name, const char *help)
{
    return metric_new(p, name, help, HOST_METRIC_GAUGE);
}

/* ---- metrics, events, timers, work -------------------------------------- */

/* Plugins usually count for the same tenant again and again: the last
 * series found is kept, so the shared table is searched on a change only. */
static host_series *metric_series(host_worker *w, tn_metric *m, const char *tenant)
{
    char labels[128];

    if (!w || !w->metrics || !m)
        return NULL;
    tenant = tenant ? tenant : "";
    if (m->last && strcmp(m->last_tenant, tenant) == 0)
        return m->last;
    host_metrics_tenant_labels(labels, sizeof labels, tenant);
    m->last = NULL;
    if (strlen(tenant) < sizeof m->last_tenant) {
        m->last = host_metrics_series(w->metrics, m->family, labels);
        memcpy(m->last_tenant, tenant, strlen(tenant) + 1);
        return m->last;
    }
    return host_metrics_series(w->metrics, m->family, labels);
}

static void api_metric_add(tn_metric *m, const char *tenant, int64_t delta)
{
    if (m && m->type == HOST_METRIC_COUNTER && delta < 0)
        return; /* counters only go up */
    host_series_add(metric_series(m ? m->worker : NULL, m, tenant), delta);
}

static void api_metric_set(tn_metric *m, const char *tenant, int64_t value)
{
    if (m && m->type == HOST_METRIC_GAUGE)
        host_series_set(metric_series(m ? m->worker : NULL, m, tenant), value);
}

static void event_free(host_event *e)
{
    free(e->name);
    free(e->tenant_id);
    free(e->payload);
    free(e);
}

static void deliver_events(uv_idle_t *idle)
{
    host_worker *w = idle->data;
    host_event *e;
    int i;

    while ((e = w->events_head) != NULL) {
        const host_tenant *t = NULL;
        tn_event ev = {sizeof ev, e->name, e->tenant_id, e->payload, strlen(e->payload), 0, 1};
        w->events_head = e->next;
        if (!w->events_head)
            w->events_tail = NULL;
        for (i = 0; e->tenant_id && i < w->conf.ntenants; i++)
            if (w->conf.tenants[i].id && strcmp(w->conf.tenants[i].id, e->tenant_id) == 0)
                t = &w->conf.tenants[i];
        for (i = 0; i < w->nsubs; i++) {
            host_sub *s = &w->subs[i];
            if (strcmp(s->name, e->name) != 0)
                continue;
            if (e->tenant_id && !host_worker_enabled(w, t, s->plugin))
                continue;
            host_worker_running(w, s->plugin, e->name);
            s->fn(s->plugin, &ev, s->ud);
            host_worker_running(w, NULL, NULL);
        }
        event_free(e);
    }
    uv_idle_stop(idle);
}

static int api_event_publish(tn_plugin *p, const char *tenant_id, const char *name,
                             const char *payload)
{
    host_worker *w = worker_of_plugin(p);
    host_event *e;

    if (!w || !host_event_name_valid(name))
        return TN_EINVAL;
    if (!(e = calloc(1, sizeof *e)))
        return TN_ENOMEM;
    e->name = strdup(name);
    e->tenant_id = tenant_id ? strdup(tenant_id) : NULL;
    e->payload = strdup(payload ? payload : "{}");
    if (!e->name || !e->payload || (tenant_id && !e->tenant_id)) {
        event_free(e);
        return TN_ENOMEM;
    }
    if (w->events_tail)
        w->events_tail->next = e;
    else
        w->events_head = e;
    w->events_tail = e;
    /* Delivered on the next loop iteration, never inside the publisher. */
    uv_idle_start(&w->events_idle, deliver_events);
    return TN_OK;
}

static void on_timer(uv_timer_t *t)
{
    tn_timer *tm = t->data;

    host_worker_running(tm->plugin->worker, tm->plugin, "timer");
    tm->fn(tm->plugin, tm->ud);
    host_worker_running(tm->plugin->worker, NULL, NULL);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static tn_timer *api_timer_start(tn_plugin *p, uint64_t after_ms, uint64_t repeat_ms,
                                 tn_timer_fn fn, void *ud)
{
    host_worker *w = worker_of_plugin(p);
    tn_timer *t;

    if (!w || !fn || (t = calloc(1, sizeof *t)) == NULL)
        return NULL;
    t->plugin = p;
    t->fn = fn;
    t->ud = ud;
    uv_timer_init(w->loop, &t->timer);
    t->timer.data = t;
    t->next = w->timers;
    if (w->timers)
        w->timers->prev = t;
    w->timers = t;
    uv_timer_start(&t->timer, on_timer, after_ms, repeat_ms);
    return t;
}

static void api_timer_stop(tn_timer *t)
{
    host_worker *w;

    if (!t || uv_is_closing((uv_handle_t *)&t->timer))
        return;
    w = t->plugin->worker;
    if (t->prev)
        t->prev->next = t->next;
    else
        w->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

typedef struct host_work {
    uv_work_t req;
    tn_plugin *plugin;
    tn_work_fn work;
    tn_work_done_fn done;
    void *ud;
} host_work;

static void work_run(uv_work_t *req)
{
    host_work *hw = req->data;

    hw->work(hw->ud);
}

static void work_after(uv_work_t *req, int status)
{
    host_work *hw = req->data;

    if (hw->done) {
        host_worker_running(hw->plugin->worker, hw->plugin, "work");
        hw->done(hw->ud, status == UV_ECANCELED ? TN_ECANCELED : status);
        host_worker_running(hw->plugin->worker, NULL, NULL);
    }
    free(hw);
}

static int api_work_queue(tn_plugin *p, tn_work_fn work, tn_work_done_fn done, void *ud)
{
    host_worker *w = worker_of_plugin(p);
    host_work *hw;

    if (!w || !work)
        return TN_EINVAL;
    if (!(hw = calloc(1, sizeof *hw)))
        return TN_ENOMEM;
    hw->plugin = p;
    hw->work = work;
    hw->done = done;
    hw->ud = ud;
    hw->req.data = hw;
    if (uv_queue_work(w->loop, &hw->req, work_run, work_after) != 0) {
        free(hw);
        return TN_ESTATE;
    }
    return TN_OK;
}

/* ---- request side -------------------------------------------------------- */

static const tn_config *api_req_config(tn_request *r, const tn_plugin *p)
{
    return host_pipeline_config(r, p);
}

static const tn_config *api_tenant_config(const tn_plugin *p, const char *tenant_id)
{
    host_worker *w = worker_of_plugin(p);
    int i;

    if (!w || !tenant_id)
        return NULL;
    for (i = 0; i < w->conf.ntenants; i++) {
        const host_tenant *t = &w->conf.tenants[i];
        if (t->id && strcmp(t->id, tenant_id) == 0 && p->index < t->nfeatures)
            return t->features[p->index].cfg;
    }
    return NULL;
}

static const char *api_req_method(const tn_request *r)
{
    return r->method;
}
static const char *api_req_path(const tn_request *r)
{
    return r->path;
}
static const char *api_req_query(const tn_request *r)
{
    return r->query ? r->query : "";
}
static const char *api_req_tenant(const tn_request *r)
{
    return r->tenant ? r->tenant->id : NULL;
}
static const char *api_req_id(const tn_request *r)
{
    return r->request_id;
}
static const char *api_req_client_addr(const tn_request *r)
{
    return r->client_addr;
}
static const char *api_req_principal(const tn_request *r)
{
    return r->user_id;
}
static int api_req_is_aborted(const tn_request *r)
{
    return r->aborted;
}

static const char *api_req_route(const tn_request *r)
{
    return r->match.route ? r->match.route->pattern : NULL;
}

static const void *api_req_body(const tn_request *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

static int api_req_is_tls(const tn_request *r)
{
    return host_request_is_tls(r);
}

static int api_req_set_principal(tn_request *r, const char *user_id, const char *roles)
{
    /* S11: only the authenticate phase establishes who is calling, once. */
    if (!host_pipeline_in_phase(r, TN_PHASE_AUTHENTICATE) || r->user_id)
        return TN_ESTATE;
    if (!user_id || !*user_id || strlen(user_id) > 256 || !host_header_value_valid(user_id) ||
        (roles && !host_header_value_valid(roles)))
        return TN_EINVAL;
    r->user_id = host_req_strdup(r, user_id);
    r->roles = host_req_strdup(r, roles ? roles : "");
    return r->user_id && r->roles ? TN_OK : TN_ENOMEM;
}

static int api_req_has_role(const tn_request *r, const char *role)
{
    return role && host_roles_contain(r->roles, role, strlen(role));
}

static void *api_req_alloc(tn_request *r, size_t n)
{
    return host_arena_alloc(&r->arena, n);
}

static char *api_req_strdup(tn_request *r, const char *s)
{
    return s ? host_req_strdup(r, s) : NULL;
}

static void api_req_log(tn_request *r, tn_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_logv((int)level, NULL, r->request_id, fmt, ap);
    va_end(ap);
}

static void api_req_resume(tn_request *r, tn_status st)
{
    host_pipeline_resume(r, st);
}

static int api_stream_begin(tn_request *r)
{
    host_worker *w = r->srv->ctx;
    int i;

    if (r->head_sent || !r->active)
        return TN_ESTATE;
    /* Response hooks still get to add headers before the head leaves;
     * TN_DONE ends the phase, as it does for a response sent whole. */
    for (i = 0; i < w->hooks[TN_PHASE_RESPONSE].n; i++) {
        host_hook *h = &w->hooks[TN_PHASE_RESPONSE].v[i];
        if (host_worker_enabled(w, r->tenant, h->plugin) && h->fn(h->plugin, r, h->ud) == TN_DONE)
            break;
    }
    return host_response_stream_begin(r);
}

const tn_api host_api = {
    .size = sizeof(tn_api),
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .host_version = api_host_version,
    .plugin_name = api_plugin_name,
    .log = api_log,
    .route_add = api_route_add,
    .hook_add = api_hook_add,
    .event_subscribe = api_event_subscribe,
    .metric_counter = api_metric_counter,
    .metric_gauge = api_metric_gauge,
    .metric_add = api_metric_add,
    .metric_set = api_metric_set,
    .event_publish = api_event_publish,
    .timer_start = api_timer_start,
    .timer_stop = api_timer_stop,
    .work_queue = api_work_queue,
    .req_config = api_req_config,
    .config_tenant = host_config_tenant,
    .config_str = host_config_str,
    .config_int = host_config_int,
    .config_bool = host_config_bool,
    .config_float = host_config_float,
    .config_is_set = host_config_is_set,
    .check_error = host_check_error,
    .req_method = api_req_method,
    .req_path = api_req_path,
    .req_query = api_req_query,
    .req_query_param = host_req_query_param,
    .req_header = host_req_header,
    .req_cookie = host_req_cookie,
    .req_param = host_req_param,
    .req_body = api_req_body,
    .req_tenant = api_req_tenant,
    .req_id = api_req_id,
    .req_client_addr = api_req_client_addr,
    .req_route = api_req_route,
    .req_is_tls = api_req_is_tls,
    .req_set_principal = api_req_set_principal,
    .req_principal = api_req_principal,
    .req_has_role = api_req_has_role,
    .req_alloc = api_req_alloc,
    .req_strdup = api_req_strdup,
    .req_log = api_req_log,
    .req_resume = api_req_resume,
    .req_is_aborted = api_req_is_aborted,
    .resp_status = host_resp_status,
    .resp_header = host_resp_header,
    .resp_body = host_resp_body,
    .resp_json = host_resp_json,
    .resp_error = host_resp_error,
    .resp_stream_begin = api_stream_begin,
    .resp_write = host_response_stream_write,
    .resp_end = host_response_stream_end,
    .tenant_config = api_tenant_config,
    .db_query = host_api_db_query,
    .db_commit = host_api_db_commit,
    .db_rollback = host_api_db_rollback,
    .db_status = host_api_db_status,
    .db_sqlstate = host_api_db_sqlstate,
    .db_message = host_api_db_message,
    .db_rows = host_api_db_rows,
    .db_cols = host_api_db_cols,
    .db_colname = host_api_db_colname,
    .db_value = host_api_db_value,
    .db_affected = host_api_db_affected,
    .resp_db_error = host_api_resp_db_error,
    .db_publish = host_api_db_publish,
    .db_audit = host_api_db_audit,
    .event_subscribe_durable = host_api_event_subscribe_durable,
    .delivery_done = host_api_delivery_done,
    .last_error = api_last_error,
    .free = api_free,
    .tx_begin = host_api_tx_begin,
    .tx_query = host_api_tx_query,
    .tx_commit = host_api_tx_commit,
    .tx_rollback = host_api_tx_rollback,
    .tx_publish = host_api_tx_publish,
    .delivery_tx = host_api_delivery_tx,
    .secret_seal = host_api_secret_seal,
    .secret_unseal = host_api_secret_unseal,
    .limit_zone = host_api_limit_zone,
    .limit_take = host_api_limit_take,
    .job_schedule = host_api_job_schedule,
    .job_tenant = host_api_job_tenant,
    .job_tick = host_api_job_tick,
    .job_done = host_api_job_done,
    .job_history = host_api_job_history,
    .iface_export = host_api_iface_export,
    .iface_get = host_api_iface_get,
    .req_header_each = host_req_header_each,
    .plugin_config = host_api_plugin_config,
    .http_call = host_api_http_call,
    .call_cancel = host_api_call_cancel,
    .curl_run = host_api_curl_run,
    .route_add_opts = api_route_add_opts,
    .req_set_auth = host_api_req_set_auth,
    .req_auth = host_api_req_auth,
    .command_add = host_api_command_add,
    .command_done = host_api_command_done,
    .tx_audit = host_api_tx_audit,
};

void host_worker_events_init(host_worker *w)
{
    uv_idle_init(w->loop, &w->events_idle);
    w->events_idle.data = w;
}

void host_worker_api_cleanup(host_worker *w)
{
    host_event *e;
    int i;

    while (w->timers)
        api_timer_stop(w->timers);
    host_tx_cleanup(w); /* after fini(): what the plugins left open */
    host_jobs_free(w);
    while ((e = w->events_head) != NULL) {
        w->events_head = e->next;
        event_free(e);
    }
    w->events_tail = NULL;
    for (i = 0; i < w->nsubs; i++)
        free(w->subs[i].name);
    free(w->subs);
    w->subs = NULL;
    w->nsubs = 0;
    for (i = 0; i < w->nmetrics; i++)
        free(w->metrics_v[i]);
    free(w->metrics_v);
    w->metrics_v = NULL;
    w->nmetrics = 0;
    for (i = 0; i < TN_PHASE_COUNT; i++) {
        free(w->hooks[i].v);
        w->hooks[i].v = NULL;
        w->hooks[i].n = 0;
    }
    host_limit_zones_free(w);
    host_commands_free(w);
}
