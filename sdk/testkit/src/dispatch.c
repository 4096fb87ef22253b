/*
 * dispatch.c - running a request through the phases as the host does:
 *
 *   EARLY, AUTHENTICATE, access check, AUTHORIZE, HANDLE, handler, RESPONSE
 *
 * Only hooks of plugins the tenant enables run, in before/after order.
 * TN_CONTINUE goes on; TN_DONE skips to RESPONSE; TN_ERROR answers 500;
 * TN_SUSPEND parks the request until req_resume(), whose status then
 * counts as what the hook returned.  The access check fails closed: no
 * route 404 (405 if the path exists with another method), no principal
 * 401, no listed role 403.  RESPONSE hooks run for every answer, errors
 * included, and all of them run (TN_DONE there means "go on").
 *
 * The cursor (step, hook index) lives in the request, so a resumed request
 * continues where it stopped.  A resume runs the rest of the request as
 * soon as the plugin code that called it has returned to the kit.
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

static void enter_step(tn_request *r, tk_step s)
{
    r->step = s;
    r->hook_i = 0;
    if (s != TK_STEP_RESPONSE)
        return;
    if (r->head_sent || r->resp_phase_done) {
        r->step = TK_STEP_FINISH;  /* a stream's head already ran the phase */
    } else if (r->status == 0) {
        tk_log_kit(r->tk, TN_LOG_ERROR, "request %s: no response was produced", r->id);
        tk_resp_fail(r, 500, "internal_error", "internal error");
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
            tk_log_kit(tk, TN_LOG_ERROR, "plugin %s: req_resume() by a hook that did "
                       "not return TN_SUSPEND", p->desc.name);
    }
    r->in_call = outer_call;
    r->early_resume = outer_resume;
    return st;
}

static void fail_500(tn_request *r)
{
    if (r->head_sent) {
        r->broken = 1;  /* too late for a status: the connection is cut */
        r->step = TK_STEP_FINISH;
        return;
    }
    int in_response = r->step == TK_STEP_RESPONSE;
    tk_resp_reset(r);
    tk_resp_fail(r, 500, "internal_error", "internal error");
    if (in_response)
        r->step = TK_STEP_FINISH;
    else
        enter_step(r, TK_STEP_RESPONSE);
}

/* What a hook's (or a resume's) status does to the request. */
static void apply(tn_request *r, tn_status st, const tn_plugin *p)
{
    const char *who = p ? p->desc.name : "?";
    switch (st) {
    case TN_CONTINUE:
        if (r->step == TK_STEP_HANDLER)
            enter_step(r, TK_STEP_RESPONSE);
        return;
    case TN_DONE:
        if (r->step < TK_STEP_RESPONSE)
            enter_step(r, TK_STEP_RESPONSE);
        return;
    case TN_SUSPEND:
        r->state = TK_REQ_SUSPENDED;
        return;
    case TN_ERROR:
        tk_log_kit(r->tk, TN_LOG_ERROR, "plugin %s: request %s failed (TN_ERROR)", who, r->id);
        fail_500(r);
        return;
    }
    tk_log_kit(r->tk, TN_LOG_ERROR, "plugin %s: request %s: unknown status %d", who,
               r->id, (int)st);
    fail_500(r);
}

