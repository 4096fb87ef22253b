/*
 * test_hello.c - unit tests of the hello plugin on the testkit: no server,
 * the plugin's source is compiled in and loaded by its descriptor.  Each
 * test's name says the behaviour it checks; requirement IDs are in
 * /work/shared/REQUIREMENTS.md (P3 per-tenant settings, S5 charset, S7
 * headers, S21 tenants apart).
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>
#include <tanomu/testkit.h>

const tn_plugin_desc *tn_plugin_entry(void);

#define GREETINGS "tanomu_plugin_hello_greetings_total"
#define GREETED_EVENTS "tanomu_plugin_hello_greeted_events_total"

/* A kit with hello loaded and enabled for tenants "a" and "b". */
static tk_kit *kit(void)
{
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk != NULL);
    CU_ASSERT_FATAL(tk_load(tk, tn_plugin_entry()) == TN_OK);
    CU_ASSERT(tk_enable(tk, "a", 1) == TN_OK);
    CU_ASSERT(tk_enable(tk, "b", 1) == TN_OK);
    return tk;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    CU_ASSERT_FATAL(s != NULL);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_descriptor_passes_the_host_checks(void)
{
    const tn_plugin_desc *d = tn_plugin_entry();
    CU_ASSERT_EQUAL(d->size, sizeof *d);
    CU_ASSERT_EQUAL(d->abi_major, TN_SDK_ABI_MAJOR);
    CU_ASSERT_STRING_EQUAL(d->name, "hello");
    tk_kit *tk = tk_new();
    CU_ASSERT_EQUAL(tk_load(tk, d), TN_OK);
    CU_ASSERT(tk_log_contains(tk, "info hello: ready, version 1.0.0"));
    tk_free(tk);
}

static void test_get_hello_answers_the_default_greeting_as_json(void)
{
    tk_kit *tk = kit();
    tn_request *r = tk_request(tk, "a", "GET", "/hello");
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "{\"greeting\":\"Hello\"}");
    /* S5: Content-Type always carries charset. */
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Content-Type"), "application/json; charset=utf-8");
    tk_free(tk);
}

/* P3, S21: each tenant gets its own setting. */
static void test_greeting_is_the_tenants_own_setting(void)
{
    tk_kit *tk = kit();
    tk_set(tk, "a", "greeting", "Hi from A");
    tk_set(tk, "b", "greeting", "Hi from B");
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    tn_request *ra = tk_request(tk, "a", "GET", "/hello");
    tn_request *rb = tk_request(tk, "b", "GET", "/hello");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(ra, "greeting"), "Hi from A");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(rb, "greeting"), "Hi from B");
    tk_free(tk);
}

/* S5: tenant text is escaped, never pasted into the JSON. */
static void test_greeting_is_json_escaped(void)
{
    const char *nasty = "say \"hi\" \\ </script>\n\x01";
    tk_kit *tk = kit();
    tk_set(tk, "a", "greeting", nasty);
    tn_request *r = tk_request(tk, "a", "GET", "/hello");
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    const char *body = tk_resp_body(r, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\\\"hi\\\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "\\u0001"));
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "greeting"), nasty);
    tk_free(tk);
}

static void test_shout_upper_cases_ascii_letters_only(void)
{
    tk_kit *tk = kit();
    tk_set(tk, "a", "greeting", "h\xc3\xa9llo w\xc3\xb6rld 1!");
    tk_set(tk, "a", "shout", "true");
    tn_request *r = tk_request(tk, "a", "GET", "/hello");
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "greeting"), "H\xc3\xa9LLO W\xc3\xb6RLD 1!");
    tk_free(tk);
}

/* check(): the cross-field rule between shout and greeting. */
static void test_shout_needs_a_greeting_of_at_most_100_bytes(void)
{
    char *g100 = repeat('x', 100), *g101 = repeat('x', 101);
    tk_kit *tk = kit();
    tk_set(tk, "a", "shout", "true");
    tk_set(tk, "a", "greeting", g101);
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT(tk_has_error(tk, "a", "greeting"));
    CU_ASSERT_STRING_EQUAL(tk_error_message(tk, 0), "must be at most 100 bytes when shout is true");
    tk_set(tk, "a", "greeting", g100);
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    tk_set(tk, "a", "shout", "false");
    tk_set(tk, "a", "greeting", g101);
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    free(g100);
    free(g101);
    tk_free(tk);
}

static void test_greeting_must_be_1_to_200_bytes(void)
{
    char *g200 = repeat('y', 200), *g201 = repeat('y', 201);
    tk_kit *tk = kit();
    tk_set(tk, "a", "greeting", "");
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT(tk_has_error(tk, "a", "greeting"));
    tk_set(tk, "a", "greeting", g201);
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT(tk_has_error(tk, "a", "greeting"));
    tk_set(tk, "a", "greeting", g200);
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    free(g200);
    free(g201);
    tk_free(tk);
}

static void test_greeting_must_be_utf8(void)
{
    tk_kit *tk = kit();
    tk_set(tk, "a", "greeting", "bad \xff byte");
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT(tk_has_error(tk, "a", "greeting"));
    tk_free(tk);
}

static void test_unknown_setting_and_bad_bool_are_refused(void)
{
    tk_kit *tk = kit();
    tk_set(tk, "a", "greetting", "typo");
    tk_set(tk, "b", "shout", "loud");
    CU_ASSERT_EQUAL(tk_check(tk), 2);
    CU_ASSERT(tk_has_error(tk, "a", "greetting"));
    CU_ASSERT(tk_has_error(tk, "b", "shout"));
    /* A request does not run on settings that failed their check. */
    tn_request *r = tk_req_new(tk, "a", "GET", "/hello");
    CU_ASSERT_EQUAL(tk_req_run(r), TN_ESTATE);
    tk_free(tk);
}

