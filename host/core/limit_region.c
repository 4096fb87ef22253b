/*
 * limit_region.c - the shared region of rate-limit zones.  See
 * limit_region.h.
 *
 * The directory (HOST_LIMIT_MAX_ZONES records) and the arena the zones'
 * tables live in.  The directory changes only when plugins declare zones
 * (worker start), under one process-shared robust lock; a take never
 * touches it, only its zone's table and that table's own lock.
 */
#include "limit_region.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "names.h"

enum { ZONE_FREE = 0, ZONE_CREATING = 1, ZONE_USED = 2 };

typedef struct zone_rec {
    uint32_t state;
    char plugin[33];
    char name[HOST_LIMIT_NAME_MAX + 1];
    double rate;
    uint32_t burst;
    uint64_t mem_bytes; /* as asked */
    uint64_t offset;    /* in the arena */
    uint64_t size;      /* mem_bytes rounded up to 64 */
    uint64_t attached;  /* worker slots using it (atomic) */
} zone_rec;

struct host_limit_region {
    size_t map_size;
    size_t arena_size;
    pthread_mutex_t lock;
    unsigned char key[crypto_generichash_KEYBYTES];
    zone_rec zones[HOST_LIMIT_MAX_ZONES];
    _Alignas(64) unsigned char arena[];
};

host_limit_region *host_limit_region_create(size_t max_memory)
{
    size_t size = sizeof(host_limit_region) + ((max_memory + 63) & ~(size_t)63);
    host_limit_region *r;
    pthread_mutexattr_t a;
    int rc;

    if (sodium_init() < 0)
        return NULL;
    r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return NULL;
    /* Zeroed pages: every record is ZONE_FREE. */
    r->map_size = size;
    r->arena_size = max_memory;
    randombytes_buf(r->key, sizeof r->key);
    if ((rc = pthread_mutexattr_init(&a)) != 0)
        goto fail;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(&r->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0)
        goto fail;
    return r;
fail:
    munmap(r, size);
    return NULL;
}

void host_limit_region_destroy(host_limit_region *r)
{
    if (!r)
        return;
    sodium_memzero(r->key, sizeof r->key);
    munmap(r, r->map_size);
}

size_t host_limit_region_capacity(const host_limit_region *r)
{
    return r ? r->arena_size : 0;
}

/* A worker died in here: a record it was making is dropped; the others
 * were complete (a record turns USED last). */
