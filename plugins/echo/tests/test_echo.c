/*
 * test_echo.c - the echo plugin on the testkit: any method and path is
 * 200 for a tenant that enables it, 404 for one that does not (P3).
 */
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

const tn_plugin_desc *tn_plugin_entry(void);

static void test_any_method_and_path_answers_200(void)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    static const char *const paths[] = {"/", "/a", "/a/b/c", "/orders/17/items"};
    tk_kit *tk = tk_new();
    size_t i, j;

    CU_ASSERT_FATAL(tk_load(tk, tn_plugin_entry()) == TN_OK);
    tk_enable(tk, "a", 1);
    for (i = 0; i < sizeof methods / sizeof *methods; i++)
        for (j = 0; j < sizeof paths / sizeof *paths; j++) {
            tn_request *r = tk_req_new(tk, "a", methods[i], paths[j]);
            tk_req_set_body(r, "{\"x\":1}", 7);
            CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
            CU_ASSERT_EQUAL(tk_resp_status(r), 200);
            CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "method"), methods[i]);
        }
    tk_free(tk);
}

static void test_disabled_by_default(void)
{
    tk_kit *tk = tk_new();
    tn_request *r;

    CU_ASSERT_FATAL(tk_load(tk, tn_plugin_entry()) == TN_OK);
    tk_enable(tk, "b", 0);
    r = tk_request(tk, "b", "GET", "/anything");
    CU_ASSERT_EQUAL(tk_resp_status(r), 404);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("plugin echo", NULL, NULL);
    if (!s ||
        !CU_add_test(s, "any method and path answers 200", test_any_method_and_path_answers_200) ||
        !CU_add_test(s, "disabled by default (P3)", test_disabled_by_default)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