/* P3: a tenant that does not enable hello does not get it, hook included. */
static void test_disabled_tenant_gets_404_and_no_hook_runs(void)
{
    tk_kit *tk = kit();
    tk_enable(tk, "b", 0);
    tn_request *r = tk_request(tk, "b", "GET", "/hello");
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 404);
    CU_ASSERT_PTR_NULL(tk_resp_header(r, "X-Hello"));
    CU_ASSERT_EQUAL(tk_metric(tk, GREETINGS, "b"), 0);
    CU_ASSERT_EQUAL(tk_event_count(tk), 0);
    tn_request *unknown = tk_request(tk, "nobody", "GET", "/hello");
    CU_ASSERT_EQUAL(tk_resp_status(unknown), 404);
    tk_free(tk);
}

static void test_x_hello_header_is_set_on_its_own_route_only(void)
{
    tk_kit *tk = kit();
    tn_request *own = tk_request(tk, "a", "GET", "/hello");
    tn_request *other = tk_request(tk, "a", "GET", "/elsewhere");
    tn_request *post = tk_request(tk, "a", "POST", "/hello");
    CU_ASSERT_STRING_EQUAL(tk_resp_header(own, "X-Hello"), "1.0.0");
    CU_ASSERT_EQUAL(tk_resp_header_count(own, "X-Hello"), 1);
    CU_ASSERT_EQUAL(tk_resp_status(other), 404);
    CU_ASSERT_PTR_NULL(tk_resp_header(other, "X-Hello"));
    CU_ASSERT_EQUAL(tk_resp_status(post), 405);
    CU_ASSERT_STRING_EQUAL(tk_resp_header(post, "Allow"), "GET");
    CU_ASSERT_PTR_NULL(tk_resp_header(post, "X-Hello"));
    tk_free(tk);
}

static void test_greetings_are_counted_per_tenant(void)
{
    tk_kit *tk = kit();
    for (int i = 0; i < 3; i++)
        tk_request(tk, "a", "GET", "/hello");
    tk_request(tk, "b", "GET", "/hello");
    tk_request(tk, "a", "GET", "/nothing-here");
    CU_ASSERT_EQUAL(tk_metric(tk, GREETINGS, "a"), 3);
    CU_ASSERT_EQUAL(tk_metric(tk, GREETINGS, "b"), 1);
    CU_ASSERT_EQUAL(tk_metric_get(tk, GREETINGS, "a", NULL), TN_OK);
    tk_free(tk);
}

static void test_greeted_event_is_published_and_counted_when_delivered(void)
{
    tk_kit *tk = kit();
    tk_request(tk, "a", "GET", "/hello");
    tk_request(tk, "b", "GET", "/hello");
    CU_ASSERT_EQUAL_FATAL(tk_event_count(tk), 2);
    CU_ASSERT_STRING_EQUAL(tk_event_name(tk, 0), "hello.greeted");
    CU_ASSERT_STRING_EQUAL(tk_event_tenant(tk, 0), "a");
    json_t *payload = json_loads(tk_event_payload(tk, 1), 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(payload, "tenant")), "b");
    json_decref(payload);
    /* Delivery is asynchronous: nothing is counted before it. */
    CU_ASSERT_EQUAL(tk_metric(tk, GREETED_EVENTS, "a"), 0);
    CU_ASSERT_EQUAL(tk_run_events(tk), 2);
    CU_ASSERT_EQUAL(tk_metric(tk, GREETED_EVENTS, "a"), 1);
    CU_ASSERT_EQUAL(tk_metric(tk, GREETED_EVENTS, "b"), 1);
    CU_ASSERT_EQUAL(tk_run_events(tk), 0);
    tk_free(tk);
}

static void test_settings_change_applies_to_later_requests(void)
{
    tk_kit *tk = kit();
    tn_request *before = tk_request(tk, "a", "GET", "/hello");
    tk_set(tk, "a", "greeting", "Changed");
    tn_request *after = tk_request(tk, "a", "GET", "/hello");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(before, "greeting"), "Hello");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(after, "greeting"), "Changed");
    tk_free(tk);
}

int main(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"descriptor passes the host checks", test_descriptor_passes_the_host_checks},
        {"GET /hello answers the default greeting as JSON",
         test_get_hello_answers_the_default_greeting_as_json},
        {"greeting is the tenant's own setting (P3, S21)",
         test_greeting_is_the_tenants_own_setting},
        {"greeting is JSON-escaped (S5)", test_greeting_is_json_escaped},
        {"shout upper-cases ASCII letters only", test_shout_upper_cases_ascii_letters_only},
        {"shout needs a greeting of at most 100 bytes",
         test_shout_needs_a_greeting_of_at_most_100_bytes},
        {"greeting must be 1 to 200 bytes", test_greeting_must_be_1_to_200_bytes},
        {"greeting must be UTF-8", test_greeting_must_be_utf8},
        {"unknown setting and bad bool are refused", test_unknown_setting_and_bad_bool_are_refused},
        {"disabled tenant gets 404 and no hook runs (P3)",
         test_disabled_tenant_gets_404_and_no_hook_runs},
        {"X-Hello is set on its own route only", test_x_hello_header_is_set_on_its_own_route_only},
        {"greetings are counted per tenant", test_greetings_are_counted_per_tenant},
        {"hello.greeted is published, counted when delivered",
         test_greeted_event_is_published_and_counted_when_delivered},
        {"settings change applies to later requests",
         test_settings_change_applies_to_later_requests},
    };
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite suite = CU_add_suite("plugin hello", NULL, NULL);
    for (size_t i = 0; suite != NULL && i < sizeof tests / sizeof tests[0]; i++)
        if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
            suite = NULL;
    if (suite == NULL) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
