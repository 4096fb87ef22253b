/*
 * pool.c - a capped, bounded queue of password hashes (see pool.h).
 */
#include "pool.h"

void auth_pool_init(auth_pool *p, const tn_api *api, tn_plugin *self, unsigned cap,
                    unsigned queue_max)
{
    p->api = api;
    p->self = self;
    p->cap = cap ? cap : 1;
    p->queue_max = queue_max;
    p->active = p->queued = 0;
    p->head = p->tail = NULL;
}

static void job_work(void *ud)
{
    auth_job *job = ud;
    job->work(job);
}

static void start_queued(auth_pool *p);

static void job_done(void *ud, int status)
{
    auth_job *job = ud;
    auth_pool *p = job->pool;

    p->active--;
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
