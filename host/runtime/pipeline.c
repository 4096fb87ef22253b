/*
 * pipeline.c - what a worker does with a request: resolve the tenant, run
 * the phases (early, authenticate, the host's access check, authorize,
 * handle, the route handler, response), then send, log and count.
 *
 * A hook may suspend the request; req_resume() picks up at the next step.
 * The position is kept in the request (stage, hook), so the walk is a loop
 * that can stop and restart anywhere, never a recursion through plugins.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <http_parser.h>

#include "access.h"
#include "auth_info.h"
#include "database.h"
#include "context.h"
#include "log.h"
#include "outbound_api.h"
#include "pipeline.h"
#include "request.h"
#include "settings.h"

enum stage {
    ST_EARLY = 0,
    ST_ROUTE,
    ST_AUTHN,
    ST_ACCESS,
    ST_AUTHZ,
    ST_HANDLE,
    ST_HANDLER,
    ST_RESPONSE,
    ST_SEND,
    ST_DONE
};

/* call() result when the response ended inside the hook: stop walking. */
#define HOOK_ENDED ((tn_status)100)

static host_worker *worker_of(const tn_request *r)
{
    return r->srv->ctx;
}

static int route_allowed(const tn_plugin *p, const void *ctx)
{
    const tn_request *r = ctx;

    return host_worker_enabled(worker_of(r), r->tenant, p);
}

/* Fails closed: no principal is 401, none of the route's roles is 403,
 * then the route's options (ABI 1.2) against how the principal
 * authenticated: 401 mfa_required or reauth_required. */
static int access_denied(tn_request *r)
{
    const host_route *rt = r->match.route;
    const char *code;

    switch (host_access_check(rt->access, rt->roles, r->user_id, r->roles)) {
    case 0:
        if (!(code = host_route_opts_refusal(&rt->opts, r->auth, (int64_t)time(NULL))))
            return 0;
        host_resp_error(r, 401, code, host_route_opts_message(code));
        return 1;
    case 401: host_resp_error(r, 401, "unauthenticated", "authentication required"); return 1;
    default: host_resp_error(r, 403, "forbidden", "not allowed for this account"); return 1;
    }
}

static int route_request(tn_request *r)
{
    host_worker *w = worker_of(r);
    char allow[96];
    int i;

    if (host_router_match(&w->router, r->method, r->path, route_allowed, r, &r->match) == 0) {
        for (i = 0; i < r->match.nparams; i++) {
            r->params[i] = host_percent_decode(r, r->match.start[i], r->match.len[i], 0);
            if (!r->params[i]) {
                host_resp_error(r, 400, "bad_request", "malformed path parameter");
                return -1;
            }
        }
        return 0;
    }
    if (r->match.other_methods) {
        host_router_allow(&w->router, r->path, route_allowed, r, allow, sizeof allow);
        host_resp_error(r, 405, "method_not_allowed", "method not allowed here");
        if (allow[0])
            host_resp_header(r, "Allow", allow);
        return -1;
    }
    host_resp_error(r, 404, "not_found", "no such resource");
    return -1;
}

/* An open crash circuit breaker (breaker.h) answers the route 503 for this
 * tenant without running it.  503 with Retry-After: the request was not
 * processed, so retrying after the cool-down is safe. */
static int breaker_refused(tn_request *r)
{
    host_worker *w = worker_of(r);
    const char *plugin = "";
    uint64_t retry_s = 1;
    char retry[24], labels[380], tenant[150], route[200];

    if (!host_breaker_check(host_metrics_breakers(w->metrics), r->match.route->pattern,
                            r->tenant->id, w->conf.server.breaker.cooldown_ms,
                            host_now_ns() / 1000000, &r->breaker_probe, &retry_s, &plugin))
        return 0;
    host_resp_error(r, 503, "route_unavailable",
                    "this route is suspended after repeated failures; retry later");
    snprintf(retry, sizeof retry, "%llu", (unsigned long long)retry_s);
    host_resp_header(r, "Retry-After", retry);
    host_log_for(HOST_LOG_DEBUG, plugin, r->request_id, "circuit breaker open: %s %s answered 503",
                 r->method, r->path);
    host_metrics_label(tenant, sizeof tenant, r->tenant->id);
    host_metrics_label(route, sizeof route, r->match.route->pattern);
    snprintf(labels, sizeof labels, "tenant=\"%s\",route=\"%s\"", tenant, route);
    host_series_add(host_metrics_series(w->metrics, "tanomu_route_breaker_rejected_total", labels),
                    1);
    return 1;
}

