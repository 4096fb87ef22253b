/*
 * test_ratelimit.c - rate-limit zones (rate_limit.h, limit_region.h)
 * without a server: GCRA's rate, burst, retry_ms and costs above 1 on a
 * clock the test sets; LRU eviction when the zone's memory is full (and
 * only keys still holding state count as evicted); a process that dies
 * holding a zone's lock, at any moment of a take, neither wedges it nor
 * loses its keys' budgets (A1); zones found again by plugin and name with
 * the same values, fresh with others, reclaimed when no worker uses them,
 * bounded by max_memory; keys stored as keyed digests only, separate per
 * tenant (S16, S21); the rate_limits config group.
 */
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "config_limits.h"
#include "limit_region.h"
#include "rate_limit.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1000) * SEC) /* a monotonic clock is well past 0 */

static host_rl_table *table_new(size_t bytes, double rate, uint32_t burst)
{
    void *mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    host_rl_table *t = mem ? host_rl_init(mem, bytes, rate, burst, 0) : NULL;

    if (!t)
        free(mem);
    return t;
}

static void table_free(host_rl_table *t)
{
    host_rl_destroy(t);
    free(t);
}

static void key_of(uint8_t k[HOST_RL_KEY_BYTES], unsigned n)
{
    /* Digests are uniform: spread n over every byte, as a hash would. */
    uint64_t x = (n + 1) * UINT64_C(0x9E3779B97F4A7C15);

    memcpy(k, &x, 8);
    x ^= x >> 29;
    memcpy(k + 8, &x, 8);
}

static int take(host_rl_table *t, unsigned key, uint32_t cost, int64_t now, uint64_t *retry_ms)
{
    uint8_t k[HOST_RL_KEY_BYTES];
    host_rl_result r;

    key_of(k, key);
    if (host_rl_take(t, k, cost, now, &r) != 0)
        return -1;
    if (retry_ms)
        *retry_ms = r.retry_ms;
    return r.allowed;
}

static void test_gcra(void)
{
    int64_t tat = 0, next = 0, retry = 0;
    int i;

    /* burst 3, one per 100 ms: three at once, then one per interval. */
    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(host_gcra(tat, T0, 100 * MS, 300 * MS, 1, &next, &retry), 1);
        tat = next;
    }
    CU_ASSERT_EQUAL(host_gcra(tat, T0, 100 * MS, 300 * MS, 1, &next, &retry), 0);
    CU_ASSERT_EQUAL(retry, 100 * MS);
    CU_ASSERT_EQUAL(host_gcra(tat, T0 + 40 * MS, 100 * MS, 300 * MS, 1, &next, &retry), 0);
    CU_ASSERT_EQUAL(retry, 60 * MS);
    CU_ASSERT_EQUAL(host_gcra(tat, T0 + 100 * MS, 100 * MS, 300 * MS, 1, &next, &retry), 1);
}

static void test_rate_burst_retry(void)
{
    host_rl_table *t = table_new(8192, 10.0, 5); /* 10/s, burst 5 */
    uint64_t retry = 0;
    int i, allowed = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    for (i = 0; i < 8; i++)
        allowed += take(t, 1, 1, T0, &retry) == 1;
    CU_ASSERT_EQUAL(allowed, 5);
    CU_ASSERT_EQUAL(retry, 100);
    /* Another key has its own budget. */
    CU_ASSERT_EQUAL(take(t, 2, 1, T0, NULL), 1);
    /* 30 ms later: still 70 ms to wait; at 100 ms one more, not two. */
    CU_ASSERT_EQUAL(take(t, 1, 1, T0 + 30 * MS, &retry), 0);
    CU_ASSERT_EQUAL(retry, 70);
    CU_ASSERT_EQUAL(take(t, 1, 1, T0 + 100 * MS, NULL), 1);
    CU_ASSERT_EQUAL(take(t, 1, 1, T0 + 100 * MS, &retry), 0);
    CU_ASSERT_EQUAL(retry, 100);
    /* Over a long quiet spell the budget refills to the burst, no more. */
    allowed = 0;
    for (i = 0; i < 10; i++)
        allowed += take(t, 1, 1, T0 + 60 * SEC, NULL) == 1;
    CU_ASSERT_EQUAL(allowed, 5);
    /* Over 2 s of steady asking: burst + rate * elapsed. */
    allowed = 0;
    for (i = 0; i <= 2000; i++)
        allowed += take(t, 3, 1, T0 + i * MS, NULL) == 1;
    CU_ASSERT_EQUAL(allowed, 5 + 20);
    table_free(t);
}

