/*
 * dispatch.c - running a request through the stages as the host does:
 *
 *   EARLY, route, AUTHENTICATE, access check, AUTHORIZE, HANDLE, handler,
 *   RESPONSE
 *
 * A tenant nobody configured gets 404 before any hook.  Only hooks of
 * plugins the tenant enables run, in before/after order.  TN_CONTINUE goes
 * on; TN_DONE skips to RESPONSE (in RESPONSE: ends it); TN_ERROR answers
 * 500 and then goes on as TN_DONE; TN_SUSPEND parks the request until
 * req_resume(), whose status then counts as what the hook returned.  No
 * route is 404 (405 with Allow if the path exists for another method), and
 * skips to RESPONSE; routing is the host's router (see routes.c).  The
 * access check fails closed: no principal 401, no listed role 403.
 *
 * The cursor (step, hook index) lives in the request, so a resumed request
 * continues where it stopped.  As on the host, req_resume() runs the rest
 * of the request before it returns, unless the request's own hook calls it
 * before returning TN_SUSPEND, in which case it goes on when that hook
 * returns.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

static tn_phase phase_of(tk_step s)
{
    switch (s) {
    case TK_STEP_EARLY: return TN_PHASE_EARLY;
    case TK_STEP_AUTHENTICATE: return TN_PHASE_AUTHENTICATE;
    case TK_STEP_AUTHORIZE: return TN_PHASE_AUTHORIZE;
    case TK_STEP_HANDLE: return TN_PHASE_HANDLE;
    default: return TN_PHASE_RESPONSE;
    }
}

static int is_hook_step(tk_step s)
{
    return s == TK_STEP_EARLY || s == TK_STEP_AUTHENTICATE || s == TK_STEP_AUTHORIZE ||
           s == TK_STEP_HANDLE || s == TK_STEP_RESPONSE;
}

static void enter_step(tn_request *r, tk_step s)
{
    r->step = s;
    r->hook_i = 0;
    if (s != TK_STEP_RESPONSE)
        return;
    if (r->head_sent || r->resp_phase_done) {
        r->step = TK_STEP_FINISH; /* a stream's head already ran the phase */
    } else if (r->status == 0 && r->resp_headers.n == 0 && r->resp_body.len == 0) {
        /* The host would send an empty 200; the testkit calls it a bug.  A
         * status left unset with a body or headers is the host's 200. */
        tk_log_kit(r->tk, TN_LOG_ERROR, "request %s: no response was produced", r->id);
        tk_resp_fail(r, 500, "internal", "internal error");
    }
}

/* Calls one hook or handler of plugin p on r. */
static tn_status call(tn_request *r, tn_plugin *p, tn_hook_fn fn, void *ud)
{
    tk_kit *tk = r->tk;
    tn_plugin *saved;
    tn_plugin *outer_call = r->in_call;
    int outer_resume = r->early_resume;
    r->in_call = p;
    r->early_resume = 0;
    tk_enter(tk, p, &saved);
    tn_status st = fn(p, r, ud);
    tk_leave(tk, saved);
    if (r->early_resume) {
        /* The hook resumed before it returned: fine if it then said
         * TN_SUSPEND, a bug otherwise. */
        if (st == TN_SUSPEND)
            st = r->resume_status == TN_SUSPEND ? TN_ERROR : r->resume_status;
        else
            tk_log_kit(tk, TN_LOG_ERROR,
                       "plugin %s: req_resume() by a hook that did "
                       "not return TN_SUSPEND",
                       p->desc.name);
    }
    r->in_call = outer_call;
    r->early_resume = outer_resume;
    return st;
}

/* What a hook's (or a resume's) status does to the request. */
static void apply(tn_request *r, tn_status st, const tn_plugin *p)
{
    const char *who = p ? p->desc.name : "?";
    if (st == TN_SUSPEND) {
        r->state = TK_REQ_SUSPENDED;
        return;
    }
    if (st != TN_CONTINUE && st != TN_DONE) {
        if (st == TN_ERROR)
            tk_log_kit(r->tk, TN_LOG_ERROR, "plugin %s: request %s failed (TN_ERROR)", who, r->id);
        else
            tk_log_kit(r->tk, TN_LOG_ERROR, "plugin %s: request %s: unknown status %d", who, r->id,
                       (int)st);
        if (r->head_sent) {
            r->broken = 1; /* too late for a status: the connection is cut */
        } else {
            tk_resp_fail(r, 500, "internal", "internal error");
        }
        st = TN_DONE;
    }
    if (r->step == TK_STEP_HANDLER)
        enter_step(r, TK_STEP_RESPONSE);
    else if (st == TN_DONE)
        enter_step(r, r->step >= TK_STEP_RESPONSE ? TK_STEP_FINISH : TK_STEP_RESPONSE);
}

/* The host's rules (host/core/access.c, then the route options of
 * auth_info.c on the kit's wall clock), failing closed. */
static void access_step(tn_request *r)
{
    const host_route *rt = r->match.route;
    const char *code;

    switch (host_access_check(rt->access, rt->roles, r->user, r->roles)) {
    case 0:
        if (!(code = host_route_opts_refusal(&rt->opts, r->auth, tk_unix_time(r->tk)))) {
            enter_step(r, TK_STEP_AUTHORIZE);
            return;
        }
        tk_resp_fail(r, 401, code, host_route_opts_message(code));
        break;
    case 401: tk_resp_fail(r, 401, "unauthenticated", "authentication required"); break;
    default: tk_resp_fail(r, 403, "forbidden", "not allowed for this account"); break;
    }
    enter_step(r, TK_STEP_RESPONSE);
}