/* Does the principal hold one of the route's comma-separated roles? */
static int has_any_role(const tn_request *r, const char *route_roles)
{
    const char *p = route_roles;
    for (;;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && p[t - 1] == ' ')
            t--;
        char *role = tk_strndup(p, t);
        int ok = role != NULL && tk_list_has_role(r->roles, role);
        free(role);
        if (ok)
            return 1;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

static void access_check(tn_request *r)
{
    const tk_route *rt = r->route;
    if (rt == NULL) {
        if (r->allow != NULL) {
            tk_resp_fail(r, 405, "method_not_allowed", "method not allowed");
            tk_api_resp_header(r, "Allow", r->allow);
        } else {
            tk_resp_fail(r, 404, "not_found", "not found");
        }
        enter_step(r, TK_STEP_RESPONSE);
        return;
    }
    if (rt->access != TN_ACCESS_PUBLIC && r->user == NULL) {
        tk_resp_fail(r, 401, "unauthorized", "authentication required");
        enter_step(r, TK_STEP_RESPONSE);
        return;
    }
    if (rt->access == TN_ACCESS_ROLES && !has_any_role(r, rt->roles)) {
        tk_resp_fail(r, 403, "forbidden", "forbidden");
        enter_step(r, TK_STEP_RESPONSE);
        return;
    }
    enter_step(r, TK_STEP_AUTHORIZE);
}

static void dispatch_run(tn_request *r)
{
    while (r->state == TK_REQ_RUNNING) {
        switch (r->step) {
        case TK_STEP_ACCESS:
            access_check(r);
            break;
        case TK_STEP_HANDLER: {
            tk_route *rt = r->route;
            tn_status st = call(r, rt->plugin, rt->handler, rt->ud);
            apply(r, st, rt->plugin);
            break;
        }
        case TK_STEP_FINISH:
            tk_finish(r);
            break;
        default: {
            tk_list *hooks = &r->hooks[phase_of(r->step)];
            if (r->hook_i >= hooks->n) {
                enter_step(r, r->step + 1);
                break;
            }
            tk_hook *h = hooks->items[r->hook_i++];
            tn_status st = call(r, h->plugin, h->fn, h->ud);
            apply(r, st, h->plugin);
            break;
        }
        }
    }
}

void tk_finish(tn_request *r)
{
    r->step = TK_STEP_FINISH;
    if (r->head_sent && !r->ended && !r->broken)
        r->state = TK_REQ_STREAMING;  /* resp_end() finishes it */
    else
        r->state = TK_REQ_FINISHED;
}

int tk_run_response_hooks(tn_request *r)
{
    tk_list *hooks = &r->hooks[TN_PHASE_RESPONSE];
    tk_step saved_step = r->step;
    int rc = TN_OK;
    r->step = TK_STEP_RESPONSE;
    r->resp_phase_done = 1;
    for (size_t i = 0; i < hooks->n; i++) {
        tk_hook *h = hooks->items[i];
        tn_status st = call(r, h->plugin, h->fn, h->ud);
        if (st == TN_CONTINUE || st == TN_DONE)
            continue;
        /* Nothing can wait here: the handler is waiting for its head. */
        tk_log_kit(r->tk, TN_LOG_ERROR, "plugin %s: request %s: response hook returned "
                   "%d before a stream's head", h->plugin->desc.name, r->id, (int)st);
        tk_resp_reset(r);
        tk_resp_fail(r, 500, "internal_error", "internal error");
        rc = TN_ESTATE;
        break;
    }
    r->step = saved_step;
    return rc;
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
    int rc = snapshot_hooks(r);
    if (rc == TN_OK)
        rc = tk_route_lookup(r);
    if (rc != TN_OK)
        return rc;
    r->state = TK_REQ_RUNNING;
    enter_step(r, TK_STEP_EARLY);
    if (r->bad_path) {
        tk_resp_fail(r, 400, "bad_request", "malformed path");
        enter_step(r, TK_STEP_RESPONSE);
    }
    dispatch_run(r);
    return TN_OK;
}

tn_request *tk_request(tk_kit *tk, const char *tenant, const char *method,
                       const char *target)
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

void tk_api_req_resume(tn_request *req, tn_status status)
{
    if (req == NULL)
        return;
    tk_kit *tk = req->tk;
    if (req->state == TK_REQ_RUNNING && req->in_call != NULL && !req->early_resume) {
        req->early_resume = 1;
        req->resume_status = status;
        return;
    }
    if (req->state != TK_REQ_SUSPENDED) {
        tk_log_kit(tk, TN_LOG_ERROR, "request %s: req_resume() but it is not suspended",
                   req->id);
        return;
    }
    req->state = TK_REQ_RESUMED;
    req->resume_status = status;
    if (tk_list_push(&tk->resumed, req) != TN_OK) {
        req->state = TK_REQ_SUSPENDED;
        tk_log_kit(tk, TN_LOG_ERROR, "request %s: out of memory resuming", req->id);
        return;
    }
    if (tk->depth == 0)
        tk_flush_resumed(tk);
}

void tk_flush_resumed(tk_kit *tk)
{
    if (tk->flushing)
        return;  /* the loop below picks up what is added meanwhile */
    tk->flushing = 1;
    while (tk->resumed.n > 0) {
        tn_request *r = tk->resumed.items[0];
        tk_list_remove_at(&tk->resumed, 0);
        tn_status st = r->resume_status;
        const tn_plugin *who = r->step == TK_STEP_HANDLER && r->route ? r->route->plugin : NULL;
        if (r->step != TK_STEP_HANDLER && r->hook_i > 0) {
            tk_hook *h = r->hooks[phase_of(r->step)].items[r->hook_i - 1];
            who = h->plugin;
        }
        r->state = TK_REQ_RUNNING;
        if (st == TN_SUSPEND) {
            tk_log_kit(tk, TN_LOG_ERROR, "request %s: req_resume() with TN_SUSPEND", r->id);
            st = TN_ERROR;
        }
        apply(r, st, who);
        dispatch_run(r);
    }
    tk->flushing = 0;
}
