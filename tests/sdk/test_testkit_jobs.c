/*
 * test_testkit_jobs.c - scheduled jobs in the testkit (ABI 1.2), which must
 * behave as the host does: ticks on the virtual clock (the latest at start,
 * then each tick passed, once), the weekly Wednesday 14:00 JST window, per
 * tenant only for enabling tenants, TN_CONTINUE / TN_ERROR / job_done ends,
 * a run now, and job_history() answered from the kit's runs with the
 * host's tenant rule (A4).
 */
#include <string.h>

#include <CUnit/Basic.h>

#include <tanomu/testkit.h>

#define WED_1400_JST 1796792400LL /* 2026-12-09 05:00 UTC */

static const tn_api *api;
static int ticks, reports, weeklies;
static tn_job_run *held;
static char history[512];

static tn_status on_tick(tn_plugin *self, tn_job_run *run, void *ud)
{
    (void)self;
    (void)ud;
    (void)run;
    ticks++;
    return TN_CONTINUE;
}

static tn_status on_weekly(tn_plugin *self, tn_job_run *run, void *ud)
{
    (void)self;
    (void)ud;
    CU_ASSERT_EQUAL(api->job_tick(run), WED_1400_JST - 7 * 86400 + 7 * 86400 * weeklies);
    CU_ASSERT_PTR_NULL(api->job_tenant(run));
    weeklies++;
    held = run; /* ended later with job_done() */
    return TN_SUSPEND;
}

static tn_status on_report(tn_plugin *self, tn_job_run *run, void *ud)
{
    (void)ud;
    CU_ASSERT_STRING_EQUAL(api->job_tenant(run), "t1");
    reports++;
    if (reports == 2) {
        api->job_done(run, 0, "second report failed");
        return TN_SUSPEND;
    }
    if (reports == 3) {
        tn_tx *tx;
        api->tx_begin(self, "nosuch", &tx); /* fails: last_error is the job's error */
        return TN_ERROR;
    }
    return TN_CONTINUE;
}

static void on_history(tn_tx *tx, const tn_db_result *res, void *ud)
{
    size_t n = 0;

    (void)ud;
    history[0] = '\0';
    for (int i = 0; i < api->db_rows(res); i++) {
        const char *err = api->db_value(res, i, 6), *tenant = api->db_value(res, i, 1);
        n += (size_t)snprintf(history + n, sizeof history - n, "%s/%s/%s/%s;",
                              api->db_value(res, i, 0), tenant ? tenant : "-",
                              api->db_value(res, i, 5), err ? err : "-");
    }
    api->tx_rollback(tx, NULL, NULL);
}

static int schedule(tn_plugin *self, const char *name, uint32_t every, const char *at,
                    int per_tenant, tn_job_fn fn)
{
    tn_job_spec s;

    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    s.name = name;
    s.every_s = every;
    s.at = at;
    s.per_tenant = per_tenant;
    return api->job_schedule(self, &s, fn, NULL);
}

static int init(tn_plugin *self, const tn_api *a)
{
    api = a;
    if (schedule(self, "tick", 60, NULL, 0, on_tick) != TN_OK ||
        schedule(self, "weekly", 0, "wed 14:00", 0, on_weekly) != TN_OK ||
        schedule(self, "report", 0, "09:00", 1, on_report) != TN_OK)
        return -1;
    CU_ASSERT_EQUAL(schedule(self, "tick", 60, NULL, 0, on_tick), TN_EEXIST);
    CU_ASSERT_EQUAL(schedule(self, "Bad", 60, NULL, 0, on_tick), TN_EINVAL);
    CU_ASSERT_EQUAL(schedule(self, "zone", 0, "25:00", 0, on_tick), TN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(a->last_error(self), "HH:MM"));
    return 0;
}

static const tn_plugin_desc desc = {.size = sizeof(tn_plugin_desc),
                                    .abi_major = TN_SDK_ABI_MAJOR,
                                    .abi_minor = 2,
                                    .name = "jobs",
                                    .version = "1.0",
                                    .init = init};

