/*
 * jobs.c - scheduled jobs (job_schedule & co) on the virtual clock, as the
 * host's host/runtime/jobs.c runs them on one worker with an empty
 * job_runs table.
 *
 * The kit's wall clock is tk_unix_time(): the virtual clock (from 0, the
 * Unix epoch) unless tk_set_unix_time() put it elsewhere.  Ticks are the
 * host's own (host/core/schedule.c, compiled in).  As on the host a job's
 * first run is its latest tick at or before the wall clock, at the first
 * tk_advance_ms() after init() (a fresh database: nothing ran it yet);
 * after that tk_advance_ms() runs every tick it passes, in order, once
 * (a host whose loop is never held up).  A per-tenant job runs once per
 * tenant that enables the plugin.  Every run is kept in the kit's history
 * (tk_job_at), and job_history() is answered from it, through the fake
 * database like any statement of the transaction, with the host's RLS:
 * a transaction bound to a tenant sees that tenant's runs, one bound to
 * no tenant the global jobs' runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schedule.h"
#include "tk_internal.h"

typedef struct tk_job {
    tk_kit *tk;
    tn_plugin *plugin;
    char name[HOST_JOB_NAME_MAX + 1];
    host_sched sched;
    int per_tenant;
    tn_job_fn fn;
    void *ud;
    tn_timer *timer;
    int64_t last; /* the last tick run; INT64_MIN before the first */
} tk_job;

typedef struct tk_job_rec {
    tk_job_entry view;
    char *tenant;
    char *error;
} tk_job_rec;

struct tn_job_run {
    tk_job *job;
    tk_job_rec *rec;
    char *tenant;
    int64_t tick;
    int in_fn;
    int ended;
    int ok;
    char *error;
};

struct tk_jobs {
    tk_list jobs;    /* tk_job * */
    tk_list runs;    /* tk_job_rec *, oldest first */
    tk_list open;    /* tn_job_run *, suspended */
    int64_t base_ms; /* wall clock = base_ms + now_ms */
};

static tk_jobs *jobs_of(tk_kit *tk)
{
    if (tk->jobs == NULL)
        tk->jobs = calloc(1, sizeof *tk->jobs);
    return tk->jobs;
}

