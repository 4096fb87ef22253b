/*
 * pool.c - a capped, bounded queue of password hashes, run on the
 * plugin's own low-priority threads (see pool.h).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pool.h"

void auth_pool_init(auth_pool *p, const tn_api *api, tn_plugin *self, unsigned cap,
                    unsigned queue_max)
{
    memset(p, 0, sizeof *p);
    p->api = api;
    p->self = self;
    p->cap = cap ? cap : 1;
    p->queue_max = queue_max;
    p->lane.want = p->cap < AUTH_POOL_THREADS_MAX ? p->cap : AUTH_POOL_THREADS_MAX;
    p->lane.nice = AUTH_POOL_NICE_DEFAULT;
    if (pthread_mutex_init(&p->lane.mu, NULL) == 0) {
        if (pthread_cond_init(&p->lane.more, NULL) == 0) {
            if (pthread_cond_init(&p->lane.done, NULL) == 0)
                p->lane.ready = 1;
            else
                pthread_cond_destroy(&p->lane.more);
        }
        if (!p->lane.ready)
            pthread_mutex_destroy(&p->lane.mu);
    }
}

void auth_pool_set_nice(auth_pool *p, int nice)
{
    p->lane.nice = nice < 0 ? 0 : nice > 19 ? 19 : nice;
}

/* ---- the hashing threads ------------------------------------------------- */

/* SCHED_BATCH (a CPU-bound thread: no preference at wake-up) and a higher
 * nice value, on this thread only (Linux: setpriority on the thread ID).
 * Both only lower the priority, which needs no privilege. */
static int lower_priority(int nice)
{
    struct sched_param sp = {.sched_priority = 0};
    int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) != 0)
        return errno;
    return rc;
}

static void *lane_main(void *ud)
{
    auth_lane *l = ud;
    int err = lower_priority(l->nice);

    pthread_mutex_lock(&l->mu);
    if (err && !l->prio_errno)
        l->prio_errno = err;
    for (;;) {
        auth_job *job;
        while (l->head == NULL && !l->stop)
            pthread_cond_wait(&l->more, &l->mu);
        if (l->head == NULL) /* stopping, and nothing left to do */
            break;
        job = l->head;
        l->head = job->lane_next;
        if (l->head == NULL)
            l->tail = NULL;
        pthread_mutex_unlock(&l->mu);
        job->work(job);
        pthread_mutex_lock(&l->mu);
        job->finished = 1;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Under l->mu: the threads, at the first hash. */
static void lane_start(auth_lane *l)
{
    while (l->started < l->want && pthread_create(&l->th[l->started], NULL, lane_main, l) == 0)
        l->started++;
}

/* Runs job on a hashing thread and waits for it (a pool thread: the wait
 * costs no CPU).  -1 when no hashing thread exists: the caller hashes. */
static int lane_run(auth_lane *l, auth_job *job)
{
    if (!l->ready)
        return -1;
    pthread_mutex_lock(&l->mu);
    if (!l->stop)
        lane_start(l);
    if (l->started == 0 || l->stop) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    job->finished = 0;
    job->lane_next = NULL;
    if (l->tail)
        l->tail->lane_next = job;
    else
        l->head = job;
    l->tail = job;
    pthread_cond_signal(&l->more);
    while (!job->finished)
        pthread_cond_wait(&l->done, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void auth_pool_fini(auth_pool *p)
{
    auth_lane *l = &p->lane;

    if (!l->ready)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->more);
    pthread_mutex_unlock(&l->mu);
    for (unsigned i = 0; i < l->started; i++)
        pthread_join(l->th[i], NULL);
    l->started = 0;
    pthread_cond_destroy(&l->done);
    pthread_cond_destroy(&l->more);
    pthread_mutex_destroy(&l->mu);
    l->ready = 0;
}

/* ---- the gate, on the loop ------------------------------------------------- */

static void job_work(void *ud)
{
    auth_job *job = ud;
    if (lane_run(&job->pool->lane, job) != 0)
        job->work(job); /* no hashing thread: at the pool thread's priority */
}

static void start_queued(auth_pool *p);

/* Says once, on the loop, that the priority could not be lowered. */
static void report_priority(auth_pool *p)
{
    int err;

    if (p->prio_logged || !p->lane.ready)
        return;
    pthread_mutex_lock(&p->lane.mu);
    err = p->lane.prio_errno;
    pthread_mutex_unlock(&p->lane.mu);
    if (err) {
        p->api->log(p->self, TN_LOG_WARN,
                    "auth: password hashes run at normal priority (lowering it: %s)",
                    strerror(err));
        p->prio_logged = 1;
    }
}

static void job_done(void *ud, int status)
{
    auth_job *job = ud;
    auth_pool *p = job->pool;

    p->active--;
    report_priority(p);
    start_queued(p); /* before done: it may free the request holding job */
    job->done(job, status);
}

static int start(auth_pool *p, auth_job *job)
{
    int rc = p->api->work_queue(p->self, job_work, job_done, job);
    if (rc == TN_OK)
        p->active++;
    return rc;
}

static void start_queued(auth_pool *p)
{
    while (p->head && p->active < p->cap) {
        auth_job *job = p->head;
        p->head = job->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->queued--;
        if (start(p, job) != TN_OK)
            job->done(job, TN_ECANCELED); /* the worker is stopping */
    }
}

int auth_pool_submit(auth_pool *p, auth_job *job, auth_job_fn work, auth_job_done_fn done)
{
    job->next = NULL;
    job->pool = p;
    job->work = work;
    job->done = done;
    if (p->active < p->cap)
        return start(p, job);
    if (p->queued >= p->queue_max)
        return TN_EBUSY;
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    return TN_OK;
}
