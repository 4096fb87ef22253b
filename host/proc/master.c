/*
 * master.c - the master process: opens the listening sockets once, forks
 * and watches the workers, runs reloads and graceful stops, and serves the
 * admin listener (/healthz, /readyz, /metrics).
 *
 * The master never loads plugins: a plugin that crashes can only take a
 * worker with it, and the master names the plugin and route the worker was
 * running (from the worker's slot in shared memory) and starts another.
 *
 * A reload starts a whole new generation of workers next to the old one.
 * Only when every new worker has said it is ready are the old ones asked
 * to drain; if any new worker fails, or the reload takes too long, the new
 * ones are killed and the old generation never noticed.  The listening
 * sockets stay open in the master throughout, so no connection is refused.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "admin.h"
#include "config.h"
#include "http_server.h"
#include "limit_region.h"
#include "log.h"
#include "metrics.h"
#include "reload_status.h"
#include "tls.h"
#include "worker.h"

#define MAX_LISTEN 16
#define METRIC_SERIES 16384
#define CRASH_LOOP_MS 1000

typedef struct host_child {
    pid_t pid;
    int64_t generation;
    int ready;
    int failed;   /* start failed: errors in msg */
    int retiring; /* asked to drain */
    int discard;  /* killed by us: not a crash */
    uint64_t started_ms;
    uv_pipe_t pipe;
    int pipe_open;
    host_buf msg;
} host_child;

typedef struct host_master {
    uv_loop_t *loop;
    const char *conf_path;
    host_snapshot snap;
    host_config conf;
    host_metrics *metrics;
    int listen_fds[MAX_LISTEN];
    int nlisten;
    int tls_fds[MAX_LISTEN];
    int ntls;
    int admin_fd;
    host_tls_ctx *tls;     /* made here, so all workers share session keys */
    host_tls_ctx *new_tls; /* the reload's, until it serves */
    host_server admin;
    host_admin pages; /* the admin server's ctx */
    host_child children[HOST_MAX_WORKER_SLOTS];
    int64_t generation;
    int nworkers;
    int started;       /* first generation is up */
    int quick_crashes; /* workers that died soon after start, in a row */
    int exit_code;

    int reloading;
    int reload_pending;
    int64_t reload_gen;
    int64_t last_gen; /* highest generation ever started: never reused */
    int reload_workers;
    host_snapshot new_snap;
    host_config new_conf;
    uint64_t reload_begun_ns;
    host_errors reload_errs;
    uv_timer_t reload_timer;
    /* A successful reload is announced (status file) only once every old
     * worker has stopped accepting: `tanomu reload` returning means the
     * next connection meets the new configuration. */
    int ok_pending;
    uint64_t ok_begun_ns;
    int64_t ok_gen;
    uint64_t ok_deadline_ms;
    uv_timer_t retire_timer;

    int stopping;
    uv_timer_t stop_timer;
    uv_timer_t restart_timer;
    uv_signal_t sig_chld, sig_hup, sig_term, sig_int;
    char *status_path;
    host_limit_region *limits; /* rate-limit zones, kept across reloads */
} host_master;

static void start_reload(host_master *m);
static int tls_open(const host_config *conf, host_tls_ctx **out, host_errors *errs);
static void spawn(host_master *m, int slot, int64_t gen, const host_snapshot *snap,
                  host_tls_ctx *tls, int strict);

static uint64_t now_ms(void)
{
    return host_now_ns() / 1000000;
}

static void count(host_master *m, const char *family, const char *labels, int64_t n)
{
    host_series_add(host_metrics_series(m->metrics, family, labels), n);
}

/* The reload status file that `tanomu reload` waits on. */
static void write_status(host_master *m, const char *state, const char *errors)
{
    host_reload_status st = {m->reload_begun_ns, "", m->generation, (char *)errors};

    if (!m->status_path)
        return;
    snprintf(st.state, sizeof st.state, "%s", state);
    if (host_reload_status_write(m->status_path, &st) != 0)
        host_log(HOST_LOG_WARN, "cannot write the reload status file %s", m->status_path);
}

/* The OK of the reload begun at ok_begun_ns, once no worker of an older
 * generation accepts (or after a bound: a wedged old worker must not hold
 * the operator's command forever; the master kills it at drain timeout). */
