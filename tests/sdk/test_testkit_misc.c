/*
 * test_testkit_misc.c - ABI 1.2's small additions in the testkit, which
 * must answer as the host does: req_header_each (every request header in
 * arrival order, stopping on non-zero) and plugin-wide settings
 * (desc->global_settings, tk_plugin_set, api->plugin_config).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

static const tn_api *api;

/* -- req_header_each --------------------------------------------------- */

typedef struct seen {
    char names[256];
    int calls;
    int stop_at; /* return 7 at this call (1-based); 0: never */
} seen;

static int collect(const char *name, const char *value, void *ud)
{
    seen *s = ud;
    size_t n = strlen(s->names);
    snprintf(s->names + n, sizeof s->names - n, "%s%s=%s", n ? " " : "", name, value);
    return ++s->calls == s->stop_at ? 7 : 0;
}

static seen last_seen;
static int last_rc;

static tn_status headers_route(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    last_rc = api->req_header_each(req, collect, &last_seen);
    return api->resp_json(req, 200, "{}") == TN_OK ? TN_DONE : TN_ERROR;
}

/* -- plugin_config ------------------------------------------------------ */

static const tn_config_key global_keys[] = {
    {.name = "base_url",
     .type = TN_TYPE_STRING,
     .default_value = "https://api.example.com",
     .min = 8,
     .max = 200,
     .description = "Where the provider answers."},
    {.name = "retries", .type = TN_TYPE_INT, .default_value = "2", .min = 0, .max = 10},
    {.name = "relay", .type = TN_TYPE_STRING, .flags = TN_KEY_REQUIRED},
    {.name = NULL},
};

static struct {
    const tn_config *at_init;
    char base_url[64];
    int64_t retries;
} got;

static int init_globals(tn_plugin *self, const tn_api *a)
{
    api = a;
    got.at_init = a->plugin_config(self);
    if (got.at_init) {
        snprintf(got.base_url, sizeof got.base_url, "%s", a->config_str(got.at_init, "base_url"));
        got.retries = a->config_int(got.at_init, "retries");
    }
    return a->route_add(self, "GET", "/headers", TN_ACCESS_PUBLIC, NULL, headers_route, NULL);
}

static const tn_plugin_desc globals_desc = {.size = sizeof(tn_plugin_desc),
                                            .abi_major = TN_SDK_ABI_MAJOR,
                                            .abi_minor = TN_SDK_ABI_MINOR,
                                            .name = "globals",
                                            .version = "0.1",
                                            .global_settings = global_keys,
                                            .init = init_globals};

/* S16: a plugin-wide secret that reaches the log is counted as a leak. */
static const tn_config_key secret_keys[] = {
    {.name = "token", .type = TN_TYPE_STRING, .flags = TN_KEY_SECRET},
    {.name = NULL},
};

static int init_leaky(tn_plugin *self, const tn_api *a)
{
    const tn_config *cfg = a->plugin_config(self);

    api = a;
    if (strcmp(a->plugin_name(self), "leaky") == 0)
        a->log(self, TN_LOG_INFO, "token is %s", a->config_str(cfg, "token"));
    return 0;
}

static const tn_plugin_desc leaky_desc = {.size = sizeof(tn_plugin_desc),
                                          .abi_major = TN_SDK_ABI_MAJOR,
                                          .abi_minor = TN_SDK_ABI_MINOR,
                                          .name = "leaky",
                                          .version = "0.1",
                                          .global_settings = secret_keys,
                                          .init = init_leaky};

static const tn_plugin_desc careful_desc = {.size = sizeof(tn_plugin_desc),
                                            .abi_major = TN_SDK_ABI_MAJOR,
                                            .abi_minor = TN_SDK_ABI_MINOR,
                                            .name = "careful",
                                            .version = "0.1",
                                            .global_settings = secret_keys,
                                            .init = init_leaky};

static void test_plugin_wide_secret_in_the_log_is_a_leak(void)
{
    tk_kit *tk = tk_new();

    tk_plugin_set(tk, "careful", "token", "canary-careful-7731");
    CU_ASSERT_FATAL(tk_load(tk, &careful_desc) == TN_OK);
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 0);
    tk_plugin_set(tk, "leaky", "token", "canary-leaky-9157");
    CU_ASSERT_FATAL(tk_load(tk, &leaky_desc) == TN_OK);
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 1);
    tk_free(tk);
}

/* S18: a plugin-wide secret written sealed (no tenant) opens to the
 * plaintext; one sealed for a tenant does not open plugin-wide. */
