/*
 * admin.h - the admin listener's pages and the host's metric families.
 * The master owns the readiness rule (it knows its workers); the pages
 * only ask it.
 */
#ifndef HOST_ADMIN_H
#define HOST_ADMIN_H

#include <tanomu/tanomu.h>

#include "metrics.h"

/* The admin server's ctx. */
typedef struct host_admin {
    host_metrics *metrics;
    int (*ready)(void *ud); /* /readyz: 1 ready, 0 not */
    void *ud;
} host_admin;

/* The admin server's dispatch: read-only GET/HEAD pages. */
void host_admin_dispatch(tn_request *r);

void host_admin_declare_families(host_metrics *mx);

#endif
