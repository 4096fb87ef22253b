/*
 * test_myplugin.c - unit tests of myplugin on the Tanomu testkit: the
 * plugin's source is compiled in, loaded by its descriptor, and requests
 * run against a fake host.  No server needed.
 */
#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

static tk_kit *kit(void)
{
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk != NULL);
    CU_ASSERT_FATAL(tk_load(tk, tn_plugin_entry()) == TN_OK);
    tk_enable(tk, "shop1", 1);
    return tk;
}

static void test_ping_answers_pong_with_default_limit(void)
{
    tk_kit *tk = kit();
    tn_request *r = tk_request(tk, "shop1", "GET", "/myplugin/ping");
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "{\"pong\":true,\"limit\":10}");
    tk_free(tk);
}

static void test_limit_comes_from_the_tenant(void)
{
    tk_kit *tk = kit();
    tk_set(tk, "shop1", "limit", "25");
    tn_request *r = tk_request(tk, "shop1", "GET", "/myplugin/ping");
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "{\"pong\":true,\"limit\":25}");
    tk_free(tk);
}

static void test_limit_out_of_bounds_is_refused(void)
{
    tk_kit *tk = kit();
    tk_set(tk, "shop1", "limit", "101");
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT(tk_has_error(tk, "shop1", "limit"));
    tk_free(tk);
}

static void test_tenant_without_the_plugin_gets_404(void)
{
    tk_kit *tk = kit();
    tn_request *r = tk_request(tk, "shop2", "GET", "/myplugin/ping");
    CU_ASSERT_EQUAL(tk_resp_status(r), 404);
    tk_free(tk);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("myplugin", NULL, NULL);
    if (s == NULL ||
        !CU_add_test(s, "ping answers pong with the default limit",
                     test_ping_answers_pong_with_default_limit) ||
        !CU_add_test(s, "limit comes from the tenant", test_limit_comes_from_the_tenant) ||
        !CU_add_test(s, "limit out of bounds is refused", test_limit_out_of_bounds_is_refused) ||
        !CU_add_test(s, "tenant without the plugin gets 404",
                     test_tenant_without_the_plugin_gets_404)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
