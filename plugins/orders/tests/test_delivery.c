/*
 * test_delivery.c - the order cut-off and delivery dates in JST
 * (delivery.c) at fixed instants: either side of a 12:00 cut-off, either
 * side of midnight JST, and while the UTC date is still the day before.
 */
#include <CUnit/Basic.h>
#include <string.h>

#include "delivery.h"

/* Unix seconds of a JST wall-clock time (JST = UTC+9). */
static int64_t jst(const char *date, int h, int m)
{
    int64_t day = 0;
    CU_ASSERT_FATAL(delivery_parse_date(date, &day) == 0);
    return day * 86400 + h * 3600 + m * 60 - 9 * 3600;
}

static void assert_date(int64_t day, const char *want)
{
    char buf[16];
    delivery_format_date(day, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_before_and_after_a_noon_cutoff(void)
{
    delivery_window w;
    delivery_window_at(jst("2026-12-07", 11, 59), 12 * 60, 1, 60, &w);
    assert_date(w.today, "2026-12-07");
    assert_date(w.order_day, "2026-12-07");
    assert_date(w.earliest, "2026-12-08");
    assert_date(w.latest, "2027-02-05");
    delivery_window_at(jst("2026-12-07", 12, 0), 12 * 60, 1, 60, &w);
    assert_date(w.earliest, "2026-12-08"); /* 12:00 itself is still in time */
    delivery_window_at(jst("2026-12-07", 12, 1), 12 * 60, 1, 60, &w);
    assert_date(w.today, "2026-12-07");
    assert_date(w.order_day, "2026-12-08");
    assert_date(w.earliest, "2026-12-09");
    assert_date(w.latest, "2027-02-05"); /* the latest counts from today */
}

/* A 23:30 cut-off: 23:59 JST is after it (next day), 00:01 JST is a new
 * day before it.  Both give the same earliest date. */
static void test_across_midnight_jst(void)
{
    delivery_window w;
    delivery_window_at(jst("2026-12-31", 23, 59), 23 * 60 + 30, 1, 10, &w);
    assert_date(w.today, "2026-12-31");
    assert_date(w.order_day, "2027-01-01");
    assert_date(w.earliest, "2027-01-02");
    delivery_window_at(jst("2027-01-01", 0, 1), 23 * 60 + 30, 1, 10, &w);
    assert_date(w.today, "2027-01-01");
    assert_date(w.order_day, "2027-01-01");
    assert_date(w.earliest, "2027-01-02");
    assert_date(w.latest, "2027-01-11");
}

/* 08:30 JST on 2026-12-07 is 23:30 UTC on 2026-12-06: the JST date rules. */
static void test_jst_date_not_utc_date(void)
{
    delivery_window w;
    int64_t now = jst("2026-12-07", 8, 30);
    int64_t utc_day = now / 86400;
    assert_date(utc_day, "2026-12-06");
    delivery_window_at(now, 12 * 60, 0, 30, &w);
    assert_date(w.today, "2026-12-07");
    assert_date(w.earliest, "2026-12-07"); /* lead 0: same day */
    /* 15:30 UTC = 00:30 JST the next day. */
    delivery_window_at(jst("2026-12-08", 0, 30), 0, 2, 30, &w);
    assert_date(w.today, "2026-12-08");
    assert_date(w.order_day, "2026-12-09"); /* after a 00:00 cut-off */
    assert_date(w.earliest, "2026-12-11");
}

static void test_dates_parse_strictly(void)
{
    int64_t d = 0;
    const char *bad[] = {"2026-02-29", "2026-13-01", "2026-00-10", "2026-1-10", "2026/01/10",
                         "20260110",   "2026-01-32", "1969-12-31", "",          "2026-01-10T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(delivery_parse_date(bad[i], &d), -1);
    CU_ASSERT_EQUAL(delivery_parse_date(NULL, &d), -1);
    CU_ASSERT_EQUAL(delivery_parse_date("2028-02-29", &d), 0);
    assert_date(d, "2028-02-29");
    CU_ASSERT_EQUAL(delivery_parse_date("1970-01-01", &d), 0);
    CU_ASSERT_EQUAL(d, 0);
    CU_ASSERT_EQUAL(delivery_parse_date("2000-03-01", &d), 0);
    CU_ASSERT_EQUAL(d, 11017);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("orders_delivery", NULL, NULL);
    CU_add_test(s, "before and after a noon cut-off", test_before_and_after_a_noon_cutoff);
    CU_add_test(s, "across midnight JST", test_across_midnight_jst);
    CU_add_test(s, "the JST date, not the UTC date", test_jst_date_not_utc_date);
    CU_add_test(s, "dates parse strictly", test_dates_parse_strictly);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