static void test_sealed_plugin_wide_secret(void)
{
    tk_kit *tk = tk_new();
    char *sealed = tk_seal_setting(tk, NULL, "careful", "token", "canary-sealed-2207");
    char *for_tenant = tk_seal_setting(tk, "t1", "careful", "token", "canary-sealed-2207");

    CU_ASSERT_PTR_NOT_NULL_FATAL(sealed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(for_tenant);
    tk_plugin_set(tk, "careful", "token", sealed);
    CU_ASSERT_FATAL(tk_load(tk, &careful_desc) == TN_OK);
    CU_ASSERT_STRING_EQUAL(api->config_str(api->plugin_config(tk_plugin(tk, "careful")), "token"),
                           "canary-sealed-2207");
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 0);
    tk_free(tk);

    tk = tk_new();
    tk_plugin_set(tk, "careful", "token", for_tenant);
    CU_ASSERT_EQUAL(tk_load(tk, &careful_desc), TN_EINVAL);
    CU_ASSERT_TRUE(tk_log_contains(tk, "plugins.careful.token: "));
    CU_ASSERT_FALSE(tk_log_contains(tk, "canary-sealed-2207"));
    tk_free(tk);
    free(sealed);
    free(for_tenant);
}

static int init_plain(tn_plugin *self, const tn_api *a)
{
    api = a;
    got.at_init = a->plugin_config(self);
    return 0;
}

static const tn_plugin_desc plain_desc = {.size = sizeof(tn_plugin_desc),
                                          .abi_major = TN_SDK_ABI_MAJOR,
                                          .abi_minor = TN_SDK_ABI_MINOR,
                                          .name = "plain",
                                          .version = "0.1",
                                          .init = init_plain};

