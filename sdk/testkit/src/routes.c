/*
 * routes.c - routes and hooks: registering them from init(), and routing a
 * request.  The matching is the host's router (host/core/router.c) and the
 * decoding of parameters the host's (http_util.c), so a route answers in a
 * plugin's unit test exactly as it will on a server: literals against the
 * raw path, parameters decoded after matching (a bad escape or %00 is 400),
 * HEAD served by GET routes, most literal segments first, then a route
 * without "*name", then the first registered.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

void tk_routes_free(tk_kit *tk)
{
    host_router_free(&tk->router);
    for (size_t i = 0; i < tk->hooks.n; i++)
        free(tk->hooks.items[i]);
    tk_list_clear(&tk->hooks);
}

/* route_add is route_add_opts without options: one path, as on the host. */
int tk_api_route_add_opts(tn_plugin *self, const char *method, const char *pattern,
                          tn_access access, const char *roles, tn_hook_fn handler, void *ud,
                          const tn_route_opts *opts)
{
    if (self == NULL)
        return TN_EINVAL;
    tk_kit *tk = self->tk;
    if (tk->registering != self) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s: route_add outside init() refused",
                   self->desc.name);
        return tk_plugin_fail(self, TN_ESTATE, "route_add outside init()");
    }
    int rc = host_router_add_opts(&tk->router, self, method, pattern, access, roles, handler, ud,
                                  opts);
    if (rc != TN_OK) {
        const char *why = rc == TN_EEXIST ? "already registered" : "invalid";
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s: route %s %s refused (%s)", self->desc.name,
                   method ? method : "?", pattern ? pattern : "?", why);
        tk_plugin_fail(self, rc, "route %s %s refused (%s)", method ? method : "?",
                       pattern ? pattern : "?", why);
    }
    return rc;
}

int tk_api_route_add(tn_plugin *self, const char *method, const char *pattern, tn_access access,
                     const char *roles, tn_hook_fn handler, void *ud)
{
    return tk_api_route_add_opts(self, method, pattern, access, roles, handler, ud, NULL);
}

int tk_api_hook_add(tn_plugin *self, tn_phase phase, tn_hook_fn fn, void *ud)
{
    if (self == NULL)
        return TN_EINVAL;
    tk_kit *tk = self->tk;
    if (tk->registering != self)
        return TN_ESTATE;
    if ((int)phase < TN_PHASE_EARLY || phase >= TN_PHASE_COUNT || fn == NULL)
        return TN_EINVAL;
    tk_hook *h = calloc(1, sizeof *h);
    if (h == NULL)
        return TN_ENOMEM;
    h->plugin = self;
    h->phase = phase;
    h->fn = fn;
    h->ud = ud;
    if (tk_list_push(&tk->hooks, h) != TN_OK) {
        free(h);
        return TN_ENOMEM;
    }
    return TN_OK;
}

/* The router offers a route only if the request's tenant enables its
 * plugin (P3). */
static int route_allowed(const tn_plugin *plugin, const void *ctx)
{
    const tn_request *r = ctx;
    return tk_enabled(r->gen, plugin, r->tenant);
}

int tk_route(tn_request *r)
{
    host_router *router = &r->tk->router;
    char allow[96];

    if (host_router_match(router, r->method, r->path, route_allowed, r, &r->match) == 0) {
        for (int i = 0; i < r->match.nparams; i++) {
            size_t n = r->match.len[i];
            r->params[i] = tk_req_arena_alloc(r, n + 1);
            if (r->params[i] == NULL ||
                host_percent_decode_to(r->match.start[i], n, 0, r->params[i]) != 0) {
                tk_resp_fail(r, 400, "bad_request", "malformed path parameter");
                return -1;
            }
        }
        return 0;
    }
    if (r->match.other_methods) {
        host_router_allow(router, r->path, route_allowed, r, allow, sizeof allow);
        tk_resp_fail(r, 405, "method_not_allowed", "method not allowed here");
        if (allow[0] != '\0')
            tk_api_resp_header(r, "Allow", allow);
        return -1;
    }
    tk_resp_fail(r, 404, "not_found", "no such resource");
    return -1;
}
