/*
 * breaker.h - the crash circuit breaker: after `crashes` worker crashes on
 * one plugin's route for one tenant within `window_ms`, workers answer that
 * route 503 for that tenant instead of running it, until a reload or until
 * `cooldown_ms` has passed.  Then one request is let through (half-open):
 * if it crashes too the breaker opens again, if it completes it closes.
 *
 * The table lives in the shared metrics region, mapped before the master
 * forks, so every worker, including those started after the trip, sees the
 * same state.  The master is the only one that counts crashes, trips,
 * reopens and (at reload) closes; a worker only claims the half-open probe
 * (a compare-and-swap on open_until_ms) and closes the breaker when that
 * probe completed without killing it.  Times are CLOCK_MONOTONIC
 * milliseconds, which all processes of the machine share.
 */
#ifndef HOST_BREAKER_H
#define HOST_BREAKER_H

#include <stddef.h>
#include <stdint.h>

#define HOST_BREAKER_SLOTS 64
#define HOST_BREAKER_MAX_CRASHES 32

typedef struct host_breaker_conf {
    int crashes; /* trips at this many in the window; 0: never */
    uint64_t window_ms;
    uint64_t cooldown_ms;
} host_breaker_conf;

typedef struct host_breaker {
    uint32_t seq;           /* odd while the master rewrites the key */
    uint32_t state;         /* BRK_* in breaker.c */
    uint64_t open_until_ms; /* while open: when the next probe may go */
    char plugin[36];
    char route[96];
    char tenant[72];
    /* Master only. */
    uint64_t crash_ms[HOST_BREAKER_MAX_CRASHES]; /* ring of the last crashes */
    int ncrash;
    uint64_t used_ms; /* last crash: the oldest closed slot is reused */
} host_breaker;

typedef struct host_breakers {
    uint32_t nopen; /* lets a worker skip the table when 0 */
    host_breaker b[HOST_BREAKER_SLOTS];
} host_breakers;

typedef enum host_breaker_event {
    HOST_BREAKER_COUNTED = 0,  /* a crash, below the threshold */
    HOST_BREAKER_TRIPPED = 1,  /* the threshold was reached: now open */
    HOST_BREAKER_REOPENED = 2, /* the half-open probe (or a late request) crashed */
    HOST_BREAKER_UNTRACKED = 3 /* disabled, or no slot free */
} host_breaker_event;

/* Master: a worker died running plugin/route for tenant.  *count is the
 * number of crashes in the window that led to a trip. */
host_breaker_event host_breaker_crash(host_breakers *t, const host_breaker_conf *conf,
                                      const char *plugin, const char *route, const char *tenant,
                                      uint64_t now_ms, int *count);
/* Master, at reload: every breaker closes and forgets its crashes.  Calls
 * closed(ud, b) for each one that was open. */
void host_breaker_close_all(host_breakers *t, void (*closed)(void *ud, const host_breaker *b),
                            void *ud);

/* Worker: may a request for route of tenant run now?  0: yes.  Else the
 * route is open: *retry_s is when to try again, *plugin the plugin blamed.
 * When the cool-down has passed one caller wins the half-open probe: it
 * gets 0 and *probe (slot + 1, else 0) to hand to host_breaker_probe_done. */
int host_breaker_check(host_breakers *t, const char *route, const char *tenant,
                       uint64_t cooldown_ms, uint64_t now_ms, int *probe, uint64_t *retry_s,
                       const char **plugin);
/* Worker: the probe request completed and this process is alive: close.
 * Returns 1 if this call closed it. */
int host_breaker_probe_done(host_breakers *t, int probe);

/* Formats the metric labels plugin="..",route="..",tenant=".." of b. */
void host_breaker_labels(const host_breaker *b, char *out, size_t cap);

#endif
