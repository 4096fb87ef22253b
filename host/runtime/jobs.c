/*
 * jobs.c - the worker's job scheduler: ticks, claims in job_runs, runs and
 * their ends, the lapsed-lease sweep, and the job_* API.  See jobs.h.
 *
 * Every database step is its own short transaction on the worker's pool,
 * bound to the run's tenant (NULL for a global job), so row-level security
 * holds for the scheduler as for a request.  A claim is committed before
 * the job runs: the run exists in the table even if this worker then dies.
 *
 * Memory: an operation in flight (a claim, a sweep, an end) holds a count
 * on the scheduler, which outlives host_jobs_free() until the last one has
 * called back; callbacks after stop() only free.
 */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "database.h"
#include "db_pool.h"
#include "log.h"
#include "schedule.h"
#include "tx.h"

#define JOBS_SWEEP_MS 1000 /* how often a worker looks for lapsed leases */
#define JOBS_CATCHUP 4     /* missed ticks a running worker still claims */
#define JOBS_LEASE_DEFAULT 300
#define JOBS_ERROR_MAX 500  /* characters of an error kept in the table */
#define JOBS_DUE_MAX "100"  /* lapsed (plugin, job, tenant) per sweep */
#define JOBS_WAKE_LATE_MS 5 /* wake just after a tick, never just before */

typedef struct host_job {
    tn_plugin *plugin;
    char name[HOST_JOB_NAME_MAX + 1];
    host_sched sched;
    int per_tenant;
    uint32_t lease_s;
    tn_job_fn fn;
    void *ud;
    int64_t *tried; /* per target (tenant index, or [0] global): last tick tried */
    host_series *ok, *failed, *lag;
} host_job;

struct tn_job_run {
    host_jobs *js;
    host_job *job;
    int64_t id;
    int attempt;
    int64_t tick;
    char *tenant; /* NULL: global */
    int in_fn;    /* the job's function is on the stack */
    int ended;    /* job_done (or the function's status) gave the end */
    int ok;       /* job_done inside the function: its outcome, ended after */
    char *error;
    tn_job_run *prev, *next;
};

struct host_jobs {
    host_worker *w;
    host_job **v;
    int n;
    uv_timer_t timer;
    int timer_open;
    int started, stopping, freed;
    int pending; /* operations in flight, plus the timer while open */
    int sweeping;
    uint64_t next_sweep_ms;
    char worker_id[96];
    tn_job_run *runs; /* running here, not yet ended */
};

/* One database step: a claim, a reclaim, the sweep or a run's end. */
typedef enum op_kind { OP_CLAIM, OP_RECLAIM, OP_SWEEP, OP_END } op_kind;

typedef struct job_op {
    op_kind kind;
    host_jobs *js;
    host_job *job;
    int target;   /* index into job->tried */
    char *tenant; /* NULL: global */
    int64_t tick;
    int failed; /* a statement failed */
    int got;    /* a row came back */
    int64_t id;
    int attempt;
    int64_t lag_ms;
    char *sql;
    int nparams;
    const char *params[6];
    char buf[4][32];
    char *error;
    tn_job_run *run; /* OP_END */
    char **due;      /* OP_SWEEP: plugin, job, tenant per row */
    int ndue;
} job_op;

static void arm(host_jobs *js);

/* ---- bookkeeping -------------------------------------------------------------- */

static uint64_t realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static host_jobs *jobs_of(host_worker *w)
{
    host_jobs *js = w->jobs;

    if (!js && (js = calloc(1, sizeof *js)) != NULL) {
        js->w = w;
        w->jobs = js;
    }
    return js;
}

static void jobs_release(host_jobs *js)
{
    int i;

    if (!js->freed || js->pending > 0)
        return;
    for (i = 0; i < js->n; i++) {
        host_sched_free(&js->v[i]->sched);
        free(js->v[i]->tried);
        free(js->v[i]);
    }
    free(js->v);
    free(js);
}

static void op_free(job_op *op)
{
    host_jobs *js = op->js;
    int i;

    for (i = 0; i < op->ndue * 3; i++)
        free(op->due[i]);
    free(op->due);
    free(op->tenant);
    free(op->error);
    free(op);
    js->pending--;
    jobs_release(js);
}

static const host_tenant *tenant_conf(const host_worker *w, const char *id)
{
    int i;

    for (i = 0; id && i < w->conf.ntenants; i++)
        if (w->conf.tenants[i].id && strcmp(w->conf.tenants[i].id, id) == 0)
            return &w->conf.tenants[i];
    return NULL;
}