static void test_retry_rounds_up(void)
{
    host_rl_table *t = table_new(8192, 3.0, 1); /* one per 333.33 ms */
    uint64_t retry = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(take(t, 1, 1, T0, NULL), 1);
    CU_ASSERT_EQUAL(take(t, 1, 1, T0, &retry), 0);
    CU_ASSERT_EQUAL(retry, 334); /* waiting 333 ms would be refused again */
    CU_ASSERT_EQUAL(take(t, 1, 1, T0 + 333 * MS, &retry), 0);
    CU_ASSERT_EQUAL(retry, 1);
    CU_ASSERT_EQUAL(take(t, 1, 1, T0 + 334 * MS, NULL), 1);
    table_free(t);
}

static void test_cost(void)
{
    host_rl_table *t = table_new(8192, 1.0, 10); /* 1/s, burst 10 */
    uint64_t retry = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(take(t, 1, 4, T0, NULL), 1);
    CU_ASSERT_EQUAL(take(t, 1, 4, T0, NULL), 1);
    /* 8 spent, 2 left: a take of 4 waits for 2 more units (2 s) and takes
     * nothing meanwhile, so a take of 2 still fits. */
    CU_ASSERT_EQUAL(take(t, 1, 4, T0, &retry), 0);
    CU_ASSERT_EQUAL(retry, 2000);
    CU_ASSERT_EQUAL(take(t, 1, 2, T0, NULL), 1);
    CU_ASSERT_EQUAL(take(t, 1, 1, T0, &retry), 0);
    CU_ASSERT_EQUAL(retry, 1000);
    /* cost 0 and cost over the burst can never be answered: errors. */
    CU_ASSERT_EQUAL(take(t, 2, 0, T0, NULL), -1);
    CU_ASSERT_EQUAL(take(t, 2, 11, T0, NULL), -1);
    CU_ASSERT_EQUAL(take(t, 2, 10, T0, NULL), 1);
    table_free(t);
}

