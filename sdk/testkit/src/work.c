/*
 * work.c - work for the thread pool, and the callbacks of stream writes.
 * On the host, work() runs on a pool thread and done() later on the loop;
 * neither ever runs before work_queue() returns.  The testkit queues both
 * and runs them, in order, on the test's thread in tk_run_pending().
 */
#include <stdlib.h>

#include "tk_internal.h"

int tk_api_work_queue(tn_plugin *self, tn_work_fn work, tn_work_done_fn done, void *ud)
{
    if (self == NULL || work == NULL)
        return TN_EINVAL;
    tk_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        return TN_ENOMEM;
    w->plugin = self;
    w->work = work;
    w->done = done;
    w->ud = ud;
    if (tk_list_push(&self->tk->work, w) != TN_OK) {
        free(w);
        return TN_ENOMEM;
    }
    return TN_OK;
}

int tk_queue_write_done(tn_request *r, tn_write_done_fn fn, void *ud)
{
    tk_kit *tk = r->tk;
    tk_write_done *w = calloc(1, sizeof *w);
    if (w == NULL)
        return TN_ENOMEM;
    w->req = r;
    w->plugin = tk->current;
    w->fn = fn;
    w->ud = ud;
    if (tk_list_push(&tk->writes, w) != TN_OK) {
        free(w);
        return TN_ENOMEM;
    }
    r->pending_writes++;
    return TN_OK;
}

size_t tk_run_pending(tk_kit *tk)
{
    size_t n = 0;
    for (;;) {
        tn_plugin *saved;
        if (tk->work.n > 0) {
            tk_work *w = tk->work.items[0];
            tk_list_remove_at(&tk->work, 0);
            /* work() must not call the API: current stays unset. */
            w->work(w->ud);
            if (w->done != NULL) {
                tk_enter(tk, w->plugin, &saved);
                w->done(w->ud, 0);
                tk_leave(tk, saved);
            }
            free(w);
            n++;
        } else if (tk->writes.n > 0) {
            tk_write_done *w = tk->writes.items[0];
            tk_list_remove_at(&tk->writes, 0);
            w->req->pending_writes--;
            tk_enter(tk, w->plugin, &saved);
            w->fn(w->req, w->req->aborted ? TN_ESTATE : 0, w->ud);
            tk_leave(tk, saved);
            free(w);
            n++;
        } else {
            return n;
        }
    }
}

/* The generation ends: queued work is cancelled, its done() told so with
 * TN_ESTATE, and write callbacks too. */
void tk_work_cancel_all(tk_kit *tk)
{
    while (tk->work.n > 0 || tk->writes.n > 0) {
        tn_plugin *saved;
        if (tk->work.n > 0) {
            tk_work *w = tk->work.items[0];
            tk_list_remove_at(&tk->work, 0);
            if (w->done != NULL) {
                tk_enter(tk, w->plugin, &saved);
                w->done(w->ud, TN_ESTATE);
                tk_leave(tk, saved);
            }
            free(w);
        } else {
            tk_write_done *w = tk->writes.items[0];
            tk_list_remove_at(&tk->writes, 0);
            w->req->pending_writes--;
            tk_enter(tk, w->plugin, &saved);
            w->fn(w->req, TN_ESTATE, w->ud);
            tk_leave(tk, saved);
            free(w);
        }
    }
    tk_list_clear(&tk->work);
    tk_list_clear(&tk->writes);
}