static int targets(const host_jobs *js, const host_job *j)
{
    return j->per_tenant ? js->w->conf.ntenants : 1;
}

/* ---- the database steps ------------------------------------------------------ */

static void op_end_cb(int status, const host_db_result *res, void *ud);

static void op_query_cb(host_db_tx *tx, int status, const host_db_result *res, void *ud)
{
    job_op *op = ud;
    int i, n;

    (void)tx;
    if (status != HOST_DB_OK) {
        op->failed = 1;
        if (status == HOST_DB_EQUERY)
            host_log(HOST_LOG_WARN, "jobs: %s statement failed (sqlstate %s)",
                     op->job ? op->job->name : "sweep",
                     host_db_result_sqlstate(res) ? host_db_result_sqlstate(res) : "-");
        return;
    }
    n = host_db_result_nrows(res);
    if (op->kind == OP_SWEEP) {
        if (n > 0 && !(op->due = calloc((size_t)n * 3, sizeof *op->due)))
            return;
        for (i = 0; i < n; i++) {
            const char *t = host_db_result_value(res, i, 2);
            op->due[i * 3] = strdup(host_db_result_value(res, i, 0));
            op->due[i * 3 + 1] = strdup(host_db_result_value(res, i, 1));
            op->due[i * 3 + 2] = t ? strdup(t) : NULL;
            op->ndue = i + 1;
        }
        return;
    }
    if (op->kind == OP_END) {
        op->got = host_db_result_affected(res) > 0;
        return;
    }
    if (n == 1) { /* id, attempt, tick, lag_ms */
        op->got = 1;
        op->id = strtoll(host_db_result_value(res, 0, 0), NULL, 10);
        op->attempt = atoi(host_db_result_value(res, 0, 1));
        op->tick = strtoll(host_db_result_value(res, 0, 2), NULL, 10);
        op->lag_ms = strtoll(host_db_result_value(res, 0, 3), NULL, 10);
    }
}

/* Begin, one statement, commit: the statement's callback keeps what it
 * needs, the commit's decides. */
static void op_begin_cb(host_db_tx *tx, int status, void *ud)
{
    job_op *op = ud;

    if (status != HOST_DB_OK) {
        op->failed = 1;
        op_end_cb(status, NULL, op);
        return;
    }
    if (host_db_tx_query(tx, op->sql, op->nparams, op->params, op_query_cb, op) < 0)
        op->failed = 1;
    if (host_db_tx_commit(tx, op_end_cb, op) < 0)
        op_end_cb(HOST_DB_ESTATE, NULL, op);
}

static void op_start(job_op *op, const char *tenant)
{
    host_jobs *js = op->js;

    js->pending++;
    if (!js->w->db || host_db_tx_begin(js->w->db, tenant, op_begin_cb, op) < 0) {
        op->failed = 1;
        op_end_cb(HOST_DB_EUNAVAIL, NULL, op);
    }
}

static job_op *op_new(host_jobs *js, op_kind kind, host_job *j, int target, const char *tenant)
{
    job_op *op = calloc(1, sizeof *op);

    if (!op)
        return NULL;
    op->kind = kind;
    op->js = js;
    op->job = j;
    op->target = target;
    if (tenant && !(op->tenant = strdup(tenant))) {
        free(op);
        return NULL;
    }
    return op;
}

/* ---- runs ------------------------------------------------------------------------ */

