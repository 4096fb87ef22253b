/*
 * config_limits.h - the rate_limits { } group of tanomu.conf: how much
 * shared memory the node's rate-limit zones may hold in all
 * (limit_region.h).  Parsed by config.c through this one function.
 */
#ifndef HOST_CONFIG_LIMITS_H
#define HOST_CONFIG_LIMITS_H

#include <stddef.h>

#include <libconfig.h>

#include "errors.h"

#define HOST_RATE_LIMITS_DEFAULT_MEMORY ((size_t)8 << 20)
#define HOST_RATE_LIMITS_MAX_MEMORY ((size_t)1 << 30)

typedef struct host_rate_limits_conf {
    size_t max_memory; /* bytes for every zone of every plugin; 0: off */
} host_rate_limits_conf;

/* Reads rate_limits from root; returns 0, or -1 with errors added. */
int host_config_rate_limits(const config_setting_t *root, const char *file,
                            host_rate_limits_conf *out, host_errors *errs);

#endif
