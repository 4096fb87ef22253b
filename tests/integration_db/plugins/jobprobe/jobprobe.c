/*
 * jobprobe - a TEST-ONLY plugin with scheduled jobs (SDK 1.2 job_*), for
 * test_jobs.py.  Every run logs one line the test counts; the rows the
 * host writes in job_runs are the other half of the story.
 *
 *   tick    global, every second (lease 5 s): logs "tick T pid P".
 *   hang    global, hourly (lease 3 s): if the file JOBPROBE_DIR/hang_armed
 *           exists and JOBPROBE_DIR/hang_done does not, creates hang_done,
 *           logs "hanging tick T pid P" and never ends (the test kills
 *           the worker); otherwise logs "hang ran tick T pid P", ends ok.
 *   weekly  global, "wed 14:00" Asia/Tokyo: logs "weekly tick T" and fails
 *           with job_done(run, 0, "weekly failed on purpose").
 *   report  per tenant, "09:00" Asia/Tokyo: reads app.tenant_id in a
 *           transaction from tx_begin(self, job_tenant(run)) and logs
 *           "report tenant X bound Y tick T"; ends from the callback.
 * JOBPROBE_DIR comes from the environment (the test sets it).
 */
#include <tanomu/tanomu.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const tn_api *api;
static tn_plugin *me; /* for log lines from callbacks */

static int marker(const char *name, int create)
{
    const char *dir = getenv("JOBPROBE_DIR");
    char path[512];
    int fd;

    if (!dir || !*dir)
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!create)
        return access(path, F_OK) == 0;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static tn_status run_tick(tn_plugin *self, tn_job_run *run, void *ud)
{
    (void)ud;
    api->log(self, TN_LOG_INFO, "tick %lld pid %ld", (long long)api->job_tick(run), (long)getpid());
    return TN_CONTINUE;
}

static tn_status run_hang(tn_plugin *self, tn_job_run *run, void *ud)
{
    (void)ud;
    if (marker("hang_armed", 0) && marker("hang_done", 1)) {
        api->log(self, TN_LOG_INFO, "hanging tick %lld pid %ld", (long long)api->job_tick(run),
                 (long)getpid());
        return TN_SUSPEND; /* never ended: the test kills this worker */
    }
    api->log(self, TN_LOG_INFO, "hang ran tick %lld pid %ld", (long long)api->job_tick(run),
             (long)getpid());
    return TN_CONTINUE;
}

static tn_status run_weekly(tn_plugin *self, tn_job_run *run, void *ud)
{
    (void)ud;
    api->log(self, TN_LOG_INFO, "weekly tick %lld", (long long)api->job_tick(run));
    api->job_done(run, 0, "weekly failed on purpose");
    return TN_SUSPEND;
}

static void on_bound(tn_tx *tx, const tn_db_result *res, void *ud)
{
    tn_job_run *run = ud;
    const char *bound = api->db_status(res) == TN_OK ? api->db_value(res, 0, 0) : NULL;

    api->log(me, TN_LOG_INFO, "report tenant %s bound %s tick %lld", api->job_tenant(run),
             bound ? bound : "(error)", (long long)api->job_tick(run));
    api->job_done(run, bound != NULL, bound ? NULL : "the statement failed");
    api->tx_rollback(tx, NULL, NULL);
}

static tn_status run_report(tn_plugin *self, tn_job_run *run, void *ud)
{
    tn_tx *tx;

    (void)ud;
    if (api->tx_begin(self, api->job_tenant(run), &tx) != TN_OK)
        return TN_ERROR; /* last_error says why */
    if (api->tx_query(tx, "SELECT current_setting('app.tenant_id', true)", 0, NULL, on_bound,
                      run) != TN_OK) {
        api->tx_rollback(tx, NULL, NULL);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

static int schedule(tn_plugin *self, const char *name, uint32_t every, const char *at,
                    int per_tenant, uint32_t lease, tn_job_fn fn)
{
    tn_job_spec s;

    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    s.name = name;
    s.every_s = every;
    s.at = at;
    s.per_tenant = per_tenant;
    s.lease_s = lease;
    return api->job_schedule(self, &s, fn, NULL);
}

static int init(tn_plugin *self, const tn_api *a)
{
    api = a;
    me = self;
    if (!TN_API_HAS(a, job_schedule))
        return -1;
    if (schedule(self, "tick", 1, NULL, 0, 5, run_tick) != TN_OK ||
        schedule(self, "hang", 3600, NULL, 0, 3, run_hang) != TN_OK ||
        schedule(self, "weekly", 0, "wed 14:00", 0, 60, run_weekly) != TN_OK ||
        schedule(self, "report", 0, "09:00", 1, 60, run_report) != TN_OK) {
        a->log(self, TN_LOG_ERROR, "job_schedule failed: %s", a->last_error(self));
        return -1;
    }
    /* Refusals: a second "tick", a bad zone. */
    if (schedule(self, "tick", 1, NULL, 0, 0, run_tick) != TN_EEXIST)
        return -1;
    {
        tn_job_spec s;
        memset(&s, 0, sizeof s);
        s.size = sizeof s;
        s.name = "bad_zone";
        s.at = "10:00";
        s.tz = "Mars/Olympus";
        if (a->job_schedule(self, &s, run_tick, NULL) != TN_EINVAL)
            return -1;
    }
    return 0;
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = 2,
    .name = "jobprobe",
    .version = "1.0.0",
    .description = "Test-only: scheduled jobs.",
    .init = init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
