/*
 * test_metrics.c - the shared metrics region: series created and counted
 * from several processes at once add up exactly, histograms are
 * cumulative, and the page is valid Prometheus text (A4).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "labels.h"
#include "metrics.h"

static void test_counts_from_many_processes_add_up(void)
{
    host_metrics *m = host_metrics_create(1024);
    pid_t pids[4];
    int i, k, st;
    host_buf page;
    char want[128];

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    host_metrics_family(m, "t_total", HOST_METRIC_COUNTER, "test");
    for (i = 0; i < 4; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            /* Each child creates the same 50 series and counts into them. */
            for (k = 0; k < 20000; k++) {
                char labels[64];
                snprintf(labels, sizeof labels, "n=\"%d\"", k % 50);
                host_series_add(host_metrics_series(m, "t_total", labels), 1);
            }
            _exit(0);
        }
    }
    for (i = 0; i < 4; i++) {
        waitpid(pids[i], &st, 0);
        CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    host_buf_init(&page);
    host_metrics_render(m, &page);
    for (k = 0; k < 50; k++) {
        snprintf(want, sizeof want, "t_total{n=\"%d\"} 1600\n", k);
        CU_ASSERT_PTR_NOT_NULL(strstr(page.data, want));
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "# TYPE t_total counter\n"));
    host_buf_free(&page);
    host_metrics_destroy(m);
}

/* Workers declare their plugins' families at the same moment: each name
 * must be listed once, or every sum over the page doubles. */
static void test_families_declared_concurrently_listed_once(void)
{
    host_metrics *m = host_metrics_create(64);
    volatile int *go = mmap(NULL, sizeof *go, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    pid_t pids[4];
    int i, k, st;
    host_buf page;
    char want[64];
    const char *p;

    CU_ASSERT_FATAL(go != MAP_FAILED);
    *go = 0;
    for (i = 0; i < 4; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            while (!__atomic_load_n(go, __ATOMIC_ACQUIRE))
                ; /* all start together: the race is the point */
            for (k = 0; k < 200; k++) {
                char name[32];
                snprintf(name, sizeof name, "fam_%d_total", k);
                host_metrics_family(m, name, HOST_METRIC_COUNTER, "x");
            }
            _exit(0);
        }
    }
    usleep(20000);
    __atomic_store_n(go, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 4; i++)
        waitpid(pids[i], &st, 0);
    munmap((void *)go, sizeof *go);
    host_buf_init(&page);
    host_metrics_render(m, &page);
    for (k = 0; k < 200; k++) {
        int seen = 0;
        snprintf(want, sizeof want, "# TYPE fam_%d_total counter\n", k);
        for (p = page.data; (p = strstr(p, want)) != NULL; p++)
            seen++;
        CU_ASSERT_EQUAL(seen, 1);
    }
    host_buf_free(&page);
    host_metrics_destroy(m);
}

