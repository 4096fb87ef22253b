/*
 * router.h - method + path pattern routing.
 *
 * Patterns are split into segments once at registration: a literal, a
 * ":name" that binds one segment, or a last "*name" that binds the rest.
 * When several routes match, the one with more literal segments wins, so
 * "/orders/new" beats "/orders/:id" whatever the registration order.
 */
#ifndef HOST_ROUTER_H
#define HOST_ROUTER_H

#include <stddef.h>

#include <tanomu/tanomu.h>

#include "auth_info.h"

#define HOST_ROUTE_MAX_SEGS 16
#define HOST_ROUTE_MAX_PARAMS 8

typedef struct host_route {
    char method[16];
    char *pattern;
    char *segs[HOST_ROUTE_MAX_SEGS];
    int nsegs;
    int nliteral;
    int tail; /* last segment is *name */
    tn_access access;
    char *roles;          /* comma-separated, for TN_ACCESS_ROLES */
    host_route_opts opts; /* ABI 1.2 route options, checked after access */
    tn_hook_fn fn;
    void *ud;
    tn_plugin *plugin;
} host_route;

typedef struct host_router {
    host_route **v;
    int n;
} host_router;

typedef struct host_match {
    const host_route *route;
    const char *names[HOST_ROUTE_MAX_PARAMS];
    const char *start[HOST_ROUTE_MAX_PARAMS]; /* raw, not decoded: into path */
    size_t len[HOST_ROUTE_MAX_PARAMS];
    int nparams;
    int other_methods; /* path matched a route of another method */
} host_match;

/* A route is offered to the matcher only if allowed(plugin, ctx) says so
 * (the tenant enables the plugin). */
typedef int (*host_route_filter)(const tn_plugin *plugin, const void *ctx);

int host_router_add(host_router *r, tn_plugin *plugin, const char *method, const char *pattern,
                    tn_access access, const char *roles, tn_hook_fn fn, void *ud);
/* The same with route options (auth_info.h; NULL: none): route_add is
 * this with NULL, so both take one path. */
int host_router_add_opts(host_router *r, tn_plugin *plugin, const char *method, const char *pattern,
                         tn_access access, const char *roles, tn_hook_fn fn, void *ud,
                         const tn_route_opts *opts);
int host_router_match(const host_router *r, const char *method, const char *path,
                      host_route_filter allowed, const void *ctx, host_match *m);
/* Allowed methods for a path (for 405's Allow header), comma-separated. */
void host_router_allow(const host_router *r, const char *path, host_route_filter allowed,
                       const void *ctx, char *out, size_t cap);
void host_router_free(host_router *r);

#endif
