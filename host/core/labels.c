/*
 * labels.c - label values in the Prometheus exposition format, for the
 * metrics table and for the breaker, which names its series itself.
 */
#include <stdio.h>

#include "labels.h"

void host_metrics_label(char *out, size_t cap, const char *value)
{
    size_t o = 0;

    for (; *value && o + 3 < cap; value++) {
        if (*value == '\\' || *value == '"') {
            out[o++] = '\\';
            out[o++] = *value;
        } else if (*value == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *value;
        }
    }
    out[o] = '\0';
}

void host_metrics_tenant_labels(char *out, size_t cap, const char *tenant)
{
    char t[96];

    if (!tenant || !*tenant) {
        out[0] = '\0'; /* not tenant="": a series about no tenant has no such label */
        return;
    }
    host_metrics_label(t, sizeof t, tenant);
    snprintf(out, cap, "tenant=\"%s\"", t);
}
