/*
 * outbound_api.h - plugins' outbound calls (tn_call, SDK 1.2): http_call,
 * call_cancel and curl_run over the worker's loop-driven curl multi
 * (net/outbound.c), with a per-plugin concurrency limit and bounded queue,
 * calls tied to a request, metrics and one log line per call.
 *
 * Lifetimes: a tn_call lives until its callback has returned; the callback
 * runs exactly once, from the loop, never inside http_call/curl_run or
 * call_cancel.  A call tied to a request is cancelled (TN_ECANCELED) when
 * the client goes away, and when the request ends before the call (then
 * the callback runs before the request is recycled).  A stopping worker
 * cancels every call, callbacks included, before the plugins' fini().
 */
#ifndef HOST_OUTBOUND_API_H
#define HOST_OUTBOUND_API_H

#include <tanomu/tanomu.h>

struct host_worker;

/* Opens the worker's multi handle; 0 or -1. */
int host_calls_open(struct host_worker *w);
/* Cancels every call (callbacks run now, TN_ECANCELED); later calls are
 * refused with TN_ESTATE.  Before the plugins' fini(). */
void host_calls_stop(struct host_worker *w);
/* After fini(): closes the multi handle and frees the context. */
void host_calls_close(struct host_worker *w);

/* The client went away: the request's calls end with TN_ECANCELED (their
 * callbacks run later, from the loop). */
void host_calls_request_aborted(tn_request *req);
/* The request is over: its calls still running end now with TN_ECANCELED. */
void host_calls_request_end(tn_request *req);

/* tn_api members. */
int host_api_http_call(tn_plugin *self, tn_request *req, const tn_http_request *r, tn_http_fn cb,
                       void *ud, tn_call **out);
void host_api_call_cancel(tn_call *call);
int host_api_curl_run(tn_plugin *self, tn_request *req, void *easy, tn_curl_fn cb, void *ud,
                      tn_call **out);

#endif