/* Maintenance mode (core/maintenance.h): the configuration, global or the
 * tenant's, closes every tenant route but those only platform admins may
 * call.  Nothing of the route runs, no hook either: 503 with Retry-After
 * says the request was not processed and may be retried. */
static int maintenance_refused(tn_request *r)
{
    host_worker *w = worker_of(r);
    const host_route *rt = r->match.route;
    const host_maint_conf *m = host_maint_effective(&w->conf.maint, &r->tenant->maint);
    char labels[100], tenant[80];

    if (!m || host_maint_route_exempt(rt->access, rt->roles))
        return 0;
    host_resp_json(r, 503, m->body);
    host_resp_header(r, "Retry-After", m->retry_after);
    host_resp_header(r, "Cache-Control", "no-store");
    if (w->metrics) {
        host_metrics_label(tenant, sizeof tenant, r->tenant->id);
        snprintf(labels, sizeof labels, "tenant=\"%s\"", tenant);
        host_series_add(host_metrics_series(w->metrics, "tanomu_maintenance_refused_total", labels),
                        1);
    }
    return 1;
}

static int stage_phase(int stage)
{
    switch (stage) {
    case ST_EARLY: return TN_PHASE_EARLY;
    case ST_AUTHN: return TN_PHASE_AUTHENTICATE;
    case ST_AUTHZ: return TN_PHASE_AUTHORIZE;
    case ST_HANDLE: return TN_PHASE_HANDLE;
    case ST_RESPONSE: return TN_PHASE_RESPONSE;
    }
    return -1;
}

static void run(tn_request *r);

/* TN_DONE: on to the response phase, or, said by a response hook, straight
 * to sending.  The handler runs with the stage already at ST_RESPONSE and
 * hook 0, so a handler's DONE (returned or resumed) still gets the response
 * hooks, while a response hook's (hook already past it) ends them. */
static void skip_to_response(tn_request *r)
{
    if (r->stage < ST_RESPONSE) {
        r->stage = ST_RESPONSE;
        r->hook = 0;
    } else if (r->stage == ST_RESPONSE && r->hook > 0) {
        r->stage = ST_SEND;
    }
}

/* Calls one hook or handler with the bookkeeping around it. */
static tn_status call(tn_request *r, tn_plugin *p, tn_hook_fn fn, void *ud, const char *what)
{
    host_worker *w = worker_of(r);
    tn_status st;

    r->in_hook = 1;
    r->pending_resume = -1;
    host_worker_running(w, p, what);
    if (w->slot && r->tenant)
        snprintf(w->slot->tenant, sizeof w->slot->tenant, "%s", r->tenant->id);
    st = fn(p, r, ud);
    host_worker_running(w, NULL, NULL);
    r->in_hook = 0;
    if (host_request_unwind(r))
        return HOOK_ENDED;
    if (st == TN_SUSPEND && r->pending_resume >= 0)
        st = (tn_status)r->pending_resume; /* resumed before it returned */
    return st;
}

static void fail_500(tn_request *r, const tn_plugin *p)
{
    host_log_for(HOST_LOG_ERROR, p ? p->name : NULL, r->request_id,
                 "plugin returned an error on %s %s", r->method, r->path);
    if (!r->head_sent)
        host_resp_error(r, 500, "internal", "internal error");
}

