/*
 * http_server.c - connections, parsing, limits, timeouts and response
 * writing.  See http_server.h.
 *
 * A connection reads into its own buffer and lets http_parser walk it.
 * When a message is complete the parser is paused and the request is
 * dispatched; bytes of a pipelined next request stay in the buffer until
 * the response is out, so responses leave in request order.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <sodium.h>

#include "log.h"
#include "tls.h"

#define READ_CHUNK 16384
#define LINGER_MS 2000
#define BALANCE_RETRY_MS 2
#define STARVED_RETRY_MS 250 /* out of descriptors: look again after this */
#define DRAIN_GRACE_MS 1000
#define WRITE_HIGH_WATER (1u << 20) /* queued response bytes per connection */
/* Answers without a tenant (unknown host, health, refused input) carry the
 * same policy a tenant gets by default. */
#define HOST_DEFAULT_CSP "default-src 'self'; frame-ancestors 'none'"
#define REQUEST_LINE_MAX 8192
#define POST_BATCH 64 /* pipelined requests one connection runs per loop pass */

struct host_listener {
    uv_poll_t poll;
    host_server *srv;
    int fd;
    int tls;
    int balance;
    int active;
    host_listener *next;
};

struct host_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_timer_t send_timer; /* queued bytes must make progress (send timeout) */
    host_server *srv;
    host_conn *prev, *next;
    host_conn *post_next; /* on srv->posted */
    http_parser parser;
    host_buf in; /* received, not yet parsed (plaintext) */
    tn_request req;
    host_tls_conn *tls;
    int open_handles; /* tcp + timers; freed at 0 with no request */
    int posted;       /* on srv->posted: not freed until run */
    int in_pass;      /* being run by the posted pass */
    int more;         /* a request ended in the pass and more is buffered */
    int read_eof;     /* the client sent all it will (EOF, close_notify) */
    int closing;      /* close has begun */
    int got_bytes;    /* some of the next request has arrived */
    int msg_complete;
    int err_status; /* set by a callback that refused input */
    int reading;
    int write_blocked; /* waiting for the client to read */
    host_buf line;     /* the request line, until complete */
    int line_done;
    size_t scan_pos;      /* bytes of `in` whose line endings are checked */
    size_t scan_len;      /* bytes on the head's current line so far */
    int scan_cr;          /* the last byte scanned was CR */
    int scan_lines;       /* head lines complete */
    int head_scanned;     /* the head's empty line was seen */
    uint64_t queued;      /* bytes handed to uv_write, ever */
    uint64_t sent_mark;   /* of those, written when last checked */
    uint64_t progress_ms; /* loop time the written count last grew */
    char peer[INET6_ADDRSTRLEN];
};

typedef struct host_write {
    uv_write_t w;
    host_conn *conn;
    char *bufs[2];
    tn_write_done_fn done;
    void *ud;
    tn_request *req;
} host_write;

static http_parser_settings parser_settings;

static void conn_process(host_conn *c);
static void continue_reading(host_conn *c);
static void conn_read_start(host_conn *c);
static void arm_idle_timer(host_conn *c);
static void arm_header_timer(host_conn *c);
static void on_write(uv_write_t *w, int status);
static void write_raw(host_conn *c, char *p, size_t n);
static void watch_send(host_conn *c, size_t n);
static void conn_post(host_conn *c);
static void on_post_idle(uv_idle_t *h);
static void send_error(host_conn *c, int status, const char *code, const char *msg);
static void new_request_id(host_server *srv, char out[65]);

uint64_t host_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- sockets ------------------------------------------------------------ */

int host_listen_socket(const char *addr, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    char host[64];
    const char *colon = strrchr(addr, ':');
    int fd = -1, one = 1, port;
    socklen_t len;

    memset(&ss, 0, sizeof ss);
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        snprintf(err, errlen, "bad listen address '%s'", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    port = atoi(colon + 1);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0) {
        len = sizeof(struct sockaddr_in);
    } else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
        len = sizeof(struct sockaddr_in6);
    } else {
        snprintf(err, errlen, "bad listen address '%s'", addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ---- connection life ---------------------------------------------------- */

static void conn_free_if_done(host_conn *c)
{
    if (c->open_handles > 0 || c->req.active || c->posted)
        return;
    host_request_free(&c->req);
    host_buf_free(&c->in);
    host_buf_free(&c->line);
    host_tls_conn_free(c->tls);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    host_conn *c = h->data;

    c->open_handles--;
    conn_free_if_done(c);
}

static void conn_unlink(host_conn *c)
{
    host_server *srv = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->nconns--;
    if (srv->slot)
        __atomic_fetch_sub(&srv->slot->conns_open, 1, __ATOMIC_RELAXED);
    if (srv->draining && srv->nconns == 0 && srv->idle)
        srv->idle(srv);
}

static void conn_close_now(host_conn *c)
{
    if (c->closing == 2)
        return;
    if (c->closing == 0)
        conn_unlink(c);
    c->closing = 2;
    if (c->req.active) {
        c->req.aborted = 1;
        if (c->srv->aborted)
            c->srv->aborted(&c->req);
    }
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->send_timer, on_handle_closed);
}

static void on_linger_timeout(uv_timer_t *t)
{
    conn_close_now(t->data);
}

static void on_shutdown(uv_shutdown_t *sr, int status)
{
    host_conn *c = sr->data;

    free(sr);
    if (status != 0 || c->closing == 2) {
        conn_close_now(c);
        return;
    }
    /* Lingering close: keep reading (and dropping) what the client still
     * sends for a moment, so our last response is not destroyed by a reset
     * when the kernel sees unread data at close. */
    uv_timer_start(&c->timer, on_linger_timeout, LINGER_MS, 0);
}

/* Graceful: pending writes finish, then FIN, then linger. */
static void conn_close(host_conn *c)
{
    uv_shutdown_t *sr;

    if (c->closing)
        return;
    conn_unlink(c);
    c->closing = 1;
    if (c->tls && host_tls_conn_shutdown(c->tls) == 0) {
        size_t n = host_tls_conn_pending_out(c->tls);
        char *p = n ? malloc(n) : NULL;
        if (p)
            write_raw(c, p, host_tls_conn_take_out(c->tls, p, n));
    }
    sr = malloc(sizeof *sr);
    if (!sr || uv_shutdown(sr, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(sr);
        conn_close_now(c);
        return;
    }
    sr->data = c;
}

/* ---- writing -------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status)
{
    host_write *hw = (host_write *)w;
    host_conn *c = hw->conn;

    if (hw->done)
        hw->done(hw->req, status, hw->ud);
    free(hw->bufs[0]);
    free(hw->bufs[1]);
    free(hw);
    if (c && status < 0) {
        /* The client is gone (a reset, typically after it stopped reading
         * and closed): nothing queued can be delivered, and a connection
         * that is not reading would never notice otherwise. */
        if (status != UV_ECANCELED)
            host_log(HOST_LOG_DEBUG, "client %s: write failed: %s", c->peer, uv_strerror(status));
        conn_close_now(c);
        return;
    }
    if (c && c->write_blocked && status == 0 &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= WRITE_HIGH_WATER / 2)
        continue_reading(c);
}