static void announce_ok_if_retired(host_master *m, int force)
{
    host_reload_status st = {m->ok_begun_ns, "", m->ok_gen, NULL};
    int i;

    if (!m->ok_pending)
        return;
    for (i = 0; i < HOST_MAX_WORKER_SLOTS && !force && now_ms() < m->ok_deadline_ms; i++) {
        const host_child *c = &m->children[i];
        host_worker_slot *ws = host_metrics_slot(m->metrics, i);
        if (c->pid && c->retiring && __atomic_load_n(&ws->accepting, __ATOMIC_RELAXED))
            return;
    }
    m->ok_pending = 0;
    uv_timer_stop(&m->retire_timer);
    if (!m->status_path)
        return;
    snprintf(st.state, sizeof st.state, "%s", HOST_RELOAD_OK);
    if (host_reload_status_write(m->status_path, &st) != 0)
        host_log(HOST_LOG_WARN, "cannot write the reload status file %s", m->status_path);
}

static void on_retire_poll(uv_timer_t *t)
{
    announce_ok_if_retired(t->data, 0);
}

static void announce_ok(host_master *m)
{
    m->ok_pending = 1;
    m->ok_begun_ns = m->reload_begun_ns;
    m->ok_gen = m->generation;
    m->ok_deadline_ms = now_ms() + 2000;
    announce_ok_if_retired(m, 0);
    if (m->ok_pending)
        uv_timer_start(&m->retire_timer, on_retire_poll, 2, 2);
}

/* ---- workers -------------------------------------------------------------- */

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void child_reset(host_master *m, int slot)
{
    host_child *c = &m->children[slot];
    host_worker_slot *ws = host_metrics_slot(m->metrics, slot);

    host_buf_free(&c->msg);
    memset(c, 0, sizeof *c);
    __atomic_store_n(&ws->pid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ws->accepting, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ws->conns_open, 0, __ATOMIC_RELAXED);
    ws->running[0] = '\0';
    ws->tenant[0] = '\0';
}

static int free_slot(host_master *m)
{
    int i;

    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++)
        if (m->children[i].pid == 0 && !m->children[i].pipe_open)
            return i;
    return -1;
}

static void reload_finish(host_master *m, int ok);

static void on_pipe_closed(uv_handle_t *h)
{
    host_child *c = h->data;

    c->pipe_open = 0;
    if (!c->pid)
        host_buf_free(&c->msg); /* reaped already: the slot is free now */
}

/* Says in the log which tenants the generation now serving closes for
 * maintenance (core/maintenance.h), so the switch is visible where
 * operators look after a reload. */
static void log_maintenance(const host_master *m)
{
    int i;

    if (m->conf.maint.enabled)
        host_log(HOST_LOG_WARN, "maintenance mode on for every tenant (retry after %s s)",
                 m->conf.maint.retry_after);
    for (i = 0; i < m->conf.ntenants; i++)
        if (m->conf.tenants[i].maint.enabled)
            host_log(HOST_LOG_WARN, "maintenance mode on for tenant %s (retry after %s s)",
                     m->conf.tenants[i].id ? m->conf.tenants[i].id : "?",
                     m->conf.tenants[i].maint.retry_after);
}

static void child_started(host_master *m, host_child *c)
{
    int i, ready = 0, total = 0;

    (void)c;
    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++) {
        host_child *x = &m->children[i];
        if (x->pid && !x->discard &&
            x->generation == (m->reloading ? m->reload_gen : m->generation)) {
            total++;
            ready += x->ready;
        }
    }
    if (ready < (m->reloading ? m->reload_workers : m->nworkers) || ready < total)
        return;
    if (m->reloading) {
        reload_finish(m, 1);
    } else if (!m->started) {
        m->started = 1;
        host_log(HOST_LOG_INFO, "serving: %d worker(s), generation %lld", m->nworkers,
                 (long long)m->generation);
        log_maintenance(m);
        if (m->reload_pending) {
            m->reload_pending = 0;
            start_reload(m);
        }
    }
}

/* A start failed: at first start the server gives up, during a reload the
 * reload does. */
static void child_failed(host_master *m, host_child *c)
{
    if (c->discard)
        return; /* we killed it: its reload is over already */
    if (m->reloading && c->generation == m->reload_gen) {
        host_errors_add(&m->reload_errs, NULL, 0, "%s",
                        c->msg.data && c->msg.len ? c->msg.data : "worker failed to start");
        reload_finish(m, 0);
        return;
    }
    if (!m->started) {
        host_log(HOST_LOG_ERROR, "worker failed to start:\n%s", c->msg.data ? c->msg.data : "");
        if (c->msg.data)
            fputs(c->msg.data, stderr);
        m->exit_code = 1;
        m->stopping = 1;
        for (int i = 0; i < HOST_MAX_WORKER_SLOTS; i++)
            if (m->children[i].pid)
                kill(m->children[i].pid, SIGKILL);
        uv_stop(m->loop);
    }
}

