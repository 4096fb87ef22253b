/*
 * breaker.c - the crash circuit breaker.  See breaker.h.
 *
 * A slot's key (plugin, route, tenant) is written by the master only while
 * the slot is free or closed, between two increments of seq (a seqlock), so
 * a worker comparing keys can tell it read a torn one and skip it: the cost
 * is one request that runs although it should have been refused.
 */
#include "breaker.h"

#include <stdio.h>
#include <string.h>

#include "labels.h"

enum { BRK_FREE = 0, BRK_CLOSED = 1, BRK_OPEN = 2 };

static uint32_t load32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int same_key(const host_breaker *b, const char *plugin, const char *route,
                    const char *tenant)
{
    return (!plugin || strcmp(b->plugin, plugin) == 0) && strcmp(b->route, route) == 0 &&
           strcmp(b->tenant, tenant) == 0;
}

/* The slot of (plugin, route, tenant), or a fresh one: free, else the
 * closed one whose last crash is oldest.  NULL when every slot is open. */
static host_breaker *find_or_claim(host_breakers *t, const char *plugin, const char *route,
                                   const char *tenant)
{
    host_breaker *spare = NULL;
    int i;

    for (i = 0; i < HOST_BREAKER_SLOTS; i++) {
        host_breaker *b = &t->b[i];
        uint32_t st = load32(&b->state);
        if (st != BRK_FREE && same_key(b, plugin, route, tenant))
            return b;
        if (st == BRK_FREE && (!spare || load32(&spare->state) != BRK_FREE))
            spare = b;
        else if (st == BRK_CLOSED &&
                 (!spare || (load32(&spare->state) == BRK_CLOSED && b->used_ms < spare->used_ms)))
            spare = b;
    }
    if (!spare)
        return NULL;
    __atomic_fetch_add(&spare->seq, 1, __ATOMIC_ACQ_REL); /* odd: key changing */
    snprintf(spare->plugin, sizeof spare->plugin, "%s", plugin);
    snprintf(spare->route, sizeof spare->route, "%s", route);
    snprintf(spare->tenant, sizeof spare->tenant, "%s", tenant);
    spare->ncrash = 0;
    __atomic_store_n(&spare->state, BRK_CLOSED, __ATOMIC_RELEASE);
    __atomic_fetch_add(&spare->seq, 1, __ATOMIC_ACQ_REL);
    return spare;
}

static void open_now(host_breakers *t, host_breaker *b, const host_breaker_conf *conf,
                     uint64_t now_ms)
{
    __atomic_store_n(&b->open_until_ms, now_ms + conf->cooldown_ms, __ATOMIC_RELEASE);
    if (__atomic_exchange_n(&b->state, BRK_OPEN, __ATOMIC_ACQ_REL) != BRK_OPEN)
        __atomic_fetch_add(&t->nopen, 1, __ATOMIC_ACQ_REL);
    b->ncrash = 0; /* once closed again it counts from zero */
}

host_breaker_event host_breaker_crash(host_breakers *t, const host_breaker_conf *conf,
                                      const char *plugin, const char *route, const char *tenant,
                                      uint64_t now_ms, int *count)
{
    host_breaker *b;
    int i, n = 0, want;

    *count = 0;
    if (!t || conf->crashes <= 0 || !route[0] || !tenant[0])
        return HOST_BREAKER_UNTRACKED;
    if (!(b = find_or_claim(t, plugin, route, tenant)))
        return HOST_BREAKER_UNTRACKED;
    b->used_ms = now_ms;
    if (load32(&b->state) == BRK_OPEN) {
        /* Only the half-open probe (or a request already running at the
         * trip) gets here: back to a full cool-down. */
        *count = 1;
        open_now(t, b, conf, now_ms);
        return HOST_BREAKER_REOPENED;
    }
    want = conf->crashes < HOST_BREAKER_MAX_CRASHES ? conf->crashes : HOST_BREAKER_MAX_CRASHES;
    b->crash_ms[b->ncrash++ % HOST_BREAKER_MAX_CRASHES] = now_ms;
    for (i = 0; i < b->ncrash && i < HOST_BREAKER_MAX_CRASHES; i++)
        if (now_ms - b->crash_ms[i] <= conf->window_ms)
            n++;
    *count = n;
    if (n < want)
        return HOST_BREAKER_COUNTED;
    open_now(t, b, conf, now_ms);
    return HOST_BREAKER_TRIPPED;
}

void host_breaker_close_all(host_breakers *t, void (*closed)(void *ud, const host_breaker *b),
                            void *ud)
{
    int i;

    if (!t)
        return;
    for (i = 0; i < HOST_BREAKER_SLOTS; i++) {
        host_breaker *b = &t->b[i];
        uint32_t was = BRK_OPEN;
        b->ncrash = 0;
        if (__atomic_compare_exchange_n(&b->state, &was, BRK_CLOSED, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_fetch_sub(&t->nopen, 1, __ATOMIC_ACQ_REL);
            if (closed)
                closed(ud, b);
        }
    }
}

int host_breaker_check(host_breakers *t, const char *route, const char *tenant,
                       uint64_t cooldown_ms, uint64_t now_ms, int *probe, uint64_t *retry_s,
                       const char **plugin)
{
    int i;

    *probe = 0;
    if (!t || __atomic_load_n(&t->nopen, __ATOMIC_ACQUIRE) == 0)
        return 0;
    for (i = 0; i < HOST_BREAKER_SLOTS; i++) {
        host_breaker *b = &t->b[i];
        uint32_t seq = load32(&b->seq);
        uint64_t until;
        int match;
        if ((seq & 1) || load32(&b->state) != BRK_OPEN)
            continue;
        match = same_key(b, NULL, route, tenant);
        if (!match || load32(&b->seq) != seq)
            continue;
        until = __atomic_load_n(&b->open_until_ms, __ATOMIC_ACQUIRE);
        /* Cool-down over: whoever moves open_until forward sends the one
         * half-open probe; the others keep answering 503. */
        if (now_ms >= until &&
            __atomic_compare_exchange_n(&b->open_until_ms, &until, now_ms + cooldown_ms, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *probe = i + 1;
            return 0;
        }
        if (now_ms >= until)
            until = __atomic_load_n(&b->open_until_ms, __ATOMIC_ACQUIRE);
        *retry_s = until > now_ms ? (until - now_ms + 999) / 1000 : 1;
        if (*retry_s < 1)
            *retry_s = 1;
        *plugin = b->plugin;
        return 1;
    }
    return 0;
}

int host_breaker_probe_done(host_breakers *t, int probe)
{
    host_breaker *b;
    uint32_t was = BRK_OPEN;

    if (!t || probe <= 0 || probe > HOST_BREAKER_SLOTS)
        return 0;
    b = &t->b[probe - 1];
    if (!__atomic_compare_exchange_n(&b->state, &was, BRK_CLOSED, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return 0;
    __atomic_fetch_sub(&t->nopen, 1, __ATOMIC_ACQ_REL);
    return 1;
}

void host_breaker_labels(const host_breaker *b, char *out, size_t cap)
{
    char plugin[80], route[200], tenant[150];

    host_metrics_label(plugin, sizeof plugin, b->plugin);
    host_metrics_label(route, sizeof route, b->route);
    host_metrics_label(tenant, sizeof tenant, b->tenant);
    snprintf(out, cap, "plugin=\"%s\",route=\"%s\",tenant=\"%s\"", plugin, route, tenant);
}
