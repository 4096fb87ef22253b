/*
 * outbound.h - a worker's libcurl multi handle, driven by its libuv loop:
 * curl's socket callback becomes a uv_poll per socket, its timer callback
 * one uv_timer (the pattern of curl's multi-uv example).  Connections are
 * cached by the multi handle, so calls to one peer from one worker reuse
 * them.
 *
 * Every transfer started here gets the egress policy's options (egress.h)
 * set last, after whatever its owner set: the socket-open callback that
 * refuses non-public addresses, the allowed protocols, TLS required and
 * verified, no proxy, no redirects followed by curl itself.  What a call
 * means to a plugin (queues, limits, the request it belongs to) is
 * runtime/outbound_api.c's business.
 */
#ifndef HOST_OUTBOUND_H
#define HOST_OUTBOUND_H

#include <curl/curl.h>
#include <uv.h>

#include "config.h"

typedef struct host_outbound host_outbound;
typedef struct host_transfer host_transfer;

/* A transfer ended (not after host_transfer_stop): called from the loop,
 * outside any curl callback, with the easy handle out of the multi. */
typedef void (*host_transfer_fn)(host_transfer *t, CURLcode rc);

struct host_transfer {
    CURL *easy;
    host_transfer_fn done;
    int http_only; /* http_call: http(s) only; else curl_run's protocols */
    int running;   /* started: in the multi handle, or waiting to be added */
    int waiting;   /* waiting to be added (a few per turn of the loop) */
    host_transfer *wprev, *wnext;
    int refused; /* the policy refused a connect: why says what */
    char why[320];
    void *saved_private; /* the owner's CURLOPT_PRIVATE, given back at the end */
    host_outbound *o;
};

host_outbound *host_outbound_new(uv_loop_t *loop, const host_outbound_conf *conf);
/* Stop every transfer first (host_transfer_stop).  Closes the cached
 * connections and the handles; the memory goes when libuv has closed them. */
void host_outbound_free(host_outbound *o);

/* Applies the policy's options to t->easy and adds it to the multi handle
 * (at most a few per turn of the loop: a new TLS connection costs the loop
 * about a millisecond, a thousand at once would stall it); 0, or -1 with
 * why set. */
int host_transfer_start(host_outbound *o, host_transfer *t);
/* Takes a running transfer out: no done callback. */
void host_transfer_stop(host_transfer *t);

#endif