static void run(tn_request *r)
{
    host_worker *w = worker_of(r);

    while (r->stage != ST_DONE) {
        int phase = stage_phase(r->stage);
        if (phase >= 0) {
            host_hooks *hs = &w->hooks[phase];
            if (r->hook >= hs->n) {
                r->stage++;
                r->hook = 0;
                continue;
            }
            host_hook *h = &hs->v[r->hook++];
            if (!host_worker_enabled(w, r->tenant, h->plugin))
                continue;
            tn_status st = call(r, h->plugin, h->fn, h->ud,
                                r->match.route ? r->match.route->pattern : r->path);
            if (st == HOOK_ENDED)
                return;
            if (st == TN_SUSPEND) {
                r->suspended = 1;
                return;
            }
            if (st == TN_ERROR) {
                fail_500(r, h->plugin);
                st = TN_DONE;
            }
            if (st == TN_DONE)
                skip_to_response(r);
            continue;
        }
        switch (r->stage) {
        case ST_ROUTE:
            if (route_request(r) != 0)
                r->stage = ST_RESPONSE;
            else if (maintenance_refused(r))
                r->stage = ST_SEND;
            else if (breaker_refused(r))
                r->stage = ST_SEND; /* no hook either: the crash may be in one */
            else
                r->stage = ST_AUTHN;
            break;
        case ST_ACCESS: r->stage = access_denied(r) ? ST_RESPONSE : ST_AUTHZ; break;
        case ST_HANDLER: {
            const host_route *rt = r->match.route;
            tn_status st;
            r->stage = ST_RESPONSE;
            r->hook = 0;
            st = call(r, rt->plugin, rt->fn, rt->ud, rt->pattern);
            if (st == HOOK_ENDED)
                return;
            if (st == TN_SUSPEND) {
                r->suspended = 1;
                return;
            }
            if (st == TN_ERROR)
                fail_500(r, rt->plugin);
            break;
        }
        case ST_SEND:
            r->stage = ST_DONE;
            if (r->streaming)
                return; /* the plugin ends it with resp_end */
            host_response_send(r);
            return;
        default: r->stage = ST_DONE; break;
        }
    }
}

void host_pipeline_resume(tn_request *r, tn_status st)
{
    if (st == TN_SUSPEND) {
        /* A plugin bug: nothing would ever wake the request again. */
        host_log(HOST_LOG_ERROR, "req_resume with TN_SUSPEND (%s)", r->request_id);
        st = TN_ERROR;
    }
    if (r->in_hook) {
        r->pending_resume = (int)st;
        return;
    }
    if (!r->suspended) {
        host_log(HOST_LOG_ERROR, "req_resume on a request that is not suspended (%s)",
                 r->request_id);
        return;
    }
    r->suspended = 0;
    if (st == TN_ERROR) {
        fail_500(r, NULL);
        st = TN_DONE;
    }
    if (st == TN_DONE)
        skip_to_response(r);
    run(r);
}

static void answer_health(tn_request *r, int ready)
{
    if (ready)
        host_resp_json(r, 200, "{\"status\":\"ok\"}");
    else
        host_resp_error(r, 503, "not_ready", "not ready");
    host_response_send(r);
}

/* The Host header without its port, for the tenant lookup. */
static const char *host_name(const char *h, size_t *len)
{
    const char *colon;

    if (h[0] == '[') {
        const char *end = strchr(h, ']');
        *len = end ? (size_t)(end - h + 1) : strlen(h);
        return h;
    }
    colon = strchr(h, ':');
    *len = colon ? (size_t)(colon - h) : strlen(h);
    return h;
}

void host_pipeline_dispatch(tn_request *r)
{
    host_worker *w = worker_of(r);
    const char *h;
    size_t hl;

    if (strcmp(r->path, "/healthz") == 0) {
        answer_health(r, 1);
        return;
    }
    if (strcmp(r->path, "/readyz") == 0) {
        answer_health(r, !r->srv->draining && host_database_ready(w));
        return;
    }
    h = host_req_header(r, "Host");
    if (h)
        h = host_name(h, &hl);
    r->tenant = h ? host_worker_tenant(w, h, hl) : NULL;
    if (!r->tenant) {
        host_resp_error(r, 404, "unknown_tenant", "no tenant serves this host name");
        host_response_send(r);
        return;
    }
    r->stage = ST_EARLY;
    r->hook = 0;
    run(r);
}

int host_pipeline_in_phase(const tn_request *r, tn_phase phase)
{
    /* While a hook runs, r->stage is the stage it belongs to. */
    return stage_phase(r->stage) == (int)phase;
}

tn_plugin *host_pipeline_hook_plugin(const tn_request *r)
{
    int phase = stage_phase(r->stage);
    const host_hooks *hs;

    if (phase < 0)
        return NULL;
    hs = &worker_of(r)->hooks[phase];
    /* run() moved r->hook past the hook it called. */
    return r->hook > 0 && r->hook <= hs->n ? hs->v[r->hook - 1].plugin : NULL;
}

const tn_config *host_pipeline_config(tn_request *r, const tn_plugin *p)
{
    if (!r || !p || !r->tenant || p->index >= r->tenant->nfeatures)
        return NULL;
    return r->tenant->features[p->index].cfg;
}

/* ---- after the response: count and log ---------------------------------- */