static void test_params(void)
{
    int64_t iv = 0, tau = 0;
    char err[128];

    CU_ASSERT_EQUAL(host_rl_params(10, 5, &iv, &tau, err, sizeof err), 0);
    CU_ASSERT_EQUAL(iv, 100 * MS);
    CU_ASSERT_EQUAL(tau, 500 * MS);
    CU_ASSERT_EQUAL(host_rl_params(0, 5, &iv, &tau, err, sizeof err), -1);
    CU_ASSERT_EQUAL(host_rl_params(-1, 5, &iv, &tau, err, sizeof err), -1);
    CU_ASSERT_EQUAL(host_rl_params(1.0 / 0.0, 5, &iv, &tau, err, sizeof err), -1);
    CU_ASSERT_EQUAL(host_rl_params(0.0 / 0.0, 5, &iv, &tau, err, sizeof err), -1);
    CU_ASSERT_EQUAL(host_rl_params(1, 0, &iv, &tau, err, sizeof err), -1);
    CU_ASSERT_EQUAL(host_rl_params(1, HOST_RL_BURST_MAX + 1, &iv, &tau, err, sizeof err), -1);
    CU_ASSERT_EQUAL(host_rl_params(HOST_RL_RATE_MIN, HOST_RL_BURST_MAX, &iv, &tau, err, sizeof err),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
    CU_ASSERT_PTR_NULL(table_new(host_rl_min_bytes() - 1, 1, 1));
}

/* The smallest zone holds HOST_RL_MIN_ENTRIES keys; one more evicts the
 * least recently used one, and only a key with state left counts. */
static void test_eviction_lru(void)
{
    host_rl_table *t = table_new(host_rl_min_bytes(), 0.001, 1); /* state held ~17 min */
    uint8_t k[HOST_RL_KEY_BYTES];
    host_rl_result r;
    uint32_t cap, i;

    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    cap = host_rl_capacity(t);
    CU_ASSERT_TRUE(cap >= HOST_RL_MIN_ENTRIES);
    for (i = 0; i < cap; i++)
        CU_ASSERT_EQUAL(take(t, i, 1, T0, NULL), 1);
    CU_ASSERT_EQUAL(host_rl_used(t), cap);
    /* Touch key 0 (refused, but used): key 1 is now the least recent. */
    CU_ASSERT_EQUAL(take(t, 0, 1, T0 + 1 * MS, NULL), 0);
    key_of(k, 1000);
    CU_ASSERT_EQUAL(host_rl_take(t, k, 1, T0 + 2 * MS, &r), 0);
    CU_ASSERT_EQUAL(r.allowed, 1);
    CU_ASSERT_EQUAL(r.evicted, 1);
    key_of(k, 1);
    CU_ASSERT_EQUAL(host_rl_contains(t, k), 0);
    key_of(k, 0);
    CU_ASSERT_EQUAL(host_rl_contains(t, k), 1);
    /* The next new key evicts key 2, then 3: oldest first. */
    key_of(k, 1001);
    CU_ASSERT_EQUAL(host_rl_take(t, k, 1, T0 + 3 * MS, &r), 0);
    CU_ASSERT_EQUAL(r.evicted, 1);
    key_of(k, 2);
    CU_ASSERT_EQUAL(host_rl_contains(t, k), 0);
    key_of(k, 3);
    CU_ASSERT_EQUAL(host_rl_contains(t, k), 1);
    /* An evicted key comes back fresh: the budget it lost is the cost of
     * a zone too small for its traffic (what the metric is for). */
    CU_ASSERT_EQUAL(take(t, 1, 1, T0 + 4 * MS, NULL), 1);
    /* Once every key's state has run out, taking their room evicts
     * nothing that mattered. */
    key_of(k, 2000);
    CU_ASSERT_EQUAL(host_rl_take(t, k, 1, T0 + 3600 * SEC, &r), 0);
    CU_ASSERT_EQUAL(r.allowed, 1);
    CU_ASSERT_EQUAL(r.evicted, 0);
    CU_ASSERT_EQUAL(host_rl_used(t), cap);
    table_free(t);
}

/* A1: a process that dies holding a zone's lock (SIGKILL, here _exit
 * while holding it) leaves a robust mutex: the next take rebuilds the
 * table from its entries, and every key keeps its budget and its place in
 * the LRU order. */
static void test_dead_holder(void)
{
    size_t bytes = host_rl_min_bytes();
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    host_rl_table *t;
    uint8_t k[HOST_RL_KEY_BYTES];
    host_rl_result r;
    uint32_t cap, i;
    pid_t pid;
    int st = 0;

    CU_ASSERT_FATAL(mem != MAP_FAILED);
    t = host_rl_init(mem, bytes, 0.001, 2, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    cap = host_rl_capacity(t);
    for (i = 0; i < cap; i++) /* keys 0..cap-1, 0 the least recent */
        CU_ASSERT_EQUAL(take(t, i, 2, T0 + i * MS, NULL), 1);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        host_rl_lock_for_test(t);
        _exit(0); /* holding the lock */
    }
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    key_of(k, 1);
    CU_ASSERT_EQUAL(host_rl_take(t, k, 1, T0 + SEC, &r), 0);
    CU_ASSERT_EQUAL(r.recovered, 1);
    CU_ASSERT_EQUAL(r.allowed, 0); /* its budget is still spent */
    CU_ASSERT_EQUAL(host_rl_used(t), cap);
    /* Key 1 was just used: a new key evicts key 0, then key 2. */
    key_of(k, 5000);
    CU_ASSERT_EQUAL(host_rl_take(t, k, 1, T0 + SEC, &r), 0);
    CU_ASSERT_EQUAL(r.recovered, 0);
    CU_ASSERT_EQUAL(r.evicted, 1);
    key_of(k, 0);
    CU_ASSERT_EQUAL(host_rl_contains(t, k), 0);
    key_of(k, 1);
    CU_ASSERT_EQUAL(host_rl_contains(t, k), 1);
    key_of(k, 5001);
    CU_ASSERT_EQUAL(host_rl_take(t, k, 1, T0 + SEC, &r), 0);
    key_of(k, 2);
    CU_ASSERT_EQUAL(host_rl_contains(t, k), 0);
    for (i = 3; i < cap; i++)
        CU_ASSERT_EQUAL(take(t, i, 1, T0 + SEC, NULL), 0);
    munmap(mem, bytes);
}

/* A1 again, with the holder killed at random moments of real takes (new
 * keys: evictions, list splices): whatever store it died after, the next
 * locker finds or rebuilds whole links, and the table goes on working. */
static void test_killed_mid_take(void)
{
    size_t bytes = 4096;
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    host_rl_table *t;
    host_rl_result r;
    uint8_t k[HOST_RL_KEY_BYTES];
    int round, recovered = 0, broken = 0;

    CU_ASSERT_FATAL(mem != MAP_FAILED);
    t = host_rl_init(mem, bytes, 0.001, 1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    for (round = 0; round < 200; round++) {
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            for (unsigned n = (unsigned)round * 1000000u;; n++) {
                key_of(k, n);
                host_rl_take(t, k, 1, T0, &r);
            }
        }
        usleep((useconds_t)(200 + (round * 37) % 800));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        key_of(k, 999999999u - (unsigned)round);
        CU_ASSERT_EQUAL(host_rl_take(t, k, 1, T0, &r), 0);
        CU_ASSERT_EQUAL(r.allowed, 1);
        recovered += r.recovered;
        broken += host_rl_check(t) != 0;
        CU_ASSERT_EQUAL(host_rl_contains(t, k), 1);
    }
    CU_ASSERT_EQUAL(broken, 0);
    printf("\n    (%d of 200 kills landed while holding the lock)\n", recovered);
    munmap(mem, bytes);
}

static void test_region_zones(void)
{
    host_limit_region *r = host_limit_region_create(64 * 1024);
    host_rl_table *a, *b, *c, *d;
    char err[200];

    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    a = host_limit_zone_attach(r, "auth", "login", 1, 5, 16384, 0, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    /* Another worker, same values: the same zone, the same budget. */
    b = host_limit_zone_attach(r, "auth", "login", 1, 5, 16384, 1, err, sizeof err);
    CU_ASSERT_PTR_EQUAL(a, b);
    /* The same name in another plugin is another zone. */
    c = host_limit_zone_attach(r, "waf", "login", 1, 5, 16384, 0, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(c);
    CU_ASSERT_PTR_NOT_EQUAL(a, c);
    /* A reload with another rate: a fresh zone, the old one kept while
     * its workers live. */
    d = host_limit_zone_attach(r, "auth", "login", 2, 5, 16384, 2, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_PTR_NOT_EQUAL(a, d);
    CU_ASSERT_EQUAL(host_limit_region_used(r), 3 * 16384);
    /* Too big for what is left: refused, with the figures. */
    CU_ASSERT_PTR_NULL(host_limit_zone_attach(r, "auth", "big", 1, 5, 32768, 2, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "max_memory"));
    /* Workers 0 and 1 leave: the old "auth" zone is reclaimed for it. */
    host_limit_region_detach(r, 0);
    host_limit_region_detach(r, 1);
    CU_ASSERT_PTR_NOT_NULL(
        host_limit_zone_attach(r, "auth", "big", 1, 5, 32768, 2, err, sizeof err));
    /* Bad values are refused with a reason. */
    CU_ASSERT_PTR_NULL(
        host_limit_zone_attach(r, "auth", "Bad-Name", 1, 5, 4096, 2, err, sizeof err));
    CU_ASSERT_PTR_NULL(host_limit_zone_attach(r, "auth", "tiny", 1, 5, 64, 2, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "mem_bytes"));
    CU_ASSERT_PTR_NULL(host_limit_zone_attach(r, "auth", "slow", 0, 5, 4096, 2, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "rate"));
    host_limit_region_destroy(r);

    /* max_memory 0: zones are off, and say so. */
    r = host_limit_region_create(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NULL(host_limit_zone_attach(r, "auth", "login", 1, 5, 4096, 0, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "off"));
    host_limit_region_destroy(r);
}

/* S16, S21: the table holds a keyed digest, never the key; the same key
 * of two tenants, and of no tenant, are three keys. */
static void test_keys_hashed(void)
{
    host_limit_region *r = host_limit_region_create(64 * 1024), *r2;
    uint8_t ka[HOST_RL_KEY_BYTES], kb[HOST_RL_KEY_BYTES], kn[HOST_RL_KEY_BYTES],
        ke[HOST_RL_KEY_BYTES], k2[HOST_RL_KEY_BYTES];
    const char *who = "alice@example.com";
    host_rl_table *t;
    host_rl_result res;
    char err[200];

    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    host_limit_key(r, "acme", who, ka);
    host_limit_key(r, "globex", who, kb);
    host_limit_key(r, NULL, who, kn);
    host_limit_key(r, "", who, ke);
    CU_ASSERT_NOT_EQUAL(memcmp(ka, kb, sizeof ka), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(ka, kn, sizeof ka), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(kn, ke, sizeof ka), 0);
    /* "ac"+"me..." is not "acme"+"...": the tenant is delimited. */
    host_limit_key(r, "ac",
                   "me"
                   "alice@example.com",
                   k2);
    CU_ASSERT_NOT_EQUAL(memcmp(ka, k2, sizeof ka), 0);
    host_limit_key(r, "acme", who, k2);
    CU_ASSERT_EQUAL(memcmp(ka, k2, sizeof ka), 0);
    /* Another node (region) has another key. */
    r2 = host_limit_region_create(4096);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
    host_limit_key(r2, "acme", who, k2);
    CU_ASSERT_NOT_EQUAL(memcmp(ka, k2, sizeof ka), 0);
    host_limit_region_destroy(r2);

    t = host_limit_zone_attach(r, "auth", "login", 1, 5, 16384, 0, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(host_rl_take(t, ka, 1, T0, &res), 0);
    CU_ASSERT_EQUAL(host_rl_contains(t, ka), 1);
    CU_ASSERT_PTR_NULL(memmem(t, 16384, who, strlen(who)));
    CU_ASSERT_PTR_NULL(memmem(t, 16384, "alice", 5));
    host_limit_region_destroy(r);
}

static int parse_conf(const char *text, host_rate_limits_conf *out, host_errors *errs)
{
    config_t cfg;
    int rc;

    config_init(&cfg);
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        config_destroy(&cfg);
        return -2;
    }
    rc = host_config_rate_limits(config_root_setting(&cfg), "tanomu.conf", out, errs);
    config_destroy(&cfg);
    return rc;
}

static void test_config(void)
{
    host_rate_limits_conf c;
    host_errors errs;

    host_errors_init(&errs);
    CU_ASSERT_EQUAL(parse_conf("server: {};", &c, &errs), 0);
    CU_ASSERT_EQUAL(c.max_memory, HOST_RATE_LIMITS_DEFAULT_MEMORY);
    CU_ASSERT_EQUAL(parse_conf("rate_limits: { max_memory = 1048576; };", &c, &errs), 0);
    CU_ASSERT_EQUAL(c.max_memory, 1048576);
    CU_ASSERT_EQUAL(parse_conf("rate_limits: { max_memory = 0; };", &c, &errs), 0);
    CU_ASSERT_EQUAL(c.max_memory, 0);
    CU_ASSERT_EQUAL(errs.count, 0);
    CU_ASSERT_EQUAL(parse_conf("rate_limits: { max_memory = -1; };", &c, &errs), -1);
    CU_ASSERT_EQUAL(parse_conf("rate_limits: { max_memory = 4000000000000L; };", &c, &errs), -1);
    CU_ASSERT_EQUAL(parse_conf("rate_limits: { max_memory = \"8M\"; };", &c, &errs), -1);
    CU_ASSERT_EQUAL(parse_conf("rate_limits: { memory = 1; };", &c, &errs), -1);
    CU_ASSERT_EQUAL(parse_conf("rate_limits = 5;", &c, &errs), -1);
    CU_ASSERT_EQUAL(errs.count, 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs.items[3], "rate_limits.memory"));
    host_errors_free(&errs);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("ratelimit", NULL, NULL);
    CU_add_test(s, "GCRA: burst at once, then one per interval", test_gcra);
    CU_add_test(s, "rate, burst and retry_ms per key", test_rate_burst_retry);
    CU_add_test(s, "retry_ms rounds up to a wait that suffices", test_retry_rounds_up);
    CU_add_test(s, "cost > 1; refused takes take nothing; bad costs", test_cost);
    CU_add_test(s, "rate and burst bounds", test_params);
    CU_add_test(s, "eviction under memory pressure in LRU order", test_eviction_lru);
    CU_add_test(s, "A1 a dead lock holder: no wedge, budgets and LRU kept", test_dead_holder);
    CU_add_test(s, "A1 killed at random moments of takes: links whole", test_killed_mid_take);
    CU_add_test(s, "zones by plugin and name, fresh on new values, max_memory", test_region_zones);
    CU_add_test(s, "S16 S21 keys stored as keyed digests, per tenant", test_keys_hashed);
    CU_add_test(s, "rate_limits config group", test_config);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