static tk_kit *kit_globals(void)
{
    memset(&got, 0, sizeof got);
    tk_kit *tk = tk_new();
    CU_ASSERT_EQUAL(tk_plugin_set(tk, "globals", "relay", "smtp.example.com:587"), TN_OK);
    CU_ASSERT_FATAL(tk_load(tk, &globals_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    return tk;
}

static void test_header_each_sees_every_header_in_order(void)
{
    tk_kit *tk = kit_globals();
    tn_request *r = tk_req_new(tk, "t1", "GET", "/headers");

    memset(&last_seen, 0, sizeof last_seen);
    tk_req_set_header(r, "X-B", "2");
    tk_req_set_header(r, "Accept", "*/*");
    tk_req_set_header(r, "x-b", "3"); /* a repeat stays a header of its own */
    CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_EQUAL(last_rc, TN_OK);
    CU_ASSERT_EQUAL(last_seen.calls, 3);
    CU_ASSERT_STRING_EQUAL(last_seen.names, "X-B=2 Accept=*/* x-b=3");
    tk_free(tk);
}

static void test_header_each_stops_on_non_zero(void)
{
    tk_kit *tk = kit_globals();
    tn_request *r = tk_req_new(tk, "t1", "GET", "/headers");

    memset(&last_seen, 0, sizeof last_seen);
    last_seen.stop_at = 2;
    tk_req_set_header(r, "A", "1");
    tk_req_set_header(r, "B", "2");
    tk_req_set_header(r, "C", "3");
    CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
    CU_ASSERT_EQUAL(last_rc, 7);
    CU_ASSERT_EQUAL(last_seen.calls, 2);
    CU_ASSERT_STRING_EQUAL(last_seen.names, "A=1 B=2");
    CU_ASSERT_EQUAL(api->req_header_each(r, NULL, NULL), TN_EINVAL);
    CU_ASSERT_EQUAL(api->req_header_each(NULL, collect, &last_seen), TN_EINVAL);
    tk_free(tk);
}

static void test_plugin_config_from_init_with_defaults(void)
{
    tk_kit *tk = kit_globals();
    tn_plugin *p = tk_plugin(tk, "globals");
    const tn_config *cfg = api->plugin_config(p);

    CU_ASSERT_PTR_NOT_NULL_FATAL(got.at_init); /* readable in init() */
    CU_ASSERT_PTR_EQUAL(cfg, got.at_init);     /* the same one for the generation */
    CU_ASSERT_STRING_EQUAL(got.base_url, "https://api.example.com");
    CU_ASSERT_EQUAL(got.retries, 2);
    CU_ASSERT_STRING_EQUAL(api->config_str(cfg, "relay"), "smtp.example.com:587");
    CU_ASSERT_TRUE(api->config_is_set(cfg, "relay"));
    CU_ASSERT_FALSE(api->config_is_set(cfg, "retries"));
    CU_ASSERT_PTR_NULL(api->config_tenant(cfg)); /* no tenant: plugin-wide */
    /* Set once loaded: refused, as tanomu.conf is read at start/reload. */
    CU_ASSERT_EQUAL(tk_plugin_set(tk, "globals", "retries", "3"), TN_ESTATE);
    CU_ASSERT_EQUAL(api->config_int(cfg, "retries"), 2);
    tk_free(tk);
}

static void test_plugin_config_values_set(void)
{
    tk_kit *tk = tk_new();

    memset(&got, 0, sizeof got);
    tk_plugin_set(tk, "globals", "relay", "relay.local");
    tk_plugin_set(tk, "globals", "retries", "5");
    tk_plugin_set(tk, "globals", "base_url", "https://x.example");
    tk_plugin_set(tk, "globals", "base_url", "https://y.example"); /* the last one counts */
    CU_ASSERT_FATAL(tk_load(tk, &globals_desc) == TN_OK);
    CU_ASSERT_STRING_EQUAL(got.base_url, "https://y.example");
    CU_ASSERT_EQUAL(got.retries, 5);
    tk_free(tk);
}

/* Refused as the host refuses tanomu.conf: the plugin does not load. */
static void refused(const char *key, const char *value, const char *log)
{
    tk_kit *tk = tk_new();

    memset(&got, 0, sizeof got);
    if (strcmp(key, "relay") != 0)
        tk_plugin_set(tk, "globals", "relay", "relay.local");
    if (value)
        tk_plugin_set(tk, "globals", key, value);
    CU_ASSERT_EQUAL(tk_load(tk, &globals_desc), TN_EINVAL);
    CU_ASSERT_PTR_NULL(tk_plugin(tk, "globals"));
    CU_ASSERT_PTR_NULL(got.at_init); /* init() never ran */
    if (!tk_log_contains(tk, log))
        fprintf(stderr, "missing in the log: %s\n", log);
    CU_ASSERT_TRUE(tk_log_contains(tk, log));
    tk_free(tk);
}

static void test_invalid_plugin_settings_refuse_the_plugin(void)
{
    refused("retries", "eleven", "plugins.globals.retries: must be a int");
    refused("retries", "11", "plugins.globals.retries: out of bounds (0..10)");
    refused("base_url", "short", "plugins.globals.base_url: length out of bounds (8..200)");
    refused("colour", "blue", "plugins.globals.colour: unknown setting");
    refused("relay", NULL, "plugins.globals.relay: is required");
}

static void test_no_global_settings_gives_an_empty_config(void)
{
    tk_kit *tk = tk_new();

    memset(&got, 0, sizeof got);
    CU_ASSERT_FATAL(tk_load(tk, &plain_desc) == TN_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got.at_init); /* never NULL after init */
    CU_ASSERT_STRING_EQUAL(api->config_str(got.at_init, "anything"), "");
    CU_ASSERT_EQUAL(api->config_int(got.at_init, "anything"), 0);
    tk_free(tk);

    tk = tk_new();
    tk_plugin_set(tk, "plain", "anything", "1"); /* a section for keys it has not */
    CU_ASSERT_EQUAL(tk_load(tk, &plain_desc), TN_EINVAL);
    CU_ASSERT_TRUE(tk_log_contains(tk, "plugins.plain.anything: unknown setting"));
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("testkit 1.2 misc", NULL, NULL);
    CU_add_test(s, "req_header_each: every header, arrival order, repeats apart",
                test_header_each_sees_every_header_in_order);
    CU_add_test(s, "req_header_each: stops on non-zero and returns it; NULL refused",
                test_header_each_stops_on_non_zero);
    CU_add_test(s, "plugin_config: readable in init, defaults, no tenant",
                test_plugin_config_from_init_with_defaults);
    CU_add_test(s, "plugin_config: values set with tk_plugin_set", test_plugin_config_values_set);
    CU_add_test(s, "plugin_config: invalid values refuse the plugin as the host does",
                test_invalid_plugin_settings_refuse_the_plugin);
    CU_add_test(s, "plugin_config: never NULL, empty without global_settings",
                test_no_global_settings_gives_an_empty_config);
    CU_add_test(s, "plugin_config: a plugin-wide secret in the log is a leak (S16)",
                test_plugin_wide_secret_in_the_log_is_a_leak);
    CU_add_test(s, "plugin_config: a sealed plugin-wide secret opens, a tenant's does not (S18)",
                test_sealed_plugin_wide_secret);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