static const char *status_class(int s)
{
    static const char *const c[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

    return s >= 100 && s < 600 ? c[s / 100 - 1] : "other";
}

static host_count_slot *count_slot(host_worker *w, tn_request *r)
{
    const host_route *rt = r->match.route;
    int cls = r->status / 100;
    uintptr_t key = ((uintptr_t)r->tenant >> 4) * 31 + ((uintptr_t)rt >> 4) * 7 + (uintptr_t)cls;
    host_count_slot *c = &w->count_cache[key % HOST_COUNT_SLOTS];
    char labels[256], tenant[80], route[128];

    if (c->requests && c->tenant == r->tenant && c->route == rt && c->status_class == cls)
        return c;
    host_metrics_label(tenant, sizeof tenant, r->tenant ? r->tenant->id : "");
    host_metrics_label(route, sizeof route, rt ? rt->pattern : "(none)");
    snprintf(labels, sizeof labels, "tenant=\"%s\",route=\"%s\",status=\"%s\"", tenant, route,
             status_class(r->status));
    c->requests = host_metrics_series(w->metrics, "tanomu_http_requests_total", labels);
    snprintf(labels, sizeof labels, "tenant=\"%s\"", tenant);
    c->duration = host_metrics_series(w->metrics, "tanomu_http_request_duration_seconds", labels);
    c->tenant = r->tenant;
    c->route = rt;
    c->status_class = cls;
    return c;
}

static void count(host_worker *w, tn_request *r, uint64_t us)
{
    host_count_slot *c;

    if (!w->metrics)
        return;
    if (w->slot)
        __atomic_fetch_add(&w->slot->requests_total, 1, __ATOMIC_RELAXED);
    c = count_slot(w, r);
    host_series_add(c->requests, 1);
    host_series_observe_us(c->duration, us);
}

/* The half-open probe ran to the end and this worker is alive: the route
 * serves this tenant again. */
static void breaker_probe_survived(host_worker *w, tn_request *r)
{
    host_breakers *t = host_metrics_breakers(w->metrics);
    char labels[420];
    int probe = r->breaker_probe;

    r->breaker_probe = 0;
    if (!host_breaker_probe_done(t, probe))
        return;
    host_breaker_labels(&t->b[probe - 1], labels, sizeof labels);
    host_series_set(host_metrics_series(w->metrics, "tanomu_route_breaker_open", labels), 0);
    host_log_for(HOST_LOG_INFO, t->b[probe - 1].plugin, r->request_id,
                 "circuit breaker closed: %s for tenant %s served again",
                 r->match.route ? r->match.route->pattern : r->path,
                 r->tenant ? r->tenant->id : "-");
}

void host_pipeline_complete(tn_request *r)
{
    host_worker *w = worker_of(r);
    uint64_t us = (host_now_ns() - r->start_ns) / 1000;
    host_buf line;

    host_database_request_end(r);
    host_calls_request_end(r);
    if (r->breaker_probe)
        breaker_probe_survived(w, r);
    count(w, r, us);
    if (!w->conf.server.log_access || !host_log_enabled(HOST_LOG_INFO))
        return;
    /* S16: the path without its query string, no headers, no body. */
    host_buf_init(&line);
    host_log_begin(&line, HOST_LOG_INFO);
    host_buf_puts(&line, ",\"type\":\"access\",\"request_id\":");
    host_buf_json_str(&line, r->request_id);
    host_buf_puts(&line, ",\"tenant\":");
    host_buf_json_str(&line, r->tenant ? r->tenant->id : "");
    host_buf_puts(&line, ",\"method\":");
    host_buf_json_str(&line, r->method ? r->method : "-");
    host_buf_puts(&line, ",\"path\":");
    host_buf_json_str(&line, r->path ? r->path : "-");
    if (r->match.route) {
        host_buf_puts(&line, ",\"route\":");
        host_buf_json_str(&line, r->match.route->pattern);
    }
    host_buf_printf(&line, ",\"status\":%d,\"bytes\":%llu,\"duration_us\":%llu", r->status,
                    (unsigned long long)r->bytes_sent, (unsigned long long)us);
    if (r->user_id) {
        host_buf_puts(&line, ",\"user\":");
        host_buf_json_str(&line, r->user_id);
    }
    host_buf_printf(&line, ",\"client\":\"%s\"%s", r->client_addr ? r->client_addr : "",
                    r->aborted ? ",\"aborted\":true" : "");
    host_log_end(&line);
    host_buf_free(&line);
}
