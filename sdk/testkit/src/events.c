/*
 * events.c - publish and subscribe.  The host delivers events
 * asynchronously; the testkit queues them until the test calls
 * tk_run_events(), and keeps every one so the test can read what was
 * published.  A tenant's event reaches only subscribers whose plugin the
 * tenant enables; an event without tenant reaches every subscriber.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tk_internal.h"

#define TK_EVENT_NAME_MAX 64

int tk_api_event_subscribe(tn_plugin *self, const char *name, tn_event_fn fn, void *ud)
{
    if (self == NULL)
        return TN_EINVAL;
    tk_kit *tk = self->tk;
    if (tk->registering != self)
        return TN_ESTATE;
    if (!tk_name_ok(name, TK_EVENT_NAME_MAX, ".-") || fn == NULL)
        return TN_EINVAL;
    tk_sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TN_ENOMEM;
    s->plugin = self;
    s->fn = fn;
    s->ud = ud;
    s->name = tk_strdup(name);
    if (s->name == NULL || tk_list_push(&tk->subs, s) != TN_OK) {
        free(s->name);
        free(s);
        return TN_ENOMEM;
    }
    return TN_OK;
}

int tk_api_event_publish(tn_plugin *self, const char *tenant_id, const char *name,
                         const char *payload_json)
{
    if (self == NULL || !tk_name_ok(name, TK_EVENT_NAME_MAX, ".-") || payload_json == NULL)
        return TN_EINVAL;
    json_t *doc = json_loads(payload_json, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return TN_EINVAL;  /* the payload is JSON text, or nothing */
    json_decref(doc);
    tk_event_rec *e = calloc(1, sizeof *e);
    if (e == NULL)
        return TN_ENOMEM;
    e->name = tk_strdup(name);
    e->tenant = tenant_id ? tk_strdup(tenant_id) : NULL;
    e->payload = tk_strdup(payload_json);
    if (e->name == NULL || (tenant_id && e->tenant == NULL) || e->payload == NULL ||
        tk_list_push(&self->tk->events, e) != TN_OK) {
        free(e->name);
        free(e->tenant);
        free(e->payload);
        free(e);
        return TN_ENOMEM;
    }
    return TN_OK;
}

/* Subscribers in plugin order, then in the order they subscribed. */
static void deliver(tk_kit *tk, const tk_event_rec *e)
{
    tn_event ev = {
        .size = sizeof ev, .name = e->name, .tenant_id = e->tenant,
        .payload = e->payload, .payload_len = strlen(e->payload)
    };
    for (size_t i = 0; i < tk->order.n; i++) {
        tn_plugin *p = tk->order.items[i];
        if (p->failed)
            continue;
        if (e->tenant != NULL && !tk_enabled(tk->live, p, e->tenant))
            continue;
        for (size_t j = 0; j < tk->subs.n; j++) {
            tk_sub *s = tk->subs.items[j];
            if (s->plugin != p || strcmp(s->name, e->name) != 0)
                continue;
            tn_plugin *saved;
            tk_enter(tk, p, &saved);
            s->fn(p, &ev, s->ud);
            tk_leave(tk, saved);
        }
    }
}

size_t tk_run_events(tk_kit *tk)
{
    size_t n = 0;
    if (tk->dirty)
        tk_check(tk);
    /* Handlers may publish: those are delivered in this run too. */
    while (tk->events_delivered < tk->events.n) {
        deliver(tk, tk->events.items[tk->events_delivered++]);
        n++;
    }
    return n;
}

size_t tk_event_count(const tk_kit *tk)
{
    return tk->events.n;
}

static const tk_event_rec *event_at(const tk_kit *tk, size_t i)
{
    return i < tk->events.n ? tk->events.items[i] : NULL;
}

const char *tk_event_name(const tk_kit *tk, size_t i)
{
    const tk_event_rec *e = event_at(tk, i);
    return e ? e->name : NULL;
}

const char *tk_event_tenant(const tk_kit *tk, size_t i)
{
    const tk_event_rec *e = event_at(tk, i);
    return e ? e->tenant : NULL;
}

const char *tk_event_payload(const tk_kit *tk, size_t i)
{
    const tk_event_rec *e = event_at(tk, i);
    return e ? e->payload : NULL;
}

void tk_events_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->events.n; i++) {
        tk_event_rec *e = tk->events.items[i];
        free(e->name);
        free(e->tenant);
        free(e->payload);
        free(e);
    }
    tk_list_clear(&tk->events);
    for (size_t i = 0; i < tk->subs.n; i++) {
        tk_sub *s = tk->subs.items[i];
        free(s->name);
        free(s);
    }
    tk_list_clear(&tk->subs);
}
