/*
 * outbox.h - the durable event dispatcher of a worker.
 *
 * Events written with db_publish() sit in the outbox table, committed with
 * the change they report.  Each worker claims due events of one tenant at a
 * time with FOR UPDATE SKIP LOCKED (so an event is with one worker at a
 * time), hands them to the plugins that subscribed durably, and records the
 * outcome in the same transaction: delivered, or retried later with
 * exponential backoff, or dead after max_attempts.  A worker killed in the
 * middle never commits, so the rows unlock and are delivered again: at
 * least once.
 */
#ifndef HOST_OUTBOX_H
#define HOST_OUTBOX_H

#include <tanomu/tanomu.h>

struct host_worker;
typedef struct host_outbox host_outbox;

int host_outbox_start(struct host_worker *w);
void host_outbox_stop(struct host_worker *w);
/* After the loop has run its last callbacks (the batch has ended). */
void host_outbox_free(struct host_worker *w);
/* Events for tenant were committed (by this worker, or NOTIFY said so). */
void host_outbox_kick(struct host_worker *w, const char *tenant);

/* [a-z][a-z0-9_.]{0,127}: every event name, durable or not. */

int host_api_event_subscribe_durable(tn_plugin *self, const char *name, tn_durable_fn fn, void *ud);
void host_api_delivery_done(tn_delivery *d, int ok, const char *error);

/* -- a delivery's transaction (delivery_tx, made by tx.c) ---------------------
 * The dispatcher ends it when the subscriber's outcome is known: settle()
 * with ok runs ack_sql in it and commits, else rolls back; it returns 1 if
 * fn follows with the outcome, 0 if nothing ran (go on with ok), < 0 if it
 * cannot commit.  free() goes with the delivery. */
typedef void (*host_delivery_settled_fn)(void *ud, int ok, const char *error);
typedef struct host_delivery_tx_ops {
    int (*settle)(tn_tx *tx, int ok, const char *ack_sql, int nparams, const char *const *params,
                  host_delivery_settled_fn fn, void *ud);
    void (*free)(tn_tx *tx);
} host_delivery_tx_ops;

/* The transaction attached to d, or NULL. */
tn_tx *host_outbox_delivery_tx(const tn_delivery *d);
/* 1 if d may still get a transaction (not finished), with its subscriber's
 * plugin and the event's tenant. */
int host_outbox_delivery_open(const tn_delivery *d, tn_plugin **plugin, const char **tenant);
void host_outbox_delivery_attach(tn_delivery *d, tn_tx *tx, const host_delivery_tx_ops *ops);

#endif
