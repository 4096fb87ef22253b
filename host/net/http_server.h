/*
 * http_server.h - HTTP/1.1 over libuv: accepting, parsing with
 * libhttp-parser, limits and timeouts, keep-alive and pipelining, and
 * writing responses.  What a request means is not decided here: the server
 * hands each complete request to its dispatch function (the worker's plugin
 * pipeline, or the master's admin pages), which answers it later with
 * host_response_send() or the streaming calls, exactly once.
 *
 * Listening sockets are opened once by the master and inherited by the
 * workers; each worker watches the shared socket with uv_poll and accepts
 * one connection per wake-up itself, declining while it holds more
 * connections than the least loaded worker of its generation, so one busy
 * worker does not take every connection (libuv's accept loop is greedy).
 */
#ifndef HOST_HTTP_SERVER_H
#define HOST_HTTP_SERVER_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "metrics.h"
#include "request.h"

typedef struct host_server host_server;
typedef struct host_conn host_conn;
typedef struct host_listener host_listener;
struct host_tls_ctx;

typedef void (*host_dispatch_fn)(tn_request *req);
typedef void (*host_server_fn)(host_server *srv);

struct host_server {
    uv_loop_t *loop;
    host_limits limits;
    host_dispatch_fn dispatch; /* a complete request is ready */
    host_dispatch_fn complete; /* its response has been handed to the socket */
    host_server_fn idle;       /* draining and the last connection closed */
    host_dispatch_fn aborted;  /* the client of an active request went away */
    void *ctx;
    host_metrics *metrics;  /* may be NULL */
    host_worker_slot *slot; /* may be NULL */
    int64_t generation;
    struct host_tls_ctx *tls; /* for listeners added with tls = 1 */
    int draining;
    int nconns;
    host_conn *conns;
    host_listener *listeners;
    uv_timer_t retry_timer; /* re-arms accepting after a balancing pause */
    uv_idle_t post_idle;    /* runs posted connections from the loop */
    host_conn *posted;      /* connections with a pipelined request to start */
    int accept_paused;
    int fd_starved; /* accept failed for want of descriptors */
    char date[64];
    uint64_t date_sec;
    uint64_t rid_prefix;
    uint64_t rid_counter;
};

/* Opens a listening TCP socket ("addr:port"); returns the fd or -1. */
int host_listen_socket(const char *addr, char *err, size_t errlen);

int host_server_init(host_server *srv, uv_loop_t *loop, const host_limits *limits);
/* Starts accepting on an already listening fd (not taken over: the master
 * keeps it).  balance: take part in per-generation balancing. */
int host_server_add_listener(host_server *srv, int fd, int tls, int balance);
void host_server_stop_accepting(host_server *srv);
/* Stop accepting; finish what is in flight; call srv->idle when empty. */
void host_server_drain(host_server *srv);
/* Closes every connection now (drain timeout). */
void host_server_close_all(host_server *srv);
/* Closes the server's own handles; call before closing the loop. */
void host_server_close(host_server *srv);

/* Answer the request: head + buffered body. */
void host_response_send(tn_request *req);
int host_response_stream_begin(tn_request *req);
int host_response_stream_write(tn_request *req, const void *data, size_t len, tn_write_done_fn done,
                               void *ud);
int host_response_stream_end(tn_request *req);
int host_request_is_tls(const tn_request *req);
/* After a hook returns: if its response ended meanwhile, finish the
 * request now and return 1 (the request must not be touched after). */
int host_request_unwind(tn_request *req);

uint64_t host_now_ns(void);

#endif
