/*
 * alerts.h - the IDS-style waf.alert event, aggregated per tenant: at most
 * one event per tenant per interval, carrying the counts of what happened
 * since the previous one.
 */
#ifndef WAF_ALERTS_H
#define WAF_ALERTS_H

#include <stddef.h>

#include "inspect.h"

typedef struct waf_alerts waf_alerts;

waf_alerts *waf_alerts_new(void);
void waf_alerts_free(waf_alerts *a);
/* Counts one blocked (or, in detect mode, detected) request.  Returns 1
 * when the tenant has no alert in the current interval yet: the caller
 * publishes now (waf_alerts_take). */
int waf_alerts_add(waf_alerts *a, const char *tenant, int blocked, const waf_hit *hits,
                   size_t nhits);
/* The payload of the tenant's pending alert (malloc'd JSON, caller frees)
 * or NULL when nothing is pending; resets the counts and marks the tenant
 * as alerted in this interval. */
char *waf_alerts_take(waf_alerts *a, const char *tenant, unsigned interval_s);
/* Interval tick: the i-th tenant with something pending, or NULL; tenants
 * with nothing pending start the next interval unalerted. */
const char *waf_alerts_pending(waf_alerts *a, size_t i);
void waf_alerts_tick(waf_alerts *a);
size_t waf_alerts_tenants(const waf_alerts *a);

#endif
