/*
 * router.c - route registration and matching.  See router.h.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

static int valid_method(const char *m)
{
    static const char *const ok[] = {"GET",   "HEAD",   "POST",    "PUT",
                                     "PATCH", "DELETE", "OPTIONS", NULL};
    int i;

    for (i = 0; ok[i]; i++)
        if (strcmp(m, ok[i]) == 0)
            return 1;
    return 0;
}

static void route_free(host_route *rt)
{
    int i;

    if (!rt)
        return;
    for (i = 0; i < rt->nsegs; i++)
        free(rt->segs[i]);
    free(rt->pattern);
    free(rt->roles);
    free(rt);
}

/* Splits a pattern into segments; refuses empty segments and bad names. */
static int split(host_route *rt, const char *pattern)
{
    const char *p = pattern + 1, *end;
    int nparams = 0;

    if (pattern[0] != '/')
        return -1;
    while (*p) {
        size_t n;
        end = strchr(p, '/');
        n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || rt->nsegs == HOST_ROUTE_MAX_SEGS || rt->tail)
            return -1;
        if (!(rt->segs[rt->nsegs] = strndup(p, n)))
            return -1;
        rt->nsegs++; /* counted at once: route_free frees it on any refusal */
        if (p[0] == ':' || p[0] == '*') {
            if (n < 2 || ++nparams > HOST_ROUTE_MAX_PARAMS)
                return -1;
            if (p[0] == '*')
                rt->tail = 1;
        } else {
            rt->nliteral++;
        }
        if (!end)
            break;
        p = end + 1;
        if (!*p)
            return -1; /* trailing slash: write "/x", not "/x/" */
    }
    return 0;
}

int host_router_add(host_router *r, tn_plugin *plugin, const char *method, const char *pattern,
                    tn_access access, const char *roles, tn_hook_fn fn, void *ud)
{
    return host_router_add_opts(r, plugin, method, pattern, access, roles, fn, ud, NULL);
}

int host_router_add_opts(host_router *r, tn_plugin *plugin, const char *method, const char *pattern,
                         tn_access access, const char *roles, tn_hook_fn fn, void *ud,
                         const tn_route_opts *opts)
{
    host_route *rt, **v;
    host_route_opts ro;
    int i;

    if (!method || !pattern || !fn || !valid_method(method) || strlen(pattern) > 1024)
        return TN_EINVAL;
    if (host_route_opts_read(opts, access, &ro) != TN_OK)
        return TN_EINVAL;
    /* Roles must come with TN_ACCESS_ROLES and only with it: a role list on
     * a public route would read like a check that never happens (S11). */
    if ((access == TN_ACCESS_ROLES) != (roles != NULL && *roles != '\0'))
        return TN_EINVAL;
    if (access != TN_ACCESS_PUBLIC && access != TN_ACCESS_AUTHENTICATED &&
        access != TN_ACCESS_ROLES)
        return TN_EINVAL;
    for (i = 0; i < r->n; i++)
        if (strcmp(r->v[i]->method, method) == 0 && strcmp(r->v[i]->pattern, pattern) == 0)
            return TN_EEXIST;
    if (!(rt = calloc(1, sizeof *rt)))
        return TN_ENOMEM;
    strcpy(rt->method, method);
    rt->access = access;
    rt->opts = ro;
    rt->fn = fn;
    rt->ud = ud;
    rt->plugin = plugin;
    if (!(rt->pattern = strdup(pattern)) || (roles && !(rt->roles = strdup(roles))))
        goto nomem;
    if (split(rt, pattern) != 0) {
        route_free(rt);
        return TN_EINVAL;
    }
    if (!(v = realloc(r->v, (size_t)(r->n + 1) * sizeof *v)))
        goto nomem;
    r->v = v;
    r->v[r->n++] = rt;
    return TN_OK;
nomem:
    route_free(rt);
    return TN_ENOMEM;
}

/* Matches path against rt, filling params into m on success. */
static int match_one(const host_route *rt, const char *path, host_match *m)
{
    const char *p = path, *end;
    int i;

    m->nparams = 0;
    if (rt->nsegs == 0)
        return strcmp(path, "/") == 0;
    for (i = 0; i < rt->nsegs; i++) {
        const char *seg = rt->segs[i];
        size_t n;
        if (seg[0] == '*') { /* the rest, possibly empty: "/files" too */
            if (*p == '/')
                p++;
            m->names[m->nparams] = seg + 1;
            m->start[m->nparams] = p;
            m->len[m->nparams++] = strlen(p);
            return 1;
        }
        if (*p != '/')
            return 0;
        p++;
        end = strchr(p, '/');
        n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            return 0;
        if (seg[0] == ':') {
            m->names[m->nparams] = seg + 1;
            m->start[m->nparams] = p;
            m->len[m->nparams++] = n;
        } else if (strlen(seg) != n || memcmp(seg, p, n) != 0) {
            return 0;
        }
        p += n;
    }
    return *p == '\0';
}

int host_router_match(const host_router *r, const char *method, const char *path,
                      host_route_filter allowed, const void *ctx, host_match *m)
{
    host_match cur;
    int i, best = -1;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;

    memset(m, 0, sizeof *m);
    for (i = 0; i < r->n; i++) {
        const host_route *rt = r->v[i];
        if (allowed && !allowed(rt->plugin, ctx))
            continue;
        if (!match_one(rt, path, &cur))
            continue;
        if (strcmp(rt->method, want) != 0 && strcmp(rt->method, method) != 0) {
            m->other_methods = 1;
            continue;
        }
        if (best < 0 || rt->nliteral > r->v[best]->nliteral ||
            (rt->nliteral == r->v[best]->nliteral && !rt->tail && r->v[best]->tail)) {
            int other = m->other_methods;
            best = i;
            *m = cur;
            m->route = rt;
            m->other_methods = other;
        }
    }
    return best >= 0 ? 0 : -1;
}

void host_router_allow(const host_router *r, const char *path, host_route_filter allowed,
                       const void *ctx, char *out, size_t cap)
{
    host_match cur;
    size_t len = 0;
    int i;

    out[0] = '\0';
    for (i = 0; i < r->n; i++) {
        const host_route *rt = r->v[i];
        size_t n = strlen(rt->method);
        if ((allowed && !allowed(rt->plugin, ctx)) || !match_one(rt, path, &cur))
            continue;
        if (strstr(out, rt->method) || len + n + 3 >= cap)
            continue;
        if (len) {
            memcpy(out + len, ", ", 2);
            len += 2;
        }
        memcpy(out + len, rt->method, n + 1);
        len += n;
    }
}

void host_router_free(host_router *r)
{
    int i;

    for (i = 0; i < r->n; i++)
        route_free(r->v[i]);
    free(r->v);
    memset(r, 0, sizeof *r);
}
