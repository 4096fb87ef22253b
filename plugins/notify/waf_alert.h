/*
 * waf_alert.h - the waf.alert event's summary for the security contacts'
 * e-mail: template variables made from the payload's numbers only.
 */
#ifndef NOTIFY_WAF_ALERT_H
#define NOTIFY_WAF_ALERT_H

#include <jansson.h>

#define NOTIFY_WAF_ALERT "waf.alert"

/* Sets blocked, detected, interval_s, rules, families and other_rule_hits
 * (strings) in vars from the waf.alert payload; writes the interval in
 * seconds (0..86400) to interval_s for the time window query.  0, or -1
 * when out of memory. */
int notify_waf_vars(json_t *payload, json_t *vars, char *interval_s, size_t cap);

#endif
