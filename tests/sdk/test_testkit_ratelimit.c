/*
 * test_testkit_ratelimit.c - rate-limit zones in the testkit: the login
 * example of docs/sdk.md ("Shared rate limits") run on the virtual clock,
 * with the host's algorithm (rate, burst, Retry-After from retry_ms, costs,
 * per-tenant keys, LRU eviction counted) and the host's refusals
 * (limit_zone outside init(), bad values, cost over the burst), each with
 * its last_error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

/* -- the docs/sdk.md example: POST /login, 5 tries a minute per address -- */

static const tn_api *api;
static tn_limit *login_zone;

static tn_status h_login(tn_plugin *self, tn_request *req, void *ud)
{
    uint64_t retry_ms = 0;
    char secs[24];
    int rc = api->limit_take(login_zone, api->req_tenant(req), api->req_client_addr(req), 1,
                             &retry_ms);

    (void)self;
    (void)ud;
    if (rc == 0) {
        /* resp_error() replaces the headers: Retry-After goes after it. */
        api->resp_error(req, 429, "too_many_attempts", "too many login attempts; retry later");
        snprintf(secs, sizeof secs, "%llu", (unsigned long long)((retry_ms + 999) / 1000));
        api->resp_header(req, "Retry-After", secs);
        return TN_DONE;
    }
    if (rc < 0) { /* a bug of ours (last_error says which): fail closed */
        api->resp_error(req, 500, "internal", "rate limit unavailable");
        return TN_DONE;
    }
    /* ... check the password (and count failures per account in the
     * database: that limit must hold on every node) ... */
    api->resp_json(req, 200, "{\"checked\":true}");
    return TN_DONE;
}

static int login_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    /* 5 at once, then one every 12 s; 64 KiB holds about 1,250 addresses. */
    login_zone = api->limit_zone(self, "login", 5.0 / 60.0, 5, 64 * 1024);
    if (!login_zone) {
        api->log(self, TN_LOG_ERROR, "limit_zone: %s", api->last_error(self));
        return TN_EINVAL;
    }
    return api->route_add(self, "POST", "/login", TN_ACCESS_PUBLIC, NULL, h_login, NULL);
}

static const tn_plugin_desc login_desc = {
    .size = sizeof login_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "login",
    .version = "1.0.0",
    .init = login_init,
};

/* -- a plugin that tries the calls' edges ---------------------------- */

static tn_limit *tiny, *dup_same;
static tn_plugin *edge_self;
static int dup_rc, bad_rate_null, late_null;

static tn_status h_late(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    late_null = api->limit_zone(self, "late", 1, 1, 4096) == NULL;
    api->resp_json(req, 200, "{}");
    return TN_DONE;
}

static int edge_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    edge_self = self;
    tiny = api->limit_zone(self, "tiny", 0.001, 2, 1024); /* a few dozen keys */
    dup_same = api->limit_zone(self, "tiny", 0.001, 2, 1024);
    dup_rc = api->limit_zone(self, "tiny", 0.002, 2, 1024) == NULL;
    bad_rate_null = api->limit_zone(self, "bad", 0, 2, 4096) == NULL;
    return api->route_add(self, "GET", "/late", TN_ACCESS_PUBLIC, NULL, h_late, NULL);
}

static const tn_plugin_desc edge_desc = {
    .size = sizeof edge_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "edge",
    .version = "1.0.0",
    .init = edge_init,
};

static int post_login(tk_kit *tk, const char *tenant, const char *addr, tn_request **out)
{
    tn_request *r = tk_req_new(tk, tenant, "POST", "/login");
    int status;

    tk_req_set_client(r, addr);
    tk_req_run(r);
    status = tk_resp_status(r);
    if (out)
        *out = r;
    else
        tk_req_free(r);
    return status;
}

