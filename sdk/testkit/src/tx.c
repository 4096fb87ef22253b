/*
 * tx.c - transactions outside a request (tx_begin & co, delivery_tx), as
 * the host's host/runtime/tx.c gives them.
 *
 * A tn_tx is db.c's transaction with a handle for its owner: bound to the
 * tenant it names (NULL: none), begun by its first statement, statements
 * answered in tk_run_pending() in order, never inside the call; the
 * handler sees them with that tenant.  tx_commit()/tx_rollback() end the
 * handle after their callback.  Refused at once, as on the host: a
 * statement with transaction control, SET or set_config (TN_EINVAL), any
 * call after the end (TN_ESTATE), an unknown tenant (TN_ENOTFOUND),
 * tx_publish without a tenant (TN_EINVAL).  A delivery's transaction
 * (delivery_tx) is ended by the kit: committed with the delivery's ack
 * when the subscriber succeeds, so a later delivery of the event skips
 * that subscriber, or rolled back with the retry.  tk_free() answers
 * statements still queued with TN_ECANCELED, then after the plugins'
 * fini() rolls back (with a warning) and frees what they left open.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

#define TK_TX_MAX_PARAMS 1000 /* the host's */

static void tx_unlist(tn_tx *t)
{
    tk_list *l = &t->tk->txs;
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i] == t) {
            tk_list_remove_at(l, i);
            return;
        }
    }
}

void tk_tx_free(tn_tx *t)
{
    if (t == NULL)
        return;
    tx_unlist(t);
    tk_tx_clear(&t->state); /* what did not commit is rolled back */
    free(t->tenant);
    free(t);
}

static tn_tx *tx_new(tn_plugin *p, const char *tenant)
{
    tn_tx *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->tk = p->tk;
    t->plugin = p;
    if ((tenant != NULL && (t->tenant = tk_strdup(tenant)) == NULL) ||
        tk_list_push(&p->tk->txs, t) != TN_OK) {
        free(t->tenant);
        free(t);
        return NULL;
    }
    return t;
}

int tk_api_tx_begin(tn_plugin *self, const char *tenant_id, tn_tx **out)
{
    if (out != NULL)
        *out = NULL;
    if (self == NULL || out == NULL)
        return TN_EINVAL;
    tk_settings_apply(self->tk);
    if (tenant_id != NULL && !tk_tenant_known(self->tk->live, tenant_id)) {
        tk_log_kit(self->tk, TN_LOG_ERROR, "tx_begin: no tenant %s", tenant_id);
        return tk_plugin_fail(self, TN_ENOTFOUND, "tx_begin: no tenant %s", tenant_id);
    }
    if ((*out = tx_new(self, tenant_id)) == NULL)
        return TN_ENOMEM;
    return TN_OK;
}

static int usable(const tn_tx *t, const char *what)
{
    if (t->ended) {
        tk_log_kit(t->tk, TN_LOG_ERROR, "%s: the transaction has ended", what);
        return TN_ESTATE;
    }
    return TN_OK;
}

int tk_api_tx_query(tn_tx *tx, const char *sql, int nparams, const char *const *params, tn_tx_fn cb,
                    void *ud)
{
    if (tx == NULL || sql == NULL || sql[0] == '\0' || nparams < 0 || nparams > TK_TX_MAX_PARAMS ||
        (nparams > 0 && params == NULL))
        return TN_EINVAL;
    int rc = usable(tx, "tx_query");
    if (rc != TN_OK)
        return rc;
    /* Transaction control, SET and set_config() are the host's (S21). */
    if (!host_sql_allowed(sql)) {
        tk_log_kit(tx->tk, TN_LOG_ERROR,
                   "statement refused: transaction control and app.tenant_id are the host's");
        return TN_EINVAL;
    }
    rc = tk_db_tx_query(tx, sql, nparams, params, cb, ud);
    if (rc == TN_OK)
        tx->used = 1;
    return rc;
}

static int end(tn_tx *tx, int commit, tn_tx_fn cb, void *ud)
{
    if (tx == NULL)
        return TN_EINVAL;
    if (tx->d != NULL) {
        tk_log_kit(tx->tk, TN_LOG_ERROR, "%s: a delivery's transaction ends with the delivery",
                   commit ? "tx_commit" : "tx_rollback");
        return TN_ESTATE;
    }
    int rc = usable(tx, commit ? "tx_commit" : "tx_rollback");
    if (rc == TN_OK && (rc = tk_db_tx_end(tx, commit, cb, ud)) == TN_OK)
        tx->ended = 1;
    return rc;
}

int tk_api_tx_commit(tn_tx *tx, tn_tx_fn cb, void *ud)
{
    return end(tx, 1, cb, ud);
}

int tk_api_tx_rollback(tn_tx *tx, tn_tx_fn cb, void *ud)
{
    return end(tx, 0, cb, ud);
}

int tk_api_tx_publish(tn_tx *tx, const char *name, const char *payload_json)
{
    if (tx == NULL)
        return TN_EINVAL;
    int rc = usable(tx, "tx_publish");
    if (rc == TN_OK && (rc = tk_db_tx_publish(tx, name, payload_json)) == TN_OK)
        tx->used = 1;
    return rc;
}

tn_tx *tk_api_delivery_tx(tn_delivery *d)
{
    if (d == NULL || d->done || d->sub == NULL)
        return NULL;
    if (d->tx == NULL) {
        tk_sub *s = d->sub;
        if ((d->tx = tx_new(s->plugin, d->row->tenant)) != NULL)
            d->tx->d = d;
    }
    return d->tx;
}

void tk_tx_answer(tn_tx *t, int ends, tn_tx_fn cb, const tn_db_result *res, void *ud)
{
    tn_plugin *saved;
    t->pending--;
    if (ends && t->d != NULL) {
        /* The kit's own commit or rollback of a delivery's transaction. */
        tk_delivery_settled(t->d, t->settle_ok && res->status == TN_OK,
                            t->settle_ok && res->status != TN_OK
                                ? "the delivery's transaction did not commit"
                                : NULL);
        return;
    }
    if (cb != NULL) {
        tk_enter(t->tk, t->plugin, &saved);
        cb(t, res, ud);
        tk_leave(t->tk, saved);
    }
    if (ends)
        tk_tx_free(t);
}

int tk_tx_settle(tn_tx *t, int ok)
{
    t->ended = 1;
    if (!t->used)
        return 0; /* nothing ran: nothing to end */
    t->settle_ok = ok;
    /* The ack is the host's INSERT, not shown to the handler; COMMIT is. */
    return tk_db_tx_end(t, ok, NULL, NULL) == TN_OK ? 1 : -1;
}

void tk_txs_free(tk_kit *tk)
{
    while (tk->txs.n > 0) {
        tn_tx *t = tk->txs.items[tk->txs.n - 1];
        if (t->d != NULL) {
            tx_unlist(t); /* freed with its delivery */
            continue;
        }
        if (t->state.open && !t->ended)
            tk_log_kit(tk, TN_LOG_WARN,
                       "transaction not committed when its handle ended: rolled back");
        tk_tx_free(t);
    }
    tk_list_clear(&tk->txs);
}

int tk_api_tx_audit(tn_tx *tx, const char *actor, const char *action, const char *target_type,
                    const char *target_id, const char *result)
{
    if (tx == NULL)
        return TN_EINVAL;
    int rc = usable(tx, "tx_audit");
    if (rc == TN_OK &&
        (rc = tk_db_tx_audit(tx, actor, action, target_type, target_id, result)) == TN_OK)
        tx->used = 1;
    return rc;
}