/* Sends bytes that are already on-the-wire form (TLS records). */
static void write_raw(host_conn *c, char *p, size_t n)
{
    host_write *hw = calloc(1, sizeof *hw);
    uv_buf_t b = uv_buf_init(p, (unsigned)n);

    if (!hw || uv_write(&hw->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(p);
        free(hw);
        return;
    }
    hw->conn = c;
    hw->bufs[0] = p;
    watch_send(c, n);
}

/* Takes ownership of a and b (malloc'd, may be NULL). */
static int conn_write(host_conn *c, char *a, size_t alen, char *b, size_t blen,
                      tn_write_done_fn done, void *ud)
{
    host_write *hw = calloc(1, sizeof *hw);
    uv_buf_t bufs[2];
    int n = 0;

    if (!hw || c->closing) {
        free(a);
        free(b);
        free(hw);
        return -1;
    }
    hw->conn = c;
    hw->done = done;
    hw->ud = ud;
    hw->req = &c->req;
    if (c->tls) {
        /* Encrypt both pieces, send the ciphertext as one buffer. */
        size_t out;
        if ((alen && host_tls_conn_write(c->tls, a, alen) != 0) ||
            (blen && host_tls_conn_write(c->tls, b, blen) != 0)) {
            free(a);
            free(b);
            free(hw);
            return -1;
        }
        free(a);
        free(b);
        a = b = NULL;
        blen = 0;
        out = host_tls_conn_pending_out(c->tls);
        if (!(a = malloc(out ? out : 1))) {
            free(hw);
            return -1;
        }
        alen = host_tls_conn_take_out(c->tls, a, out);
    }
    hw->bufs[0] = a;
    hw->bufs[1] = b;
    if (alen)
        bufs[n++] = uv_buf_init(a, (unsigned)alen);
    if (blen)
        bufs[n++] = uv_buf_init(b, (unsigned)blen);
    if (n == 0 || uv_write(&hw->w, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write) != 0) {
        if (n == 0 && done)
            done(&c->req, 0, ud);
        free(a);
        free(b);
        free(hw);
        return n == 0 ? 0 : -1;
    }
    watch_send(c, alen + blen);
    return 0;
}

/* Send timeout (like nginx's send_timeout): while bytes wait in the queue,
 * a check every quarter of the timeout looks whether any of them left; a
 * connection whose queue made no progress for the whole timeout is closed,
 * with what it holds.  Nothing runs while the queue is empty. */
static void on_send_check(uv_timer_t *t)
{
    host_conn *c = t->data;
    uint64_t timeout = c->srv->limits.send_timeout_ms;
    size_t waiting = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    uint64_t now = uv_now(c->srv->loop), written = c->queued - waiting;

    if (c->closing == 2 || waiting == 0)
        return; /* the next write that has to wait starts the check again */
    if (written != c->sent_mark) {
        c->sent_mark = written;
        c->progress_ms = now;
    } else if (now - c->progress_ms >= timeout) {
        host_log(HOST_LOG_DEBUG, "client %s: send timeout, %zu bytes unsent", c->peer, waiting);
        conn_close_now(c);
        return;
    }
    uv_timer_start(t, on_send_check, timeout / 4 ? timeout / 4 : 1, 0);
}

/* Called after every accepted uv_write of n bytes. */
static void watch_send(host_conn *c, size_t n)
{
    uint64_t timeout = c->srv->limits.send_timeout_ms;

    c->queued += n;
    if (timeout == 0 || c->closing == 2 || uv_is_active((uv_handle_t *)&c->send_timer) ||
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
        return;
    c->sent_mark = c->queued - uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    c->progress_ms = uv_now(c->srv->loop);
    uv_timer_start(&c->send_timer, on_send_check, timeout / 4 ? timeout / 4 : 1, 0);
}

/* ---- the response head ---------------------------------------------------- */

static const char *date_now(host_server *srv)
{
    time_t now = time(NULL);
    struct tm tm;

    if ((uint64_t)now != srv->date_sec) {
        gmtime_r(&now, &tm);
        strftime(srv->date, sizeof srv->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        srv->date_sec = (uint64_t)now;
    }
    return srv->date;
}

static const char *reason(int status)
{
    const char *s = http_status_str((enum http_status)status);

    return s && strcmp(s, "<unknown>") != 0 ? s : "Status";
}

static int wants_close(const tn_request *r)
{
    return r->close_after || !r->keepalive || r->srv->draining || r->conn->closing;
}

/* Appends "name: value\r\n" (value already checked). */
static void put_header(host_buf *h, const char *name, const char *value)
{
    host_buf_puts(h, name);
    host_buf_append(h, ": ", 2);
    host_buf_puts(h, value);
    host_buf_append(h, "\r\n", 2);
}

static void put_uint(host_buf *h, uint64_t v)
{
    char d[24];
    int i = sizeof d;

    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    host_buf_append(h, d + i, sizeof d - (size_t)i);
}

/* The response head, built with plain appends: it is on every request's
 * path, and printf's format parsing showed in profiles. */
static void build_head(tn_request *r, host_buf *h, int chunked, size_t body_len)
{
    const host_tenant *t = r->tenant;

    host_buf_reserve(h, 512 + r->resp_headers.len);
    host_buf_append(h, "HTTP/1.1 ", 9);
    put_uint(h, (uint64_t)r->status);
    host_buf_append(h, " ", 1);
    host_buf_puts(h, reason(r->status));
    host_buf_append(h, "\r\n", 2);
    put_header(h, "Date", date_now(r->srv));
    if (!(r->own & HOST_OWN_CONTENT_TYPE))
        host_buf_puts(h, "Content-Type: application/json; charset=utf-8\r\n");
    if (chunked) {
        host_buf_puts(h, "Transfer-Encoding: chunked\r\n");
    } else if (r->status != 204 && r->status != 304) {
        host_buf_puts(h, "Content-Length: ");
        put_uint(h, body_len);
        host_buf_append(h, "\r\n", 2);
    }
    put_header(h, "X-Request-Id", r->request_id);
    if (!(r->own & HOST_OWN_CSP))
        put_header(h, "Content-Security-Policy", t ? t->csp : HOST_DEFAULT_CSP);
    if (!(r->own & HOST_OWN_NOSNIFF))
        host_buf_puts(h, "X-Content-Type-Options: nosniff\r\n");
    if (!(r->own & HOST_OWN_REFERRER))
        put_header(h, "Referrer-Policy",
                   t ? t->referrer_policy : "strict-origin-when-cross-origin");
    if (host_request_is_tls(r) && !(r->own & HOST_OWN_HSTS))
        put_header(h, "Strict-Transport-Security",
                   t ? t->hsts : "max-age=31536000; includeSubDomains");
    host_buf_append(h, r->resp_headers.data, r->resp_headers.len);
    if (wants_close(r))
        host_buf_puts(h, "Connection: close\r\n");
    else if (r->http_minor == 0)
        host_buf_puts(h, "Connection: keep-alive\r\n");
    host_buf_append(h, "\r\n", 2);
}

/* The response is out: log it, then go on with the connection. */
static void request_done(tn_request *r)
{
    host_conn *c = r->conn;
    int close_it;

    /* A plugin ended a streamed response from inside its hook: the
     * pipeline still has this request on its stack, so recycling waits
     * until the hook returns (host_request_unwind). */
    if (r->in_hook) {
        r->ended = 1;
        return;
    }
    close_it = wants_close(r);

    if (r->srv->complete)
        r->srv->complete(r);
    r->active = 0;
    if (c->closing) {
        conn_free_if_done(c);
        return;
    }
    if (close_it) {
        conn_close(c);
        return;
    }
    host_request_reset(r);
    c->msg_complete = 0;
    c->got_bytes = 0;
    c->line_done = 0;
    host_buf_reset(&c->line);
    c->scan_pos = c->scan_len = 0;
    c->scan_cr = c->scan_lines = c->head_scanned = 0;
    http_parser_pause(&c->parser, 0);
    continue_reading(c);
}

/* A client far ahead of our answers waits: its bytes stay in the kernel. */
static int backlog_full(const host_conn *c)
{
    return c->in.len > c->srv->limits.header_bytes + c->srv->limits.body_bytes;
}

/* Reads again unless there is enough to work through: while a request
 * runs, up to the backlog limit (so a client that goes away is noticed);
 * otherwise one read's worth, as each consumed request moves the buffer. */
static void conn_resume_reading(host_conn *c)
{
    if (c->reading || c->closing || c->read_eof || c->write_blocked || backlog_full(c))
        return;
    if (c->req.active || c->in.len < READ_CHUNK)
        conn_read_start(c);
}

/* The next request, unless the client is not reading our answers: then we
 * wait (on_write resumes) instead of queueing responses without bound. */
static void continue_reading(host_conn *c)
{
    if (c->closing || c->req.active)
        return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WRITE_HIGH_WATER) {
        if (c->reading)
            uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        c->write_blocked = 1;
        return;
    }
    c->write_blocked = 0;
    if (c->in.len > 0) {
        /* A pipelined request starts from the loop, not from inside the
         * completion of the one before it: no stack grows per request. */
        if (c->in_pass)
            c->more = 1;
        else
            conn_post(c);
    } else if (c->read_eof) {
        conn_close(c); /* answered all the client sent before it finished */
        return;
    } else {
        arm_idle_timer(c);
    }
    conn_resume_reading(c); /* stopped while the buffer or the queue was full */
}

/* Queues the connection for the next loop pass (like nginx's posted
 * events); a posted connection is not freed until that pass has run. */
static void conn_post(host_conn *c)
{
    host_server *srv = c->srv;

    if (c->posted)
        return;
    c->posted = 1;
    c->post_next = srv->posted;
    srv->posted = c;
    uv_idle_start(&srv->post_idle, on_post_idle);
}

/* Starts what is buffered; after the client's EOF, also ends the
 * connection once nothing more can complete. */
static void conn_run_buffered(host_conn *c)
{
    if (c->closing || c->write_blocked)
        return;
    conn_process(c);
    conn_resume_reading(c);
    if (!c->read_eof || c->closing || c->req.active || c->posted || c->more)
        return;
    if (c->got_bytes)
        send_error(c, 400, "bad_request", "incomplete request");
    else
        conn_close(c);
}

static void on_post_idle(uv_idle_t *h)
{
    host_server *srv = h->data;
    host_conn *c = srv->posted, *next;

    /* This pass takes the list as it is: a connection posted again while
     * it runs waits for the next pass, after the loop has polled for I/O,
     * so one deep pipeline does not keep the others waiting. */
    srv->posted = NULL;
    uv_idle_stop(h);
    for (; c; c = next) {
        next = c->post_next;
        c->post_next = NULL;
        c->posted = 0;
        if (c->closing) {
            conn_free_if_done(c);
            continue;
        }
        /* Requests that end at once run one after the other here, in a
         * loop, each from this frame: a few per pass, then the others. */
        c->in_pass = 1;
        for (int i = 0; i < POST_BATCH; i++) {
            c->more = 0;
            conn_run_buffered(c);
            if (!c->more || c->closing)
                break;
        }
        c->in_pass = 0;
        if (c->more && !c->closing)
            conn_post(c);
        c->more = 0;
    }
}

int host_request_unwind(tn_request *r)
{
    if (!r->ended)
        return 0;
    r->ended = 0;
    request_done(r);
    return 1;
}

static int no_body(const tn_request *r)
{
    return r->method_id == HTTP_HEAD || r->status == 204 || r->status == 304;
}

void host_response_send(tn_request *r)
{
    host_conn *c = r->conn;
    host_buf head;
    char *body = NULL, *h;
    size_t blen = 0, hlen;

    if (!r->active || r->head_sent)
        return;
    if (r->status == 0)
        r->status = 200;
    r->head_sent = 1;
    if (c->closing) {
        request_done(r);
        return;
    }
    host_buf_init(&head);
    build_head(r, &head, 0, r->resp_body.len);
    if (!no_body(r) && r->resp_body.len) {
        /* Small bodies ride in the head's buffer: one write, one copy. */
        if (r->resp_body.len <= 8192)
            host_buf_append(&head, r->resp_body.data, r->resp_body.len);
        else
            body = host_buf_steal(&r->resp_body, &blen);
    }
    if (host_buf_failed(&head)) {
        free(body);
        host_buf_free(&head);
        conn_close_now(c);
        request_done(r);
        return;
    }
    h = host_buf_steal(&head, &hlen);
    r->bytes_sent = hlen + blen;
    if (conn_write(c, h, hlen, body, blen, NULL, NULL) != 0)
        conn_close_now(c);
    request_done(r);
}

int host_response_stream_begin(tn_request *r)
{
    host_buf head;
    char *h;
    size_t hlen;

    if (!r->active || r->head_sent)
        return TN_ESTATE;
    if (r->status == 0)
        r->status = 200;
    r->head_sent = 1;
    r->streaming = 1;
    if (r->conn->closing)
        return TN_OK;
    host_buf_init(&head);
    build_head(r, &head, !no_body(r), 0);
    if (host_buf_failed(&head)) {
        host_buf_free(&head);
        return TN_ENOMEM;
    }
    h = host_buf_steal(&head, &hlen);
    r->bytes_sent += hlen;
    return conn_write(r->conn, h, hlen, NULL, 0, NULL, NULL) == 0 ? TN_OK : TN_ESTATE;
}

int host_response_stream_write(tn_request *r, const void *data, size_t len, tn_write_done_fn done,
                               void *ud)
{
    host_buf chunk;
    char *p;
    size_t n;

    if (!r->streaming || !r->active)
        return TN_ESTATE;
    if (len == 0 || no_body(r) || r->conn->closing) {
        if (done)
            done(r, r->conn->closing ? UV_ECANCELED : 0, ud);
        return TN_OK;
    }
    host_buf_init(&chunk);
    host_buf_printf(&chunk, "%zx\r\n", len);
    host_buf_append(&chunk, data, len);
    host_buf_append(&chunk, "\r\n", 2);
    if (host_buf_failed(&chunk)) {
        host_buf_free(&chunk);
        return TN_ENOMEM;
    }
    p = host_buf_steal(&chunk, &n);
    r->bytes_sent += n;
    return conn_write(r->conn, p, n, NULL, 0, done, ud) == 0 ? TN_OK : TN_ESTATE;
}

int host_response_stream_end(tn_request *r)
{
    char *p;

    if (!r->streaming || !r->active)
        return TN_ESTATE;
    if (!no_body(r) && !r->conn->closing && (p = strdup("0\r\n\r\n")) != NULL) {
        r->bytes_sent += 5;
        conn_write(r->conn, p, 5, NULL, 0, NULL, NULL);
    }
    request_done(r);
    return TN_OK;
}

int host_request_is_tls(const tn_request *r)
{
    return r->conn && r->conn->tls != NULL;
}

/* An error the server answers itself (bad input, limits), then closes. */
static void send_error(host_conn *c, int status, const char *code, const char *msg)
{
    tn_request *r = &c->req;

    if (r->head_sent || c->closing) {
        conn_close(c);
        return;
    }
    r->active = 1;
    r->close_after = 1;
    if (!r->request_id[0])
        new_request_id(c->srv, r->request_id);
    if (!r->method)
        r->method = "-";
    if (!r->path)
        r->path = "-";
    if (!r->start_ns)
        r->start_ns = host_now_ns();
    host_resp_error(r, status, code, msg);
    host_response_send(r);
}

/* ---- parsing -------------------------------------------------------------- */

static int head_grow(host_conn *c, size_t n)
{
    tn_request *r = &c->req;

    r->head_bytes += n;
    if (r->head_bytes > c->srv->limits.header_bytes) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    host_conn *c = p->data;

    c->req.start_ns = host_now_ns();
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    host_conn *c = p->data;

    if (head_grow(c, n) != 0)
        return -1;
    host_buf_append(&c->req.url, at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    host_conn *c = p->data;
    tn_request *r = &c->req;

    if (head_grow(c, n) != 0)
        return -1;
    if (r->hdr_state != 1) {
        if (r->hdr_state == 2)
            host_buf_append(&r->hdrbuf, "", 1);
        if (++r->nheaders > c->srv->limits.headers) {
            c->err_status = 431;
            return -1;
        }
        r->hdr_state = 1;
    }
    host_buf_append(&r->hdrbuf, at, n);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    host_conn *c = p->data;
    tn_request *r = &c->req;

    if (head_grow(c, n) != 0)
        return -1;
    if (r->hdr_state != 2) {
        host_buf_append(&r->hdrbuf, "", 1);
        r->hdr_state = 2;
    }
    host_buf_append(&r->hdrbuf, at, n);
    return 0;
}

/* Origin-form targets only, with no "." or ".." segments (core's rule,
 * the testkit's too) and no NUL. */
static int split_target(tn_request *r)
{
    char *u = r->url.data;
    const char *path, *query;

    if (!u || memchr(u, '\0', r->url.len) || host_target_split(u, &path, &query) != 0)
        return -1;
    r->path = u;              /* path is u itself, cut at '?' */
    r->query = (char *)query; /* in u, or "": read only */
    return 0;
}

/* 32 hex digits: this worker's random prefix, then its request counter. */
static void new_request_id(host_server *srv, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = srv->rid_prefix, b = ++srv->rid_counter;
    int i;

    for (i = 15; i >= 0; i--, a >>= 4)
        out[i] = hex[a & 15];
    for (i = 31; i >= 16; i--, b >>= 4)
        out[i] = hex[b & 15];
    out[32] = '\0';
}

static int valid_request_id(const char *s)
{
    size_t n;

    for (n = 0; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '.' || s[n] == '_' || s[n] == '-'))
            return 0;
    return n >= 1 && n <= 64;
}

static int is_chunked(const char *v)
{
    size_t n;

    while (*v == ' ' || *v == '\t')
        v++;
    n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* One Host (RFC 9112 §3.2), at most one Content-Length, and
 * Transfer-Encoding only as one "chunked" in HTTP/1.1 and never beside
 * Content-Length (§6.1, §6.3).  A proxy in front may read two such
 * headers the other way round than we would: it would route by one Host
 * while we pick the tenant by the other (S21), or end the request
 * elsewhere (smuggling).  http_parser lets several of these through. */
static int framing_unambiguous(const tn_request *r, const http_parser *p)
{
    int hosts = 0, lengths = 0, codings = 0, i;
    const char *te = NULL;

    for (i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[i].name;
        if (strcasecmp(name, "Host") == 0) {
            hosts++;
        } else if (strcasecmp(name, "Content-Length") == 0) {
            lengths++;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            codings++;
            te = r->headers[i].value;
        }
    }
    if (hosts > 1 || lengths > 1 || codings > 1 || (codings && lengths))
        return 0;
    return !te || (p->http_minor >= 1 && is_chunked(te));
}

static int on_headers_complete(http_parser *p)
{
    host_conn *c = p->data;
    tn_request *r = &c->req;
    const char *rid, *expect;
    int i;

    if (r->hdr_state == 2)
        host_buf_append(&r->hdrbuf, "", 1);
    if (host_buf_failed(&r->hdrbuf) || host_buf_failed(&r->url) ||
        host_request_index_headers(r) != 0) {
        c->err_status = 500;
        return -1;
    }
    /* http_parser as Debian builds it is lenient about field names
     * ("X-A : b"); RFC 9112 says 400, and so do we. */
    for (i = 0; i < r->nheaders; i++)
        if (!host_header_name_valid(r->headers[i].name)) {
            c->err_status = 400;
            return -1;
        }
    if (!framing_unambiguous(r, p)) {
        c->err_status = 400;
        return -1;
    }
    r->method_id = p->method;
    r->method = http_method_str((enum http_method)p->method);
    r->http_minor = p->http_minor;
    r->keepalive = http_should_keep_alive(p);
    r->client_addr = c->peer;
    rid = host_req_header(r, "X-Request-Id");
    if (rid && valid_request_id(rid))
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else
        new_request_id(c->srv, r->request_id);
    if (split_target(r) != 0) {
        c->err_status = 400;
        return -1;
    }
    /* 405 for TRACE (S5: off), 501 for methods the host does not serve. */
    if ((c->err_status = host_method_status(r->method)) != 0)
        return -1;
    if (p->http_major == 1 && p->http_minor == 1 && !host_req_header(r, "Host")) {
        c->err_status = 400;
        return -1;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->limits.body_bytes) {
        c->err_status = 413;
        return -1;
    }
    expect = host_req_header(r, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) {
            c->err_status = 417;
            return -1;
        }
        if (p->http_minor >= 1) {
            char *cont = strdup("HTTP/1.1 100 Continue\r\n\r\n");
            if (!cont) {
                c->err_status = 500;
                return -1;
            }
            conn_write(c, cont, 25, NULL, 0, NULL, NULL);
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    host_conn *c = p->data;
    tn_request *r = &c->req;

    if (r->body.len + n > c->srv->limits.body_bytes) {
        c->err_status = 413;
        return -1;
    }
    host_buf_append(&r->body, at, n);
    return host_buf_failed(&r->body) ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    host_conn *c = p->data;

    c->msg_complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static void init_parser_settings(void)
{
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
}

static void parse_failed(host_conn *c)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    int status = c->err_status;

    if (!status) {
        if (e == HPE_INVALID_METHOD)
            status = 501;
        else if (e == HPE_HEADER_OVERFLOW)
            status = 431;
        else
            status = 400;
    }
    host_log(HOST_LOG_DEBUG, "client %s: refused request: %d (%s)", c->peer, status,
             http_errno_name(e));
    switch (status) {
    case 405: send_error(c, 405, "method_not_allowed", "method not allowed"); break;
    case 413: send_error(c, 413, "body_too_large", "request body too large"); break;
    case 414: send_error(c, 414, "uri_too_long", "request line too long"); break;
    case 417: send_error(c, 417, "expectation_failed", "unsupported Expect"); break;
    case 431: send_error(c, 431, "headers_too_large", "request header fields too large"); break;
    case 501: send_error(c, 501, "not_implemented", "method not implemented"); break;
    case 500: send_error(c, 500, "internal", "internal error"); break;
    default: send_error(c, 400, "bad_request", "malformed request"); break;
    }
}

/* "METHOD SP target SP HTTP/1.x": checked on the raw bytes, because the
 * lenient http_parser build accepts "HTTX/1.1" and the like. */
static int request_line_valid(const char *line, size_t n)
{
    const char *sp1, *sp2, *end = line + n;

    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    end = line + n;
    sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line)
        return 0;
    for (const char *q = line; q < sp1; q++)
        if (*q < 'A' || *q > 'Z')
            return 0;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1)
        return 0;
    return end - sp2 == 9 && memcmp(sp2 + 1, "HTTP/1.", 7) == 0 && (sp2[8] == '0' || sp2[8] == '1');
}

/* Keeps the request line as it arrives (it may span reads) and checks it
 * once complete; returns -1 when it is malformed. */
static int check_request_line(host_conn *c)
{
    const char *p = c->in.data, *end = p + c->in.len, *nl;

    if (c->line_done)
        return 0;
    if (c->line.len == 0)
        while (p < end && (*p == '\r' || *p == '\n'))
            p++; /* empty lines before a request are allowed */
    nl = memchr(p, '\n', (size_t)(end - p));
    host_buf_append(&c->line, p, nl ? (size_t)(nl - p + 1) : (size_t)(end - p));
    if (c->line.len > REQUEST_LINE_MAX) {
        c->err_status = 414;
        return -1;
    }
    if (!nl)
        return 0;
    c->line_done = 1;
    return request_line_valid(c->line.data, c->line.len) ? 0 : -1;
}

/* The head's lines must end in CRLF, with no CR or NUL elsewhere and no
 * line starting with SP/HTAB (obs-fold, RFC 9112 §5.2).  http_parser takes
 * a bare LF as a line end and unfolds obs-fold, where a proxy in front may
 * not: "X: x\nContent-Length: 43" would frame the request differently
 * for it and for us.  Checked on the raw bytes as they arrive, before the
 * parser sees them; returns -1 on such a head. */
static int scan_head(host_conn *c)
{
    const char *d = c->in.data;

    for (; !c->head_scanned && c->scan_pos < c->in.len; c->scan_pos++) {
        char ch = d[c->scan_pos];
        if (ch == '\0')
            return -1;
        if (c->scan_lines == 0 && c->scan_len == 0 && !c->scan_cr && ch == '\n')
            continue; /* an empty line before the request (see check_request_line) */
        if (c->scan_cr != (ch == '\n'))
            return -1; /* CR without LF, or LF without CR */
        if (ch == '\r') {
            c->scan_cr = 1;
        } else if (ch == '\n') {
            c->scan_cr = 0;
            if (c->scan_len == 0 && c->scan_lines > 0)
                c->head_scanned = 1; /* the empty line: the head ends */
            else if (c->scan_len > 0)
                c->scan_lines++;
            c->scan_len = 0;
        } else {
            if (c->scan_len == 0 && c->scan_lines > 0 && (ch == ' ' || ch == '\t'))
                return -1;
            c->scan_len++;
        }
    }
    return 0;
}

/* Parses what is buffered; dispatches a complete request. */
static void conn_process(host_conn *c)
{
    size_t n;
    enum http_errno e;

    if (c->closing || c->req.active || c->in.len == 0)
        return;
    if (check_request_line(c) != 0) {
        parse_failed(c);
        return;
    }
    if (scan_head(c) != 0) {
        c->err_status = 400;
        parse_failed(c);
        return;
    }
    if (!c->got_bytes) {
        c->got_bytes = 1;
        arm_header_timer(c);
    }
    n = http_parser_execute(&c->parser, &parser_settings, c->in.data, c->in.len);
    e = HTTP_PARSER_ERRNO(&c->parser);
    if (e != HPE_OK && e != HPE_PAUSED) {
        parse_failed(c);
        return;
    }
    if (c->parser.upgrade && !c->msg_complete) {
        c->err_status = 501;
        parse_failed(c);
        return;
    }
    memmove(c->in.data, c->in.data + n, c->in.len - n);
    c->in.len -= n;
    c->scan_pos = c->scan_pos > n ? c->scan_pos - n : 0;
    if (!c->msg_complete)
        return;
    uv_timer_stop(&c->timer);
    if (host_buf_failed(&c->req.body)) {
        send_error(c, 500, "internal", "out of memory");
        return;
    }
    c->req.active = 1;
    c->srv->dispatch(&c->req);
}

/* ---- timers --------------------------------------------------------------- */

static void on_header_timeout(uv_timer_t *t)
{
    host_conn *c = t->data;

    if (c->req.active || c->closing)
        return;
    send_error(c, 408, "request_timeout", "request head not received in time");
}

static void arm_header_timer(host_conn *c)
{
    uv_timer_start(&c->timer, on_header_timeout, c->srv->limits.header_timeout_ms, 0);
}

/* Whether the client's next bytes wait in the socket, not yet read. */
static int bytes_waiting(host_conn *c)
{
    uv_os_fd_t fd;
    char b;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return 0;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static void on_idle_timeout(uv_timer_t *t)
{
    host_conn *c = t->data;

    if (c->req.active || c->got_bytes || c->closing)
        return;
    /* After a stall (the worker stopped or starved past the timeout) this
     * timer and the client's next request are due in the same loop pass,
     * timers first.  Idle means no byte of a new request has come: what
     * has come is read in this pass and answered, under the header
     * timeout like any request. */
    if (c->in.len > 0 || bytes_waiting(c)) {
        arm_header_timer(c);
        return;
    }
    conn_close(c);
}

static void arm_idle_timer(host_conn *c)
{
    uv_timer_start(&c->timer, on_idle_timeout, c->srv->limits.keepalive_timeout_ms, 0);
}

/* ---- reading -------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    host_conn *c = h->data;
    static char tls_in[READ_CHUNK]; /* ciphertext is consumed within the callback */

    (void)suggested;
    if (c->tls) {
        *buf = uv_buf_init(tls_in, sizeof tls_in);
        return;
    }
    if (host_buf_reserve(&c->in, READ_CHUNK) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(c->in.data + c->in.len, READ_CHUNK);
}

static int on_plain(void *ud, const char *data, size_t len)
{
    host_conn *c = ud;

    host_buf_append(&c->in, data, len);
    return host_buf_failed(&c->in) ? -1 : 0;
}

/* Handshake records and alerts produced while reading go out at once. */
static void flush_tls(host_conn *c)
{
    size_t n = host_tls_conn_pending_out(c->tls);
    char *p;

    if (n == 0 || c->closing == 2 || !(p = malloc(n)))
        return;
    write_raw(c, p, host_tls_conn_take_out(c->tls, p, n));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    host_conn *c = s->data;

    if (nread < 0) {
        if (c->closing == 1) {
            conn_close_now(c);
            return;
        }
        if (c->req.active) {
            c->req.aborted = 1;
            conn_close_now(c);
            return;
        }
        if (nread == UV_EOF && c->in.len > 0) {
            /* Half-closed after pipelining: answer what came before. */
            c->read_eof = 1;
            uv_read_stop(s);
            c->reading = 0;
            conn_run_buffered(c);
            return;
        }
        conn_close_now(c);
        return;
    }
    if (nread == 0 || c->closing)
        return; /* lingering: drop */
    if (c->tls) {
        int rc = host_tls_conn_feed(c->tls, buf->base, (size_t)nread, on_plain, c);
        flush_tls(c);
        if (rc == HOST_TLS_ERROR || host_buf_failed(&c->in)) {
            host_log(HOST_LOG_DEBUG, "client %s: %s", c->peer,
                     host_tls_conn_last_error(c->tls) ? host_tls_conn_last_error(c->tls) : "tls");
            conn_close(c);
            return;
        }
        if (rc == HOST_TLS_CLOSED) { /* close_notify: answer what came before it */
            c->read_eof = 1;
            uv_read_stop(s);
            c->reading = 0;
            conn_run_buffered(c);
            return;
        }
    } else {
        c->in.len += (size_t)nread;
        c->in.data[c->in.len] = '\0';
    }
    /* A client that sends far ahead of our answers waits: stop reading. */
    if (backlog_full(c) || (c->posted && !c->req.active && c->in.len >= READ_CHUNK)) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    conn_process(c);
}

static void conn_read_start(host_conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

/* ---- accepting ------------------------------------------------------------ */

static void on_retry(uv_timer_t *t);

static void listeners_stop(host_server *srv)
{
    host_listener *x;

    for (x = srv->listeners; x; x = x->next)
        if (x->active)
            uv_poll_stop(&x->poll);
}

/* accept() failed for want of descriptors.  The connection stays queued and
 * the listener stays readable, so polling it again at once would spin the
 * CPU (level-triggered) without ever taking it.  As nginx does, stop polling
 * for a while; meanwhile this worker is out of the balancing and, through
 * its slot, out of /readyz, and the other workers take the connections. */
static void accept_starved(host_server *srv, int err)
{
    if (!srv->fd_starved)
        host_log(HOST_LOG_WARN,
                 "accept: %s: not accepting until descriptors free up "
                 "(checked every %d ms)",
                 strerror(err), STARVED_RETRY_MS);
    srv->fd_starved = 1;
    srv->accept_paused = 1;
    listeners_stop(srv);
    if (srv->slot)
        __atomic_store_n(&srv->slot->accepting, 0, __ATOMIC_RELAXED);
    if (srv->metrics)
        host_series_add(host_metrics_series(srv->metrics, "tanomu_accept_paused_total", ""), 1);
    uv_timer_start(&srv->retry_timer, on_retry, STARVED_RETRY_MS, 0);
}

/* Starved: is a descriptor free again?  Asked of the kernel directly (not
 * by waiting for a connection), so that a worker with nothing queued for it
 * comes back into the balancing and /readyz as soon as it could accept. */
static int descriptor_free(host_server *srv)
{
    int fd;

    if (!srv->listeners)
        return 1;
    if ((fd = fcntl(srv->listeners->fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return 0;
    close(fd);
    return 1;
}

static void accept_one(host_listener *l)
{
    host_server *srv = l->srv;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    host_conn *c;
    int fd, one = 1;

    fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            accept_starved(srv, errno);
        return; /* EAGAIN: another worker took it */
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->srv = srv;
    host_request_init(&c->req);
    c->req.conn = c;
    c->req.srv = srv;
    host_buf_init(&c->in);
    host_buf_init(&c->line);
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer, sizeof c->peer);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->peer, sizeof c->peer);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (l->tls && !(c->tls = host_tls_conn_new(srv->tls))) {
        close(fd);
        host_request_free(&c->req);
        free(c);
        return;
    }
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    uv_timer_init(srv->loop, &c->send_timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->send_timer.data = c;
    c->open_handles = 3;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (srv->slot) {
        __atomic_fetch_add(&srv->slot->conns_open, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&srv->slot->conns_total, 1, __ATOMIC_RELAXED);
    }
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        conn_close_now(c);
        return;
    }
    conn_read_start(c);
    /* A new connection gets the header timeout: a silent client is dropped. */
    uv_timer_start(&c->timer, on_idle_timeout, srv->limits.header_timeout_ms, 0);
}

static void listener_start(host_listener *l);

static void on_retry(uv_timer_t *t)
{
    host_server *srv = t->data;
    host_listener *l;

    if (srv->fd_starved) {
        if (!descriptor_free(srv)) {
            accept_starved(srv, EMFILE);
            return;
        }
        srv->fd_starved = 0;
        host_log(HOST_LOG_INFO, "accept: descriptors free again: accepting");
        if (srv->slot && !srv->draining)
            __atomic_store_n(&srv->slot->accepting, 1, __ATOMIC_RELAXED);
    }
    srv->accept_paused = 0;
    for (l = srv->listeners; l; l = l->next)
        if (l->active)
            listener_start(l);
}

/* One connection per wake-up, and none while we hold more than the least
 * loaded worker of our generation: the others get their turn. */
static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    host_listener *l = p->data;
    host_server *srv = l->srv;

    (void)events;
    if (status < 0 || srv->draining)
        return;
    if (l->balance && srv->slot && srv->metrics &&
        srv->slot->conns_open > host_metrics_min_conns(srv->metrics, srv->generation,
                                                       (int64_t)(host_now_ns() / 1000000))) {
        listeners_stop(srv);
        srv->accept_paused = 1;
        uv_timer_start(&srv->retry_timer, on_retry, BALANCE_RETRY_MS, 0);
        return;
    }
    accept_one(l);
}

static void listener_start(host_listener *l)
{
    uv_poll_start(&l->poll, UV_READABLE, on_listen_readable);
}

int host_server_init(host_server *srv, uv_loop_t *loop, const host_limits *limits)
{
    memset(srv, 0, sizeof *srv);
    srv->loop = loop;
    srv->limits = *limits;
    if (!parser_settings.on_message_complete)
        init_parser_settings();
    randombytes_buf(&srv->rid_prefix, sizeof srv->rid_prefix);
    uv_timer_init(loop, &srv->retry_timer);
    srv->retry_timer.data = srv;
    uv_idle_init(loop, &srv->post_idle);
    srv->post_idle.data = srv;
    return 0;
}

int host_server_add_listener(host_server *srv, int fd, int tls, int balance)
{
    host_listener *l = calloc(1, sizeof *l);

    if (!l)
        return -1;
    l->srv = srv;
    l->fd = fd;
    l->tls = tls;
    l->balance = balance;
    if (uv_poll_init_socket(srv->loop, &l->poll, fd) != 0) {
        free(l);
        return -1;
    }
    l->poll.data = l;
    l->active = 1;
    l->next = srv->listeners;
    srv->listeners = l;
    listener_start(l);
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

void host_server_stop_accepting(host_server *srv)
{
    host_listener *l, *next;

    uv_timer_stop(&srv->retry_timer);
    for (l = srv->listeners; l; l = next) {
        next = l->next;
        if (l->active) {
            l->active = 0;
            /* Only our watcher goes: the socket itself belongs to the
             * master and the other workers keep accepting on it. */
            uv_close((uv_handle_t *)&l->poll, on_listener_closed);
        }
    }
    srv->listeners = NULL;
}

void host_server_drain(host_server *srv)
{
    host_conn *c;

    srv->draining = 1;
    host_server_stop_accepting(srv);
    /* Busy connections close after their response (Connection: close).
     * Idle keep-alive ones are not closed at once, because that races with
     * a client already sending on them: each gets a short grace to send one
     * more request, which is answered with Connection: close. */
    for (c = srv->conns; c; c = c->next)
        if (!c->req.active && !c->got_bytes && !c->closing)
            uv_timer_start(&c->timer, on_idle_timeout,
                           srv->limits.keepalive_timeout_ms < DRAIN_GRACE_MS
                               ? srv->limits.keepalive_timeout_ms
                               : DRAIN_GRACE_MS,
                           0);
    if (srv->nconns == 0 && srv->idle)
        srv->idle(srv);
}

void host_server_close_all(host_server *srv)
{
    host_conn *c, *next;

    for (c = srv->conns; c; c = next) {
        next = c->next;
        conn_close_now(c);
    }
}

void host_server_close(host_server *srv)
{
    host_conn *c, *next;

    host_server_stop_accepting(srv);
    host_server_close_all(srv);
    /* Posted connections are closing now: their pass will not run, so
     * they are freed by their handles' close callbacks instead. */
    for (c = srv->posted; c; c = next) {
        next = c->post_next;
        c->post_next = NULL;
        c->posted = 0;
        conn_free_if_done(c);
    }
    srv->posted = NULL;
    if (!uv_is_closing((uv_handle_t *)&srv->retry_timer))
        uv_close((uv_handle_t *)&srv->retry_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&srv->post_idle))
        uv_close((uv_handle_t *)&srv->post_idle, NULL);
}