static int region_lock(host_limit_region *r)
{
    int rc = pthread_mutex_lock(&r->lock), i;

    if (rc == EOWNERDEAD) {
        for (i = 0; i < HOST_LIMIT_MAX_ZONES; i++)
            if (r->zones[i].state == ZONE_CREATING)
                r->zones[i].state = ZONE_FREE;
        pthread_mutex_consistent(&r->lock);
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

static uint64_t attached(zone_rec *z)
{
    return __atomic_load_n(&z->attached, __ATOMIC_ACQUIRE);
}

static void attach(zone_rec *z, int slot)
{
    if (slot >= 0 && slot < 64)
        __atomic_fetch_or(&z->attached, UINT64_C(1) << slot, __ATOMIC_ACQ_REL);
}

/* First fit: the lowest offset where size bytes lie between zones. */
static int find_gap(host_limit_region *r, uint64_t size, uint64_t *offset)
{
    uint64_t at = 0;
    int i, moved = 1;

    /* The zones are few: walk forward, jumping past any zone that
     * overlaps [at, at + size), until none does. */
    while (moved) {
        moved = 0;
        for (i = 0; i < HOST_LIMIT_MAX_ZONES; i++) {
            zone_rec *z = &r->zones[i];
            if (z->state == ZONE_FREE)
                continue;
            if (z->offset < at + size && at < z->offset + z->size) {
                at = z->offset + z->size;
                moved = 1;
            }
        }
    }
    if (at + size > r->arena_size)
        return -1;
    *offset = at;
    return 0;
}

static int free_record(host_limit_region *r)
{
    int i;

    for (i = 0; i < HOST_LIMIT_MAX_ZONES; i++)
        if (r->zones[i].state == ZONE_FREE)
            return i;
    return -1;
}

/* Frees zones no live worker uses; only those of plugin/name if given. */
static int reclaim(host_limit_region *r, const char *plugin, const char *name)
{
    int i, n = 0;

    for (i = 0; i < HOST_LIMIT_MAX_ZONES; i++) {
        zone_rec *z = &r->zones[i];
        if (z->state != ZONE_USED || attached(z) != 0)
            continue;
        if (plugin && (strcmp(z->plugin, plugin) != 0 || strcmp(z->name, name) != 0))
            continue;
        z->state = ZONE_FREE;
        n++;
    }
    return n;
}

static host_rl_table *create(host_limit_region *r, const char *plugin, const char *name,
                             double rate, uint32_t burst, size_t mem_bytes, int slot, char *err,
                             size_t errlen)
{
    uint64_t size = ((uint64_t)mem_bytes + 63) & ~(uint64_t)63, offset;
    host_rl_table *t;
    zone_rec *z;
    int i;

    /* An idle zone of the same name with other values is superseded. */
    reclaim(r, plugin, name);
    if (find_gap(r, size, &offset) != 0 &&
        (reclaim(r, NULL, NULL) == 0 || find_gap(r, size, &offset) != 0)) {
        snprintf(err, errlen,
                 "no room for %zu bytes: rate_limits.max_memory is %zu, %zu in use by zones",
                 mem_bytes, r->arena_size, host_limit_region_used(r));
        return NULL;
    }
    if ((i = free_record(r)) < 0) {
        snprintf(err, errlen, "too many zones on this node (%d)", HOST_LIMIT_MAX_ZONES);
        return NULL;
    }
    z = &r->zones[i];
    z->state = ZONE_CREATING;
    snprintf(z->plugin, sizeof z->plugin, "%s", plugin);
    snprintf(z->name, sizeof z->name, "%s", name);
    z->rate = rate;
    z->burst = burst;
    z->mem_bytes = mem_bytes;
    z->offset = offset;
    z->size = size;
    __atomic_store_n(&z->attached, 0, __ATOMIC_RELEASE);
    t = host_rl_init(r->arena + offset, (size_t)size, rate, burst, 1);
    if (!t) {
        z->state = ZONE_FREE;
        snprintf(err, errlen, "cannot set up the zone's table");
        return NULL;
    }
    attach(z, slot);
    __atomic_store_n(&z->state, ZONE_USED, __ATOMIC_RELEASE);
    return t;
}

host_rl_table *host_limit_zone_attach(host_limit_region *r, const char *plugin, const char *name,
                                      double rate, uint32_t burst, size_t mem_bytes, int slot,
                                      char *err, size_t errlen)
{
    host_rl_table *t = NULL;
    int64_t interval, tau;
    int i;

    if (!r || r->arena_size == 0) {
        snprintf(err, errlen, "rate limits are off on this node (rate_limits.max_memory = 0)");
        return NULL;
    }
    if (!name || !host_plugin_name_valid(name)) {
        snprintf(err, errlen, "zone names must match [a-z0-9_]{1,32}");
        return NULL;
    }
    if (host_rl_params(rate, burst, &interval, &tau, err, errlen) != 0)
        return NULL;
    if (mem_bytes < host_rl_min_bytes() || mem_bytes > r->arena_size) {
        snprintf(err, errlen, "mem_bytes must be between %zu and %zu (rate_limits.max_memory)",
                 host_rl_min_bytes(), r->arena_size);
        return NULL;
    }
    if (region_lock(r) != 0) {
        snprintf(err, errlen, "the zone directory's lock is unusable");
        return NULL;
    }
    for (i = 0; i < HOST_LIMIT_MAX_ZONES; i++) {
        zone_rec *z = &r->zones[i];
        if (z->state == ZONE_USED && strcmp(z->plugin, plugin) == 0 && strcmp(z->name, name) == 0 &&
            z->rate == rate && z->burst == burst && z->mem_bytes == mem_bytes) {
            attach(z, slot);
            t = (host_rl_table *)(r->arena + z->offset);
            break;
        }
    }
    if (!t)
        t = create(r, plugin, name, rate, burst, mem_bytes, slot, err, errlen);
    pthread_mutex_unlock(&r->lock);
    return t;
}

void host_limit_region_detach(host_limit_region *r, int slot)
{
    int i;

    if (!r || slot < 0 || slot >= 64)
        return;
    /* No lock: the master must never wait on a worker; clearing a bit is
     * one atomic operation, and only a zone with no bits is reclaimed. */
    for (i = 0; i < HOST_LIMIT_MAX_ZONES; i++)
        __atomic_fetch_and(&r->zones[i].attached, ~(UINT64_C(1) << slot), __ATOMIC_ACQ_REL);
}

size_t host_limit_region_used(host_limit_region *r)
{
    size_t n = 0;
    int i;

    for (i = 0; r && i < HOST_LIMIT_MAX_ZONES; i++)
        if (__atomic_load_n(&r->zones[i].state, __ATOMIC_ACQUIRE) != ZONE_FREE)
            n += r->zones[i].size;
    return n;
}

void host_limit_key(const host_limit_region *r, const char *tenant_id, const char *key,
                    uint8_t out[HOST_RL_KEY_BYTES])
{
    crypto_generichash_state st;
    unsigned char tag = tenant_id ? 1 : 0, sep = 0;

    crypto_generichash_init(&st, r->key, sizeof r->key, HOST_RL_KEY_BYTES);
    crypto_generichash_update(&st, &tag, 1);
    if (tenant_id) {
        crypto_generichash_update(&st, (const unsigned char *)tenant_id, strlen(tenant_id));
        crypto_generichash_update(&st, &sep, 1); /* tenant IDs hold no NUL */
    }
    crypto_generichash_update(&st, (const unsigned char *)key, strlen(key));
    crypto_generichash_final(&st, out, HOST_RL_KEY_BYTES);
}