static void on_status_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static char chunk[4096];

    (void)h;
    (void)size;
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void on_status_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    host_child *c = s->data;
    host_master *m = s->loop->data;

    if (n > 0) {
        const char *p = buf->base;
        if (!c->ready && !c->failed && p[0] == 'R') {
            c->ready = 1;
            child_started(m, c);
            return;
        }
        if (!c->ready && !c->failed && p[0] == 'E') {
            c->failed = 1;
            p++;
            n--;
        }
        host_buf_append(&c->msg, p, (size_t)n);
        return;
    }
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_pipe_closed);
        if (!c->ready) {
            c->failed = 1;
            child_failed(m, c);
        }
    }
}

/* In the child: drop the master's loop (the documented way after fork) and
 * become a worker. */
static void become_worker(host_master *m, int slot, int64_t gen, const host_snapshot *snap,
                          host_tls_ctx *tls, int strict, int status_fd)
{
    host_worker_args a;
    int rc;

    uv_loop_fork(m->loop);
    uv_walk(m->loop, walk_close, NULL);
    uv_run(m->loop, UV_RUN_NOWAIT);
    if (m->admin_fd >= 0)
        close(m->admin_fd);
    memset(&a, 0, sizeof a);
    a.snap = snap;
    a.metrics = m->metrics;
    a.slot_index = slot;
    a.generation = gen;
    a.strict = strict;
    a.quiet_load_errors = strict || m->started || slot != 0 || gen != 1;
    a.status_fd = status_fd;
    a.listen_fds = m->listen_fds;
    a.nlisten = m->nlisten;
    a.tls_fds = m->tls_fds;
    a.ntls = m->ntls;
    a.tls = tls;
    a.limits = m->limits;
    host_log_setup(HOST_LOG_INFO, 0, "worker");
    rc = host_worker_main(&a);
    _exit(rc);
}

static void spawn(host_master *m, int slot, int64_t gen, const host_snapshot *snap,
                  host_tls_ctx *tls, int strict)
{
    host_child *c = &m->children[slot];
    host_worker_slot *ws = host_metrics_slot(m->metrics, slot);
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        host_log(HOST_LOG_ERROR, "pipe: %s", strerror(errno));
        return;
    }
    host_log_flush();
    pid = fork();
    if (pid < 0) {
        host_log(HOST_LOG_ERROR, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        become_worker(m, slot, gen, snap, tls, strict, fds[1]);
    }
    close(fds[1]);
    host_buf_free(&c->msg);
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->generation = gen;
    c->started_ms = now_ms();
    __atomic_store_n(&ws->generation, gen, __ATOMIC_RELAXED);
    __atomic_store_n(&ws->pid, (int64_t)pid, __ATOMIC_RELAXED);
    uv_pipe_init(m->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_pipe_open(&c->pipe, fds[0]) == 0 &&
        uv_read_start((uv_stream_t *)&c->pipe, on_status_alloc, on_status_read) == 0)
        c->pipe_open = 1;
}

static void restart_missing(host_master *m)
{
    int i, have = 0, slot;

    if (m->stopping || !m->started)
        return;
    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++)
        if (m->children[i].pid && m->children[i].generation == m->generation &&
            !m->children[i].retiring)
            have++;
    for (; have < m->nworkers; have++) {
        if ((slot = free_slot(m)) < 0)
            return;
        spawn(m, slot, m->generation, &m->snap, m->tls, 0);
        count(m, "tanomu_worker_restarts_total", "", 1);
    }
}

static void on_restart_timer(uv_timer_t *t)
{
    restart_missing(t->data);
}

/* The crash circuit breaker (breaker.h): a request's crash counts against
 * its plugin, route and tenant; enough of them open the route for that
 * tenant, so one tenant's crash loop cannot keep every worker restarting. */
