/*
 * alerts.c - aggregates WAF hits per tenant for the waf.alert event.
 *
 * The first hit of a tenant in an interval is published at once (the
 * caller does it); what follows within the interval is counted and goes
 * out with the next tick, one event per tenant, so a flood of attacks is
 * one event a minute, not one per request.
 */
#include "alerts.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define TOP_RULES 16

typedef struct rule_count {
    unsigned id;
    unsigned long n;
} rule_count;

typedef struct tenant_alert {
    char *tenant;
    int alerted; /* an event went out in this interval */
    unsigned long blocked, detected;
    rule_count rules[TOP_RULES];
    size_t nrules;
    unsigned long other_rules; /* hits of rules past TOP_RULES */
} tenant_alert;

struct waf_alerts {
    tenant_alert *v;
    size_t n, cap;
};

waf_alerts *waf_alerts_new(void)
{
    return calloc(1, sizeof(waf_alerts));
}

void waf_alerts_free(waf_alerts *a)
{
    size_t i;

    if (!a)
        return;
    for (i = 0; i < a->n; i++)
        free(a->v[i].tenant);
    free(a->v);
    free(a);
}

static tenant_alert *get(waf_alerts *a, const char *tenant, int create)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        if (strcmp(a->v[i].tenant, tenant) == 0)
            return &a->v[i];
    if (!create)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        tenant_alert *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    memset(&a->v[a->n], 0, sizeof a->v[a->n]);
    if (!(a->v[a->n].tenant = strdup(tenant)))
        return NULL;
    return &a->v[a->n++];
}

static void count_rule(tenant_alert *t, unsigned id)
{
    size_t i;

    for (i = 0; i < t->nrules; i++)
        if (t->rules[i].id == id) {
            t->rules[i].n++;
            return;
        }
    if (t->nrules == TOP_RULES) {
        t->other_rules++;
        return;
    }
    t->rules[t->nrules].id = id;
    t->rules[t->nrules++].n = 1;
}

int waf_alerts_add(waf_alerts *a, const char *tenant, int blocked, const waf_hit *hits,
                   size_t nhits)
{
    tenant_alert *t = get(a, tenant ? tenant : "", 1);
    size_t i, j;

    if (!t)
        return 0;
    if (blocked)
        t->blocked++;
    else
        t->detected++;
    for (i = 0; i < nhits; i++) {
        for (j = 0; j < i && hits[j].id != hits[i].id; j++)
            ;
        if (j == i) /* once per rule per request */
            count_rule(t, hits[i].id);
    }
    return !t->alerted;
}

char *waf_alerts_take(waf_alerts *a, const char *tenant, unsigned interval_s)
{
    tenant_alert *t = get(a, tenant ? tenant : "", 0);
    json_t *doc = NULL, *rules = NULL;
    char *out = NULL;
    size_t i;

    if (!t || (t->blocked == 0 && t->detected == 0))
        return NULL;
    rules = json_array();
    for (i = 0; rules && i < t->nrules; i++)
        json_array_append_new(rules, json_pack("{s:I,s:I}", "id", (json_int_t)t->rules[i].id,
                                               "count", (json_int_t)t->rules[i].n));
    doc = rules ? json_pack("{s:s,s:I,s:I,s:I,s:o,s:I}", "tenant", t->tenant, "interval_s",
                            (json_int_t)interval_s, "blocked", (json_int_t)t->blocked, "detected",
                            (json_int_t)t->detected, "rules", rules, "other_rule_hits",
                            (json_int_t)t->other_rules)
                : NULL;
    out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc); /* "o" took rules, even on failure */
    t->blocked = t->detected = t->other_rules = 0;
    t->nrules = 0;
    t->alerted = 1;
    return out;
}

const char *waf_alerts_pending(waf_alerts *a, size_t i)
{
    if (i >= a->n || (a->v[i].blocked == 0 && a->v[i].detected == 0))
        return NULL;
    return a->v[i].tenant;
}

void waf_alerts_tick(waf_alerts *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        if (a->v[i].blocked == 0 && a->v[i].detected == 0)
            a->v[i].alerted = 0;
}

size_t waf_alerts_tenants(const waf_alerts *a)
{
    return a->n;
}
