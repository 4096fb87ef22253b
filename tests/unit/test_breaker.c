/*
 * test_breaker.c - the crash circuit breaker's state (breaker.h), without
 * processes dying: crashes outside the window do not add up, a trip is per
 * plugin route and tenant, it is visible to a process forked later, exactly
 * one caller gets the half-open probe, a probe that crashes reopens, one
 * that survives closes, and a reload closes everything (A1, S21).
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "breaker.h"
#include "metrics.h"

static const host_breaker_conf conf = {3, 1000, 500};

static int refused(host_breakers *t, const char *route, const char *tenant, uint64_t now,
                   int *probe)
{
    uint64_t retry = 0;
    const char *plugin = NULL;

    return host_breaker_check(t, route, tenant, conf.cooldown_ms, now, probe, &retry, &plugin);
}

static void test_window_and_threshold(void)
{
    host_metrics *m = host_metrics_create(64);
    host_breakers *t = host_metrics_breakers(m);
    int n, probe;

    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    /* Two crashes, then one after the window: never three within it. */
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "a", 1000, &n), HOST_BREAKER_COUNTED);
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "a", 1500, &n), HOST_BREAKER_COUNTED);
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "a", 2600, &n), HOST_BREAKER_COUNTED);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_FALSE(refused(t, "/x", "a", 2600, &probe));
    /* Other tenants and outside-request crashes count apart. */
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "b", 2700, &n), HOST_BREAKER_COUNTED);
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "timer", "", 2700, &n),
                    HOST_BREAKER_UNTRACKED);
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "a", 2800, &n), HOST_BREAKER_COUNTED);
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "a", 2900, &n), HOST_BREAKER_TRIPPED);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_TRUE(refused(t, "/x", "a", 2900, &probe));
    CU_ASSERT_EQUAL(probe, 0);
    CU_ASSERT_FALSE(refused(t, "/x", "b", 2900, &probe));
    CU_ASSERT_FALSE(refused(t, "/y", "a", 2900, &probe));
    host_metrics_destroy(m);
}

static void test_visible_to_later_fork_and_single_probe(void)
{
    host_metrics *m = host_metrics_create(64);
    host_breakers *t = host_metrics_breakers(m);
    int n, probe = 0, probes = 0, st, i;
    pid_t pid;

    for (i = 0; i < 3; i++)
        host_breaker_crash(t, &conf, "p", "/x", "a", 100 + (uint64_t)i, &n);
    pid = fork();
    if (pid == 0) {
        /* A worker forked after the trip refuses too, with a Retry-After. */
        uint64_t retry = 0;
        const char *plugin = NULL;
        int ok = host_breaker_check(t, "/x", "a", conf.cooldown_ms, 300, &probe, &retry, &plugin) ==
                     1 &&
                 retry == 1 && plugin && strcmp(plugin, "p") == 0;
        _exit(ok ? 0 : 1);
    }
    CU_ASSERT_FATAL(pid > 0);
    waitpid(pid, &st, 0);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Cool-down over: of many callers exactly one runs. */
    for (i = 0; i < 10; i++) {
        if (!refused(t, "/x", "a", 700, &probe)) {
            probes++;
            CU_ASSERT_TRUE(probe > 0);
            break;
        }
    }
    for (i = 0; i < 10; i++)
        probes += !refused(t, "/x", "a", 700, &n);
    CU_ASSERT_EQUAL(probes, 1);
    /* The probe crashed: open again for a whole cool-down. */
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "a", 710, &n), HOST_BREAKER_REOPENED);
    CU_ASSERT_TRUE(refused(t, "/x", "a", 1100, &n));
    /* The next probe survives: closed, and counting from zero again. */
    CU_ASSERT_FALSE(refused(t, "/x", "a", 1300, &probe));
    CU_ASSERT_TRUE(host_breaker_probe_done(t, probe));
    CU_ASSERT_FALSE(host_breaker_probe_done(t, probe));
    CU_ASSERT_FALSE(refused(t, "/x", "a", 1300, &n));
    CU_ASSERT_EQUAL(host_breaker_crash(t, &conf, "p", "/x", "a", 1400, &n), HOST_BREAKER_COUNTED);
    CU_ASSERT_EQUAL(n, 1);
    host_metrics_destroy(m);
}

static int nclosed;

static void on_closed(void *ud, const host_breaker *b)
{
    (void)ud;
    (void)b;
    nclosed++;
}

static void test_reload_closes_all_and_disabled(void)
{
    host_metrics *m = host_metrics_create(64);
    host_breakers *t = host_metrics_breakers(m);
    host_breaker_conf off = {0, 1000, 500};
    int n, probe, i;

    for (i = 0; i < 3; i++) {
        host_breaker_crash(t, &conf, "p", "/x", "a", 100, &n);
        host_breaker_crash(t, &conf, "p", "/y", "b", 100, &n);
    }
    CU_ASSERT_TRUE(refused(t, "/x", "a", 100, &probe));
    host_breaker_close_all(t, on_closed, NULL);
    CU_ASSERT_EQUAL(nclosed, 2);
    CU_ASSERT_FALSE(refused(t, "/x", "a", 100, &probe));
    CU_ASSERT_FALSE(refused(t, "/y", "b", 100, &probe));
    for (i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(host_breaker_crash(t, &off, "p", "/x", "a", 200, &n),
                        HOST_BREAKER_UNTRACKED);
    CU_ASSERT_FALSE(refused(t, "/x", "a", 200, &probe));
    host_metrics_destroy(m);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("breaker", NULL, NULL);
    CU_add_test(s, "crashes add up within the window, per route and tenant",
                test_window_and_threshold);
    CU_add_test(s, "A1 open for workers forked later; one half-open probe",
                test_visible_to_later_fork_and_single_probe);
    CU_add_test(s, "reload closes every breaker; crashes = 0 disables",
                test_reload_closes_all_and_disabled);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
