/*
 * request.h - struct tn_request: one HTTP request and its response.
 *
 * A connection owns one request object and reuses it for each request it
 * carries (requests on a connection are answered strictly in order, so
 * only one is ever in progress).  Everything a plugin allocates through
 * the request lives in its arena and goes away when the request ends.
 */
#ifndef HOST_REQUEST_H
#define HOST_REQUEST_H

#include <stdint.h>

#include <tanomu/tanomu.h>

#include "buf.h"
#include "config.h"
#include "http_util.h"
#include "router.h"

struct host_conn;
struct host_server;

typedef struct host_arena_block host_arena_block;
typedef struct host_arena {
    host_arena_block *head;
} host_arena;

void *host_arena_alloc(host_arena *a, size_t n);
void host_arena_reset(host_arena *a);

typedef struct host_header {
    char *name;
    char *value;
} host_header;

/* Headers the host adds unless a plugin set them itself. */
#define HOST_OWN_CONTENT_TYPE 0x1u
#define HOST_OWN_CSP 0x2u
#define HOST_OWN_REFERRER 0x4u
#define HOST_OWN_NOSNIFF 0x8u
#define HOST_OWN_HSTS 0x10u

struct tn_request {
    struct host_conn *conn;
    struct host_server *srv;
    host_arena arena;

    /* What the client sent. */
    const char *method;
    int method_id; /* enum http_method */
    host_buf url;
    char *path;
    char *query;
    host_buf hdrbuf; /* "name\0value\0" pairs while parsing */
    host_header *headers;
    int nheaders;
    int hdr_state; /* 0 none, 1 in field, 2 in value */
    size_t head_bytes;
    host_buf body;
    int http_minor;
    int keepalive;
    int expect_continue;
    char request_id[65];
    const char *client_addr;
    uint64_t start_ns;

    /* What the host made of it. */
    const host_tenant *tenant;
    host_match match;
    char *params[HOST_ROUTE_MAX_PARAMS];
    char *user_id;
    char *roles;
    const tn_auth_info *auth; /* req_set_auth's copy, in the arena (ABI 1.2) */
    struct host_dbtx *db;     /* the request's transaction (database.c) */

    /* Where the pipeline is (pipeline.c). */
    int stage;
    int hook;
    int suspended;
    int in_hook;
    int pending_resume; /* status passed to resume while in the hook */
    int breaker_probe;  /* the half-open breaker probe it is (slot + 1) */
    int active;         /* between head complete and response end */
    int aborted;        /* the client went away */
    int ended;          /* response done inside a hook: finish on return */

    /* The response. */
    int status;
    host_buf resp_headers; /* "Name: value\r\n" lines set by plugins */
    host_buf resp_body;
    unsigned own; /* HOST_OWN_* set by plugins */
    int streaming;
    int head_sent;
    int close_after; /* send Connection: close */
    uint64_t bytes_sent;

    struct tn_call *calls; /* outbound calls tied to it (runtime/outbound_api.c) */
};

/* Life cycle, used by the HTTP server. */
void host_request_init(tn_request *r);
void host_request_reset(tn_request *r);
void host_request_free(tn_request *r);
int host_request_index_headers(tn_request *r);

/* Response helpers the host itself uses (plugins reach them via tn_api). */
int host_resp_status(tn_request *r, int status);
int host_resp_header(tn_request *r, const char *name, const char *value);
int host_resp_body(tn_request *r, const void *data, size_t len);
int host_resp_json(tn_request *r, int status, const char *json);
int host_resp_error(tn_request *r, int status, const char *code, const char *message);

/* Request accessors (tn_api members). */
const char *host_req_header(const tn_request *r, const char *name);
/* fn(name, value, ud) for each header in arrival order until it returns
 * non-zero, which is then returned; TN_OK after the last, TN_EINVAL when r
 * or fn is NULL. */
int host_req_header_each(const tn_request *r, tn_header_fn fn, void *ud);
const char *host_req_cookie(tn_request *r, const char *name);
const char *host_req_query_param(tn_request *r, const char *name);
const char *host_req_param(const tn_request *r, const char *name);
char *host_req_strdup(tn_request *r, const char *s);
char *host_percent_decode(tn_request *r, const char *s, size_t n, int plus_is_space);

#endif
