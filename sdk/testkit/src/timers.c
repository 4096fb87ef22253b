/*
 * timers.c - timers on a virtual clock.  Nothing fires on its own: the
 * test moves the clock with tk_advance_ms() and due timers fire in order
 * of due time, then of creation.  As on the host, a timer stays armed (a
 * one-shot one inert once fired) until timer_stop(), which ends the handle:
 * the host frees it, so a second timer_stop() is a bug the testkit logs.
 * The memory itself is kept until the kit goes.  The kit has timers of its
 * own (plugin NULL: a durable delivery's timeout), which fire in the same
 * order but are not counted by tk_timer_count().
 */
#include <stdlib.h>

#include "tk_internal.h"

static tn_timer *timer_new(tk_kit *tk, tn_plugin *plugin, uint64_t after_ms, uint64_t repeat_ms,
                           tn_timer_fn fn, void *ud)
{
    tn_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->tk = tk;
    t->plugin = plugin;
    t->due_ms = tk->now_ms + after_ms;
    t->repeat_ms = repeat_ms;
    t->seq = tk->timer_seq++;
    t->active = 1;
    t->fn = fn;
    t->ud = ud;
    if (tk_list_push(&tk->timers, t) != TN_OK) {
        free(t);
        return NULL;
    }
    return t;
}

tn_timer *tk_api_timer_start(tn_plugin *self, uint64_t after_ms, uint64_t repeat_ms, tn_timer_fn fn,
                             void *ud)
{
    if (self == NULL || fn == NULL)
        return NULL;
    return timer_new(self->tk, self, after_ms, repeat_ms, fn, ud);
}

tn_timer *tk_timer_kit(tk_kit *tk, uint64_t after_ms, tn_timer_fn fn, void *ud)
{
    return timer_new(tk, NULL, after_ms, 0, fn, ud);
}

void tk_api_timer_stop(tn_timer *timer)
{
    if (timer == NULL)
        return;
    if (timer->stopped && timer->plugin != NULL) {
        tk_log_kit(timer->tk, TN_LOG_ERROR,
                   "plugin %s: timer_stop() on a stopped timer "
                   "(on the host, a use after free)",
                   timer->plugin->desc.name);
        return;
    }
    timer->stopped = 1;
    timer->active = 0;
}

static tn_timer *next_due(tk_kit *tk, uint64_t until)
{
    tn_timer *best = NULL;
    for (size_t i = 0; i < tk->timers.n; i++) {
        tn_timer *t = tk->timers.items[i];
        if (!t->active || (t->plugin != NULL && t->plugin->failed) || t->due_ms > until)
            continue;
        if (best == NULL || t->due_ms < best->due_ms ||
            (t->due_ms == best->due_ms && t->seq < best->seq))
            best = t;
    }
    return best;
}

size_t tk_advance_ms(tk_kit *tk, uint64_t ms)
{
    uint64_t until = tk->now_ms + ms;
    tk_settings_apply(tk);
    size_t fired = 0;
    tn_timer *t;
    while ((t = next_due(tk, until)) != NULL) {
        tk->now_ms = t->due_ms;
        if (t->repeat_ms > 0)
            t->due_ms += t->repeat_ms;
        else
            t->active = 0;
        tn_plugin *saved;
        tk_enter(tk, t->plugin, &saved);
        t->fn(t->plugin, t->ud);
        tk_leave(tk, saved);
        if (t->plugin != NULL)
            fired++;
    }
    tk->now_ms = until;
    return fired;
}

uint64_t tk_now_ms(const tk_kit *tk)
{
    return tk->now_ms;
}

size_t tk_timer_count(const tk_kit *tk)
{
    size_t n = 0;
    for (size_t i = 0; i < tk->timers.n; i++) {
        const tn_timer *t = tk->timers.items[i];
        n += t->active && t->plugin != NULL ? 1 : 0;
    }
    return n;
}

void tk_timers_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->timers.n; i++)
        free(tk->timers.items[i]);
    tk_list_clear(&tk->timers);
}