static void test_jobs_on_the_virtual_clock(void)
{
    tk_kit *tk = tk_new();
    tn_tx *tx;

    CU_ASSERT_FATAL(tk_load(tk, &desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    tk_enable(tk, "t2", 0);
    /* Wednesday 13:59:30 JST: the latest weekly tick is a week ago. */
    tk_set_unix_time(tk, WED_1400_JST - 30);
    CU_ASSERT_EQUAL(tk_unix_time(tk), WED_1400_JST - 30);
    tk_advance_ms(tk, 0); /* start: each job's latest tick, once */
    CU_ASSERT_EQUAL(ticks, 1);
    CU_ASSERT_EQUAL(reports, 1); /* t1 only */
    CU_ASSERT_EQUAL(weeklies, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    CU_ASSERT_EQUAL(tk_job_at(tk, 1)->tick, WED_1400_JST - 7 * 86400);
    api->job_done(held, 1, NULL);
    tk_advance_ms(tk, 29 * 1000);
    CU_ASSERT_EQUAL(weeklies, 1);
    tk_advance_ms(tk, 1000); /* 14:00 JST */
    CU_ASSERT_EQUAL(weeklies, 2);
    CU_ASSERT_EQUAL(ticks, 2);
    api->job_done(held, 0, "maintenance failed");
    tk_advance_ms(tk, 10 * 60 * 1000); /* ten minutes: ten ticks, no more weeklies */
    CU_ASSERT_EQUAL(ticks, 12);
    CU_ASSERT_EQUAL(weeklies, 2);
    /* A day later: the next 09:00 JST report, failed through job_done. */
    tk_advance_ms(tk, 86400 * 1000);
    CU_ASSERT_EQUAL(reports, 2);
    /* Run now: per tenant needs an enabling tenant. */
    CU_ASSERT_EQUAL(tk_job_run(tk, "jobs.report", NULL), TN_EINVAL);
    CU_ASSERT_EQUAL(tk_job_run(tk, "report", "t2"), TN_EINVAL);
    CU_ASSERT_EQUAL(tk_job_run(tk, "nosuch", NULL), TN_ENOTFOUND);
    CU_ASSERT_EQUAL(tk_job_run(tk, "report", "t1"), TN_OK);
    CU_ASSERT_EQUAL(reports, 3);
    {
        const tk_job_entry *e = tk_job_at(tk, tk_job_count(tk) - 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_TRUE(e->manual);
        CU_ASSERT_STRING_EQUAL(e->result, "failed");
        CU_ASSERT_PTR_NOT_NULL(strstr(e->error, "nosuch"));
    }
    /* History in a transaction bound to t1: t1's runs, newest first. */
    CU_ASSERT_EQUAL(api->tx_begin(tk_plugin(tk, "jobs"), "t1", &tx), TN_OK);
    CU_ASSERT_EQUAL(api->job_history(tx, tk_plugin(tk, "jobs"), "report", 10, on_history, NULL),
                    TN_OK);
    tk_run_pending(tk);
    CU_ASSERT_PTR_NOT_NULL(strstr(history, "report/t1/failed/tx_begin: no tenant "));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(history, "nosuch;report/t1/failed/second report failed;report/t1/ok/-;"));
    /* Bound to no tenant: the global jobs' runs. */
    CU_ASSERT_EQUAL(api->tx_begin(tk_plugin(tk, "jobs"), NULL, &tx), TN_OK);
    CU_ASSERT_EQUAL(api->job_history(tx, tk_plugin(tk, "jobs"), "weekly", 10, on_history, NULL),
                    TN_OK);
    tk_run_pending(tk);
    CU_ASSERT_STRING_EQUAL(history, "weekly/-/failed/maintenance failed;weekly/-/ok/-;");
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("testkit jobs", NULL, NULL);
    CU_add_test(s, "A4: jobs on the virtual clock, as the host runs them",
                test_jobs_on_the_virtual_clock);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