static void finish(tn_request *r)
{
    r->step = TK_STEP_FINISH;
    if (r->head_sent && !r->ended && !r->broken) {
        r->state = TK_REQ_STREAMING; /* resp_end() finishes it */
    } else {
        tk_resp_head_defaults(r);
        tk_req_end(r);
    }
}

static void dispatch_run(tn_request *r)
{
    while (r->state == TK_REQ_RUNNING) {
        if (is_hook_step(r->step)) {
            tk_list *hooks = &r->hooks[phase_of(r->step)];
            if (r->hook_i >= hooks->n) {
                enter_step(r, r->step + 1);
                continue;
            }
            tk_hook *h = hooks->items[r->hook_i++];
            apply(r, call(r, h->plugin, h->fn, h->ud), h->plugin);
            continue;
        }
        switch (r->step) {
        case TK_STEP_ROUTE:
            enter_step(r, tk_route(r) == 0 ? TK_STEP_AUTHENTICATE : TK_STEP_RESPONSE);
            break;
        case TK_STEP_ACCESS: access_step(r); break;
        case TK_STEP_HANDLER: {
            const host_route *rt = r->match.route;
            apply(r, call(r, rt->plugin, rt->fn, rt->ud), rt->plugin);
            break;
        }
        default: finish(r); break;
        }
    }
}

int tk_run_response_hooks(tn_request *r)
{
    tk_list *hooks = &r->hooks[TN_PHASE_RESPONSE];
    tk_step saved_step = r->step;
    r->step = TK_STEP_RESPONSE;
    r->resp_phase_done = 1;
    for (size_t i = 0; i < hooks->n; i++) {
        tk_hook *h = hooks->items[i];
        tn_status st = call(r, h->plugin, h->fn, h->ud);
        if (st == TN_CONTINUE)
            continue;
        if (st == TN_DONE)
            break;
        /* Nothing can wait or fail here: the handler is waiting for its
         * head, and the host sends it whatever the hook said.  The testkit
         * logs it as the plugin bug it is. */
        tk_log_kit(r->tk, TN_LOG_ERROR,
                   "plugin %s: request %s: response hook returned "
                   "%d before a stream's head (ignored, as on the host)",
                   h->plugin->desc.name, r->id, (int)st);
    }
    r->step = saved_step;
    return TN_OK;
}

static int snapshot_hooks(tn_request *r)
{
    tk_kit *tk = r->tk;
    for (size_t i = 0; i < tk->order.n; i++) {
        tn_plugin *p = tk->order.items[i];
        if (!tk_enabled(r->gen, p, r->tenant))
            continue;
        for (size_t j = 0; j < tk->hooks.n; j++) {
            tk_hook *h = tk->hooks.items[j];
            if (h->plugin == p && tk_list_push(&r->hooks[h->phase], h) != TN_OK)
                return TN_ENOMEM;
        }
    }
    return TN_OK;
}

int tk_req_run(tn_request *r)
{
    if (r == NULL || r->state != TK_REQ_NEW)
        return TN_ESTATE;
    tk_kit *tk = r->tk;
    if (tk->dirty && tk_check(tk) != 0) {
        tk_log_kit(tk, TN_LOG_ERROR, "request %s not run: the settings have errors", r->id);
        return TN_ESTATE;
    }
    /* The request keeps this generation to its end, as on the host. */
    r->gen = tk->live;
    if (r->refused != 0) {
        const char *code, *message;
        host_refusal_for(r->refused, &code, &message);
        tk_resp_fail(r, r->refused, code, message);
        tk_req_end(r);
        return TN_OK;
    }
    if (!tk_tenant_known(r->gen, r->tenant)) {
        tk_resp_fail(r, 404, "unknown_tenant", "no tenant serves this host name");
        tk_req_end(r);
        return TN_OK;
    }
    int rc = snapshot_hooks(r);
    if (rc != TN_OK)
        return rc;
    r->state = TK_REQ_RUNNING;
    enter_step(r, TK_STEP_EARLY);
    dispatch_run(r);
    return TN_OK;
}

tn_request *tk_request(tk_kit *tk, const char *tenant, const char *method, const char *target)
{
    tn_request *r = tk_req_new(tk, tenant, method, target);
    if (r == NULL)
        return NULL;
    if (tk_req_run(r) != TN_OK) {
        tk_req_free(r);
        return NULL;
    }
    return r;
}

/* The plugin whose hook (or handler) the request stopped in. */
static const tn_plugin *suspended_by(const tn_request *r)
{
    if (r->step == TK_STEP_HANDLER)
        return r->match.route->plugin;
    if (is_hook_step(r->step) && r->hook_i > 0) {
        const tk_hook *h = r->hooks[phase_of(r->step)].items[r->hook_i - 1];
        return h->plugin;
    }
    return NULL;
}

void tk_api_req_resume(tn_request *req, tn_status status)
{
    if (req == NULL)
        return;
    if (req->state == TK_REQ_RUNNING && req->in_call != NULL && !req->early_resume) {
        req->early_resume = 1;
        req->resume_status = status;
        return;
    }
    if (req->state != TK_REQ_SUSPENDED) {
        tk_log_kit(req->tk, TN_LOG_ERROR, "request %s: req_resume() but it is not suspended",
                   req->id);
        return;
    }
    req->state = TK_REQ_RUNNING;
    if (status == TN_SUSPEND) {
        tk_log_kit(req->tk, TN_LOG_ERROR, "request %s: req_resume() with TN_SUSPEND", req->id);
        status = TN_ERROR;
    }
    apply(req, status, suspended_by(req));
    dispatch_run(req);
}
