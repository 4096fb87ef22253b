/*
 * jobs.h - cluster-wide scheduled jobs (SDK 1.2): a job a plugin schedules
 * runs once per tick across every worker of every node that shares the
 * database (A4, A9).
 *
 * Every worker keeps a timer for the next tick of any job.  At a tick it
 * claims (job, tenant, tick) in job_runs (0004_jobs.sql) with INSERT ...
 * ON CONFLICT, committed before anything runs: one insert wins in the whole
 * cluster, the others see the conflict and skip.  The winner holds a lease
 * of lease_s; it runs the job's function with a tn_job_run, and job_done()
 * (or the function's TN_CONTINUE / TN_ERROR) writes the end.  A run whose
 * worker died is still open when its lease lapses: a sweep (every
 * JOBS_SWEEP_MS, in every worker) finds it with job_runs_due() and claims
 * it again, attempt + 1.  The same sweep picks up `tanomu jobs --run`
 * requests, which are rows inserted with a lapsed lease.
 *
 * Missed ticks: a worker that starts tries only the latest tick at or
 * before now (one run, not a burst, after everything was down); a running
 * worker whose loop was held up catches up at most JOBS_CATCHUP ticks.
 * A run that outlives its lease while its worker is alive is run again
 * elsewhere: lease_s must exceed the job's longest run.
 */
#ifndef HOST_JOBS_H
#define HOST_JOBS_H

#include <tanomu/tanomu.h>

struct host_worker;
typedef struct host_jobs host_jobs;

/* Starts the worker's scheduler (no-op without jobs or a database). */
int host_jobs_start(struct host_worker *w);
/* No more claims; runs in flight may still end. */
void host_jobs_stop(struct host_worker *w);
/* After the plugins' fini(): frees what is left (memory still owed to a
 * database callback goes with that callback). */
void host_jobs_free(struct host_worker *w);

/* For `tanomu jobs --run`: the job the loaded plugins scheduled under
 * name, "plugin.job" or a bare "job" that one plugin alone has.  1 found
 * (*plugin, *job, *per_tenant set), 0 none, -1 ambiguous. */
int host_jobs_find(const struct host_worker *w, const char *name, tn_plugin **plugin,
                   const char **job, int *per_tenant);

/* tn_api members. */
int host_api_job_schedule(tn_plugin *self, const tn_job_spec *spec, tn_job_fn fn, void *ud);
const char *host_api_job_tenant(const tn_job_run *run);
int64_t host_api_job_tick(const tn_job_run *run);
void host_api_job_done(tn_job_run *run, int ok, const char *error);
int host_api_job_history(tn_tx *tx, tn_plugin *self, const char *job, int limit, tn_tx_fn cb,
                         void *ud);

#endif