static void test_login_example(void)
{
    tk_kit *tk = tk_new();
    tn_request *r;
    int i, ok = 0;

    CU_ASSERT_EQUAL_FATAL(tk_load(tk, &login_desc), TN_OK);
    tk_enable(tk, "acme", 1);
    tk_set_for(tk, "login", "globex", "enabled", "true");
    for (i = 0; i < 8; i++)
        ok += post_login(tk, "acme", "203.0.113.7", NULL) == 200;
    CU_ASSERT_EQUAL(ok, 5);
    CU_ASSERT_EQUAL(post_login(tk, "acme", "203.0.113.7", &r), 429);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tk_resp_header(r, "Retry-After"));
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Retry-After"), "12");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "too_many_attempts");
    tk_req_free(r);
    /* Another address, and the same address at another tenant: their own. */
    CU_ASSERT_EQUAL(post_login(tk, "acme", "203.0.113.8", NULL), 200);
    CU_ASSERT_EQUAL(post_login(tk, "globex", "203.0.113.7", NULL), 200);
    /* 5 s on the virtual clock: 7 s left to wait. */
    tk_advance_ms(tk, 5000);
    CU_ASSERT_EQUAL(post_login(tk, "acme", "203.0.113.7", &r), 429);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tk_resp_header(r, "Retry-After"));
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Retry-After"), "7");
    tk_req_free(r);
    tk_advance_ms(tk, 7000);
    CU_ASSERT_EQUAL(post_login(tk, "acme", "203.0.113.7", NULL), 200);
    CU_ASSERT_EQUAL(post_login(tk, "acme", "203.0.113.7", NULL), 429);
    CU_ASSERT_EQUAL(tk_limit_stat(tk, "login", "login", "allowed"), 5 + 2 + 1);
    CU_ASSERT_EQUAL(tk_limit_stat(tk, "login", "login", "limited"), 3 + 1 + 1 + 1);
    CU_ASSERT_EQUAL(tk_limit_stat(tk, "login", "login", "evicted"), 0);
    CU_ASSERT_EQUAL(tk_limit_stat(tk, "login", "nope", "allowed"), -1);
    tk_free(tk);
}

static void test_edges(void)
{
    tk_kit *tk = tk_new();
    uint64_t retry = 0;
    char key[32];
    int i, allowed = 0;

    CU_ASSERT_EQUAL_FATAL(tk_load(tk, &edge_desc), TN_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tiny);
    /* The same declaration twice is the same zone; another one is refused. */
    CU_ASSERT_PTR_EQUAL(tiny, dup_same);
    CU_ASSERT_TRUE(dup_rc);
    CU_ASSERT_TRUE(bad_rate_null);
    CU_ASSERT_PTR_NOT_NULL(strstr(api->last_error(edge_self), "rate"));
    /* Outside init(): refused. */
    tk_enable(tk, "acme", 1);
    tk_req_free(tk_request(tk, "acme", "GET", "/late"));
    CU_ASSERT_TRUE(late_null);
    CU_ASSERT_PTR_NOT_NULL(strstr(api->last_error(edge_self), "init()"));
    /* Costs: 2 at once, then nothing; cost over the burst is an error. */
    CU_ASSERT_EQUAL(api->limit_take(tiny, NULL, "k", 2, &retry), 1);
    CU_ASSERT_EQUAL(api->limit_take(tiny, NULL, "k", 1, &retry), 0);
    CU_ASSERT_EQUAL(retry, 1000000); /* one unit at 0.001/s: 1000 s */
    CU_ASSERT_EQUAL(api->limit_take(tiny, NULL, "k", 3, &retry), TN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(api->last_error(edge_self), "burst"));
    CU_ASSERT_EQUAL(api->limit_take(tiny, NULL, NULL, 1, &retry), TN_EINVAL);
    CU_ASSERT_EQUAL(api->limit_take(NULL, NULL, "k", 1, &retry), TN_EINVAL);
    /* Many keys in a small zone: the oldest go, counted; "k" was among
     * the first, so it comes back fresh. */
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "client-%d", i);
        allowed += api->limit_take(tiny, "acme", key, 1, NULL) == 1;
    }
    CU_ASSERT_EQUAL(allowed, 500);
    CU_ASSERT_TRUE(tk_limit_stat(tk, "edge", "tiny", "evicted") > 400);
    CU_ASSERT_EQUAL(api->limit_take(tiny, NULL, "k", 2, &retry), 1);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("testkit_ratelimit", NULL, NULL);
    CU_add_test(s, "the docs login example: 429 with Retry-After on the virtual clock",
                test_login_example);
    CU_add_test(s, "declarations, refusals, costs and eviction", test_edges);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