static void breaker_count(host_master *m, const char *plugin, const char *route, const char *tenant)
{
    host_breakers *t = host_metrics_breakers(m->metrics);
    const host_breaker_conf *bc = &m->conf.server.breaker;
    char labels[420];
    host_breaker_event ev;
    host_breaker b;
    int n;

    ev = host_breaker_crash(t, bc, plugin, route, tenant, now_ms(), &n);
    if (ev != HOST_BREAKER_TRIPPED && ev != HOST_BREAKER_REOPENED)
        return;
    memset(&b, 0, sizeof b);
    snprintf(b.plugin, sizeof b.plugin, "%s", plugin);
    snprintf(b.route, sizeof b.route, "%s", route);
    snprintf(b.tenant, sizeof b.tenant, "%s", tenant);
    host_breaker_labels(&b, labels, sizeof labels);
    if (ev == HOST_BREAKER_TRIPPED)
        host_log(HOST_LOG_ERROR,
                 "circuit breaker open: plugin %s route %s tenant %s crashed %d times in %llu ms; "
                 "answering 503 for %llu ms (or until reload)",
                 plugin, route, tenant, n, (unsigned long long)bc->window_ms,
                 (unsigned long long)bc->cooldown_ms);
    else
        host_log(HOST_LOG_ERROR,
                 "circuit breaker open again: plugin %s route %s tenant %s crashed on the "
                 "half-open probe; answering 503 for %llu ms (or until reload)",
                 plugin, route, tenant, (unsigned long long)bc->cooldown_ms);
    count(m, "tanomu_route_breaker_trips_total", labels, 1);
    host_series_set(host_metrics_series(m->metrics, "tanomu_route_breaker_open", labels), 1);
}

static void breaker_closed(void *ud, const host_breaker *b)
{
    host_master *m = ud;
    char labels[420];

    host_breaker_labels(b, labels, sizeof labels);
    host_series_set(host_metrics_series(m->metrics, "tanomu_route_breaker_open", labels), 0);
    host_log(HOST_LOG_INFO, "circuit breaker closed by reload: plugin %s route %s tenant %s",
             b->plugin, b->route, b->tenant);
}

/* A worker of the serving generation died without being asked to. */
static void worker_crashed(host_master *m, int slot, int wstatus, uint64_t lived_ms)
{
    host_worker_slot *ws = host_metrics_slot(m->metrics, slot);
    char plugin[128] = "host", route[128] = "", tenant[72] = "", labels[300], esc[260];
    const char *run = ws->running, *hash;
    uint64_t delay = 0;

    if (run[0]) {
        snprintf(plugin, sizeof plugin, "%s", run);
        snprintf(route, sizeof route, "%s", run + strlen(run) + 1);
        snprintf(tenant, sizeof tenant, "%s", ws->tenant);
    }
    if (WIFSIGNALED(wstatus))
        host_log(HOST_LOG_ERROR,
                 "worker %d (pid %d) killed by signal %d while running plugin %s route %s", slot,
                 (int)m->children[slot].pid, WTERMSIG(wstatus), plugin, route[0] ? route : "-");
    else
        host_log(HOST_LOG_ERROR,
                 "worker %d (pid %d) exited with status %d while running plugin %s route %s", slot,
                 (int)m->children[slot].pid, WEXITSTATUS(wstatus), plugin, route[0] ? route : "-");
    host_metrics_label(esc, sizeof esc, plugin);
    snprintf(labels, sizeof labels, "plugin=\"%s\"", esc);
    count(m, "tanomu_worker_crashes_total", labels, 1);
    /* It died delivering a durable event ("name#id"): count it against
     * the event, whose own attempt counter rolled back with the worker. */
    if ((hash = strrchr(route, '#')) != NULL)
        host_metrics_poison_add(m->metrics, strtoll(hash + 1, NULL, 10));
    else
        breaker_count(m, plugin, route, tenant);
    /* A worker that dies at once would die again at once: pace restarts,
     * doubling while crashes come quickly, from 100 ms to 5 s. */
    if (lived_ms < CRASH_LOOP_MS) {
        delay = 100ull << (m->quick_crashes < 6 ? m->quick_crashes : 6);
        m->quick_crashes++;
    } else {
        m->quick_crashes = 0;
    }
    uv_timer_start(&m->restart_timer, on_restart_timer, delay < 5000 ? delay : 5000, 0);
}

static void stop_done_check(host_master *m)
{
    int i;

    if (!m->stopping)
        return;
    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++)
        if (m->children[i].pid)
            return;
    uv_stop(m->loop);
}

