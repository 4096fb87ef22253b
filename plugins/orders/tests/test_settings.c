/*
 * test_settings.c - the ordering plugin loads on the testkit, and its
 * tenant settings are checked: a cut-off or a maintenance start that is
 * not HH:MM, or a lead time past the furthest date, fails `tanomu check`.
 */
#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

const tn_plugin_desc *tn_plugin_entry(void);

static tk_kit *kit(void)
{
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk != NULL);
    CU_ASSERT_FATAL(tk_load(tk, tn_plugin_entry()) == TN_OK);
    CU_ASSERT(tk_enable(tk, "a", 1) == TN_OK);
    return tk;
}

static void test_defaults_pass_the_check(void)
{
    tk_kit *tk = kit();
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    tk_free(tk);
}

static void test_cutoff_must_be_hh_mm(void)
{
    const char *bad[] = {"24:00", "12:60", "1200a", "ab:cd", "-1:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tk_kit *tk = kit();
        CU_ASSERT_EQUAL(tk_set(tk, "a", "cutoff_time", bad[i]), TN_OK);
        CU_ASSERT(tk_check(tk) > 0);
        CU_ASSERT(tk_has_error(tk, "a", "cutoff_time"));
        tk_free(tk);
    }
    tk_kit *tk = kit();
    CU_ASSERT_EQUAL(tk_set(tk, "a", "cutoff_time", "23:59"), TN_OK);
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    tk_free(tk);
}

static void test_maintenance_start_and_lead_days_are_checked(void)
{
    tk_kit *tk = kit();
    CU_ASSERT_EQUAL(tk_set(tk, "a", "maintenance_start", "25:00"), TN_OK);
    CU_ASSERT_EQUAL(tk_set(tk, "a", "delivery_lead_days", "10"), TN_OK);
    CU_ASSERT_EQUAL(tk_set(tk, "a", "delivery_max_days_ahead", "5"), TN_OK);
    CU_ASSERT_EQUAL(tk_check(tk), 2);
    CU_ASSERT(tk_has_error(tk, "a", "maintenance_start"));
    CU_ASSERT(tk_has_error(tk, "a", "delivery_lead_days"));
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("orders_settings", NULL, NULL);
    CU_add_test(s, "defaults pass the check", test_defaults_pass_the_check);
    CU_add_test(s, "cutoff must be HH:MM", test_cutoff_must_be_hh_mm);
    CU_add_test(s, "maintenance start and lead days are checked",
                test_maintenance_start_and_lead_days_are_checked);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
