/*
 * labels.h - escaping a label value for the Prometheus exposition format.
 */
#ifndef HOST_LABELS_H
#define HOST_LABELS_H

#include <stddef.h>

/* Escapes value (backslash, quote, newline) into out, truncating to cap. */
void host_metrics_label(char *out, size_t cap, const char *value);
/* The label set of a plugin metric's series: tenant="T", or "" (no label at
 * all, rather than tenant="") when tenant is NULL or empty. */
void host_metrics_tenant_labels(char *out, size_t cap, const char *tenant);

#endif