static void on_sigchld(uv_signal_t *s, int signum)
{
    host_master *m = s->data;
    int wstatus, i, reload_lost = 0;
    pid_t pid;

    (void)signum;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++) {
            host_child *c = &m->children[i];
            int expected;
            uint64_t lived;
            if (c->pid != pid)
                continue;
            expected = c->retiring || c->discard || m->stopping || !c->ready ||
                       c->generation != m->generation;
            lived = now_ms() - c->started_ms;
            if (!expected) {
                worker_crashed(m, i, wstatus, lived);
            }
            /* A new worker that said ready and then died: the reload cannot
             * complete, so it fails now rather than at its timeout. */
            if (m->reloading && c->generation == m->reload_gen && c->ready && !c->discard &&
                !reload_lost) {
                host_errors_add(&m->reload_errs, NULL, 0,
                                "new worker (pid %d) died while the "
                                "reload waited for the others",
                                (int)pid);
                reload_lost = 1;
            }
            c->pid = 0;
            host_limit_region_detach(m->limits, i); /* its zones may be reclaimed */
            if (!c->pipe_open)
                child_reset(m, i);
            else {
                host_worker_slot *ws = host_metrics_slot(m->metrics, i);
                __atomic_store_n(&ws->pid, 0, __ATOMIC_RELAXED);
                __atomic_store_n(&ws->accepting, 0, __ATOMIC_RELAXED);
                __atomic_store_n(&ws->conns_open, 0, __ATOMIC_RELAXED);
            }
        }
    }
    if (reload_lost)
        reload_finish(m, 0); /* after the loop: it may start a pending reload */
    stop_done_check(m);
}

/* ---- reload ----------------------------------------------------------------- */

static int same_listeners(const host_config *a, const host_config *b)
{
    int i;

    if (a->server.listen.n != b->server.listen.n ||
        a->server.tls_enabled != b->server.tls_enabled ||
        strcmp(a->server.admin_listen, b->server.admin_listen) != 0)
        return 0;
    for (i = 0; i < a->server.listen.n; i++)
        if (strcmp(a->server.listen.v[i], b->server.listen.v[i]) != 0)
            return 0;
    return 1;
}

static int worker_count(const host_config *conf)
{
    long n = conf->server.workers;

    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > HOST_MAX_WORKER_SLOTS / 2)
        n = HOST_MAX_WORKER_SLOTS / 2;
    return (int)n;
}

static void on_reload_timeout(uv_timer_t *t)
{
    host_master *m = t->data;

    host_errors_add(&m->reload_errs, NULL, 0, "new workers not ready within %llu ms",
                    (unsigned long long)m->conf.server.reload_timeout_ms);
    reload_finish(m, 0);
}

static void start_reload(host_master *m)
{
    int i, slot;

    if (m->stopping)
        return;
    if (m->reloading || !m->started) {
        /* Coalesced: one more reload after this one, or after the first
         * generation is up (a reload before it would leave the master
         * waiting for a first generation that is no longer current). */
        m->reload_pending = 1;
        return;
    }
    m->reloading = 1;
    /* The generation is set before anything can fail: reload_finish(m, 0)
     * kills the workers of reload_gen, which must never be the serving
     * generation (it was, after a successful reload, when this was set
     * only after the configuration had been read).  A fresh number for
     * every attempt, also after a failed one: a worker of a refused
     * reload, killed but not yet reaped, is never taken for one of the
     * next reload's. */
    m->reload_gen = ++m->last_gen;
    m->reload_begun_ns = host_realtime_ns();
    host_errors_init(&m->reload_errs);
    announce_ok_if_retired(m, 1); /* the previous reload's, before this one's */
    write_status(m, HOST_RELOAD_RUNNING, NULL);
    host_log(HOST_LOG_INFO, "reload: reading %s", m->conf_path);
    if (host_config_snapshot(m->conf_path, &m->new_snap, &m->reload_errs) != 0 ||
        host_config_parse(&m->new_snap, &m->new_conf, &m->reload_errs) != 0) {
        reload_finish(m, 0);
        return;
    }
    if (!same_listeners(&m->conf, &m->new_conf))
        host_log(HOST_LOG_WARN, "reload: listen addresses changed; they take effect at restart");
    if (m->new_conf.server.rate_limits.max_memory != host_limit_region_capacity(m->limits))
        host_log(HOST_LOG_WARN,
                 "reload: rate_limits.max_memory changed; it takes effect at restart");
    if (m->ntls > 0 && tls_open(&m->new_conf, &m->new_tls, &m->reload_errs) != 0) {
        reload_finish(m, 0);
        return;
    }
    m->reload_workers = worker_count(&m->new_conf);
    for (i = 0; i < m->reload_workers; i++) {
        if ((slot = free_slot(m)) < 0) {
            host_errors_add(&m->reload_errs, NULL, 0,
                            "no free worker slot (old workers still draining)");
            reload_finish(m, 0);
            return;
        }
        spawn(m, slot, m->reload_gen, &m->new_snap, m->new_tls, 1);
    }
    uv_timer_start(&m->reload_timer, on_reload_timeout, m->new_conf.server.reload_timeout_ms, 0);
}

