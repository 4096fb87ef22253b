/*
 * worker.c - the life of a worker process: load a generation, report
 * ready, serve, drain, exit.
 *
 * The worker tells the master how its start went over a pipe: "R" when it
 * serves, "E" followed by the error lines when it cannot.  That is how a
 * reload learns that every new worker is ready before the old ones are
 * told to leave.
 */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "database.h"
#include "generation.h"
#include "log.h"
#include "outbound_api.h"
#include "outbox.h"
#include "jobs.h"
#include "pipeline.h"
#include "settings.h"
#include "tls.h"

/* ---- the worker process --------------------------------------------------- */

static void write_status(int fd, const char *s, size_t n)
{
    while (fd >= 0 && n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void stop_loop(host_worker *w)
{
    if (w->exiting)
        return;
    w->exiting = 1;
    uv_stop(w->loop);
}

static void on_idle_server(host_server *srv)
{
    stop_loop(srv->ctx);
}

static void on_drain_timeout(uv_timer_t *t)
{
    host_worker *w = t->data;

    host_log(HOST_LOG_WARN, "drain timeout: closing %d connection(s)", w->srv.nconns);
    host_server_close_all(&w->srv);
    stop_loop(w);
}

static void begin_drain(host_worker *w)
{
    if (w->srv.draining)
        return;
    uv_timer_start(&w->drain_timer, on_drain_timeout, w->conf.server.drain_timeout_ms, 0);
    host_outbox_stop(w); /* the new generation takes over the events */
    host_jobs_stop(w);
    host_server_drain(&w->srv);
    /* After the drain closed our listeners: the master announces a reload
     * done when every old worker says 0 here. */
    if (w->slot)
        __atomic_store_n(&w->slot->accepting, 0, __ATOMIC_RELAXED);
}

static void on_signal(uv_signal_t *s, int signum)
{
    host_worker *w = s->data;

    if (signum == SIGHUP)
        return; /* reloads are the master's business */
    begin_drain(w);
}

/* Four times a second: readiness for the master's /readyz, and the pool's
 * figures for /metrics (A4). */
static void on_db_watch(uv_timer_t *t)
{
    static const char *const states[] = {"idle", "busy", "connecting", "down"};
    host_worker *w = t->data;
    host_db_stats st;
    int64_t v[4];
    char labels[64];
    int i;

    if (w->slot)
        __atomic_store_n(&w->slot->db_state,
                         !w->conf.server.db.url   ? 0
                         : host_database_ready(w) ? 2
                                                  : 1,
                         __ATOMIC_RELAXED);
    if (!w->db || !w->metrics)
        return;
    host_db_get_stats(w->db, &st);
    v[0] = st.idle;
    v[1] = st.busy;
    v[2] = st.connecting;
    v[3] = st.down;
    for (i = 0; i < 4; i++) {
        snprintf(labels, sizeof labels, "worker=\"%d\",state=\"%s\"", w->slot_index, states[i]);
        host_series_set(host_metrics_series(w->metrics, "tanomu_db_pool_connections", labels),
                        v[i]);
    }
    snprintf(labels, sizeof labels, "worker=\"%d\"", w->slot_index);
    host_series_set(host_metrics_series(w->metrics, "tanomu_db_pool_waiting", labels), st.waiting);
    host_series_set(host_metrics_series(w->metrics, "tanomu_db_pool_rejected_total", labels),
                    (int64_t)(st.rejected + st.timed_out));
}

/* Before each wait for events: flush the log, and beat the heartbeat the
 * other workers' balancing reads (a worker that stops turning is ignored
 * by it, see host_metrics_min_conns). */
static void on_prepare(uv_prepare_t *p)
{
    host_worker *w = p->data;

    if (w->slot)
        __atomic_store_n(&w->slot->tick_ms, (int64_t)(host_now_ns() / 1000000), __ATOMIC_RELAXED);
    host_log_flush();
}

static int start_listeners(host_worker *w, const host_worker_args *a, host_errors *errs)
{
    char err[256];
    int i;

    w->srv.tls = a->tls;
    if (a->ntls > 0 && !w->srv.tls) {
        w->srv.tls = host_tls_ctx_new(w->conf.server.tls_cert, w->conf.server.tls_key, err,
                                      sizeof err);
        if (!w->srv.tls) {
            host_errors_add(errs, w->conf.path, 0, "tls: %s", err);
            return -1;
        }
    }
    for (i = 0; i < a->nlisten; i++)
        if (host_server_add_listener(&w->srv, a->listen_fds[i], 0, 1) != 0)
            return -1;
    for (i = 0; i < a->ntls; i++)
        if (host_server_add_listener(&w->srv, a->tls_fds[i], 1, 1) != 0)
            return -1;
    return 0;
}

/* The master learns why this worker will not serve: "E" and the lines. */
static void report_start_failure(host_worker *w, const host_errors *errs)
{
    char *text = host_errors_join(errs);

    write_status(w->status_fd, "E", 1);
    if (text)
        write_status(w->status_fd, text, strlen(text));
    free(text);
}

static void report_load_errors(const host_errors *errs, int level)
{
    int i;

    for (i = 0; i < errs->count; i++)
        host_log(level, "%s", errs->items[i]);
}

static void count_load_failures(host_worker *w)
{
    host_series_add(host_metrics_series(w->metrics, "tanomu_plugin_load_failures_total", ""),
                    w->plugins.nrefused);
}

int host_worker_main(const host_worker_args *a)
{
    host_worker *w = calloc(1, sizeof *w);
    uv_loop_t *loop = calloc(1, sizeof *loop);
    host_errors errs;
    int rc = 1;

    host_errors_init(&errs);
    if (!w || !loop || uv_loop_init(loop) != 0)
        goto out;
    host_keyring_lock(a->snap->keyring); /* the master's lock did not fork */
    w->status_fd = a->status_fd;
    w->metrics = a->metrics;
    w->slot_index = a->slot_index;
    w->slot = host_metrics_slot(a->metrics, a->slot_index);
    w->generation = a->generation;
    w->limit_region = a->limits;
    w->check_schema = 1;
    if (host_generation_load(w, loop, a->snap, a->strict, &errs) != 0) {
        report_start_failure(w, &errs);
        goto out;
    }
    host_log_setup(w->conf.server.log_level, 1, "worker");
    if (!a->quiet_load_errors) /* secrets in plain text: one worker says so */
        report_load_errors(&w->conf.server.secrets.warnings, HOST_LOG_WARN);
    if (errs.count > 0 && !a->quiet_load_errors) {
        report_load_errors(&errs, HOST_LOG_ERROR);
        count_load_failures(w);
    }
    host_server_init(&w->srv, loop, &w->conf.server.limits);
    w->srv.ctx = w;
    w->srv.dispatch = host_pipeline_dispatch;
    w->srv.complete = host_pipeline_complete;
    w->srv.idle = on_idle_server;
    w->srv.metrics = w->metrics;
    w->srv.slot = w->slot;
    w->srv.generation = w->generation;
    host_errors_free(&errs);
    host_errors_init(&errs);
    if (start_listeners(w, a, &errs) != 0) {
        report_start_failure(w, &errs);
        goto out;
    }
    if (host_database_open(w) != 0) {
        host_errors_add(&errs, w->conf.path, 0, "database: bad pool options");
        report_start_failure(w, &errs);
        goto out;
    }
    if (host_calls_open(w) != 0) {
        host_errors_add(&errs, w->conf.path, 0, "outbound: cannot set up the curl multi handle");
        report_start_failure(w, &errs);
        goto out;
    }
    w->srv.aborted = host_calls_request_aborted;
    host_outbox_start(w);
    host_jobs_start(w);
    uv_timer_init(loop, &w->db_watch);
    w->db_watch.data = w;
    on_db_watch(&w->db_watch); /* the slot is right before we say ready */
    uv_timer_start(&w->db_watch, on_db_watch, 250, 250);
    uv_timer_init(loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_prepare_init(loop, &w->log_flush);
    w->log_flush.data = w;
    uv_prepare_start(&w->log_flush, on_prepare);
    uv_signal_init(loop, &w->sig_term);
    uv_signal_init(loop, &w->sig_int);
    uv_signal_init(loop, &w->sig_hup);
    w->sig_term.data = w->sig_int.data = w->sig_hup.data = w;
    uv_signal_start(&w->sig_term, on_signal, SIGTERM);
    uv_signal_start(&w->sig_int, on_signal, SIGINT);
    uv_signal_start(&w->sig_hup, on_signal, SIGHUP);
    if (w->slot) {
        __atomic_store_n(&w->slot->generation, w->generation, __ATOMIC_RELAXED);
        __atomic_store_n(&w->slot->conns_open, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&w->slot->tick_ms, (int64_t)(host_now_ns() / 1000000), __ATOMIC_RELAXED);
        __atomic_store_n(&w->slot->accepting, 1, __ATOMIC_RELAXED);
    }
    write_status(w->status_fd, "R", 1);
    w->serving = 1;
    uv_run(loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    host_log_flush();
    if (w && w->slot)
        __atomic_store_n(&w->slot->accepting, 0, __ATOMIC_RELAXED);
    if (w && loop) {
        /* The database goes before the plugins: its last callbacks (with
         * errors) still run plugin code. */
        host_outbox_stop(w);
        host_jobs_stop(w);
        if (w->srv.loop)
            host_server_close(&w->srv);
        host_database_close(w);
        uv_run(loop, UV_RUN_NOWAIT);
        uv_run(loop, UV_RUN_NOWAIT);
        host_calls_stop(w); /* TN_ECANCELED callbacks before fini() */
        host_generation_unload(w);
        host_calls_close(w);
        host_outbox_free(w);
        uv_walk(loop, walk_close, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
    }
    host_log_flush();
    host_errors_free(&errs);
    free(loop);
    free(w);
    return rc;
}
