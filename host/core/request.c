/*
 * request.c - the request object: arena, header lookup, cookies, query
 * parameters, and the response setters that guard what goes on the wire.
 *
 * Every header a plugin sets passes host_resp_header(), which refuses CR,
 * LF and NUL in values and anything but an HTTP token as a name (S7): it
 * is the only way a header reaches the response head.  Those rules, like
 * the decoding of cookies and query parameters, are in http_util.c, which
 * the SDK testkit shares.
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_util.h"

#define ARENA_BLOCK 4096

struct host_arena_block {
    host_arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

void *host_arena_alloc(host_arena *a, size_t n)
{
    host_arena_block *b = a->head;
    size_t need = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    void *p;

    if (n > (1u << 30))
        return NULL;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    p = (char *)b->data + b->used;
    b->used += need;
    return p;
}

/* Keeps one block for the next request on the connection. */
void host_arena_reset(host_arena *a)
{
    host_arena_block *b = a->head, *next;

    if (!b)
        return;
    for (next = b->next; next; next = b->next) {
        b->next = next->next;
        free(next);
    }
    if (b->cap > ARENA_BLOCK) {
        free(b);
        a->head = NULL;
        return;
    }
    b->used = 0;
}

static void arena_free(host_arena *a)
{
    host_arena_block *b = a->head, *next;

    for (; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

void host_request_init(tn_request *r)
{
    memset(r, 0, sizeof *r);
    host_buf_init(&r->url);
    host_buf_init(&r->hdrbuf);
    host_buf_init(&r->body);
    host_buf_init(&r->resp_headers);
    host_buf_init(&r->resp_body);
}

/* Big buffers are released, small ones kept for the next request. */
static void buf_recycle(host_buf *b)
{
    if (b->cap > 65536)
        host_buf_free(b);
    else
        host_buf_reset(b);
}

void host_request_reset(tn_request *r)
{
    struct host_conn *conn = r->conn;
    struct host_server *srv = r->srv;
    host_arena arena = r->arena;
    host_buf url = r->url, hdr = r->hdrbuf, body = r->body, rh = r->resp_headers, rb = r->resp_body;

    host_arena_reset(&arena);
    buf_recycle(&url);
    buf_recycle(&hdr);
    buf_recycle(&body);
    buf_recycle(&rh);
    buf_recycle(&rb);
    memset(r, 0, sizeof *r);
    r->conn = conn;
    r->srv = srv;
    r->arena = arena;
    r->url = url;
    r->hdrbuf = hdr;
    r->body = body;
    r->resp_headers = rh;
    r->resp_body = rb;
}

void host_request_free(tn_request *r)
{
    arena_free(&r->arena);
    host_buf_free(&r->url);
    host_buf_free(&r->hdrbuf);
    host_buf_free(&r->body);
    host_buf_free(&r->resp_headers);
    host_buf_free(&r->resp_body);
}

/* Turns the "name\0value\0" pairs gathered by the parser into an array. */
int host_request_index_headers(tn_request *r)
{
    char *p = r->hdrbuf.data, *end = p ? p + r->hdrbuf.len : NULL;
    int n = 0, i;

    for (char *q = p; q && q < end; q += strlen(q) + 1)
        n++;
    n /= 2;
    r->headers = host_arena_alloc(&r->arena, (size_t)(n + 1) * sizeof *r->headers);
    if (!r->headers)
        return -1;
    for (i = 0; i < n; i++) {
        r->headers[i].name = p;
        p += strlen(p) + 1;
        r->headers[i].value = p;
        p += strlen(p) + 1;
    }
    r->nheaders = n;
    return 0;
}

const char *host_req_header(const tn_request *r, const char *name)
{
    int i;

    for (i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* Every header in arrival order, names as the client wrote them, repeats
 * kept apart: a WAF must see what a lookup by name would hide. */
int host_req_header_each(const tn_request *r, tn_header_fn fn, void *ud)
{
    int i, rc;

    if (!r || !fn)
        return TN_EINVAL;
    for (i = 0; i < r->nheaders; i++)
        if ((rc = fn(r->headers[i].name, r->headers[i].value, ud)) != 0)
            return rc;
    return TN_OK;
}

char *host_req_strdup(tn_request *r, const char *s)
{
    size_t n = strlen(s);
    char *p = host_arena_alloc(&r->arena, n + 1);

    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* NULL on a broken escape or an encoded NUL: such input is refused, not
 * guessed at. */
char *host_percent_decode(tn_request *r, const char *s, size_t n, int plus_is_space)
{
    char *out = host_arena_alloc(&r->arena, n + 1);

    if (!out || host_percent_decode_to(s, n, plus_is_space, out) != 0)
        return NULL;
    return out;
}

const char *host_req_query_param(tn_request *r, const char *name)
{
    const char *v;
    size_t len;

    if (host_query_find(r->query, name, &v, &len) != 0)
        return NULL;
    return host_percent_decode(r, v, len, 1);
}

const char *host_req_cookie(tn_request *r, const char *name)
{
    const char *v;
    size_t vl;
    char *out;
    int i;

    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, "Cookie") != 0 ||
            host_cookie_find(r->headers[i].value, name, &v, &vl) != 0)
            continue;
        if (!(out = host_arena_alloc(&r->arena, vl + 1)))
            return NULL;
        memcpy(out, v, vl);
        out[vl] = '\0';
        return out;
    }
    return NULL;
}

const char *host_req_param(const tn_request *r, const char *name)
{
    int i;

    for (i = 0; i < r->match.nparams; i++)
        if (strcmp(r->match.names[i], name) == 0)
            return r->params[i];
    return NULL;
}

/* ---- response ----------------------------------------------------------- */

int host_resp_status(tn_request *r, int status)
{
    if (r->head_sent)
        return TN_ESTATE;
    if (status < 200 || status > 599)
        return TN_EINVAL;
    r->status = status;
    return TN_OK;
}

int host_resp_header(tn_request *r, const char *name, const char *value)
{
    if (host_resp_header_allowed(name, value) != TN_OK)
        return TN_EINVAL;
    if (r->head_sent)
        return TN_ESTATE;
    if (strcasecmp(name, "Content-Type") == 0) {
        if (r->own & HOST_OWN_CONTENT_TYPE)
            return TN_EEXIST;
        r->own |= HOST_OWN_CONTENT_TYPE;
        host_buf_printf(&r->resp_headers, "Content-Type: %s%s\r\n", value,
                        strcasestr(value, "charset=") ? "" : "; charset=utf-8");
        return host_buf_failed(&r->resp_headers) ? TN_ENOMEM : TN_OK;
    }
    if (strcasecmp(name, "Content-Security-Policy") == 0)
        r->own |= HOST_OWN_CSP;
    else if (strcasecmp(name, "Referrer-Policy") == 0)
        r->own |= HOST_OWN_REFERRER;
    else if (strcasecmp(name, "X-Content-Type-Options") == 0)
        r->own |= HOST_OWN_NOSNIFF;
    else if (strcasecmp(name, "Strict-Transport-Security") == 0)
        r->own |= HOST_OWN_HSTS;
    host_buf_printf(&r->resp_headers, "%s: %s\r\n", name, value);
    return host_buf_failed(&r->resp_headers) ? TN_ENOMEM : TN_OK;
}

int host_resp_body(tn_request *r, const void *data, size_t len)
{
    if (r->head_sent)
        return TN_ESTATE;
    host_buf_append(&r->resp_body, data, len);
    return host_buf_failed(&r->resp_body) ? TN_ENOMEM : TN_OK;
}

/* A plugin's earlier headers and body are dropped: this is the answer. */
int host_resp_json(tn_request *r, int status, const char *json)
{
    int rc;

    if (r->head_sent)
        return TN_ESTATE;
    if ((rc = host_resp_status(r, status)) != TN_OK)
        return rc;
    host_buf_reset(&r->resp_body);
    if (!(r->own & HOST_OWN_CONTENT_TYPE))
        host_resp_header(r, "Content-Type", "application/json; charset=utf-8");
    return host_resp_body(r, json, strlen(json));
}

int host_resp_error(tn_request *r, int status, const char *code, const char *message)
{
    char *text;
    int rc = TN_ENOMEM;

    /* Refused before anything is dropped: a failed call changes nothing. */
    if (r->head_sent)
        return TN_ESTATE;
    if (status < 200 || status > 599)
        return TN_EINVAL;
    text = host_error_json(code, message);
    if (text) {
        host_buf_reset(&r->resp_headers);
        r->own = 0;
        rc = host_resp_json(r, status, text);
    }
    free(text);
    return rc;
}
