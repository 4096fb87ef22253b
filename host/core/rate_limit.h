/*
 * rate_limit.h - one rate-limit zone's table: GCRA per key, in a fixed
 * block of memory, with least-recently-used eviction.
 *
 * The block may sit in memory shared by several processes (the host's
 * zones, limit_region.h) or in ordinary memory (the testkit's), so it holds
 * no pointers, only indexes, and its lock is a process-shared, robust
 * mutex: a worker SIGKILLed while holding it does not wedge the others (the
 * next locker gets EOWNERDEAD, rebuilds the table's links, which may be
 * half updated, from the entries, and carries on: the keys keep their
 * budgets).  A lock rather than lock-free updates because
 * a take is a hash lookup, maybe an eviction and two list splices: a
 * handful of stores that must appear together, held for well under a
 * microsecond, which a lock does simply and a lock-free LRU does not.
 *
 * The algorithm is GCRA (the generic cell rate algorithm), a token bucket
 * kept as one number per key: the theoretical arrival time (TAT).  A key
 * may take `burst` units at once and then `rate` units per second; a take
 * that would go over is refused and told how long to wait.  Refused takes
 * take nothing.
 *
 * Keys are 16-byte digests the caller made (a keyed hash: the table never
 * sees the key itself, and a client cannot pick keys that collide in one
 * bucket).  Time is the caller's too, in nanoseconds of a clock every user
 * of the table shares (CLOCK_MONOTONIC on the host, the virtual clock in
 * the testkit).
 */
#ifndef HOST_RATE_LIMIT_H
#define HOST_RATE_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define HOST_RL_KEY_BYTES 16
#define HOST_RL_MIN_ENTRIES 8
/* Bounds of a zone's parameters, so that burst * (1 / rate) fits the
 * nanosecond arithmetic with room to spare. */
#define HOST_RL_RATE_MIN 1e-6 /* one per 11.6 days */
#define HOST_RL_RATE_MAX 1e9
#define HOST_RL_BURST_MAX 1000000u
#define HOST_RL_TAU_MAX (INT64_C(1) << 60)

typedef struct host_rl_table host_rl_table;

/* GCRA itself, for one key.  tat: the key's stored TAT (0: never seen);
 * interval_ns: 1/rate; tau_ns: burst * interval_ns.  Returns 1 and sets
 * *new_tat when the take fits, 0 and sets *retry_ns (> 0) when not. */
int host_gcra(int64_t tat, int64_t now_ns, int64_t interval_ns, int64_t tau_ns, uint32_t cost,
              int64_t *new_tat, int64_t *retry_ns);

/* Checks rate and burst and turns them into GCRA's interval and tau;
 * returns 0, or -1 with why in err. */
int host_rl_params(double rate, uint32_t burst, int64_t *interval_ns, int64_t *tau_ns, char *err,
                   size_t errlen);

/* The smallest block a table fits in (HOST_RL_MIN_ENTRIES keys). */
size_t host_rl_min_bytes(void);

/* Lays out a table in mem (mem_bytes, 64-byte aligned, zeroed or not).
 * shared: the lock may be taken by other processes.  Returns the table
 * (at mem) or NULL if the block is too small or the lock cannot be made. */
host_rl_table *host_rl_init(void *mem, size_t mem_bytes, double rate, uint32_t burst, int shared);
/* Only for a table no other process uses any more (the testkit's). */
void host_rl_destroy(host_rl_table *t);

uint32_t host_rl_capacity(const host_rl_table *t);
uint32_t host_rl_used(const host_rl_table *t);

typedef struct host_rl_result {
    int allowed;       /* 1: cost taken */
    uint64_t retry_ms; /* refused: milliseconds until it would fit (>= 1) */
    int evicted;       /* a key still holding state was evicted for this one */
    int recovered;     /* the lock's last holder died: the links were rebuilt */
} host_rl_result;

/* limit_take's checks on its own arguments, the host's and the testkit's:
 * 0, or -1 with the message for api->last_error in why ("limit_take: ..."). */
int host_rl_take_args(const char *key, uint32_t cost, uint32_t burst, char *why, size_t whylen);

/* Takes cost from key at now_ns.  Returns 0 with *out filled, or -1 if
 * cost is 0 or over the burst, or the lock is unusable. */
int host_rl_take(host_rl_table *t, const uint8_t key[HOST_RL_KEY_BYTES], uint32_t cost,
                 int64_t now_ns, host_rl_result *out);

/* Tests: is key in the table (no LRU touch)? */
int host_rl_contains(host_rl_table *t, const uint8_t key[HOST_RL_KEY_BYTES]);
/* Tests: are the links whole (every live entry once in its bucket chain
 * and in the LRU list, in stamp order; the rest on the free list)?
 * 0 if so, -1 if not. */
int host_rl_check(host_rl_table *t);
/* Tests: take the lock and return without unlocking (a process that then
 * dies holding it), or unlock. */
int host_rl_lock_for_test(host_rl_table *t);

#endif
