/*
 * limit_region.h - the node's rate-limit zones, in one shared region.
 *
 * The master maps the region (anonymous, MAP_SHARED) once, before it forks
 * any worker, and keeps it until it exits, so every worker of every
 * generation sees the same zones: what a client spent before a reload is
 * still spent after it.  The region's size is fixed at start by
 * rate_limits.max_memory in tanomu.conf; zones are carved out of it when
 * plugins declare them in init() and cannot grow, so no plugin can take
 * more memory than the operator gave.
 *
 * A zone is found by plugin and name.  A worker asking for one with the
 * same rate, burst and size attaches to it (its slot's bit in the zone's
 * mask); different values get a fresh zone next to the old one, which the
 * old generation keeps using until it leaves.  A zone no live worker is
 * attached to (the master clears a worker's bits when it reaps it) is
 * reclaimed when a new zone needs its room.
 *
 * Keys are stored as a keyed BLAKE2b digest (libsodium's generichash)
 * under a random key made when the region is, so neither a client address
 * nor a user name is ever in the region in clear, and no client can aim
 * keys at one bucket.
 */
#ifndef HOST_LIMIT_REGION_H
#define HOST_LIMIT_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "rate_limit.h"

#define HOST_LIMIT_MAX_ZONES 128
#define HOST_LIMIT_NAME_MAX 32 /* zone names: [a-z0-9_]{1,32}, as plugin names */

typedef struct host_limit_region host_limit_region;

/* max_memory bytes for zones (0: rate limits off).  NULL if it cannot be
 * mapped. */
host_limit_region *host_limit_region_create(size_t max_memory);
void host_limit_region_destroy(host_limit_region *r);
size_t host_limit_region_capacity(const host_limit_region *r);

/* The zone of plugin named name with these parameters, found or made, and
 * worker slot `slot` (-1: none) marked attached.  NULL with the reason in
 * err (bad parameters, no room). */
host_rl_table *host_limit_zone_attach(host_limit_region *r, const char *plugin, const char *name,
                                      double rate, uint32_t burst, size_t mem_bytes, int slot,
                                      char *err, size_t errlen);

/* The master: the worker of slot is gone; its zones may be reclaimed. */
void host_limit_region_detach(host_limit_region *r, int slot);

/* Bytes of the region's memory that zones hold now. */
size_t host_limit_region_used(host_limit_region *r);

/* The digest a key is stored under: tenant_id (NULL is not "") and key. */
void host_limit_key(const host_limit_region *r, const char *tenant_id, const char *key,
                    uint8_t out[HOST_RL_KEY_BYTES]);

#endif
