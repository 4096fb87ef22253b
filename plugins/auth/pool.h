/*
 * pool.h - the auth plugin's gate in front of the thread pool: at most
 * `cap` password hashes run at once in this worker, and at most `queue_max`
 * wait; past that a submit fails with TN_EBUSY and the caller answers 503.
 *
 * Argon2id takes 19 MiB and tens of milliseconds per hash.  A login storm
 * left to the libuv pool would take every pool thread (stalling whatever
 * else uses it) and memory in proportion to the storm; the cap keeps both
 * bounded and the event loop never hashes at all.
 */
#ifndef AUTH_POOL_H
#define AUTH_POOL_H

#include <tanomu/tanomu.h>

typedef struct auth_pool auth_pool;
typedef struct auth_job auth_job;

typedef void (*auth_job_fn)(auth_job *job);                  /* thread pool */
typedef void (*auth_job_done_fn)(auth_job *job, int status); /* loop: 0 or TN_ECANCELED */

/* Embedded in the caller's own state; lives until done runs. */
struct auth_job {
    auth_job *next;
    auth_pool *pool;
    auth_job_fn work;
    auth_job_done_fn done;
};

struct auth_pool {
    const tn_api *api;
    tn_plugin *self;
    unsigned cap, active;
    unsigned queue_max, queued;
    auth_job *head, *tail;
};

void auth_pool_init(auth_pool *p, const tn_api *api, tn_plugin *self, unsigned cap,
                    unsigned queue_max);
/* TN_OK (done will run exactly once), TN_EBUSY (full: done never runs), or
 * the work_queue error. */
int auth_pool_submit(auth_pool *p, auth_job *job, auth_job_fn work, auth_job_done_fn done);

#endif