static void reload_finish(host_master *m, int ok)
{
    int i;
    char *errors;

    if (!m->reloading)
        return;
    uv_timer_stop(&m->reload_timer);
    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++) {
        host_child *c = &m->children[i];
        if (!c->pid)
            continue;
        if (ok && c->generation != m->reload_gen && !c->retiring) {
            c->retiring = 1; /* the old generation drains and leaves */
            kill(c->pid, SIGTERM);
        } else if (!ok && c->generation == m->reload_gen && m->reload_gen != m->generation) {
            c->discard = 1;
            kill(c->pid, SIGKILL);
        }
    }
    if (ok) {
        host_snapshot_free(&m->snap);
        host_config_free(&m->conf);
        m->snap = m->new_snap;
        m->conf = m->new_conf;
        memset(&m->new_snap, 0, sizeof m->new_snap);
        memset(&m->new_conf, 0, sizeof m->new_conf);
        m->generation = m->reload_gen;
        m->nworkers = m->reload_workers;
        /* A reload may bring a fixed plugin: give every route another go. */
        host_breaker_close_all(host_metrics_breakers(m->metrics), breaker_closed, m);
        host_tls_ctx_free(m->tls); /* the old workers keep their own copy */
        m->tls = m->new_tls;
        m->new_tls = NULL;
        host_log_setup(m->conf.server.log_level, 0, "master");
        host_series_set(host_metrics_series(m->metrics, "tanomu_generation", ""), m->generation);
        count(m, "tanomu_reloads_total", "result=\"ok\"", 1);
        host_log(HOST_LOG_INFO, "reload: generation %lld serving", (long long)m->generation);
        log_maintenance(m);
        m->reloading = 0;
        announce_ok(m);
    } else {
        host_snapshot_free(&m->new_snap);
        host_config_free(&m->new_conf);
        host_tls_ctx_free(m->new_tls);
        m->new_tls = NULL;
        count(m, "tanomu_reloads_total", "result=\"failed\"", 1);
        errors = host_errors_join(&m->reload_errs);
        for (i = 0; i < m->reload_errs.count; i++)
            host_log(HOST_LOG_ERROR, "reload rejected: %s", m->reload_errs.items[i]);
        m->reloading = 0;
        write_status(m, HOST_RELOAD_FAILED, errors);
        free(errors);
    }
    host_errors_free(&m->reload_errs);
    if (m->reload_pending) {
        m->reload_pending = 0;
        start_reload(m);
    }
}

/* ---- signals and stop -------------------------------------------------------- */

static void on_stop_timeout(uv_timer_t *t)
{
    host_master *m = t->data;
    int i;

    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++)
        if (m->children[i].pid) {
            host_log(HOST_LOG_WARN, "worker pid %d did not stop in time: killing it",
                     (int)m->children[i].pid);
            kill(m->children[i].pid, SIGKILL);
        }
}

static void on_signal(uv_signal_t *s, int signum)
{
    host_master *m = s->data;
    int i;

    if (signum == SIGHUP) {
        start_reload(m);
        return;
    }
    if (m->stopping)
        return;
    host_log(HOST_LOG_INFO, "stopping: draining workers (signal %d)", signum);
    m->stopping = 1;
    m->admin.draining = 1;
    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++)
        if (m->children[i].pid)
            kill(m->children[i].pid, SIGTERM);
    uv_timer_start(&m->stop_timer, on_stop_timeout, m->conf.server.drain_timeout_ms + 2000, 0);
    stop_done_check(m);
}

/* ---- the admin listener -------------------------------------------------------- */

