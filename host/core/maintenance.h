/*
 * maintenance.h - maintenance mode: the `maintenance { }` group of
 * tanomu.conf (every tenant) and of a tenant file's `tenant { }` group
 * (that tenant alone), and the rule of which routes it closes.
 *
 * While on, the pipeline (runtime/pipeline.c) answers every matched tenant
 * route 503 with Retry-After and the body built here, except routes that
 * only platform admins may call (host_maint_route_exempt).  Health checks
 * and the admin listener never reach the tenant pipeline.  Operators turn
 * it on and off with a reload: the configuration is the only switch.
 */
#ifndef HOST_MAINTENANCE_H
#define HOST_MAINTENANCE_H

#include <stdint.h>

#include <libconfig.h>
#include <tanomu/tanomu.h>

#include "errors.h"

#define HOST_MAINT_DEFAULT_RETRY_S 300
#define HOST_MAINT_MAX_RETRY_S 86400
#define HOST_MAINT_MAX_MESSAGE 1000
#define HOST_MAINT_DEFAULT_MESSAGE "The service is under maintenance; please retry later."

typedef struct host_maint_conf {
    int enabled;
    uint64_t retry_after_s; /* the Retry-After header */
    char *message;          /* UTF-8, for people */
    char *until;            /* planned end, RFC 3339 as written; NULL: not given */
    char *body;             /* the 503 JSON body, built once when parsed */
    char retry_after[24];   /* retry_after_s as text */
} host_maint_conf;

/* Reads group `maintenance` of parent (absent: off).  Returns 0, or -1
 * with FILE:LINE errors added.  `where` names the group in messages. */
int host_maint_parse(const config_setting_t *parent, const char *file, const char *where,
                     host_maint_conf *out, host_errors *errs);
void host_maint_free(host_maint_conf *m);

/* The section in force for a tenant: the tenant's own when it is on, else
 * the global one when that is on, else NULL (serve normally). */
const host_maint_conf *host_maint_effective(const host_maint_conf *global,
                                            const host_maint_conf *tenant);

/* 1 when a route stays open during maintenance: its access is
 * TN_ACCESS_ROLES and platform_admin is its only role. */
int host_maint_route_exempt(tn_access access, const char *roles);

/* 1 for "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" with fields in range. */
int host_rfc3339_valid(const char *s);

#endif
