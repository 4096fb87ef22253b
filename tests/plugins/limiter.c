/*
 * limiter - a TEST-ONLY plugin exposing rate-limit zones (SDK 1.2) over
 * HTTP, for tests/integration/test_ratelimit.py.
 *
 *   GET /limiter/take?zone=Z&key=K[&cost=N]
 *       takes from zone Z for key K of the request's tenant: 200
 *       {"allowed":true,"pid":P}, or 429 {"retry_ms":R,"pid":P} with
 *       Retry-After, or 500 with the plugin's last_error.
 *   GET /limiter/spin?ms=M
 *       takes from zone "spin" with rotating keys for M ms without
 *       returning to the loop: a worker SIGKILLed meanwhile is most likely
 *       inside a take, often holding the zone's lock.
 *
 * Zones: "budget" 50 at once then one per 1000 s (so elapsed time in a
 * test barely matters), "small" (2 KiB: a few dozen keys), "spin" (100
 * at once then one per 1000 s, room for the spin's 5,000 keys and more).
 * Built twice: limiter_b.so (also named "limiter") declares "budget" with
 * a burst of 60, so that a reload swapping it in changes the zone.
 */
#include <tanomu/tanomu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef LIMITER_BUDGET_BURST
#define LIMITER_BUDGET_BURST 50
#endif

static const tn_api *api;
static tn_limit *budget, *small, *spin;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

static tn_status answer_take(tn_plugin *self, tn_request *req, tn_limit *zone, const char *key,
                             uint32_t cost)
{
    uint64_t retry_ms = 0;
    char body[160], secs[24];
    int rc = api->limit_take(zone, api->req_tenant(req), key, cost, &retry_ms);

    if (rc < 0) {
        api->resp_error(req, 500, "limit_take", api->last_error(self));
        return TN_DONE;
    }
    if (rc == 0) {
        snprintf(body, sizeof body, "{\"retry_ms\":%llu,\"pid\":%d}", (unsigned long long)retry_ms,
                 (int)getpid());
        api->resp_json(req, 429, body);
        snprintf(secs, sizeof secs, "%llu", (unsigned long long)((retry_ms + 999) / 1000));
        api->resp_header(req, "Retry-After", secs);
        return TN_DONE;
    }
    snprintf(body, sizeof body, "{\"allowed\":true,\"pid\":%d}", (int)getpid());
    api->resp_json(req, 200, body);
    return TN_DONE;
}

static tn_status h_take(tn_plugin *self, tn_request *req, void *ud)
{
    const char *zone = api->req_query_param(req, "zone");
    const char *key = api->req_query_param(req, "key");
    const char *cost = api->req_query_param(req, "cost");
    tn_limit *z = NULL;

    (void)ud;
    if (zone && strcmp(zone, "budget") == 0)
        z = budget;
    else if (zone && strcmp(zone, "small") == 0)
        z = small;
    else if (zone && strcmp(zone, "spin") == 0)
        z = spin;
    if (!z || !key) {
        api->resp_error(req, 400, "bad_request", "zone=budget|small|spin and key are required");
        return TN_DONE;
    }
    return answer_take(self, req, z, key, cost ? (uint32_t)strtoul(cost, NULL, 10) : 1);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static tn_status h_spin(tn_plugin *self, tn_request *req, void *ud)
{
    const char *ms = api->req_query_param(req, "ms");
    uint64_t until = now_ms() + (ms ? strtoull(ms, NULL, 10) : 1000), n = 0;
    char key[32], body[64];

    (void)self;
    (void)ud;
    while (now_ms() < until) {
        for (int i = 0; i < 1000; i++, n++) {
            snprintf(key, sizeof key, "k%llu", (unsigned long long)(n % 5000));
            api->limit_take(spin, NULL, key, 1, NULL);
        }
    }
    snprintf(body, sizeof body, "{\"takes\":%llu}", (unsigned long long)n);
    api->resp_json(req, 200, body);
    return TN_DONE;
}

static int limiter_init(tn_plugin *self, const tn_api *a)
{
    int rc;

    api = a;
    budget = api->limit_zone(self, "budget", 0.001, LIMITER_BUDGET_BURST, 64 * 1024);
    small = api->limit_zone(self, "small", 0.001, 1, 2048);
    spin = api->limit_zone(self, "spin", 0.001, 100, 512 * 1024);
    if (!budget || !small || !spin) {
        api->log(self, TN_LOG_ERROR, "limit_zone: %s", api->last_error(self));
        return TN_EINVAL;
    }
    rc = api->route_add(self, "GET", "/limiter/take", TN_ACCESS_PUBLIC, NULL, h_take, NULL);
    if (rc == TN_OK)
        rc = api->route_add(self, "GET", "/limiter/spin", TN_ACCESS_PUBLIC, NULL, h_spin, NULL);
    return rc;
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "limiter",
    .version = "0.1.0-test",
    .description = "Test-only: rate-limit zones over HTTP",
    .init = limiter_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
