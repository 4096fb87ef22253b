/*
 * test_tax.c - an order's tax and totals (tax.c) against hand-computed
 * cases: per-rate sums, one rounding down per rate on the order total
 * (the qualified-invoice rule), never per line, and the overflow guards.
 */
#include <CUnit/Basic.h>
#include <stdint.h>

#include "tax.h"

static tax_totals totals_of(const int *rates, const int64_t *prices, const int64_t *qtys, int n)
{
    tax_totals t;
    tax_begin(&t);
    for (int i = 0; i < n; i++) {
        int64_t amount = 0;
        CU_ASSERT_EQUAL(tax_line_amount(prices[i], qtys[i], &amount), 0);
        CU_ASSERT_EQUAL(tax_add(&t, rates[i], amount), 0);
    }
    tax_finish(&t);
    return t;
}

/* Three 10% lines of 109 yen: per line, floor(10.9) = 10, three times 30;
 * on the total, floor(327 * 0.1) = floor(32.7) = 32.  The rule wants 32. */
static void test_rounding_once_per_rate_not_per_line(void)
{
    int rates[] = {10, 10, 10};
    int64_t prices[] = {109, 109, 109}, qtys[] = {1, 1, 1};
    tax_totals t = totals_of(rates, prices, qtys, 3);
    CU_ASSERT_EQUAL(t.taxable_10, 327);
    CU_ASSERT_EQUAL(t.tax_10, 32);
    CU_ASSERT_EQUAL(t.taxable_8, 0);
    CU_ASSERT_EQUAL(t.tax_8, 0);
    CU_ASSERT_EQUAL(t.total, 359);
}

/* Mixed rates: 8% lines 198*3 = 594 and 55*7 = 385 -> 979, tax
 * floor(78.32) = 78 (per line it would be 47 + 30 = 77); 10% lines
 * 1,234*2 = 2,468 and 99*1 = 99 -> 2,567, tax floor(256.7) = 256 (per line
 * 246 + 9 = 255).  Subtotal 3,546; total 3,546 + 78 + 256 = 3,880. */
static void test_mixed_8_and_10_percent(void)
{
    int rates[] = {8, 10, 8, 10};
    int64_t prices[] = {198, 1234, 55, 99}, qtys[] = {3, 2, 7, 1};
    tax_totals t = totals_of(rates, prices, qtys, 4);
    CU_ASSERT_EQUAL(t.taxable_8, 979);
    CU_ASSERT_EQUAL(t.tax_8, 78);
    CU_ASSERT_EQUAL(t.taxable_10, 2567);
    CU_ASSERT_EQUAL(t.tax_10, 256);
    CU_ASSERT_EQUAL(t.subtotal, 3546);
    CU_ASSERT_EQUAL(t.total, 3880);
}

/* Exact multiples and the edges of rounding: 8% of 1,250 is exactly 100;
 * 8% of 1,262 is 100.96 -> 100; 10% of 9 is 0.9 -> 0; zero is zero. */
static void test_rounding_down_at_the_edges(void)
{
    CU_ASSERT_EQUAL(tax_of(1250, 8), 100);
    CU_ASSERT_EQUAL(tax_of(1262, 8), 100);
    CU_ASSERT_EQUAL(tax_of(1263, 8), 101); /* 101.04 */
    CU_ASSERT_EQUAL(tax_of(9, 10), 0);
    CU_ASSERT_EQUAL(tax_of(0, 10), 0);
    CU_ASSERT_EQUAL(tax_of(100000000000LL * 1000000, 10), 10000000000000000LL);
}

static void test_bad_rates_and_overflow_are_refused(void)
{
    tax_totals t;
    int64_t a = 0;
    tax_begin(&t);
    CU_ASSERT_EQUAL(tax_add(&t, 5, 100), -1);
    CU_ASSERT_EQUAL(tax_add(&t, 10, -1), -1);
    CU_ASSERT_EQUAL(tax_add(&t, 10, TAX_AMOUNT_MAX), 0);
    CU_ASSERT_EQUAL(tax_add(&t, 10, 1), -1); /* the sum would pass the cap */
    CU_ASSERT_EQUAL(t.taxable_10, TAX_AMOUNT_MAX);
    CU_ASSERT_EQUAL(tax_line_amount(100000000000LL, 1000000, &a), 0);
    CU_ASSERT_EQUAL(a, 100000000000000000LL);
    CU_ASSERT_EQUAL(tax_line_amount(100000000000LL + 1, 1000000, &a), -1);
    CU_ASSERT_EQUAL(tax_line_amount(INT64_MAX / 2, 3, &a), -1);
    CU_ASSERT_EQUAL(tax_line_amount(-1, 3, &a), -1);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("orders_tax", NULL, NULL);
    CU_add_test(s, "rounding once per rate, not per line",
                test_rounding_once_per_rate_not_per_line);
    CU_add_test(s, "mixed 8% and 10%", test_mixed_8_and_10_percent);
    CU_add_test(s, "rounding down at the edges", test_rounding_down_at_the_edges);
    CU_add_test(s, "bad rates and overflow are refused", test_bad_rates_and_overflow_are_refused);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