static void run_unlink(tn_job_run *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (r->js->runs == r)
        r->js->runs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void run_free(tn_job_run *r)
{
    free(r->error);
    free(r->tenant);
    free(r);
}

/* Writes the run's end; the row must still be this attempt's (a run that
 * outlived its lease may have been claimed again elsewhere). */
static void run_end(tn_job_run *r, int ok, const char *error)
{
    static const char sql[] = "UPDATE job_runs SET ended_at = now(), result = $3, error = $4 "
                              "WHERE id = $1::bigint AND attempt = $2::int AND ended_at IS NULL";
    host_jobs *js = r->js;
    host_job *j = r->job;
    job_op *op;

    host_series_add(ok ? j->ok : j->failed, 1);
    if (!ok)
        host_log_for(HOST_LOG_WARN, j->plugin->name, NULL,
                     "job %s failed (tick %lld%s%s); see tanomu jobs --failed", j->name,
                     (long long)r->tick, r->tenant ? ", tenant " : "", r->tenant ? r->tenant : "");
    run_unlink(r);
    if (!(op = op_new(js, OP_END, j, 0, r->tenant))) {
        run_free(r);
        return;
    }
    op->run = r;
    op->sql = (char *)sql;
    if (error && *error)
        op->error = strndup(error, JOBS_ERROR_MAX);
    else if (!ok)
        op->error = strdup("failed");
    snprintf(op->buf[0], sizeof op->buf[0], "%lld", (long long)r->id);
    snprintf(op->buf[1], sizeof op->buf[1], "%d", r->attempt);
    op->params[0] = op->buf[0];
    op->params[1] = op->buf[1];
    op->params[2] = ok ? "ok" : "failed";
    op->params[3] = op->error; /* NULL: SQL NULL */
    op->nparams = 4;
    op_start(op, r->tenant);
}

static void run_start(host_jobs *js, host_job *j, const job_op *claim)
{
    host_worker *w = js->w;
    tn_job_run *r = calloc(1, sizeof *r);
    char what[80];
    tn_status st;

    if (!r)
        return; /* the lease lapses and someone runs it again */
    r->js = js;
    r->job = j;
    r->id = claim->id;
    r->attempt = claim->attempt;
    r->tick = claim->tick;
    if (claim->tenant && !(r->tenant = strdup(claim->tenant))) {
        free(r);
        return;
    }
    r->next = js->runs;
    if (js->runs)
        js->runs->prev = r;
    js->runs = r;
    host_series_observe_us(j->lag, claim->lag_ms > 0 ? (uint64_t)claim->lag_ms * 1000 : 0);
    if (claim->tenant && !host_worker_enabled(w, tenant_conf(w, claim->tenant), j->plugin)) {
        /* A `tanomu jobs --run` for a tenant that does not enable it. */
        r->ended = 1;
        run_end(r, 0, "the tenant does not enable the plugin");
        return;
    }
    snprintf(what, sizeof what, "job:%s", j->name);
    r->in_fn = 1;
    host_worker_running(w, j->plugin, what);
    st = j->fn(j->plugin, r, j->ud);
    host_worker_running(w, NULL, NULL);
    r->in_fn = 0;
    if (r->ended) { /* job_done() inside the function */
        run_end(r, r->ok, r->error);
        return;
    }
    if (st == TN_SUSPEND)
        return; /* job_done() follows */
    r->ended = 1;
    if (st == TN_ERROR)
        run_end(r, 0,
                j->plugin->last_error[0] ? j->plugin->last_error : "the job returned TN_ERROR");
    else
        run_end(r, 1, NULL);
}

/* ---- claims ------------------------------------------------------------------------ */

/* One insert wins per (plugin, job, tenant, tick); an open run whose
 * lease lapsed is taken over (attempt + 1).  The row comes back only to
 * the winner. */
static const char claim_sql[] =
    "INSERT INTO job_runs (plugin, job, tenant_id, tick, worker, lease_until, started_at) "
    "VALUES ($1, $2, $3, $4::bigint, $5, now() + make_interval(secs => $6::int), now()) "
    "ON CONFLICT ON CONSTRAINT job_runs_once DO UPDATE SET attempt = job_runs.attempt + 1, "
    "worker = EXCLUDED.worker, lease_until = EXCLUDED.lease_until, started_at = now(), "
    "result = 'running', error = NULL "
    "WHERE job_runs.ended_at IS NULL AND job_runs.lease_until < now() "
    "RETURNING id, attempt, tick, "
    "(extract(epoch FROM now()) * 1000)::bigint - tick * 1000";

/* The oldest open run of (plugin, job, tenant) whose lease lapsed: a dead
 * worker's, or a `tanomu jobs --run` request. */
static const char reclaim_sql[] =
    "UPDATE job_runs SET attempt = attempt + 1, worker = $4, "
    "lease_until = now() + make_interval(secs => $5::int), started_at = now(), "
    "result = 'running', error = NULL "
    "WHERE id = (SELECT id FROM job_runs WHERE plugin = $1 AND job = $2 "
    "AND tenant_id IS NOT DISTINCT FROM $3 "
    "AND ended_at IS NULL AND lease_until < now() "
    "ORDER BY requested_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, attempt, tick, "
    "(extract(epoch FROM now() - CASE WHEN manual THEN requested_at "
    "ELSE to_timestamp(tick) END) * 1000)::bigint";

static void claim(host_jobs *js, host_job *j, int target, const char *tenant, int64_t tick,
                  op_kind kind)
{
    job_op *op = op_new(js, kind, j, target, tenant);

    if (!op)
        return;
    op->sql = (char *)(kind == OP_CLAIM ? claim_sql : reclaim_sql);
    op->tick = tick;
    snprintf(op->buf[0], sizeof op->buf[0], "%lld", (long long)tick);
    snprintf(op->buf[1], sizeof op->buf[1], "%u", j->lease_s);
    op->params[0] = j->plugin->name;
    op->params[1] = j->name;
    op->params[2] = op->tenant; /* NULL: SQL NULL, a global job */
    if (kind == OP_CLAIM) {
        op->params[3] = op->buf[0];
        op->params[4] = js->worker_id;
        op->params[5] = op->buf[1];
        op->nparams = 6;
    } else {
        op->params[3] = js->worker_id;
        op->params[4] = op->buf[1];
        op->nparams = 5;
    }
    op_start(op, tenant);
}

static void sweep_found(host_jobs *js, job_op *op)
{
    host_worker *w = js->w;
    int i, k;

    for (i = 0; i < op->ndue; i++) {
        const char *plugin = op->due[i * 3], *job = op->due[i * 3 + 1],
                   *tenant = op->due[i * 3 + 2];
        if (!plugin || !job || (tenant && !tenant_conf(w, tenant)))
            continue; /* a tenant this node does not serve */
        for (k = 0; k < js->n; k++) {
            host_job *j = js->v[k];
            if (strcmp(j->plugin->name, plugin) == 0 && strcmp(j->name, job) == 0 &&
                !j->per_tenant == !tenant)
                claim(js, j, 0, tenant, 0, OP_RECLAIM);
        }
    }
}

static void op_end_cb(int status, const host_db_result *res, void *ud)
{
    job_op *op = ud;
    host_jobs *js = op->js;
    int ok = status == HOST_DB_OK && !op->failed;

    (void)res;
    switch (op->kind) {
    case OP_CLAIM:
        if (!ok && !js->stopping && op->job->tried[op->target] == op->tick)
            op->job->tried[op->target] = op->tick - 1; /* try again on the next pass */
        /* fallthrough */
    case OP_RECLAIM:
        if (ok && op->got && !js->stopping)
            run_start(js, op->job, op);
        break;
    case OP_SWEEP:
        js->sweeping = 0;
        if (ok && !js->stopping)
            sweep_found(js, op);
        break;
    case OP_END:
        if (js->freed) /* after the plugins went: nothing of theirs to name */
            ;
        else if (ok && !op->got)
            host_log_for(HOST_LOG_WARN, op->job->plugin->name, NULL,
                         "job %s: run %lld ended after its lease was taken over", op->job->name,
                         (long long)op->run->id);
        else if (!ok)
            host_log_for(HOST_LOG_WARN, op->job->plugin->name, NULL,
                         "job %s: the end of run %lld was not written (%s); it runs again "
                         "after its lease",
                         op->job->name, (long long)op->run->id, host_db_strerror(status));
        run_free(op->run);
        break;
    }
    op_free(op);
}

static void sweep(host_jobs *js)
{
    static const char sql[] = "SELECT plugin, job, tenant_id FROM job_runs_due($1::int)";
    job_op *op;

    if (js->sweeping || !(op = op_new(js, OP_SWEEP, NULL, 0, NULL)))
        return;
    js->sweeping = 1;
    op->sql = (char *)sql;
    op->params[0] = JOBS_DUE_MAX;
    op->nparams = 1;
    op_start(op, NULL);
}

/* ---- the timer ------------------------------------------------------------------------ */

/* Claims the ticks of one target that are due and not tried here yet. */
static void due_target(host_jobs *js, host_job *j, int target, const char *tenant, int64_t now)
{
    int64_t latest = host_sched_prev(&j->sched, now), t, from;
    int64_t *tried = &j->tried[target];
    int k;

    if (latest <= *tried)
        return;
    from = latest;
    if (*tried != INT64_MIN) /* running all along: catch up a few missed ones */
        for (k = 1, t = latest; k < JOBS_CATCHUP; k++) {
            t = host_sched_prev(&j->sched, t - 1);
            if (t <= *tried)
                break;
            from = t;
        }
    *tried = latest;
    for (t = from; t <= latest; t = host_sched_next(&j->sched, t))
        claim(js, j, target, tenant, t, OP_CLAIM);
}

static void pass(host_jobs *js)
{
    host_worker *w = js->w;
    uint64_t now_ms = realtime_ms();
    int64_t now = (int64_t)(now_ms / 1000);
    int i, k;

    if (js->stopping)
        return;
    if (!host_db_ready(w->db)) {
        /* The database is down: nothing is tried (so nothing is marked
         * tried) until it is back; then the latest tick is claimed. */
        js->next_sweep_ms = now_ms + JOBS_SWEEP_MS / 4;
        arm(js);
        return;
    }
    for (i = 0; i < js->n; i++) {
        host_job *j = js->v[i];
        if (!j->per_tenant) {
            due_target(js, j, 0, NULL, now);
            continue;
        }
        for (k = 0; k < w->conf.ntenants; k++)
            if (host_worker_enabled(w, &w->conf.tenants[k], j->plugin))
                due_target(js, j, k, w->conf.tenants[k].id, now);
    }
    if (now_ms >= js->next_sweep_ms) {
        js->next_sweep_ms = now_ms + JOBS_SWEEP_MS;
        sweep(js);
    }
    arm(js);
}

static void on_timer(uv_timer_t *t)
{
    pass(t->data);
}

/* Wakes at the next tick of any job, or the next sweep if sooner. */
static void arm(host_jobs *js)
{
    uint64_t now_ms = realtime_ms(), wake = js->next_sweep_ms;
    int64_t now = (int64_t)(now_ms / 1000);
    int i;

    for (i = 0; i < js->n; i++) {
        int64_t next = host_sched_next(&js->v[i]->sched, now);
        uint64_t at = (uint64_t)next * 1000 + JOBS_WAKE_LATE_MS;
        if (next > 0 && at < wake)
            wake = at;
    }
    uv_timer_start(&js->timer, on_timer, wake > now_ms ? wake - now_ms : 0, 0);
}

static void on_timer_closed(uv_handle_t *h)
{
    host_jobs *js = h->data;

    js->pending--;
    jobs_release(js);
}

int host_jobs_start(host_worker *w)
{
    host_jobs *js = w->jobs;
    char host[64] = "";
    int i, k;

    if (!js || js->n == 0 || !w->db || js->started)
        return 0;
    for (i = 0; i < js->n; i++) {
        host_job *j = js->v[i];
        int n = targets(js, j);
        if (!(j->tried = calloc((size_t)(n > 0 ? n : 1), sizeof *j->tried)))
            return -1;
        for (k = 0; k < n; k++)
            j->tried[k] = INT64_MIN;
    }
    gethostname(host, sizeof host - 1);
    snprintf(js->worker_id, sizeof js->worker_id, "%.63s:%ld", host, (long)getpid());
    uv_timer_init(w->loop, &js->timer);
    js->timer.data = js;
    js->timer_open = 1;
    js->pending++;
    js->started = 1;
    js->next_sweep_ms = realtime_ms() + JOBS_SWEEP_MS / 4;
    uv_timer_start(&js->timer, on_timer, 50, 0);
    return 0;
}

void host_jobs_stop(host_worker *w)
{
    host_jobs *js = w->jobs;

    if (!js || js->stopping)
        return;
    js->stopping = 1;
    if (js->timer_open) {
        js->timer_open = 0;
        uv_close((uv_handle_t *)&js->timer, on_timer_closed);
    }
}

void host_jobs_free(host_worker *w)
{
    host_jobs *js = w->jobs;
    tn_job_run *r;

    if (!js)
        return;
    host_jobs_stop(w);
    while ((r = js->runs) != NULL) { /* suspended runs the plugin never ended */
        run_unlink(r);
        run_free(r);
    }
    w->jobs = NULL;
    js->freed = 1;
    jobs_release(js);
}

int host_jobs_find(const host_worker *w, const char *name, tn_plugin **plugin, const char **job,
                   int *per_tenant)
{
    const host_jobs *js = w->jobs;
    const char *dot = strchr(name, '.');
    int i, found = 0;

    for (i = 0; js && i < js->n; i++) {
        host_job *j = js->v[i];
        size_t pl = strlen(j->plugin->name);
        int match = dot ? (size_t)(dot - name) == pl && strncmp(name, j->plugin->name, pl) == 0 &&
                              strcmp(dot + 1, j->name) == 0
                        : strcmp(name, j->name) == 0;
        if (!match)
            continue;
        if (found++)
            return -1;
        *plugin = j->plugin;
        *job = j->name;
        *per_tenant = j->per_tenant;
    }
    return found;
}

/* ---- the API ------------------------------------------------------------------------ */

int host_api_job_schedule(tn_plugin *self, const tn_job_spec *spec, tn_job_fn fn, void *ud)
{
    host_worker *w = self ? self->worker : NULL;
    host_jobs *js;
    host_job *j = NULL, **v;
    char err[160];
    int i;

    if (!self)
        return TN_EINVAL;
    if (!w || !w->initializing)
        return host_plugin_fail(self, TN_ESTATE, "job_schedule: only from init()");
    if (!spec || spec->size < offsetof(tn_job_spec, reserved) || !fn ||
        !host_job_name_valid(spec->name))
        return host_plugin_fail(self, TN_EINVAL,
                                "job_schedule: needs a spec, a function and a name "
                                "[a-z][a-z0-9_]{0,47}");
    if (!(js = jobs_of(w)))
        return host_plugin_fail(self, TN_ENOMEM, "job_schedule: out of memory");
    for (i = 0; i < js->n; i++)
        if (js->v[i]->plugin == self && strcmp(js->v[i]->name, spec->name) == 0)
            return host_plugin_fail(self, TN_EEXIST, "job_schedule: job \"%s\" exists", spec->name);
    if (!(j = calloc(1, sizeof *j)))
        return host_plugin_fail(self, TN_ENOMEM, "job_schedule: out of memory");
    if (host_sched_init(&j->sched, spec->every_s, spec->at, spec->tz, err, sizeof err) != 0) {
        free(j);
        return host_plugin_fail(self, TN_EINVAL, "job_schedule: %s: %s", spec->name, err);
    }
    if (!(v = realloc(js->v, (size_t)(js->n + 1) * sizeof *v))) {
        host_sched_free(&j->sched);
        free(j);
        return host_plugin_fail(self, TN_ENOMEM, "job_schedule: out of memory");
    }
    js->v = v;
    j->plugin = self;
    snprintf(j->name, sizeof j->name, "%s", spec->name);
    j->per_tenant = spec->per_tenant != 0;
    j->lease_s = spec->lease_s ? spec->lease_s : JOBS_LEASE_DEFAULT;
    j->fn = fn;
    j->ud = ud;
    if (w->metrics) {
        char labels[160];
        snprintf(labels, sizeof labels, "plugin=\"%s\",job=\"%s\",result=\"ok\"", self->name,
                 j->name);
        j->ok = host_metrics_series(w->metrics, "tanomu_job_runs_total", labels);
        snprintf(labels, sizeof labels, "plugin=\"%s\",job=\"%s\",result=\"failed\"", self->name,
                 j->name);
        j->failed = host_metrics_series(w->metrics, "tanomu_job_runs_total", labels);
        snprintf(labels, sizeof labels, "plugin=\"%s\",job=\"%s\"", self->name, j->name);
        j->lag = host_metrics_series(w->metrics, "tanomu_job_lag_seconds", labels);
    }
    js->v[js->n++] = j;
    return TN_OK;
}

const char *host_api_job_tenant(const tn_job_run *run)
{
    return run ? run->tenant : NULL;
}

int64_t host_api_job_tick(const tn_job_run *run)
{
    return run ? run->tick : 0;
}

void host_api_job_done(tn_job_run *run, int ok, const char *error)
{
    if (!run || run->ended)
        return;
    run->ended = 1;
    if (run->in_fn) { /* ended when the function returns */
        run->ok = ok;
        run->error = error ? strndup(error, JOBS_ERROR_MAX) : NULL;
        return;
    }
    run_end(run, ok, error);
}

int host_api_job_history(tn_tx *tx, tn_plugin *self, const char *job, int limit, tn_tx_fn cb,
                         void *ud)
{
    static const char sql[] = HOST_JOB_HISTORY_SQL;
    char n[16];
    const char *p[3];

    if (!self)
        return TN_EINVAL;
    if (!tx || !cb || limit <= 0 || (job && !host_job_name_valid(job)))
        return host_plugin_fail(self, TN_EINVAL,
                                "job_history: needs a transaction, a callback, limit > 0 and a "
                                "valid job name or NULL");
    snprintf(n, sizeof n, "%d", limit > 1000 ? 1000 : limit);
    p[0] = self->name;
    p[1] = job;
    p[2] = n;
    return host_api_tx_query(tx, sql, 3, p, cb, ud);
}
