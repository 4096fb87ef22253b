/*
 * context.c - the worker context's small shared services: which plugins a
 * tenant enables, what is running now (for the master's crash report), and
 * the map from Host header to tenant.
 */
#include "context.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int host_worker_enabled(const host_worker *w, const host_tenant *t, const tn_plugin *p)
{
    (void)w;
    return t && p->index < t->nfeatures && t->features[p->index].enabled;
}

/* Records what runs now, in shared memory, so the master can name the
 * plugin and route if this process dies in the middle of it. */
void host_worker_running(host_worker *w, const tn_plugin *p, const char *what)
{
    char *dst;
    size_t n, m;

    if (!w->slot)
        return;
    dst = w->slot->running;
    w->slot->tenant[0] = '\0'; /* call() names it when a request runs */
    if (!p) {
        dst[0] = '\0';
        return;
    }
    n = strlen(p->name);
    m = what ? strlen(what) : 0;
    if (m > sizeof w->slot->running - n - 2)
        m = sizeof w->slot->running - n - 2;
    memcpy(dst + n + 1, what, m);
    dst[n + 1 + m] = '\0';
    memcpy(dst, p->name, n + 1);
}

/* ---- tenant lookup by host name ------------------------------------------ */

typedef struct map_entry {
    const char *host;
    const host_tenant *tenant;
} map_entry;

struct host_tenant_map {
    map_entry *v;
    size_t mask;
};

static uint32_t host_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        h = (h ^ c) * 16777619u;
    }
    return h;
}

host_tenant_map *host_tenant_map_build(const host_config *conf)
{
    host_tenant_map *m = calloc(1, sizeof *m);
    size_t n = 0, cap = 16;
    int i, j;

    if (!m)
        return NULL;
    for (i = 0; i < conf->ntenants; i++)
        n += (size_t)conf->tenants[i].hosts.n;
    while (cap < n * 2)
        cap *= 2;
    if (!(m->v = calloc(cap, sizeof *m->v))) {
        free(m);
        return NULL;
    }
    m->mask = cap - 1;
    for (i = 0; i < conf->ntenants; i++) {
        const host_tenant *t = &conf->tenants[i];
        if (!t->id || !t->features)
            continue;
        for (j = 0; j < t->hosts.n; j++) {
            const char *h = t->hosts.v[j];
            size_t k = host_hash(h, strlen(h)) & m->mask;
            while (m->v[k].host)
                k = (k + 1) & m->mask;
            m->v[k].host = h;
            m->v[k].tenant = t;
        }
    }
    return m;
}

void host_tenant_map_free(host_tenant_map *m)
{
    if (!m)
        return;
    free(m->v);
    free(m);
}

const host_tenant *host_worker_tenant(const host_worker *w, const char *host, size_t len)
{
    const host_tenant_map *m = w->tenant_map;
    size_t k;

    if (!m || len == 0)
        return NULL;
    for (k = host_hash(host, len) & m->mask; m->v[k].host; k = (k + 1) & m->mask)
        if (strncasecmp(m->v[k].host, host, len) == 0 && m->v[k].host[len] == '\0')
            return m->v[k].tenant;
    return NULL;
}
