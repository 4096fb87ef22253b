/*
 * test_schedule.c - job ticks (schedule.h): intervals aligned to the epoch,
 * and calendar rules read from the real zone files: the weekly maintenance
 * window, Wednesday 14:00 in Asia/Tokyo (no DST), daily rules in UTC, and
 * America/New_York across both DST changes (a skipped and a repeated
 * hour).  Exact ticks are what let every worker of every node claim the
 * same tick once (A4, A9).
 */
#include <stdint.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "schedule.h"

/* date -u -d '2026-12-06 02:49:37 UTC' +%s: a Sunday */
#define SUN_0249 1796525377LL
#define WED_1400_JST_NEXT 1796792400LL /* 2026-12-09 05:00 UTC */
#define WED_1400_JST_PREV 1796187600LL /* 2026-12-02 05:00 UTC */

static void test_interval(void)
{
    host_sched s;
    char err[128];

    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 60, NULL, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_sched_prev(&s, 125), 120);
    CU_ASSERT_EQUAL(host_sched_next(&s, 125), 180);
    CU_ASSERT_EQUAL(host_sched_prev(&s, 180), 180);
    CU_ASSERT_EQUAL(host_sched_next(&s, 180), 240);
    CU_ASSERT_EQUAL(host_sched_prev(&s, -1), -60);
    host_sched_free(&s);
}

static void test_tokyo_weekly(void)
{
    host_sched s;
    char err[128];

    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 0, "wed 14:00", "Asia/Tokyo", err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_sched_next(&s, SUN_0249), WED_1400_JST_NEXT);
    CU_ASSERT_EQUAL(host_sched_prev(&s, SUN_0249), WED_1400_JST_PREV);
    /* At the tick itself: it is the latest, and the next is a week on. */
    CU_ASSERT_EQUAL(host_sched_prev(&s, WED_1400_JST_NEXT), WED_1400_JST_NEXT);
    CU_ASSERT_EQUAL(host_sched_next(&s, WED_1400_JST_NEXT), WED_1400_JST_NEXT + 7 * 86400);
    CU_ASSERT_EQUAL(host_sched_prev(&s, WED_1400_JST_NEXT - 1), WED_1400_JST_PREV);
    host_sched_free(&s);
    /* The default zone is Asia/Tokyo. */
    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 0, "wed 14:00", NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_sched_next(&s, SUN_0249), WED_1400_JST_NEXT);
    host_sched_free(&s);
}

static void test_tokyo_daily_and_utc(void)
{
    host_sched s;
    char err[128];

    /* 09:00 JST is 00:00 UTC; at 11:49 JST today's has passed. */
    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 0, "09:00", "Asia/Tokyo", err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_sched_prev(&s, SUN_0249), 1796515200LL);
    CU_ASSERT_EQUAL(host_sched_next(&s, SUN_0249), 1796601600LL);
    host_sched_free(&s);
    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 0, "02:50", "UTC", err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_sched_next(&s, SUN_0249), 1796515200LL + 2 * 3600 + 50 * 60);
    CU_ASSERT_EQUAL(host_sched_prev(&s, SUN_0249), 1796515200LL + 2 * 3600 + 50 * 60 - 86400);
    host_sched_free(&s);
    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 0, "sun 00:00", "UTC", err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_sched_prev(&s, SUN_0249), 1796515200LL);
    CU_ASSERT_EQUAL(host_sched_next(&s, SUN_0249), 1796515200LL + 7 * 86400);
    host_sched_free(&s);
}

static void test_new_york_dst(void)
{
    host_sched s;
    char err[128];

    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 0, "02:30", "America/New_York", err, sizeof err), 0);
    /* EST (-5) on 7 March 2026; 8 March has no 02:30 (02:00 jumps to
     * 03:00): the tick falls at 03:30 EDT, 07:30 UTC; then EDT (-4). */
    CU_ASSERT_EQUAL(host_sched_next(&s, 1772868600LL - 1), 1772868600LL);
    CU_ASSERT_EQUAL(host_sched_next(&s, 1772868600LL), 1772955000LL);
    CU_ASSERT_EQUAL(host_sched_next(&s, 1772955000LL), 1773037800LL);
    CU_ASSERT_EQUAL(host_sched_prev(&s, 1773037800LL - 1), 1772955000LL);
    host_sched_free(&s);
    /* 1 November 2026: 01:30 happens twice (EDT, then EST); it runs once,
     * at the first (05:30 UTC), and the next day's is at 06:30 UTC. */
    CU_ASSERT_EQUAL_FATAL(host_sched_init(&s, 0, "01:30", "America/New_York", err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_sched_next(&s, 1793511000LL - 3600), 1793511000LL);
    CU_ASSERT_EQUAL(host_sched_next(&s, 1793511000LL), 1793511000LL + 86400 + 3600);
    host_sched_free(&s);
}

static void test_refusals(void)
{
    host_sched s;
    char err[128];

    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, NULL, NULL, err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 60, "10:00", NULL, err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, "24:00", NULL, err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, "10:60", NULL, err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, "1:00", NULL, err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, "xyz 10:00", NULL, err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, "10:00", "../etc/passwd", err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, "10:00", "/etc/localtime", err, sizeof err), 0);
    CU_ASSERT_NOT_EQUAL(host_sched_init(&s, 0, "10:00", "Mars/Olympus", err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown time zone"));
    CU_ASSERT_TRUE(host_job_name_valid("nightly_report"));
    CU_ASSERT_FALSE(host_job_name_valid("Nightly"));
    CU_ASSERT_FALSE(host_job_name_valid(""));
}

static void test_bad_zone_files(void)
{
    static const unsigned char junk[] = "TZif2 not really a zone file at all, too short";
    host_zone *z = NULL;
    char err[128];

    CU_ASSERT_NOT_EQUAL(host_zone_parse(junk, sizeof junk, &z, err, sizeof err), 0);
    CU_ASSERT_PTR_NULL(z);
    CU_ASSERT_NOT_EQUAL(host_zone_parse((const unsigned char *)"", 0, &z, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(host_zone_load("Asia/Tokyo", &z, err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_zone_offset(z, SUN_0249), 9 * 3600);
    host_zone_free(z);
}

int main(void)
{
    CU_pSuite s;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("schedule", NULL, NULL);
    CU_add_test(s, "interval ticks are aligned to the epoch", test_interval);
    CU_add_test(s, "A4: Wednesday 14:00 JST, the maintenance window", test_tokyo_weekly);
    CU_add_test(s, "daily ticks in Asia/Tokyo and UTC", test_tokyo_daily_and_utc);
    CU_add_test(s, "America/New_York across both DST changes", test_new_york_dst);
    CU_add_test(s, "bad rules, zones and names are refused", test_refusals);
    CU_add_test(s, "bad zone files are refused", test_bad_zone_files);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
