/*
 * limits.c - rate-limit zones in the testkit (limit_zone, limit_take).
 *
 * The table and GCRA are the host's own (host/core/rate_limit.c, compiled
 * in), so a plugin's tests meet the same rate, burst, retry_ms, costs and
 * LRU eviction as production; only the clock is the kit's virtual one
 * (tk_advance_ms) and the memory the kit's own.  What the kit does not
 * play: several workers (the kit is one process, so one budget anyway)
 * and reloads.  Keys are hashed with FNV-1a here, not the host's keyed
 * BLAKE2b: the kit keeps no secret and need not link libsodium.  Zones
 * share TK_LIMIT_MEMORY bytes, the host's default rate_limits.max_memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

#define TK_LIMIT_MEMORY ((size_t)8 << 20)

struct tn_limit {
    tk_kit *tk;
    tn_plugin *plugin;
    char *name;
    double rate;
    uint32_t burst;
    size_t mem_bytes;
    host_rl_table *table; /* in its own aligned block */
    int64_t allowed, limited, evicted;
};

static size_t zones_memory(const tk_kit *tk)
{
    size_t n = 0;

    for (size_t i = 0; i < tk->limits.n; i++)
        n += ((tn_limit *)tk->limits.items[i])->mem_bytes;
    return n;
}

tn_limit *tk_api_limit_zone(tn_plugin *self, const char *name, double rate, uint32_t burst,
                            size_t mem_bytes)
{
    tk_kit *tk = self ? self->tk : NULL;
    int64_t interval, tau;
    char err[160];
    tn_limit *z;

    if (!tk || tk->registering != self) {
        tk_plugin_fail(self, TN_ESTATE, "limit_zone: only from init()");
        return NULL;
    }
    if (!name || !host_plugin_name_valid(name)) {
        tk_plugin_fail(self, TN_EINVAL, "limit_zone: zone names must match [a-z0-9_]{1,32}");
        return NULL;
    }
    for (size_t i = 0; i < tk->limits.n; i++) {
        z = tk->limits.items[i];
        if (z->plugin != self || strcmp(z->name, name) != 0)
            continue;
        if (z->rate == rate && z->burst == burst && z->mem_bytes == mem_bytes)
            return z;
        tk_plugin_fail(self, TN_EEXIST, "limit_zone: zone \"%s\" declared twice, differently",
                       name);
        return NULL;
    }
    if (host_rl_params(rate, burst, &interval, &tau, err, sizeof err) != 0) {
        tk_plugin_fail(self, TN_EINVAL, "limit_zone \"%s\": %s", name, err);
        return NULL;
    }
    if (mem_bytes < host_rl_min_bytes() || mem_bytes > TK_LIMIT_MEMORY - zones_memory(tk)) {
        tk_plugin_fail(self, TN_EINVAL,
                       "limit_zone \"%s\": mem_bytes must be between %zu and what is left of "
                       "rate_limits.max_memory (%zu)",
                       name, host_rl_min_bytes(), TK_LIMIT_MEMORY - zones_memory(tk));
        return NULL;
    }
    if (!(z = calloc(1, sizeof *z)) || !(z->name = tk_strdup(name)) ||
        !(z->table = aligned_alloc(64, (mem_bytes + 63) & ~(size_t)63)) ||
        !host_rl_init(z->table, mem_bytes, rate, burst, 0) || tk_list_push(&tk->limits, z) != 0) {
        if (z) {
            free(z->table);
            free(z->name);
        }
        free(z);
        tk_plugin_fail(self, TN_ENOMEM, "limit_zone: out of memory");
        return NULL;
    }
    z->tk = tk;
    z->plugin = self;
    z->rate = rate;
    z->burst = burst;
    z->mem_bytes = mem_bytes;
    return z;
}

/* Two FNV-1a runs with different offsets: 16 bytes spread as a digest. */
static void fnv(uint64_t *h, const void *data, size_t n)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < n; i++) {
        h[0] = (h[0] ^ p[i]) * UINT64_C(0x100000001b3);
        h[1] = (h[1] ^ p[i]) * UINT64_C(0x100000001b3);
    }
}

static void key_digest(const char *tenant_id, const char *key, uint8_t out[HOST_RL_KEY_BYTES])
{
    uint64_t h[2] = {UINT64_C(0xcbf29ce484222325), UINT64_C(0x84222325cbf29ce4)};
    unsigned char tag = tenant_id ? 1 : 0, sep = 0;

    fnv(h, &tag, 1);
    if (tenant_id) {
        fnv(h, tenant_id, strlen(tenant_id));
        fnv(h, &sep, 1);
    }
    fnv(h, key, strlen(key));
    h[0] ^= h[1] >> 31; /* the low bytes pick the bucket: mix both in */
    memcpy(out, h, HOST_RL_KEY_BYTES);
}

int tk_api_limit_take(tn_limit *zone, const char *tenant_id, const char *key, uint32_t cost,
                      uint64_t *retry_ms)
{
    uint8_t digest[HOST_RL_KEY_BYTES];
    host_rl_result res;
    char why[128];

    if (retry_ms)
        *retry_ms = 0;
    if (!zone)
        return TN_EINVAL;
    if (host_rl_take_args(key, cost, zone->burst, why, sizeof why) != 0)
        return tk_plugin_fail(zone->plugin, TN_EINVAL, "%s", why);
    key_digest(tenant_id, key, digest);
    /* The virtual clock starts at 0; the host's monotonic one never does,
     * and 0 is a fresh key's TAT: start the zone's time one day in. */
    if (host_rl_take(zone->table, digest, cost, (int64_t)(zone->tk->now_ms + 86400000u) * 1000000,
                     &res) != 0)
        return tk_plugin_fail(zone->plugin, TN_ESTATE, "limit_take: the zone's lock is unusable");
    zone->evicted += res.evicted;
    if (!res.allowed) {
        zone->limited++;
        if (retry_ms)
            *retry_ms = res.retry_ms;
        return 0;
    }
    zone->allowed++;
    return 1;
}

int64_t tk_limit_stat(const tk_kit *tk, const char *plugin, const char *zone, const char *what)
{
    for (size_t i = 0; tk && plugin && zone && what && i < tk->limits.n; i++) {
        tn_limit *z = tk->limits.items[i];
        if (strcmp(z->plugin->desc.name, plugin) != 0 || strcmp(z->name, zone) != 0)
            continue;
        if (strcmp(what, "allowed") == 0)
            return z->allowed;
        if (strcmp(what, "limited") == 0)
            return z->limited;
        if (strcmp(what, "evicted") == 0)
            return z->evicted;
        return -1;
    }
    return -1;
}

void tk_limits_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->limits.n; i++) {
        tn_limit *z = tk->limits.items[i];
        host_rl_destroy(z->table);
        free(z->table);
        free(z->name);
        free(z);
    }
    tk_list_clear(&tk->limits);
}
