/*
 * tx.h - transactions outside a request (tn_tx, SDK 1.2): timers, jobs and
 * durable-event deliveries get a tenant-bound transaction with the same
 * guarantees as a request's, because it is the same machine (host_dbtx in
 * database.c) with another owner.
 *
 * Lifetimes: a tn_tx from tx_begin() lives until the callback of its
 * tx_commit()/tx_rollback() has returned.  A delivery's tn_tx
 * (delivery_tx) lives as long as its tn_delivery and ends with it: the
 * host commits it together with the acknowledgement, or rolls it back with
 * the retry.  When the worker stops, the pool closes first (statements in
 * flight answer TN_ECANCELED), then the plugins' fini() runs, then
 * host_tx_cleanup() rolls back and frees every handle still open; no
 * plugin callback runs after its fini().
 */
#ifndef HOST_TX_H
#define HOST_TX_H

#include <tanomu/tanomu.h>

struct host_worker;

/* tx_begin for the host's own callers (a job run, say): the same checks
 * and result, errors recorded against plugin p. */
int host_tx_begin(struct host_worker *w, tn_plugin *p, const char *tenant_id, tn_tx **out);

/* After the plugins' fini(): ends and frees what they left open. */
void host_tx_cleanup(struct host_worker *w);
/* Does a handle wait for the answer to its commit or rollback?  (A CLI
 * command turns the loop until none does: commands.c.) */
int host_tx_ending(const struct host_worker *w);

/* tn_api members. */
int host_api_tx_begin(tn_plugin *self, const char *tenant_id, tn_tx **out);
int host_api_tx_query(tn_tx *tx, const char *sql, int nparams, const char *const *params,
                      tn_tx_fn cb, void *ud);
int host_api_tx_commit(tn_tx *tx, tn_tx_fn cb, void *ud);
int host_api_tx_rollback(tn_tx *tx, tn_tx_fn cb, void *ud);
int host_api_tx_publish(tn_tx *tx, const char *name, const char *payload_json);
int host_api_tx_audit(tn_tx *tx, const char *actor, const char *action, const char *target_type,
                      const char *target_id, const char *result);
/* The delivery's own transaction: its statements commit together with the
 * acknowledgement (outbox.c), or roll back with the retry. */
tn_tx *host_api_delivery_tx(tn_delivery *d);

#endif
