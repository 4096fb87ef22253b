/*
 * metrics.c - counters and gauges, one series per tenant.  Names are
 * exported as tanomu_plugin_<plugin>_<name>, which is also how a test
 * reads them back.  A counter only goes up: a negative delta or a
 * metric_set() on it is a plugin bug, logged and ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

static tn_metric *metric_new(tn_plugin *self, const char *name, int is_gauge)
{
    if (self == NULL)
        return NULL;
    tk_kit *tk = self->tk;
    if (tk->registering != self || !host_metric_name_valid(name))
        return NULL;
    char *full = tk_format("tanomu_plugin_%s_%s", self->desc.name, name);
    if (full == NULL)
        return NULL;
    for (size_t i = 0; i < tk->metrics.n; i++) {
        tn_metric *m = tk->metrics.items[i];
        if (strcmp(m->name, full) == 0) {
            free(full);
            return NULL; /* registered twice */
        }
    }
    tn_metric *m = calloc(1, sizeof *m);
    if (m == NULL || tk_list_push(&tk->metrics, m) != TN_OK) {
        free(m);
        free(full);
        return NULL;
    }
    m->tk = tk;
    m->plugin = self;
    m->name = full;
    m->is_gauge = is_gauge;
    return m;
}

tn_metric *tk_api_metric_counter(tn_plugin *self, const char *name, const char *help)
{
    (void)help;
    return metric_new(self, name, 0);
}

tn_metric *tk_api_metric_gauge(tn_plugin *self, const char *name, const char *help)
{
    (void)help;
    return metric_new(self, name, 1);
}

static int same_tenant(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static tk_series *series_find(const tn_metric *m, const char *tenant)
{
    for (size_t i = 0; i < m->series.n; i++) {
        tk_series *s = m->series.items[i];
        if (same_tenant(s->tenant, tenant))
            return s;
    }
    return NULL;
}

static tk_series *series_get(tn_metric *m, const char *tenant)
{
    tk_series *s = series_find(m, tenant);
    if (s != NULL)
        return s;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->tenant = tenant ? tk_strdup(tenant) : NULL;
    if ((tenant && s->tenant == NULL) || tk_list_push(&m->series, s) != TN_OK) {
        free(s->tenant);
        free(s);
        return NULL;
    }
    return s;
}

void tk_api_metric_add(tn_metric *m, const char *tenant_id, int64_t delta)
{
    if (m == NULL)
        return;
    if (!m->is_gauge && delta < 0) {
        tk_log_kit(m->tk, TN_LOG_WARN, "%s: a counter cannot go down", m->name);
        return;
    }
    tk_series *s = series_get(m, tenant_id);
    if (s != NULL)
        s->value += delta;
}

void tk_api_metric_set(tn_metric *m, const char *tenant_id, int64_t value)
{
    if (m == NULL)
        return;
    if (!m->is_gauge) {
        tk_log_kit(m->tk, TN_LOG_WARN, "%s: metric_set() on a counter", m->name);
        return;
    }
    tk_series *s = series_get(m, tenant_id);
    if (s != NULL)
        s->value = value;
}

int tk_metric_get(const tk_kit *tk, const char *name, const char *tenant, int64_t *value)
{
    if (value != NULL)
        *value = 0;
    if (name == NULL)
        return TN_EINVAL;
    for (size_t i = 0; i < tk->metrics.n; i++) {
        const tn_metric *m = tk->metrics.items[i];
        if (strcmp(m->name, name) != 0)
            continue;
        const tk_series *s = series_find(m, tenant);
        if (value != NULL && s != NULL)
            *value = s->value;
        return TN_OK;
    }
    return TN_ENOTFOUND;
}

int64_t tk_metric(const tk_kit *tk, const char *name, const char *tenant)
{
    int64_t v = 0;
    tk_metric_get(tk, name, tenant, &v);
    return v;
}

void tk_metrics_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->metrics.n; i++) {
        tn_metric *m = tk->metrics.items[i];
        for (size_t j = 0; j < m->series.n; j++) {
            tk_series *s = m->series.items[j];
            free(s->tenant);
            free(s);
        }
        tk_list_clear(&m->series);
        free(m->name);
        free(m);
    }
    tk_list_clear(&tk->metrics);
}
