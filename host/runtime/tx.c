/*
 * tx.c - tn_tx, a transaction outside a request: a host_dbtx (database.c)
 * owned by a handle instead of a request.  See tx.h.
 *
 * The machine does the work (begin on the first statement with the tenant
 * bound by set_config, order, results later, nothing after the end, roll
 * back unless committed); this file adds the handle's rules: the plugin's
 * checks and last_error, the end callback after which the handle is gone,
 * a delivery's transaction that only the host ends (with the ack), and the
 * worker's list of open handles, so a stopping worker ends them all.
 */
#include "tx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "database.h"
#include "http_util.h"
#include "log.h"
#include "outbox.h"

#define TX_MAX_PARAMS 1000 /* as db_query */

struct tn_tx {
    tn_tx *prev, *next; /* the worker's open handles */
    int linked;
    host_worker *w;
    tn_plugin *plugin;
    host_dbtx *m; /* NULL once released */
    int used;     /* a statement was accepted */
    int ended;    /* commit or rollback was asked */
    int orphaned; /* the plugin's fini() has run: no more callbacks */
    int delivery; /* a delivery's: the host ends it, outbox.c frees it */
    tn_tx_fn end_cb;
    void *end_ud;
    host_delivery_settled_fn settled; /* a delivery's end, for outbox.c */
    void *settled_ud;
    int settle_ok; /* committing the ack (1) or rolling back (0) */
};

static void on_end(tn_tx *tx, const tn_db_result *res, void *ud);

/* ---- the handle as the machine's owner ------------------------------------- */

static void tx_invoke(void *owner, host_dbtx_cbfn cb, const tn_db_result *res, void *ud)
{
    tn_tx *tx = owner;

    if (cb == (host_dbtx_cbfn)on_end)
        on_end(tx, res, ud); /* the host's own: runs even after fini() */
    else if (!tx->orphaned)
        ((tn_tx_fn)cb)(tx, res, ud);
}

static const char *tx_request_id(void *owner)
{
    (void)owner;
    return NULL;
}

static const char *tx_plugin(void *owner)
{
    const tn_tx *tx = owner;

    return tx && tx->plugin ? tx->plugin->name : NULL;
}

static const host_dbtx_owner tx_owner = {tx_invoke, tx_request_id, tx_plugin, 1};

static void tx_unlink(tn_tx *tx)
{
    if (!tx->linked)
        return;
    if (tx->prev)
        tx->prev->next = tx->next;
    else
        tx->w->txs = tx->next;
    if (tx->next)
        tx->next->prev = tx->prev;
    tx->prev = tx->next = NULL;
    tx->linked = 0;
}

static void tx_release(tn_tx *tx)
{
    host_dbtx *m = tx->m;

    tx->m = NULL;
    host_dbtx_release(m);
}

static void tx_free(tn_tx *tx)
{
    tx_unlink(tx);
    tx_release(tx);
    free(tx);
}

static tn_tx *tx_new(host_worker *w, tn_plugin *p, const char *tenant)
{
    tn_tx *tx = calloc(1, sizeof *tx);

    if (!tx)
        return NULL;
    tx->w = w;
    tx->plugin = p;
    if (!(tx->m = host_dbtx_new(w, tenant, &tx_owner, tx))) {
        free(tx);
        return NULL;
    }
    tx->next = w->txs;
    if (w->txs)
        w->txs->prev = tx;
    w->txs = tx;
    tx->linked = 1;
    return tx;
}

/* The commit or rollback answered: the plugin's callback, then the handle
 * goes; a delivery's goes to outbox.c instead, and stays until it frees
 * the delivery. */
static void on_end(tn_tx *tx, const tn_db_result *res, void *ud)
{
    host_delivery_settled_fn fn = tx->settled;
    const char *error = NULL;
    char why[160];

    (void)ud;
    if (fn) {
        tx->settled = NULL;
        tx_release(tx);
        if (tx->settle_ok && res->status != TN_OK) {
            /* The status and SQLSTATE only: the message may quote values. */
            snprintf(why, sizeof why,
                     "the delivery's transaction did not commit (status %d, sqlstate %s)",
                     res->status, host_api_db_sqlstate(res)[0] ? host_api_db_sqlstate(res) : "-");
            error = why;
        }
        fn(tx->settled_ud, tx->settle_ok && res->status == TN_OK, error);
        return;
    }
    if (tx->end_cb && !tx->orphaned)
        tx->end_cb(tx, res, tx->end_ud);
    tx_free(tx);
}

