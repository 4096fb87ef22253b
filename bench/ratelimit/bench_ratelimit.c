/*
 * bench_ratelimit.c - takes per second from one shared rate-limit zone
 * (host/core/limit_region.c, rate_limit.c), as limit_take does them: key
 * digest (keyed BLAKE2b) + GCRA under the zone's process-shared lock.
 * Run by hand through run.sh; see README.md.
 *
 *   bench_ratelimit [seconds] [max_procs]
 *
 * Cases, each for `seconds` (default 2):
 *   digest only          host_limit_key() alone, one process
 *   table only           host_rl_take() on 10k digests made beforehand:
 *                        the lock, the lookup, GCRA, the LRU splice
 *   take, 10k keys       hits: every key already in the zone
 *   take, new keys       every take a key never seen, the zone full:
 *                        each one evicts the least recently used
 *   take, N processes    1, 2, 4... up to max_procs processes forked on
 *                        the same zone, 10k keys: the lock's contention
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "limit_region.h"
#include "rate_limit.h"

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef enum { DIGEST, HITS, FRESH } mode;

/* Runs for `secs`; returns takes done.  Keys: k<seed + i % nkeys>. */
static uint64_t run(host_limit_region *r, host_rl_table *t, mode m, double secs, uint64_t seed,
                    uint64_t nkeys, uint64_t *evicted)
{
    int64_t end = now_ns() + (int64_t)(secs * 1e9);
    uint8_t d[HOST_RL_KEY_BYTES];
    host_rl_result res;
    uint64_t n = 0;
    char key[40];

    while (now_ns() < end) {
        for (int i = 0; i < 1024; i++, n++) {
            uint64_t k = m == FRESH ? seed + n : seed + n % nkeys;
            snprintf(key, sizeof key, "203.0.113.%llu", (unsigned long long)k);
            host_limit_key(r, "acme", key, d);
            if (m == DIGEST)
                continue;
            if (host_rl_take(t, d, 1, now_ns(), &res) != 0) {
                fprintf(stderr, "take failed\n");
                exit(1);
            }
            *evicted += (uint64_t)res.evicted;
        }
    }
    return n;
}

/* The table alone: digests of 10k keys made first. */
static uint64_t run_table(host_limit_region *r, host_rl_table *t, double secs)
{
    static uint8_t d[10000][HOST_RL_KEY_BYTES];
    int64_t end;
    host_rl_result res;
    uint64_t n = 0;
    char key[40];

    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "203.0.113.%d", i);
        host_limit_key(r, "acme", key, d[i]);
    }
    end = now_ns() + (int64_t)(secs * 1e9);
    while (now_ns() < end)
        for (int i = 0; i < 1024; i++, n++)
            if (host_rl_take(t, d[n % 10000], 1, now_ns(), &res) != 0)
                exit(1);
    return n;
}

static void report(const char *what, uint64_t n, double secs, uint64_t evicted)
{
    printf("%-28s %12.0f takes/s  %7.0f ns/take", what, (double)n / secs, secs * 1e9 / (double)n);
    if (evicted)
        printf("  (%llu evicted)", (unsigned long long)evicted);
    printf("\n");
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    int maxp = argc > 2 ? atoi(argv[2]) : 4;
    host_limit_region *r = host_limit_region_create(16 << 20);
    uint64_t(*shared)[2];
    host_rl_table *t;
    uint64_t n, ev = 0;
    char err[200], what[64];

    if (!r || secs <= 0 || maxp < 1)
        return 1;
    /* 1 MiB: about 23,000 keys; 1000/s with a burst of 1000, so most of
     * the hits are allowed and the table is written, as under real load. */
    t = host_limit_zone_attach(r, "bench", "zone", 1000, 1000, 1 << 20, 0, err, sizeof err);
    if (!t) {
        fprintf(stderr, "zone: %s\n", err);
        return 1;
    }
    printf("zone: 1 MiB, %u keys fit; %.1f s per case\n", host_rl_capacity(t), secs);
    n = run(r, t, DIGEST, secs, 0, 10000, &ev);
    report("digest only (BLAKE2b-128)", n, secs, 0);
    n = run_table(r, t, secs);
    report("table only (lock + GCRA)", n, secs, 0);
    ev = 0;
    n = run(r, t, HITS, secs, 0, 10000, &ev);
    report("take, 10k keys (hits)", n, secs, ev);
    ev = 0;
    n = run(r, t, FRESH, secs, 1000000, 0, &ev);
    report("take, new keys (evicting)", n, secs, ev);

    shared = mmap(NULL, sizeof(uint64_t[64][2]), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                  -1, 0);
    if (shared == MAP_FAILED)
        return 1;
    for (int p = 1; p <= maxp && p <= 64; p *= 2) {
        uint64_t total = 0, tev = 0;
        for (int i = 0; i < p; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                uint64_t e = 0;
                shared[i][0] = run(r, t, HITS, secs, (uint64_t)i * 2500, 10000, &e);
                shared[i][1] = e;
                _exit(0);
            }
            if (pid < 0)
                return 1;
        }
        while (wait(NULL) > 0)
            ;
        for (int i = 0; i < p; i++) {
            total += shared[i][0];
            tev += shared[i][1];
        }
        snprintf(what, sizeof what, "take, %d process%s (hits)", p, p > 1 ? "es" : "");
        report(what, total, secs, tev);
    }
    host_limit_region_destroy(r);
    return 0;
}
