/*
 * test_router.c - route registration and matching (host/core/router.c).
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "router.h"

static tn_status h(tn_plugin *p, tn_request *r, void *ud)
{
    (void)p;
    (void)r;
    (void)ud;
    return TN_DONE;
}

static host_router r;

static int setup(void)
{
    memset(&r, 0, sizeof r);
    return 0;
}

static int teardown(void)
{
    host_router_free(&r);
    return 0;
}

static void test_literal_beats_parameter(void)
{
    host_match m;

    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/orders/:id", TN_ACCESS_PUBLIC, NULL, h,
                                    (void *)1),
                    TN_OK);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/orders/new", TN_ACCESS_PUBLIC, NULL, h,
                                    (void *)2),
                    TN_OK);
    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/orders/new", NULL, NULL, &m), 0);
    CU_ASSERT_PTR_EQUAL(m.route->ud, (void *)2);
    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/orders/42", NULL, NULL, &m), 0);
    CU_ASSERT_PTR_EQUAL(m.route->ud, (void *)1);
    CU_ASSERT_EQUAL(m.nparams, 1);
    CU_ASSERT_STRING_EQUAL(m.names[0], "id");
    CU_ASSERT_EQUAL(m.len[0], 2);
    CU_ASSERT_NSTRING_EQUAL(m.start[0], "42", 2);
}

static void test_tail_parameter(void)
{
    host_match m;

    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/files/*rest", TN_ACCESS_PUBLIC, NULL, h,
                                    NULL),
                    TN_OK);
    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/files/a/b/c.csv", NULL, NULL, &m), 0);
    CU_ASSERT_EQUAL(m.nparams, 1);
    CU_ASSERT_NSTRING_EQUAL(m.start[0], "a/b/c.csv", m.len[0]);
    CU_ASSERT_EQUAL(m.len[0], strlen("a/b/c.csv"));
    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/files", NULL, NULL, &m), 0);
    CU_ASSERT_EQUAL(m.len[0], 0);
}

static void test_no_partial_or_trailing_slash_match(void)
{
    host_match m;

    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/orders", NULL, NULL, &m), -1);
    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/orders/42/x", NULL, NULL, &m), -1);
    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/orders/42/", NULL, NULL, &m), -1);
    CU_ASSERT_EQUAL(host_router_match(&r, "GET", "/orders//", NULL, NULL, &m), -1);
}

static void test_method_mismatch_reports_other_methods(void)
{
    host_match m;
    char allow[64];

    CU_ASSERT_EQUAL(host_router_match(&r, "DELETE", "/orders/42", NULL, NULL, &m), -1);
    CU_ASSERT_TRUE(m.other_methods);
    host_router_allow(&r, "/orders/42", NULL, NULL, allow, sizeof allow);
    CU_ASSERT_STRING_EQUAL(allow, "GET");
}

static void test_head_matches_get(void)
{
    host_match m;

    CU_ASSERT_EQUAL(host_router_match(&r, "HEAD", "/orders/42", NULL, NULL, &m), 0);
}

static void test_duplicate_and_invalid_registrations_refused(void)
{
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/orders/:id", TN_ACCESS_PUBLIC, NULL, h,
                                    NULL),
                    TN_EEXIST);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "TRACE", "/x", TN_ACCESS_PUBLIC, NULL, h, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "x", TN_ACCESS_PUBLIC, NULL, h, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/a//b", TN_ACCESS_PUBLIC, NULL, h, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/a/", TN_ACCESS_PUBLIC, NULL, h, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/a/*rest/b", TN_ACCESS_PUBLIC, NULL, h, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/a/:", TN_ACCESS_PUBLIC, NULL, h, NULL),
                    TN_EINVAL);
    /* S11: a role route must name its roles, or it would fail open. */
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/admin", TN_ACCESS_ROLES, NULL, h, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(host_router_add(&r, NULL, "GET", "/admin", TN_ACCESS_ROLES, "", h, NULL),
                    TN_EINVAL);
}

static int only_plugin_a(const tn_plugin *p, const void *ctx)
{
    (void)ctx;
    return p == (const tn_plugin *)0x1;
}

static void test_filter_hides_routes_of_disabled_plugins(void)
{
    host_router fr;
    host_match m;

    memset(&fr, 0, sizeof fr);
    host_router_add(&fr, (tn_plugin *)0x2, "GET", "/b", TN_ACCESS_PUBLIC, NULL, h, NULL);
    host_router_add(&fr, (tn_plugin *)0x1, "GET", "/a", TN_ACCESS_PUBLIC, NULL, h, NULL);
    CU_ASSERT_EQUAL(host_router_match(&fr, "GET", "/a", only_plugin_a, NULL, &m), 0);
    CU_ASSERT_EQUAL(host_router_match(&fr, "GET", "/b", only_plugin_a, NULL, &m), -1);
    CU_ASSERT_FALSE(m.other_methods);
    host_router_free(&fr);
}

static void test_root_route(void)
{
    host_router fr;
    host_match m;

    memset(&fr, 0, sizeof fr);
    host_router_add(&fr, NULL, "GET", "/", TN_ACCESS_PUBLIC, NULL, h, NULL);
    CU_ASSERT_EQUAL(host_router_match(&fr, "GET", "/", NULL, NULL, &m), 0);
    CU_ASSERT_EQUAL(host_router_match(&fr, "GET", "/x", NULL, NULL, &m), -1);
    host_router_free(&fr);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("router", setup, teardown);
    CU_add_test(s, "literal segment beats parameter", test_literal_beats_parameter);
    CU_add_test(s, "tail parameter takes the rest", test_tail_parameter);
    CU_add_test(s, "no partial or trailing-slash match", test_no_partial_or_trailing_slash_match);
    CU_add_test(s, "405 detection: other methods", test_method_mismatch_reports_other_methods);
    CU_add_test(s, "HEAD matches GET routes", test_head_matches_get);
    CU_add_test(s, "duplicate/invalid registrations refused (S11)",
                test_duplicate_and_invalid_registrations_refused);
    CU_add_test(s, "disabled plugin's routes are invisible",
                test_filter_hides_routes_of_disabled_plugins);
    CU_add_test(s, "root route", test_root_route);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