int64_t tk_unix_time(const tk_kit *tk)
{
    int64_t ms = (tk->jobs ? tk->jobs->base_ms : 0) + (int64_t)tk->now_ms;
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* ---- runs ------------------------------------------------------------------ */

static void stamp(char *out, size_t cap, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void run_end(tn_job_run *r, int ok, const char *error)
{
    tk_kit *tk = r->job->tk;
    tk_job_rec *rec = r->rec;

    rec->view.result = ok ? "ok" : "failed";
    free(rec->error);
    rec->error = NULL;
    if (!ok)
        rec->error = tk_strdup(error && *error ? error : "failed");
    else if (error && *error)
        rec->error = tk_strdup(error);
    rec->view.error = rec->error;
    rec->view.ended = tk_unix_time(tk);
    for (size_t i = 0; i < tk->jobs->open.n; i++)
        if (tk->jobs->open.items[i] == r)
            tk_list_remove_at(&tk->jobs->open, i);
    free(r->error);
    free(r->tenant);
    free(r);
}

static void run_one(tk_job *j, const char *tenant, int64_t tick, int manual)
{
    tk_kit *tk = j->tk;
    tk_job_rec *rec = calloc(1, sizeof *rec);
    tn_job_run *r = calloc(1, sizeof *r);
    tn_plugin *saved;
    tn_status st;

    if (rec == NULL || r == NULL || (tenant && (rec->tenant = tk_strdup(tenant)) == NULL) ||
        (tenant && (r->tenant = tk_strdup(tenant)) == NULL) ||
        tk_list_push(&tk->jobs->runs, rec) != TN_OK) {
        tk_log_kit(tk, TN_LOG_ERROR, "job %s: out of memory", j->name);
        if (rec)
            free(rec->tenant);
        free(rec);
        if (r)
            free(r->tenant);
        free(r);
        return;
    }
    rec->view.plugin = j->plugin->desc.name;
    rec->view.job = j->name;
    rec->view.tenant = rec->tenant;
    rec->view.tick = tick;
    rec->view.manual = manual;
    rec->view.result = "running";
    rec->view.started = tk_unix_time(tk);
    r->job = j;
    r->rec = rec;
    r->tick = tick;
    r->in_fn = 1;
    tk_enter(tk, j->plugin, &saved);
    st = j->fn(j->plugin, r, j->ud);
    tk_leave(tk, saved);
    r->in_fn = 0;
    if (r->ended) {
        run_end(r, r->ok, r->error);
    } else if (st == TN_SUSPEND) {
        if (tk_list_push(&tk->jobs->open, r) != TN_OK)
            run_end(r, 0, "out of memory");
    } else if (st == TN_ERROR) {
        r->ended = 1;
        run_end(r, 0,
                j->plugin->last_error[0] ? j->plugin->last_error : "the job returned TN_ERROR");
    } else {
        r->ended = 1;
        run_end(r, 1, NULL);
    }
}

/* One tick: the job once, or once per enabling tenant. */
static void run_tick(tk_job *j, const char *only_tenant, int64_t tick, int manual)
{
    tk_kit *tk = j->tk;

    if (!j->per_tenant) {
        run_one(j, NULL, tick, manual);
        return;
    }
    if (tk->live == NULL)
        return;
    for (size_t i = 0; i < tk->live->features.n; i++) {
        const tk_feature *f = tk->live->features.items[i];
        if (f->plugin == j->plugin && f->enabled &&
            (only_tenant == NULL || strcmp(only_tenant, f->tenant) == 0))
            run_one(j, f->tenant, tick, manual);
    }
}

/* ---- the clock ------------------------------------------------------------------ */

static void on_timer(tn_plugin *unused, void *ud);

static void arm(tk_job *j)
{
    tk_kit *tk = j->tk;
    int64_t now = tk_unix_time(tk), next, wall_ms;

    j->timer = NULL;
    if (j->last == INT64_MIN) {
        j->timer = tk_timer_kit(tk, 0, on_timer, j); /* the latest tick, at the first advance */
        return;
    }
    next = host_sched_next(&j->sched, j->last > now ? j->last : now);
    wall_ms = tk->jobs->base_ms + (int64_t)tk->now_ms;
    j->timer = tk_timer_kit(tk, next * 1000 > wall_ms ? (uint64_t)(next * 1000 - wall_ms) : 0,
                            on_timer, j);
}

static void on_timer(tn_plugin *unused, void *ud)
{
    tk_job *j = ud;
    int64_t tick = host_sched_prev(&j->sched, tk_unix_time(j->tk));

    (void)unused;
    if (j->plugin->failed) /* init() refused: no jobs, as on the host */
        return;
    if (tick > j->last) {
        j->last = tick;
        run_tick(j, NULL, tick, 0);
    }
    arm(j);
}

void tk_set_unix_time(tk_kit *tk, int64_t unix_s)
{
    tk_jobs *js = jobs_of(tk);

    if (js == NULL)
        return;
    js->base_ms = unix_s * 1000 - (int64_t)tk->now_ms;
    for (size_t i = 0; i < js->jobs.n; i++) {
        tk_job *j = js->jobs.items[i];
        if (j->timer)
            tk_api_timer_stop(j->timer);
        arm(j);
    }
}

/* ---- the API ------------------------------------------------------------------------ */

int tk_api_job_schedule(tn_plugin *self, const tn_job_spec *spec, tn_job_fn fn, void *ud)
{
    tk_kit *tk = self ? self->tk : NULL;
    tk_jobs *js;
    tk_job *j;
    char err[160];

    if (tk == NULL)
        return TN_EINVAL;
    if (tk->registering != self)
        return tk_plugin_fail(self, TN_ESTATE, "job_schedule: only from init()");
    if (spec == NULL || spec->size < offsetof(tn_job_spec, reserved) || fn == NULL ||
        !host_job_name_valid(spec->name))
        return tk_plugin_fail(self, TN_EINVAL,
                              "job_schedule: needs a spec, a function and a name "
                              "[a-z][a-z0-9_]{0,47}");
    if ((js = jobs_of(tk)) == NULL)
        return tk_plugin_fail(self, TN_ENOMEM, "job_schedule: out of memory");
    for (size_t i = 0; i < js->jobs.n; i++) {
        const tk_job *o = js->jobs.items[i];
        if (o->plugin == self && strcmp(o->name, spec->name) == 0)
            return tk_plugin_fail(self, TN_EEXIST, "job_schedule: job \"%s\" exists", spec->name);
    }
    if ((j = calloc(1, sizeof *j)) == NULL)
        return tk_plugin_fail(self, TN_ENOMEM, "job_schedule: out of memory");
    if (host_sched_init(&j->sched, spec->every_s, spec->at, spec->tz, err, sizeof err) != 0) {
        free(j);
        return tk_plugin_fail(self, TN_EINVAL, "job_schedule: %s: %s", spec->name, err);
    }
    j->tk = tk;
    j->plugin = self;
    snprintf(j->name, sizeof j->name, "%s", spec->name);
    j->per_tenant = spec->per_tenant != 0;
    j->fn = fn;
    j->ud = ud;
    j->last = INT64_MIN;
    if (tk_list_push(&js->jobs, j) != TN_OK) {
        host_sched_free(&j->sched);
        free(j);
        return tk_plugin_fail(self, TN_ENOMEM, "job_schedule: out of memory");
    }
    arm(j);
    return TN_OK;
}

const char *tk_api_job_tenant(const tn_job_run *run)
{
    return run ? run->tenant : NULL;
}

int64_t tk_api_job_tick(const tn_job_run *run)
{
    return run ? run->tick : 0;
}

void tk_api_job_done(tn_job_run *run, int ok, const char *error)
{
    if (run == NULL || run->ended)
        return;
    run->ended = 1;
    if (run->in_fn) { /* ended when the function returns */
        run->ok = ok;
        run->error = error ? tk_strdup(error) : NULL;
        return;
    }
    run_end(run, ok, error);
}

int tk_api_job_history(tn_tx *tx, tn_plugin *self, const char *job, int limit, tn_tx_fn cb,
                       void *ud)
{
    char n[16];
    const char *p[3];

    if (self == NULL)
        return TN_EINVAL;
    if (tx == NULL || cb == NULL || limit <= 0 || (job && !host_job_name_valid(job)))
        return tk_plugin_fail(self, TN_EINVAL,
                              "job_history: needs a transaction, a callback, limit > 0 and a "
                              "valid job name or NULL");
    snprintf(n, sizeof n, "%d", limit > 1000 ? 1000 : limit);
    p[0] = self->desc.name;
    p[1] = job;
    p[2] = n;
    return tk_api_tx_query(tx, HOST_JOB_HISTORY_SQL, 3, p, cb, ud);
}

int tk_jobs_answer(tk_kit *tk, const char *tenant, const char *sql, int nparams,
                   const char *const *params, tn_db_result *res)
{
    tk_jobs *js = tk->jobs;
    char tick[24], started[32], ended[32];
    int limit, rows = 0;

    if (strcmp(sql, HOST_JOB_HISTORY_SQL) != 0 || nparams != 3)
        return 0;
    limit = atoi(params[2]);
    tk_db_columns(res, 7, "job", "tenant_id", "tick", "started_at", "ended_at", "result", "error");
    for (size_t i = js ? js->runs.n : 0; i > 0 && rows < limit; i--) {
        const tk_job_rec *r = js->runs.items[i - 1];
        const tk_job_entry *v = &r->view;
        int same_tenant = tenant && *tenant ? (v->tenant && strcmp(v->tenant, tenant) == 0)
                                            : v->tenant == NULL;
        if (strcmp(v->plugin, params[0]) != 0 || (params[1] && strcmp(v->job, params[1]) != 0) ||
            !same_tenant)
            continue;
        snprintf(tick, sizeof tick, "%lld", (long long)v->tick);
        stamp(started, sizeof started, v->started);
        stamp(ended, sizeof ended, v->ended);
        tk_db_row(res, v->job, v->tenant, tick, started, v->ended ? ended : NULL, v->result,
                  v->error);
        rows++;
    }
    return 1;
}

/* ---- for the test ------------------------------------------------------------------------ */

int tk_job_run(tk_kit *tk, const char *name, const char *tenant)
{
    tk_jobs *js = tk->jobs;
    const char *dot = name ? strchr(name, '.') : NULL;
    tk_job *found = NULL;

    if (name == NULL)
        return TN_EINVAL;
    tk_settings_apply(tk);
    for (size_t i = 0; js && i < js->jobs.n; i++) {
        tk_job *j = js->jobs.items[i];
        size_t pl = strlen(j->plugin->desc.name);
        int match = dot ? (size_t)(dot - name) == pl &&
                              strncmp(name, j->plugin->desc.name, pl) == 0 &&
                              strcmp(dot + 1, j->name) == 0
                        : strcmp(name, j->name) == 0;
        if (match) {
            if (found)
                return TN_EINVAL; /* ambiguous: name it plugin.job */
            found = j;
        }
    }
    if (found == NULL)
        return TN_ENOTFOUND;
    if (found->per_tenant != (tenant != NULL) ||
        (tenant && !tk_enabled(tk->live, found->plugin, tenant)))
        return TN_EINVAL;
    run_tick(found, tenant, tk_unix_time(tk), 1);
    return TN_OK;
}

size_t tk_job_count(const tk_kit *tk)
{
    return tk->jobs ? tk->jobs->runs.n : 0;
}

const tk_job_entry *tk_job_at(const tk_kit *tk, size_t i)
{
    if (tk->jobs == NULL || i >= tk->jobs->runs.n)
        return NULL;
    return &((const tk_job_rec *)tk->jobs->runs.items[i])->view;
}

void tk_jobs_free(tk_kit *tk)
{
    tk_jobs *js = tk->jobs;

    if (js == NULL)
        return;
    for (size_t i = 0; i < js->open.n; i++) { /* suspended runs never ended */
        tn_job_run *r = js->open.items[i];
        free(r->error);
        free(r->tenant);
        free(r);
    }
    tk_list_clear(&js->open);
    for (size_t i = 0; i < js->runs.n; i++) {
        tk_job_rec *r = js->runs.items[i];
        free(r->tenant);
        free(r->error);
        free(r);
    }
    tk_list_clear(&js->runs);
    for (size_t i = 0; i < js->jobs.n; i++) {
        tk_job *j = js->jobs.items[i];
        host_sched_free(&j->sched);
        free(j);
    }
    tk_list_clear(&js->jobs);
    free(js);
    tk->jobs = NULL;
}