static void test_histogram_is_cumulative(void)
{
    host_metrics *m = host_metrics_create(64);
    host_series *s;
    host_buf page;

    host_metrics_family(m, "lat_seconds", HOST_METRIC_HISTOGRAM, "latency");
    s = host_metrics_series(m, "lat_seconds", "tenant=\"a\"");
    host_series_observe_us(s, 100);      /* <= 0.00025 */
    host_series_observe_us(s, 2000);     /* <= 0.0025 */
    host_series_observe_us(s, 60000000); /* only +Inf */
    host_buf_init(&page);
    host_metrics_render(m, &page);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(page.data, "lat_seconds_bucket{tenant=\"a\",le=\"0.00025\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "lat_seconds_bucket{tenant=\"a\",le=\"0.0025\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "lat_seconds_bucket{tenant=\"a\",le=\"10\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "lat_seconds_bucket{tenant=\"a\",le=\"+Inf\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "lat_seconds_count{tenant=\"a\"} 3\n"));
    host_buf_free(&page);
    host_metrics_destroy(m);
}

static void test_full_table_returns_null_not_crash(void)
{
    host_metrics *m = host_metrics_create(8);
    char labels[32];
    int i, got = 0;

    for (i = 0; i < 20; i++) {
        snprintf(labels, sizeof labels, "i=\"%d\"", i);
        got += host_metrics_series(m, "x", labels) != NULL;
    }
    CU_ASSERT_EQUAL(got, 8);
    host_series_add(NULL, 1); /* callers need not check */
    {
        host_buf page;
        host_buf_init(&page);
        host_metrics_render(m, &page);
        CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "tanomu_metrics_series_dropped_total 12\n"));
        host_buf_free(&page);
    }
    host_metrics_destroy(m);
}

static void test_label_escaping(void)
{
    char out[64];

    host_metrics_label(out, sizeof out, "a\"b\\c\nd");
    CU_ASSERT_STRING_EQUAL(out, "a\\\"b\\\\c\\nd");
}

/* A4: a plugin metric updated for no tenant is exported without a tenant
 * label (`name 3`), not as tenant="" (a label Prometheus would then have to
 * match as empty), and beside a tenant's series of the same family. */
static void test_no_tenant_means_no_tenant_label(void)
{
    host_metrics *m = host_metrics_create(64);
    char labels[128];
    host_buf page;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    host_metrics_tenant_labels(labels, sizeof labels, NULL);
    CU_ASSERT_STRING_EQUAL(labels, "");
    host_metrics_tenant_labels(labels, sizeof labels, "");
    CU_ASSERT_STRING_EQUAL(labels, "");
    host_metrics_family(m, "p_total", HOST_METRIC_COUNTER, "test");
    host_series_add(host_metrics_series(m, "p_total", labels), 3);
    host_metrics_tenant_labels(labels, sizeof labels, "sh\"op");
    CU_ASSERT_STRING_EQUAL(labels, "tenant=\"sh\\\"op\"");
    host_series_add(host_metrics_series(m, "p_total", labels), 2);
    host_buf_init(&page);
    host_metrics_render(m, &page);
    CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "\np_total 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page.data, "\np_total{tenant=\"sh\\\"op\"} 2\n"));
    CU_ASSERT_PTR_NULL(strstr(page.data, "tenant=\"\""));
    host_buf_free(&page);
    host_metrics_destroy(m);
}

static void slot_set(host_metrics *m, int i, int64_t gen, int64_t conns, int64_t tick_ms)
{
    host_worker_slot *w = host_metrics_slot(m, i);

    w->pid = 1000 + i;
    w->generation = gen;
    w->accepting = 1;
    w->conns_open = conns;
    w->tick_ms = tick_ms;
}

/* P1: the balancing never waits for a worker whose loop stopped turning. */
static void test_min_conns_ignores_stalled_and_other_workers(void)
{
    host_metrics *m = host_metrics_create(64);
    int64_t now = 100000;

    slot_set(m, 0, 2, 5, now);                          /* this worker */
    slot_set(m, 1, 2, 1, now - HOST_SLOT_STALE_MS - 1); /* stopped: ignored */
    slot_set(m, 2, 1, 0, now);                          /* old generation */
    CU_ASSERT_EQUAL(host_metrics_min_conns(m, 2, now), 5);
    slot_set(m, 1, 2, 1, now - HOST_SLOT_STALE_MS + 100); /* turned lately */
    CU_ASSERT_EQUAL(host_metrics_min_conns(m, 2, now), 1);
    host_metrics_slot(m, 1)->accepting = 0; /* paused: ignored */
    CU_ASSERT_EQUAL(host_metrics_min_conns(m, 2, now), 5);
    host_metrics_destroy(m);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("metrics", NULL, NULL);
    CU_add_test(s, "counts from many processes add up (A4)",
                test_counts_from_many_processes_add_up);
    CU_add_test(s, "families declared at once by many processes listed once",
                test_families_declared_concurrently_listed_once);
    CU_add_test(s, "histogram buckets are cumulative", test_histogram_is_cumulative);
    CU_add_test(s, "full table: NULL, no crash", test_full_table_returns_null_not_crash);
    CU_add_test(s, "label values escaped", test_label_escaping);
    CU_add_test(s, "no tenant: no tenant label, not tenant=\"\" (A4)",
                test_no_tenant_means_no_tenant_label);
    CU_add_test(s, "balancing ignores stalled, paused and other-generation workers (P1)",
                test_min_conns_ignores_stalled_and_other_workers);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