/* ---- for the host ------------------------------------------------------------ */

static int tenant_known(const host_worker *w, const char *tenant)
{
    int i;

    for (i = 0; i < w->conf.ntenants; i++)
        if (w->conf.tenants[i].id && strcmp(w->conf.tenants[i].id, tenant) == 0)
            return 1;
    return 0;
}

int host_tx_begin(host_worker *w, tn_plugin *p, const char *tenant_id, tn_tx **out)
{
    tn_tx *tx;

    if (!out)
        return host_plugin_fail(p, TN_EINVAL, "tx_begin: out is NULL");
    *out = NULL;
    if (!w)
        return host_plugin_fail(p, TN_ESTATE, "tx_begin: the plugin is not serving");
    if (!w->conf.server.db.url)
        return host_plugin_fail(p, TN_ESTATE, "tx_begin: no database is configured");
    if (tenant_id && !tenant_known(w, tenant_id))
        return host_plugin_fail(p, TN_ENOTFOUND, "tx_begin: no tenant \"%.64s\"", tenant_id);
    if (!(tx = tx_new(w, p, tenant_id)))
        return host_plugin_fail(p, TN_ENOMEM, "tx_begin: out of memory");
    *out = tx;
    return TN_OK;
}

void host_tx_cleanup(host_worker *w)
{
    tn_tx *tx;

    while ((tx = w->txs) != NULL) {
        tx_unlink(tx);
        tx->orphaned = 1;
        if (tx->delivery || tx->ended)
            tx_release(tx); /* freed with its delivery, or by on_end */
        else
            tx_free(tx);
    }
}

int host_tx_ending(const host_worker *w)
{
    const tn_tx *tx;

    for (tx = w->txs; tx; tx = tx->next)
        if (tx->ended && !tx->delivery)
            return 1;
    return 0;
}

/* ---- a delivery's transaction ---------------------------------------------------- */

/* Ends it for outbox.c: see host_delivery_tx_ops. */
static int delivery_settle(tn_tx *tx, int ok, const char *ack_sql, int nparams,
                           const char *const *params, host_delivery_settled_fn fn, void *ud)
{
    int rc;

    if (tx->ended)
        return -1;
    tx->ended = 1;
    if (!tx->used) {
        tx_release(tx);
        return 0;
    }
    if (!tx->m)
        return -1; /* rolled back when the worker stopped */
    if (ok && ack_sql && host_dbtx_query(tx->m, ack_sql, nparams, params, NULL, NULL) != TN_OK)
        ok = 0;
    tx->settled = fn;
    tx->settled_ud = ud;
    tx->settle_ok = ok;
    rc = host_dbtx_end(tx->m, ok, (host_dbtx_cbfn)on_end, NULL);
    if (rc != TN_OK) {
        tx->settled = NULL;
        tx_release(tx);
        return -1;
    }
    return 1;
}

static void delivery_free(tn_tx *tx)
{
    tx_free(tx);
}

static const host_delivery_tx_ops delivery_ops = {delivery_settle, delivery_free};

tn_tx *host_api_delivery_tx(tn_delivery *d)
{
    const char *tenant;
    tn_plugin *p;
    tn_tx *tx;

    if ((tx = host_outbox_delivery_tx(d)) != NULL)
        return tx;
    if (!host_outbox_delivery_open(d, &p, &tenant))
        return NULL;
    if (!p->worker || !p->worker->conf.server.db.url || !(tx = tx_new(p->worker, p, tenant))) {
        host_plugin_fail(p, TN_ESTATE, "delivery_tx: no database configured, or out of memory");
        return NULL;
    }
    tx->delivery = 1;
    host_outbox_delivery_attach(d, tx, &delivery_ops);
    return tx;
}

/* ---- the API ------------------------------------------------------------------- */

int host_api_tx_begin(tn_plugin *self, const char *tenant_id, tn_tx **out)
{
    if (!self) {
        if (out)
            *out = NULL;
        return TN_EINVAL;
    }
    return host_tx_begin(self->worker, self, tenant_id, out);
}

