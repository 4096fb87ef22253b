/*
 * test_announcements.c - the weekly maintenance window's next occurrence
 * (A1, A11): in Japan time whatever the machine's zone, the window in
 * progress counts as the next, one that just ended moves a week on, and a
 * week boundary (Saturday to Sunday, a window across midnight) is crossed
 * right.  2026-12-06 is a Sunday.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <stdint.h>
#include <time.h>

#include <CUnit/Basic.h>

int64_t orders_weekly_next_start(int64_t now, int weekday, int start_minute, int minutes);

/* Unix seconds of a Japan-time wall clock. */
static int64_t jst(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) - 9 * 3600;
}

#define WED 3
static void test_default_window_wednesday_14_00(void)
{
    /* Sunday morning: this Wednesday. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 6, 6, 0), WED, 840, 15),
                    jst(2026, 12, 9, 14, 0));
    /* Wednesday 00:30 JST is still Tuesday in UTC: the same day's window. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 9, 0, 30), WED, 840, 15),
                    jst(2026, 12, 9, 14, 0));
    /* In progress: this one. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 9, 14, 5), WED, 840, 15),
                    jst(2026, 12, 9, 14, 0));
    /* Just ended (the end is exclusive): next week's. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 9, 14, 15), WED, 840, 15),
                    jst(2026, 12, 16, 14, 0));
}

static void test_week_boundaries(void)
{
    /* Saturday night to next Wednesday, across Sunday. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 12, 23, 59), WED, 840, 15),
                    jst(2026, 12, 16, 14, 0));
    /* A Saturday window seen on Sunday: six days on. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 6, 0, 0), 6, 23 * 60, 30),
                    jst(2026, 12, 12, 23, 0));
    /* A Sunday 23:50 window of 30 minutes runs into Monday: still in progress. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 7, 0, 10), 0, 23 * 60 + 50, 30),
                    jst(2026, 12, 6, 23, 50));
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 7, 0, 20), 0, 23 * 60 + 50, 30),
                    jst(2026, 12, 13, 23, 50));
    /* Across a year's end: Thursday 2026-12-31 to Wednesday 2027-01-06. */
    CU_ASSERT_EQUAL(orders_weekly_next_start(jst(2026, 12, 31, 12, 0), WED, 840, 15),
                    jst(2027, 1, 6, 14, 0));
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("announcements", NULL, NULL);
    CU_add_test(s, "A11 default window: Wednesday 14:00 JST", test_default_window_wednesday_14_00);
    CU_add_test(s, "A11 next occurrence across week and year boundaries", test_week_boundaries);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
