/*
 * limit_zones.c - limit_zone and limit_take for plugins.  See
 * limit_zones.h; the zones and the algorithm are core/limit_region.c and
 * core/rate_limit.c.
 *
 * Each zone counts its answers in the shared metrics table, by plugin and
 * zone: tanomu_ratelimit_allowed_total, _limited_total, _evicted_total (a
 * key still holding state pushed out for lack of room: the zone is too
 * small for its traffic) and _recovered_total (a worker died holding the
 * zone's lock, and the next take rebuilt the zone's links).
 */
#include "limit_zones.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "labels.h"
#include "limit_region.h"
#include "log.h"

struct tn_limit {
    struct tn_limit *next;
    tn_plugin *plugin;
    host_worker *w;
    host_rl_table *table;
    char name[HOST_LIMIT_NAME_MAX + 1];
    double rate;
    uint32_t burst;
    size_t mem_bytes;
    host_series *allowed, *limited, *evicted, *recovered;
};

static const struct {
    const char *family, *help;
} families[] = {
    {"tanomu_ratelimit_allowed_total", "Rate-limit takes allowed, by plugin and zone."},
    {"tanomu_ratelimit_limited_total", "Rate-limit takes refused, by plugin and zone."},
    {"tanomu_ratelimit_evicted_total",
     "Keys still holding state evicted from a full rate-limit zone (least recently used)."},
    {"tanomu_ratelimit_recovered_total",
     "Rate-limit zones rebuilt because a worker died holding their lock."},
};

static void bind_series(tn_limit *z)
{
    host_series **out[] = {&z->allowed, &z->limited, &z->evicted, &z->recovered};
    char plugin[80], zone[80], labels[200];
    size_t i;

    if (!z->w->metrics)
        return; /* `tanomu check`: no shared metrics, nothing counted */
    host_metrics_label(plugin, sizeof plugin, z->plugin->name);
    host_metrics_label(zone, sizeof zone, z->name);
    snprintf(labels, sizeof labels, "plugin=\"%s\",zone=\"%s\"", plugin, zone);
    for (i = 0; i < sizeof families / sizeof families[0]; i++) {
        host_metrics_family(z->w->metrics, families[i].family, HOST_METRIC_COUNTER,
                            families[i].help);
        *out[i] = host_metrics_series(z->w->metrics, families[i].family, labels);
        host_series_add(*out[i], 0); /* shown at 0 from the start */
    }
}

tn_limit *host_api_limit_zone(tn_plugin *self, const char *name, double rate, uint32_t burst,
                              size_t mem_bytes)
{
    host_worker *w = self ? self->worker : NULL;
    host_rl_table *t;
    tn_limit *z;
    char err[200];

    if (!w || !w->initializing) {
        host_plugin_fail(self, TN_ESTATE, "limit_zone: only from init()");
        return NULL;
    }
    if (!name) {
        host_plugin_fail(self, TN_EINVAL, "limit_zone: name is NULL");
        return NULL;
    }
    for (z = w->limits; z; z = z->next) {
        if (z->plugin != self || strcmp(z->name, name) != 0)
            continue;
        if (z->rate == rate && z->burst == burst && z->mem_bytes == mem_bytes)
            return z;
        host_plugin_fail(self, TN_EEXIST, "limit_zone: zone \"%s\" declared twice, differently",
                         z->name);
        return NULL;
    }
    /* No master (`tanomu check`, `tanomu plugins`): a region of our own, so
     * that init() runs as it will when serving and bad values show now. */
    if (!w->limit_region &&
        (w->limit_region = host_limit_region_create(w->conf.server.rate_limits.max_memory)))
        w->limit_region_own = 1;
    t = host_limit_zone_attach(w->limit_region, self->name, name, rate, burst, mem_bytes,
                               w->slot_index, err, sizeof err);
    if (!t) {
        host_plugin_fail(self, TN_EINVAL, "limit_zone \"%.32s\": %s", name, err);
        return NULL;
    }
    if (!(z = calloc(1, sizeof *z))) {
        host_plugin_fail(self, TN_ENOMEM, "limit_zone: out of memory");
        return NULL;
    }
    z->plugin = self;
    z->w = w;
    z->table = t;
    snprintf(z->name, sizeof z->name, "%s", name);
    z->rate = rate;
    z->burst = burst;
    z->mem_bytes = mem_bytes;
    bind_series(z);
    z->next = w->limits;
    w->limits = z;
    return z;
}

int host_api_limit_take(tn_limit *zone, const char *tenant_id, const char *key, uint32_t cost,
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
        return host_plugin_fail(zone->plugin, TN_EINVAL, "%s", why);
    host_limit_key(zone->w->limit_region, tenant_id, key, digest);
    if (host_rl_take(zone->table, digest, cost, (int64_t)host_now_ns(), &res) != 0)
        return host_plugin_fail(zone->plugin, TN_ESTATE, "limit_take: the zone's lock is unusable");
    if (res.recovered) {
        host_series_add(zone->recovered, 1);
        host_log_for(HOST_LOG_WARN, zone->plugin->name, NULL,
                     "rate-limit zone %s: a worker died holding its lock; the zone was rebuilt",
                     zone->name);
    }
    if (res.evicted)
        host_series_add(zone->evicted, 1);
    if (!res.allowed) {
        host_series_add(zone->limited, 1);
        if (retry_ms)
            *retry_ms = res.retry_ms;
        return 0;
    }
    host_series_add(zone->allowed, 1);
    return 1;
}

void host_limit_zones_free(host_worker *w)
{
    tn_limit *z;

    while ((z = w->limits) != NULL) {
        w->limits = z->next;
        free(z);
    }
    if (w->limit_region_own) {
        host_limit_region_destroy(w->limit_region);
        w->limit_region = NULL;
        w->limit_region_own = 0;
    }
}
