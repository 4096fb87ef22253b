/*
 * limit_zones.h - the tn_api rate-limit calls (SDK 1.2): limit_zone and
 * limit_take, over the node's shared zones (core/limit_region.h).
 *
 * A tn_limit is the worker's handle on one zone: it lives from the
 * limit_zone() call in init() until the worker's plugins are unloaded
 * (after fini()); the zone itself lives in the master's region and outlives
 * the worker.
 */
#ifndef HOST_LIMIT_ZONES_H
#define HOST_LIMIT_ZONES_H

#include <tanomu/tanomu.h>

struct host_worker;

tn_limit *host_api_limit_zone(tn_plugin *self, const char *name, double rate, uint32_t burst,
                              size_t mem_bytes);
int host_api_limit_take(tn_limit *zone, const char *tenant_id, const char *key, uint32_t cost,
                        uint64_t *retry_ms);

/* After the plugins' fini(): frees the worker's handles. */
void host_limit_zones_free(struct host_worker *w);

#endif
