/*
 * pool.h - the auth plugin's gate in front of the thread pool: at most
 * `cap` password hashes run at once in this worker, and at most `queue_max`
 * wait; past that a submit fails with TN_EBUSY and the caller answers 503.
 *
 * Argon2id takes 19 MiB and tens of milliseconds per hash.  A login storm
 * left to the libuv pool would take every pool thread (stalling whatever
 * else uses it) and memory in proportion to the storm; the cap keeps both
 * bounded and the event loop never hashes at all.
 *
 * The hash itself runs on the plugin's own threads (`cap` of them, made
 * at the first hash, so in the process that hashes), at a lower scheduling
 * priority: SCHED_BATCH and nice `nice` (default 10), which an unprivileged
 * process may always set on its own threads.  The pool thread that
 * work_queue lends waits for it without using the CPU, so the completion
 * still comes back on the loop through the SDK.  On a machine where the
 * hashes and the event loops share the cores, the kernel then runs a
 * loop the moment it has work, and hashes with what is left: the loops
 * stay responsive during a login storm (issue 8: p99 of a cheap request).
 */
#ifndef AUTH_POOL_H
#define AUTH_POOL_H

#include <pthread.h>

#include <tanomu/tanomu.h>

#define AUTH_POOL_NICE_DEFAULT 10
#define AUTH_POOL_THREADS_MAX 64

typedef struct auth_pool auth_pool;
typedef struct auth_job auth_job;

typedef void (*auth_job_fn)(auth_job *job);                  /* a hashing thread */
typedef void (*auth_job_done_fn)(auth_job *job, int status); /* loop: 0 or TN_ECANCELED */

/* Embedded in the caller's own state; lives until done runs. */
struct auth_job {
    auth_job *next;
    auth_pool *pool;
    auth_job_fn work;
    auth_job_done_fn done;
    auth_job *lane_next; /* the hashing threads' queue (under lane.mu) */
    int finished;        /* under lane.mu */
};

/* The plugin's own low-priority hashing threads. */
typedef struct auth_lane {
    pthread_mutex_t mu;
    pthread_cond_t more, done;
    auth_job *head, *tail;
    pthread_t th[AUTH_POOL_THREADS_MAX];
    unsigned want, started; /* threads to start; started */
    int nice;
    int stop;
    int prio_errno; /* 0, or why the priority could not be lowered */
    int ready;      /* mu and the conditions initialised */
} auth_lane;

struct auth_pool {
    const tn_api *api;
    tn_plugin *self;
    unsigned cap, active;
    unsigned queue_max, queued;
    auth_job *head, *tail;
    auth_lane lane;
    int prio_logged;
};

void auth_pool_init(auth_pool *p, const tn_api *api, tn_plugin *self, unsigned cap,
                    unsigned queue_max);
/* The hashing threads' nice value (0 to 19); before the first submit. */
void auth_pool_set_nice(auth_pool *p, int nice);
/* TN_OK (done will run exactly once), TN_EBUSY (full: done never runs), or
 * the work_queue error. */
int auth_pool_submit(auth_pool *p, auth_job *job, auth_job_fn work, auth_job_done_fn done);
/* Lets the hashing threads finish what was given them, and joins them. */
void auth_pool_fini(auth_pool *p);

#endif