/* The handle takes statements: not ended, not gone with the worker. */
static int usable(tn_tx *tx, const char *what)
{
    if (tx->ended || !tx->m || tx->orphaned)
        return host_plugin_fail(tx->plugin, TN_ESTATE, "%s: the transaction has ended", what);
    return TN_OK;
}

int host_api_tx_query(tn_tx *tx, const char *sql, int nparams, const char *const *params,
                      tn_tx_fn cb, void *ud)
{
    int rc;

    if (!tx)
        return TN_EINVAL;
    if ((rc = usable(tx, "tx_query")) != TN_OK)
        return rc;
    if (!sql || !*sql || nparams < 0 || nparams > TX_MAX_PARAMS || (nparams > 0 && !params))
        return host_plugin_fail(tx->plugin, TN_EINVAL,
                                "tx_query: no statement, or bad parameter count");
    if (!host_sql_allowed(sql)) {
        host_log_for(HOST_LOG_ERROR, tx->plugin->name, NULL,
                     "statement refused: transaction control and app.tenant_id are the host's");
        return host_plugin_fail(tx->plugin, TN_EINVAL,
                                "tx_query: statement refused: transaction control, SET and "
                                "set_config are the host's");
    }
    rc = host_dbtx_query(tx->m, sql, nparams, params, (host_dbtx_cbfn)cb, ud);
    if (rc != TN_OK)
        return host_plugin_fail(tx->plugin, rc, "tx_query: not queued (%d)", rc);
    tx->used = 1;
    return TN_OK;
}

static int tx_end(tn_tx *tx, int commit, tn_tx_fn cb, void *ud)
{
    const char *what = commit ? "tx_commit" : "tx_rollback";
    int rc;

    if (!tx)
        return TN_EINVAL;
    if (tx->delivery)
        return host_plugin_fail(tx->plugin, TN_ESTATE,
                                "%s: a delivery's transaction ends with the delivery "
                                "(TN_CONTINUE or delivery_done commits it, a failure rolls it "
                                "back)",
                                what);
    if ((rc = usable(tx, what)) != TN_OK)
        return rc;
    tx->end_cb = cb;
    tx->end_ud = ud;
    rc = host_dbtx_end(tx->m, commit, (host_dbtx_cbfn)on_end, NULL);
    if (rc != TN_OK)
        return host_plugin_fail(tx->plugin, rc, "%s: not queued (%d)", what, rc);
    tx->ended = 1;
    return TN_OK;
}

int host_api_tx_commit(tn_tx *tx, tn_tx_fn cb, void *ud)
{
    return tx_end(tx, 1, cb, ud);
}

int host_api_tx_rollback(tn_tx *tx, tn_tx_fn cb, void *ud)
{
    return tx_end(tx, 0, cb, ud);
}

int host_api_tx_publish(tn_tx *tx, const char *name, const char *payload_json)
{
    int rc;

    if (!tx)
        return TN_EINVAL;
    if ((rc = usable(tx, "tx_publish")) != TN_OK)
        return rc;
    rc = host_dbtx_publish(tx->m, name, payload_json);
    if (rc == TN_EINVAL)
        return host_plugin_fail(tx->plugin, rc,
                                "tx_publish: needs a tenant, a valid event name and JSON");
    if (rc != TN_OK)
        return host_plugin_fail(tx->plugin, rc, "tx_publish: not queued (%d)", rc);
    tx->used = 1;
    return TN_OK;
}

/* The audit row of a transaction without a request: no client address and
 * no request id (the columns are NULL); actor is the user or principal. */
int host_api_tx_audit(tn_tx *tx, const char *actor, const char *action, const char *target_type,
                      const char *target_id, const char *result)
{
    int rc;

    if (!tx)
        return TN_EINVAL;
    if ((rc = usable(tx, "tx_audit")) != TN_OK)
        return rc;
    rc = host_dbtx_audit(tx->m, actor, NULL, NULL, action, target_type, target_id, result);
    if (rc == TN_EINVAL)
        return host_plugin_fail(tx->plugin, rc,
                                "tx_audit: needs a tenant, an action of 1..128 bytes and a "
                                "result of ok, denied or failed");
    if (rc != TN_OK)
        return host_plugin_fail(tx->plugin, rc, "tx_audit: not queued (%d)", rc);
    tx->used = 1;
    return TN_OK;
}
