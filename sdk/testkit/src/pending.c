/*
 * pending.c - what the host's loop runs later: thread pool work, stream
 * write callbacks and database statements.  On the host none of them ever
 * completes before the call that queued it returns; the testkit queues
 * them all, in order, and runs them on the test's thread in
 * tk_run_pending().  A request with something queued stays alive (even if
 * the test frees it) until that has run.
 */
#include <stdlib.h>

#include "tk_internal.h"

static int push(tk_kit *tk, tk_pending *p)
{
    if (tk_list_push(&tk->pending, p) != TN_OK) {
        free(p);
        return TN_ENOMEM;
    }
    return TN_OK;
}

int tk_api_work_queue(tn_plugin *self, tn_work_fn work, tn_work_done_fn done, void *ud)
{
    if (self == NULL || work == NULL)
        return TN_EINVAL;
    tk_pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TN_ENOMEM;
    p->kind = TK_PENDING_WORK;
    p->plugin = self;
    p->work = work;
    p->done = done;
    p->ud = ud;
    return push(self->tk, p);
}

int tk_queue_write_done(tn_request *r, tn_write_done_fn fn, void *ud)
{
    tk_pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TN_ENOMEM;
    p->kind = TK_PENDING_WRITE;
    p->plugin = r->tk->current;
    p->req = r;
    p->written = fn;
    p->ud = ud;
    int rc = push(r->tk, p);
    if (rc == TN_OK)
        r->pending++;
    return rc;
}

int tk_queue_db(tn_request *r, tn_plugin *plugin, tk_db_op *op)
{
    tk_pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TN_ENOMEM;
    p->kind = TK_PENDING_DB;
    p->plugin = plugin;
    p->req = r;
    p->op = op;
    int rc = push(r->tk, p);
    if (rc == TN_OK)
        r->pending++;
    return rc;
}

/* Runs one item; status is what a cancelled one is told (0: not). */
static void run_one(tk_kit *tk, tk_pending *p, int cancelled)
{
    tn_plugin *saved;
    switch (p->kind) {
    case TK_PENDING_WORK:
        /* work() must not call the API: current stays unset. */
        if (!cancelled)
            p->work(p->ud);
        if (p->done != NULL) {
            tk_enter(tk, p->plugin, &saved);
            p->done(p->ud, cancelled ? TN_ECANCELED : 0);
            tk_leave(tk, saved);
        }
        break;
    case TK_PENDING_WRITE:
        p->req->pending--;
        tk_enter(tk, p->plugin, &saved);
        p->written(p->req, cancelled || p->req->aborted ? TN_ESTATE : 0, p->ud);
        tk_leave(tk, saved);
        break;
    case TK_PENDING_DB:
        if (cancelled) {
            /* The kit goes: requests hear nothing, a tn_tx TN_ECANCELED. */
            tk_db_cancel(p);
        } else {
            tk_db_run(tk, p);
        }
        break;
    }
    free(p);
}

size_t tk_run_pending(tk_kit *tk)
{
    size_t n = 0;
    tk_settings_apply(tk);
    while (tk->pending.n > 0) {
        tk_pending *p = tk->pending.items[0];
        tk_list_remove_at(&tk->pending, 0);
        run_one(tk, p, 0);
        n++;
    }
    return n;
}

/* The generation ends: queued work is cancelled, its done() told so with
 * TN_ECANCELED as on the host, write callbacks with TN_ESTATE. */
void tk_pending_cancel_all(tk_kit *tk)
{
    while (tk->pending.n > 0) {
        tk_pending *p = tk->pending.items[0];
        tk_list_remove_at(&tk->pending, 0);
        run_one(tk, p, 1);
    }
    tk_list_clear(&tk->pending);
}