/* Ready: a worker of the serving generation is up, none of them is out of
 * file descriptors, and when there is a database, at least one such worker
 * has a connection to it.  A worker out of descriptors stops accepting for
 * a while (its slot says accepting = 0).  The others may still take the
 * connections, but they hold as many as it does (the balancing spreads
 * them evenly) under the same limit, so the instance is full: the load
 * balancer should send new clients elsewhere until it is not. */
static int is_ready(host_master *m)
{
    int i, ready = 0;

    if (m->stopping || !m->started)
        return 0;
    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++) {
        host_worker_slot *ws = host_metrics_slot(m->metrics, i);
        int64_t db;
        if (!m->children[i].pid || !m->children[i].ready ||
            m->children[i].generation != m->generation)
            continue;
        if (!__atomic_load_n(&ws->accepting, __ATOMIC_RELAXED))
            return 0;
        db = __atomic_load_n(&ws->db_state, __ATOMIC_RELAXED);
        if (db != 1)
            ready++;
    }
    return ready > 0;
}

static int is_ready_cb(void *ud)
{
    return is_ready(ud);
}

/* ---- start ---------------------------------------------------------------------- */

static int open_listeners(host_master *m, host_errors *errs)
{
    char err[256];
    int i, fd;

    for (i = 0; i < m->conf.server.listen.n && m->nlisten < MAX_LISTEN; i++) {
        if ((fd = host_listen_socket(m->conf.server.listen.v[i], err, sizeof err)) < 0) {
            host_errors_add(errs, m->conf.path, 0, "%s", err);
            return -1;
        }
        m->listen_fds[m->nlisten++] = fd;
    }
    for (i = 0;
         m->conf.server.tls_enabled && i < m->conf.server.tls_listen.n && m->ntls < MAX_LISTEN;
         i++) {
        if ((fd = host_listen_socket(m->conf.server.tls_listen.v[i], err, sizeof err)) < 0) {
            host_errors_add(errs, m->conf.path, 0, "%s", err);
            return -1;
        }
        m->tls_fds[m->ntls++] = fd;
    }
    m->admin_fd = -1;
    if (m->conf.server.admin_listen && m->conf.server.admin_listen[0]) {
        if ((m->admin_fd = host_listen_socket(m->conf.server.admin_listen, err, sizeof err)) < 0) {
            host_errors_add(errs, m->conf.path, 0, "%s", err);
            return -1;
        }
    }
    return 0;
}

/* The TLS context of a generation.  Made in the master before the fork, so
 * every worker has the same session-ticket keys and a client resumes its
 * session whichever worker it reaches next. */
static int tls_open(const host_config *conf, host_tls_ctx **out, host_errors *errs)
{
    char err[256];

    *out = host_tls_ctx_new(conf->server.tls_cert, conf->server.tls_key, err, sizeof err);
    if (*out)
        return 0;
    host_errors_add(errs, conf->path, 0, "server.tls: %s", err);
    return -1;
}

/* Every connection is a descriptor: take all the kernel lets us (the soft
 * limit up to the hard one) and say what that is, so an operator who sees
 * tanomu_accept_paused_total grow knows which limit was reached. */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    rlim_t soft;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        host_log(HOST_LOG_WARN, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    soft = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            host_log(HOST_LOG_WARN, "setrlimit(RLIMIT_NOFILE, %llu): %s",
                     (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = soft;
        }
    }
    host_log(HOST_LOG_INFO, "open files limit: %llu (soft was %llu, hard %llu)",
             (unsigned long long)rl.rlim_cur, (unsigned long long)soft,
             (unsigned long long)rl.rlim_max);
}

