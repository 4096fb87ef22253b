/*
 * worker.h - one worker process: a libuv loop serving one generation of
 * configuration and plugins (runtime/generation.h), started by the master.
 */
#ifndef HOST_WORKER_H
#define HOST_WORKER_H

#include <stdint.h>

#include "config.h"
#include "metrics.h"

struct host_tls_ctx;

/* The body of a worker process; returns the exit status. */
typedef struct host_worker_args {
    const host_snapshot *snap;
    host_metrics *metrics;
    int slot_index;
    int64_t generation;
    int strict;
    int quiet_load_errors; /* another worker reports them */
    int status_fd;
    const int *listen_fds;
    int nlisten;
    const int *tls_fds;
    int ntls;
    struct host_tls_ctx *tls;         /* the master's, shared by the generation */
    struct host_limit_region *limits; /* the master's rate-limit zones */
} host_worker_args;

int host_worker_main(const host_worker_args *args);

#endif