static int write_pid_file(host_master *m)
{
    char buf[32];
    int fd, n;

    fd = open(m->conf.server.pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        host_log(HOST_LOG_ERROR, "cannot write pid file %s: %s", m->conf.server.pid_file,
                 strerror(errno));
        return -1;
    }
    n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int host_master_run(const char *conf_path)
{
    host_master *m = calloc(1, sizeof *m);
    host_errors errs;
    int i, rc = 1;
    host_limits admin_limits = {
        .header_bytes = 16384,
        .headers = 64,
        .body_bytes = 0,
        .header_timeout_ms = 5000,
        .keepalive_timeout_ms = 5000,
        .send_timeout_ms = 10000,
    };

    host_errors_init(&errs);
    if (!m)
        return 1;
    m->conf_path = conf_path;
    host_log_setup(HOST_LOG_INFO, 0, "master");
    if (host_config_snapshot(conf_path, &m->snap, &errs) != 0 ||
        host_config_parse(&m->snap, &m->conf, &errs) != 0) {
        host_errors_print(&errs, stderr);
        goto out;
    }
    host_log_setup(m->conf.server.log_level, 0, "master");
    raise_nofile_limit();
    if (open_listeners(m, &errs) != 0 || (m->ntls > 0 && tls_open(&m->conf, &m->tls, &errs) != 0)) {
        host_errors_print(&errs, stderr);
        goto out;
    }
    if (!(m->metrics = host_metrics_create(METRIC_SERIES))) {
        fprintf(stderr, "cannot map the metrics region\n");
        goto out;
    }
    host_admin_declare_families(m->metrics);
    /* Before any fork, so that every worker of every generation maps the
     * same zones (limit_region.h). */
    if (!(m->limits = host_limit_region_create(m->conf.server.rate_limits.max_memory))) {
        fprintf(stderr, "cannot map the rate-limit region (%zu bytes)\n",
                m->conf.server.rate_limits.max_memory);
        goto out;
    }
    if (!(m->status_path = malloc(strlen(m->conf.server.pid_file) + 8)) ||
        host_reload_status_path(m->conf.server.pid_file, m->status_path,
                                strlen(m->conf.server.pid_file) + 8) != 0)
        goto out;
    m->loop = calloc(1, sizeof *m->loop);
    if (!m->loop || uv_loop_init(m->loop) != 0)
        goto out;
    m->loop->data = m;
    uv_timer_init(m->loop, &m->reload_timer);
    uv_timer_init(m->loop, &m->stop_timer);
    uv_timer_init(m->loop, &m->restart_timer);
    uv_timer_init(m->loop, &m->retire_timer);
    m->reload_timer.data = m->stop_timer.data = m->restart_timer.data = m;
    m->retire_timer.data = m;
    uv_signal_init(m->loop, &m->sig_chld);
    uv_signal_init(m->loop, &m->sig_hup);
    uv_signal_init(m->loop, &m->sig_term);
    uv_signal_init(m->loop, &m->sig_int);
    m->sig_chld.data = m->sig_hup.data = m->sig_term.data = m->sig_int.data = m;
    uv_signal_start(&m->sig_chld, on_sigchld, SIGCHLD);
    uv_signal_start(&m->sig_hup, on_signal, SIGHUP);
    uv_signal_start(&m->sig_term, on_signal, SIGTERM);
    uv_signal_start(&m->sig_int, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    /* Only now: whoever reads the pid file may signal us, and a SIGHUP
     * before its handler would end the master (the default action). */
    if (write_pid_file(m) != 0)
        goto out;
    host_server_init(&m->admin, m->loop, &admin_limits);
    m->pages.metrics = m->metrics;
    m->pages.ready = is_ready_cb;
    m->pages.ud = m;
    m->admin.ctx = &m->pages;
    m->admin.dispatch = host_admin_dispatch;
    if (m->admin_fd >= 0)
        host_server_add_listener(&m->admin, m->admin_fd, 0, 0);

    m->generation = m->last_gen = 1;
    m->nworkers = worker_count(&m->conf);
    host_series_set(host_metrics_series(m->metrics, "tanomu_generation", ""), 1);
    for (i = 0; i < m->nworkers; i++)
        spawn(m, i, m->generation, &m->snap, m->tls, 0);
    uv_run(m->loop, UV_RUN_DEFAULT);
    rc = m->exit_code;
    unlink(m->conf.server.pid_file);
    host_log(HOST_LOG_INFO, "stopped");
out:
    if (m->loop) {
        host_server_close(&m->admin);
        uv_walk(m->loop, walk_close, NULL);
        uv_run(m->loop, UV_RUN_DEFAULT);
        uv_loop_close(m->loop);
        free(m->loop);
    }
    for (i = 0; i < HOST_MAX_WORKER_SLOTS; i++)
        host_buf_free(&m->children[i].msg);
    for (i = 0; i < m->nlisten; i++)
        close(m->listen_fds[i]);
    for (i = 0; i < m->ntls; i++)
        close(m->tls_fds[i]);
    host_metrics_destroy(m->metrics);
    host_limit_region_destroy(m->limits);
    host_tls_ctx_free(m->tls);
    host_snapshot_free(&m->snap);
    host_config_free(&m->conf);
    host_errors_free(&errs);
    free(m->status_path);
    free(m);
    return rc;
}
