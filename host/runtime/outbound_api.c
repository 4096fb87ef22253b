/*
 * outbound_api.c - plugins' outbound calls (see outbound_api.h): the
 * tn_call behind http_call, call_cancel and curl_run.
 *
 * A call is queued (its plugin has max_per_plugin calls running in this
 * worker), running (a transfer in the worker's curl multi), or done (its
 * result waits for delivery).  Results are delivered from an idle handle,
 * so a callback never runs inside the API call that caused it; the only
 * exceptions are the two moments the host itself ends calls: a request that
 * is over, and a worker that stops.  Redirects are followed here, not by
 * curl, so that every hop passes the egress policy again and credentials
 * do not travel to another host.
 */
#include "outbound_api.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "buf.h"
#include "context.h"
#include "egress.h"
#include "http_server.h"
#include "log.h"
#include "outbound.h"
#include "plugin_loader.h"
#include "request.h"

#define CALL_DEFAULT_TIMEOUT_MS 10000
#define CALL_MAX_RESP_HEADERS 100
#define CALLS_PER_TURN 32 /* results delivered per turn of the loop */
#define EASY_POOL_MAX 256 /* idle curl easy handles kept for the next calls */

enum { CALL_QUEUED, CALL_RUNNING, CALL_DONE };

/* One plugin's calls in this worker: how many run, and who waits. */
typedef struct call_lane {
    int inflight;
    int queued;
    tn_call *qhead, *qtail;
} call_lane;

typedef struct host_calls {
    host_worker *w;
    host_outbound *net;
    call_lane *lanes; /* by plugin index */
    int nlanes;
    tn_call *all; /* queued and running */
    tn_call *done_head, *done_tail;
    uv_idle_t idle; /* delivers done calls */
    int stopping;
    /* Easy handles of ended http_calls, reset: a new handle costs a dozen
     * allocations, and a reused one keeps its TLS session cache. */
    CURL *pool[EASY_POOL_MAX];
    int npool;
} host_calls;

struct tn_call {
    host_transfer t;
    host_calls *hc;
    tn_plugin *p;
    tn_request *req;
    tn_call *prev, *next;         /* hc->all */
    tn_call *req_prev, *req_next; /* req->calls */
    tn_call *qnext;               /* a lane's queue, or the done list */
    int state;
    int is_curl_run;
    tn_http_fn hcb;
    tn_curl_fn ccb;
    void *ud;
    /* The request, copied. */
    char *method; /* NULL: GET */
    char *url;
    struct curl_slist *hdrs;
    char *body;
    size_t body_len;
    int has_body;
    char *tenant;
    char request_id[65]; /* copied: the request may be gone when we log */
    uint64_t deadline_ns;
    size_t max_response;
    uint32_t redirects_left;
    char first_host[160]; /* credentials stay with it on redirects */
    /* The answer. */
    host_buf resp;
    host_buf hdrbuf; /* "name\0value\0" of the last response head */
    int nhdr;
    int too_big;
    int status;
    int result;
    int curl_code;
    char err[CURL_ERROR_SIZE];
    uint64_t start_ns;
};

static host_calls *calls_of(const tn_plugin *p)
{
    return p && p->worker ? p->worker->calls : NULL;
}

static call_lane *lane_of(tn_call *c)
{
    return &c->hc->lanes[c->p->index];
}

/* ---- lists -------------------------------------------------------------- */

static void link_call(tn_call *c)
{
    c->next = c->hc->all;
    if (c->next)
        c->next->prev = c;
    c->hc->all = c;
    if (c->req) {
        c->req_next = c->req->calls;
        if (c->req_next)
            c->req_next->req_prev = c;
        c->req->calls = c;
    }
}

static void unlink_call(tn_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->hc->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->req) {
        if (c->req_prev)
            c->req_prev->req_next = c->req_next;
        else
            c->req->calls = c->req_next;
        if (c->req_next)
            c->req_next->req_prev = c->req_prev;
        c->req_prev = c->req_next = NULL;
    }
}

static void lane_dequeue(call_lane *l, tn_call *c)
{
    tn_call **pp = &l->qhead, *prev = NULL;

    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = c->qnext;
    if (l->qtail == c)
        l->qtail = prev;
    c->qnext = NULL;
    l->queued--;
}

/* ---- results ------------------------------------------------------------ */

static const char *result_name(int result, int status)
{
    static const char *const cls[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

    switch (result) {
    case TN_OK: return status >= 100 && status < 600 ? cls[status / 100 - 1] : "ok";
    case TN_EPOLICY: return "policy";
    case TN_ETIMEDOUT: return "timeout";
    case TN_ETOOBIG: return "too_big";
    case TN_ECANCELED: return "canceled";
    default: return "network";
    }
}

/* S16: plugin, method, host and port, status, duration.  Never the path's
 * query string, the headers or the bodies. */
static void log_call(tn_call *c, const char *method, const char *host, uint64_t ms)
{
    host_buf line;

    if (!host_log_enabled(HOST_LOG_INFO))
        return;
    host_buf_init(&line);
    host_log_begin(&line, HOST_LOG_INFO);
    host_buf_puts(&line, ",\"type\":\"outbound\",\"plugin\":");
    host_buf_json_str(&line, c->p->name);
    if (c->tenant) {
        host_buf_puts(&line, ",\"tenant\":");
        host_buf_json_str(&line, c->tenant);
    }
    if (c->request_id[0]) {
        host_buf_puts(&line, ",\"request_id\":");
        host_buf_json_str(&line, c->request_id);
    }
    host_buf_puts(&line, ",\"method\":");
    host_buf_json_str(&line, method);
    host_buf_puts(&line, ",\"host\":");
    host_buf_json_str(&line, host);
    host_buf_printf(&line, ",\"status\":%d,\"result\":\"%s\",\"duration_ms\":%llu", c->status,
                    result_name(c->result, c->status), (unsigned long long)ms);
    host_log_end(&line);
    host_buf_free(&line);
}

static void count_call(tn_call *c, const char *host, uint64_t us)
{
    host_metrics *m = c->hc->w->metrics;
    char labels[512], plugin[80], hostl[200];

    if (!m)
        return;
    host_metrics_label(plugin, sizeof plugin, c->p->name);
    /* A refused destination may be anything an attacker typed: one series
     * for all of them, so they cannot fill the shared metrics table. */
    host_metrics_label(hostl, sizeof hostl, c->result == TN_EPOLICY ? "(refused)" : host);
    snprintf(labels, sizeof labels, "plugin=\"%s\",host=\"%s\",result=\"%s\"", plugin, hostl,
             result_name(c->result, c->status));
    host_series_add(host_metrics_series(m, "tanomu_outbound_calls_total", labels), 1);
    snprintf(labels, sizeof labels, "plugin=\"%s\"", plugin);
    host_series_observe_us(host_metrics_series(m, "tanomu_outbound_call_duration_seconds", labels),
                           us);
}

static void call_free(tn_call *c)
{
    host_calls *hc = c->hc;

    if (!c->is_curl_run && c->t.easy) {
        if (hc->npool < EASY_POOL_MAX && !hc->stopping) {
            curl_easy_reset(c->t.easy);
            hc->pool[hc->npool++] = c->t.easy;
        } else {
            curl_easy_cleanup(c->t.easy);
        }
    }
    curl_slist_free_all(c->hdrs);
    free(c->method);
    free(c->url);
    free(c->body);
    free(c->tenant);
    host_buf_free(&c->resp);
    host_buf_free(&c->hdrbuf);
    free(c);
}

static void deliver_http(tn_call *c, uint64_t ms)
{
    tn_http_header hv[CALL_MAX_RESP_HEADERS];
    tn_http_response res;
    const char *s = c->hdrbuf.data;
    int i;

    for (i = 0; i < c->nhdr && s; i++) {
        hv[i].name = s;
        s += strlen(s) + 1;
        hv[i].value = s;
        s += strlen(s) + 1;
    }
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    res.result = c->result;
    res.error = c->result == TN_OK ? "" : c->err;
    res.status = c->status;
    res.headers = c->result == TN_OK ? hv : NULL;
    res.nheaders = c->result == TN_OK ? (size_t)i : 0;
    res.body = c->result == TN_OK && c->resp.data ? c->resp.data : "";
    res.body_len = c->result == TN_OK ? c->resp.len : 0;
    res.duration_ms = ms;
    c->hcb(c->p, &res, c->ud);
}

/* Runs the plugin's callback, then logs, counts and frees the call. */
static void deliver(tn_call *c)
{
    uint64_t us = (host_now_ns() - c->start_ns) / 1000;
    char host[200], method[16];
    const char *url = c->url, *scheme = NULL;
    size_t i;

    if (c->is_curl_run) {
        curl_easy_getinfo(c->t.easy, CURLINFO_EFFECTIVE_URL, &url);
        curl_easy_getinfo(c->t.easy, CURLINFO_SCHEME, &scheme);
    }
    host_egress_url_host(url, host, sizeof host);
    snprintf(method, sizeof method, "%s",
             c->is_curl_run ? (scheme ? scheme : "CURL")
             : c->method    ? c->method
                            : "GET");
    for (i = 0; method[i]; i++)
        method[i] = (char)toupper((unsigned char)method[i]);
    host_worker_running(c->hc->w, c->p, "outbound callback");
    if (c->is_curl_run)
        c->ccb(c->p, c->t.easy, c->result, c->curl_code, c->result == TN_OK ? "" : c->err, c->ud);
    else
        deliver_http(c, us / 1000);
    host_worker_running(c->hc->w, NULL, NULL);
    log_call(c, method, host, us / 1000);
    count_call(c, host, us);
    call_free(c);
}

/* A few results per turn of the loop, so that a thousand calls ending
 * together do not keep the worker's requests waiting for all their
 * callbacks (the loop polls, without blocking, between two turns). */
static void deliver_some(host_calls *hc, int max)
{
    tn_call *c = hc->done_head, *last = NULL;
    int n = 0;

    /* Take the batch off the list first: calls that end during these
     * callbacks are appended behind, for a later turn. */
    while (c && n < max) {
        last = c;
        c = c->qnext;
        n++;
    }
    if (!last)
        return;
    c = hc->done_head;
    hc->done_head = last->qnext;
    if (!hc->done_head)
        hc->done_tail = NULL;
    last->qnext = NULL;
    while (c) {
        tn_call *next = c->qnext;
        deliver(c);
        c = next;
    }
}

static void on_deliver(uv_idle_t *h)
{
    host_calls *hc = h->data;

    deliver_some(hc, CALLS_PER_TURN);
    if (!hc->done_head)
        uv_idle_stop(h);
}

static void pump(host_calls *hc, call_lane *l);

/* Ends a call with result: out of its lane, lists and the multi handle.
 * later: queue the delivery for the loop; else the caller delivers now. */
static void finish(tn_call *c, int result, int curl_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finish_v(tn_call *c, int result, int curl_code, int later, const char *msg)
{
    host_calls *hc = c->hc;
    call_lane *l = lane_of(c);
    int was = c->state;

    if (was == CALL_DONE)
        return;
    if (was == CALL_QUEUED)
        lane_dequeue(l, c);
    if (was == CALL_RUNNING) {
        host_transfer_stop(&c->t);
        l->inflight--;
    }
    c->state = CALL_DONE;
    c->result = result;
    c->curl_code = curl_code;
    if (result != TN_OK && msg != c->err)
        snprintf(c->err, sizeof c->err, "%s", msg);
    unlink_call(c);
    if (later) {
        c->qnext = NULL;
        if (hc->done_tail)
            hc->done_tail->qnext = c;
        else
            hc->done_head = c;
        hc->done_tail = c;
        uv_idle_start(&hc->idle, on_deliver);
    }
    if (was == CALL_RUNNING && !hc->stopping)
        pump(hc, l);
}

static void finish(tn_call *c, int result, int curl_code, const char *fmt, ...)
{
    char msg[CURL_ERROR_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    finish_v(c, result, curl_code, 1, msg);
}

/* ---- transfers ---------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    tn_call *c = ud;
    size_t n = size * nmemb;

    if (c->resp.len + n > c->max_response) {
        c->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    host_buf_append(&c->resp, ptr, n);
    return host_buf_failed(&c->resp) ? 0 : n;
}

/* Keeps the header fields of the last response head, names lower-case. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    tn_call *c = ud;
    size_t n = size * nmemb, i, nl, vs, ve;
    const char *colon = memchr(ptr, ':', n);

    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        host_buf_reset(&c->hdrbuf);
        c->nhdr = 0;
        return n;
    }
    if (!colon || c->nhdr >= CALL_MAX_RESP_HEADERS)
        return n;
    nl = (size_t)(colon - ptr);
    for (i = 0; i < nl; i++) {
        char ch = (char)tolower((unsigned char)ptr[i]);
        host_buf_append(&c->hdrbuf, &ch, 1);
    }
    host_buf_append(&c->hdrbuf, "", 1);
    for (vs = nl + 1; vs < n && (ptr[vs] == ' ' || ptr[vs] == '\t'); vs++)
        ;
    for (ve = n; ve > vs && (ptr[ve - 1] == '\r' || ptr[ve - 1] == '\n' || ptr[ve - 1] == ' ' ||
                             ptr[ve - 1] == '\t');
         ve--)
        ;
    host_buf_append(&c->hdrbuf, ptr + vs, ve - vs);
    host_buf_append(&c->hdrbuf, "", 1);
    c->nhdr++;
    return n;
}

/* The options of one hop of an http_call. */
static void set_hop(tn_call *c, uint64_t remaining_ms)
{
    CURL *e = c->t.easy;

    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)remaining_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    if (c->method && strcmp(c->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (c->has_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? c->body : "");
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                         c->method && strcmp(c->method, "POST") != 0 ? c->method : NULL);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                         c->method && strcmp(c->method, "GET") != 0 ? c->method : NULL);
    }
}

/* Starts a queued or new call's first (or next) hop; -1 with c->err set. */
static int start_hop(tn_call *c)
{
    const host_outbound_conf *conf = &c->hc->w->conf.outbound;
    uint64_t now = host_now_ns();
    int listed, port;

    if (!c->is_curl_run) {
        if (host_egress_url(conf, c->url, 1, &listed, &port, c->err, sizeof c->err) != 0) {
            c->result = TN_EPOLICY;
            return -1;
        }
        if (now >= c->deadline_ns) {
            snprintf(c->err, sizeof c->err, "timed out before the next hop");
            c->result = TN_ETIMEDOUT;
            return -1;
        }
        set_hop(c, (c->deadline_ns - now) / 1000000 + 1);
        host_buf_reset(&c->resp);
        host_buf_reset(&c->hdrbuf);
        c->nhdr = 0;
    }
    if (host_transfer_start(c->hc->net, &c->t) != 0) {
        snprintf(c->err, sizeof c->err, "%.200s", c->t.why);
        c->result = TN_ENETWORK;
        return -1;
    }
    c->state = CALL_RUNNING;
    lane_of(c)->inflight++;
    return 0;
}

static void pump(host_calls *hc, call_lane *l)
{
    while (l->qhead && l->inflight < hc->w->conf.outbound.max_per_plugin) {
        tn_call *c = l->qhead;
        lane_dequeue(l, c);
        if (start_hop(c) != 0) /* still CALL_QUEUED: finish() counts nothing */
            finish_v(c, c->result, 0, 1, c->err);
    }
}

static int map_error(tn_call *c, CURLcode rc)
{
    if (c->t.refused)
        return TN_EPOLICY;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return TN_ETIMEDOUT;
    case CURLE_FILESIZE_EXCEEDED: return TN_ETOOBIG;
    case CURLE_WRITE_ERROR: return c->too_big ? TN_ETOOBIG : TN_ENETWORK;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_USE_SSL_FAILED: return TN_EPOLICY;
    default: return TN_ENETWORK;
    }
}

static int is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The next hop of a redirect: 303 (and 301/302 after POST) become GET
 * without a body, as browsers and curl do; credentials stay with the first
 * host.  0, or -1 with the call finished. */
static int follow(tn_call *c)
{
    char *next = NULL, host[160];
    struct curl_slist *kept = NULL, *h;

    curl_easy_getinfo(c->t.easy, CURLINFO_REDIRECT_URL, &next);
    if (!next)
        return 1; /* no Location: the 3xx is the answer */
    free(c->url);
    if (!(c->url = strdup(next))) {
        finish(c, TN_ENOMEM, 0, "out of memory");
        return -1;
    }
    if (c->status == 303 || ((c->status == 301 || c->status == 302) && c->has_body &&
                             (!c->method || strcmp(c->method, "POST") == 0))) {
        free(c->method);
        c->method = NULL;
        c->has_body = 0;
    }
    host_egress_url_host(c->url, host, sizeof host);
    if (strcmp(host, c->first_host) != 0) {
        for (h = c->hdrs; h; h = h->next)
            if (strncasecmp(h->data, "authorization:", 14) != 0 &&
                strncasecmp(h->data, "cookie:", 7) != 0 &&
                strncasecmp(h->data, "proxy-authorization:", 20) != 0)
                kept = curl_slist_append(kept, h->data);
        curl_slist_free_all(c->hdrs);
        c->hdrs = kept;
    }
    c->redirects_left--;
    c->state = CALL_QUEUED;
    lane_of(c)->inflight--;
    if (start_hop(c) != 0) {
        finish(c, c->result, 0, "redirect: %s", c->err);
        pump(c->hc, lane_of(c));
        return -1;
    }
    return 0;
}

static void on_transfer_done(host_transfer *t, CURLcode rc)
{
    tn_call *c = (tn_call *)((char *)t - offsetof(tn_call, t));
    long status = 0;
    const char *msg;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    c->status = (int)status;
    if (rc == CURLE_OK) {
        if (!c->is_curl_run && c->redirects_left > 0 && is_redirect(c->status) && follow(c) <= 0)
            return;
        finish(c, TN_OK, 0, "%s", "");
        return;
    }
    if (t->refused)
        msg = t->why;
    else if (c->too_big)
        msg = "response larger than max_response: cut";
    else if (!c->is_curl_run && c->err[0])
        msg = c->err;
    else
        msg = curl_easy_strerror(rc);
    finish(c, map_error(c, rc), (int)rc, "%s", msg);
}

/* ---- the API ------------------------------------------------------------ */

static int token_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

static int value_ok(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

static int check_owner(tn_plugin *p, host_calls *hc, tn_request *req, const char *what)
{
    if (!hc || hc->stopping)
        return host_plugin_fail(p, TN_ESTATE, "%s: the worker is not serving", what);
    if (req && req->aborted)
        return host_plugin_fail(p, TN_ECANCELED, "%s: the client went away", what);
    if (req && !req->active)
        return host_plugin_fail(p, TN_ESTATE, "%s: the request is over", what);
    if (!p->initialized || p->index < 0 || p->index >= hc->nlanes)
        return host_plugin_fail(p, TN_ESTATE, "%s: the plugin is not serving", what);
    return TN_OK;
}

static int lane_full(host_calls *hc, tn_plugin *p)
{
    call_lane *l = &hc->lanes[p->index];
    const host_outbound_conf *o = &hc->w->conf.outbound;

    return l->inflight >= o->max_per_plugin && l->queued >= o->queue_max;
}

static tn_call *call_new(host_calls *hc, tn_plugin *p, tn_request *req, void *ud)
{
    tn_call *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->hc = hc;
    c->p = p;
    c->req = req;
    c->ud = ud;
    c->state = CALL_QUEUED;
    c->start_ns = host_now_ns();
    c->t.done = on_transfer_done;
    if (req)
        snprintf(c->request_id, sizeof c->request_id, "%s", req->request_id);
    host_buf_init(&c->resp);
    host_buf_init(&c->hdrbuf);
    if (req && req->tenant && !(c->tenant = strdup(req->tenant->id))) {
        free(c);
        return NULL;
    }
    return c;
}

/* Queues c behind its plugin's running calls, or starts it. */
static void submit(tn_call *c)
{
    call_lane *l = lane_of(c);

    link_call(c);
    if (l->inflight < c->hc->w->conf.outbound.max_per_plugin && !l->qhead) {
        if (start_hop(c) != 0)
            finish_v(c, c->result, 0, 1, c->err);
        return;
    }
    if (l->qtail)
        l->qtail->qnext = c;
    else
        l->qhead = c;
    l->qtail = c;
    l->queued++;
}

static int copy_request(tn_call *c, const tn_http_request *r)
{
    const host_outbound_conf *o = &c->hc->w->conf.outbound;
    uint64_t timeout;
    size_t i;
    char *line;

    if (r->method && !(c->method = strdup(r->method)))
        return TN_ENOMEM;
    if (c->method)
        for (i = 0; c->method[i]; i++)
            c->method[i] = (char)toupper((unsigned char)c->method[i]);
    if (!(c->url = strdup(r->url)))
        return TN_ENOMEM;
    c->has_body = r->body != NULL ||
                  (c->method && (!strcmp(c->method, "POST") || !strcmp(c->method, "PUT") ||
                                 !strcmp(c->method, "PATCH")));
    if (!c->method && r->body)
        c->method = strdup("POST");
    if (r->body_len > 0 && !(c->body = malloc(r->body_len)))
        return TN_ENOMEM;
    if (r->body_len > 0)
        memcpy(c->body, r->body, r->body_len);
    c->body_len = r->body_len;
    for (i = 0; i < r->nheaders; i++) {
        const tn_http_header *h = &r->headers[i];
        size_t n = strlen(h->name) + strlen(h->value) + 3;
        struct curl_slist *l;
        if (!(line = malloc(n)))
            return TN_ENOMEM;
        /* "Name;" is how curl sends a header with an empty value. */
        snprintf(line, n, h->value[0] ? "%s: %s" : "%s;", h->name, h->value);
        l = curl_slist_append(c->hdrs, line);
        free(line);
        if (!l)
            return TN_ENOMEM;
        c->hdrs = l;
    }
    /* No "Expect: 100-continue" wait on larger bodies (many APIs never
     * answer it, which costs a second per call), unless the plugin asks. */
    for (i = 0; i < r->nheaders && strcasecmp(r->headers[i].name, "expect") != 0; i++)
        ;
    if (i == r->nheaders) {
        struct curl_slist *l = curl_slist_append(c->hdrs, "Expect:");
        if (!l)
            return TN_ENOMEM;
        c->hdrs = l;
    }
    timeout = r->timeout_ms ? r->timeout_ms : CALL_DEFAULT_TIMEOUT_MS;
    if (timeout > o->max_timeout_ms)
        timeout = o->max_timeout_ms;
    c->deadline_ns = c->start_ns + timeout * 1000000ull;
    c->max_response = r->max_response ? r->max_response : o->max_response;
    c->redirects_left = r->max_redirects;
    if (r->tenant_id && !c->tenant && !(c->tenant = strdup(r->tenant_id)))
        return TN_ENOMEM;
    host_egress_url_host(c->url, c->first_host, sizeof c->first_host);
    return TN_OK;
}

static int setup_easy(tn_call *c)
{
    host_calls *hc = c->hc;
    CURL *e = c->t.easy = hc->npool > 0 ? hc->pool[--hc->npool] : curl_easy_init();

    if (!e)
        return TN_ENOMEM;
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Servers close idle connections after a few seconds (Apache's and
     * tanomu's default is 5): a connection idle longer than 4 s is not
     * reused, rather than found dead when a call needs it. */
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 4L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tanomu/" TANOMU_VERSION); /* a plugin's header wins */
    c->t.http_only = 1;
    return TN_OK;
}

static int check_http_request(tn_plugin *p, const tn_http_request *r, tn_http_fn cb)
{
    size_t i;

    if (!r || r->size < offsetof(tn_http_request, reserved) || !cb)
        return host_plugin_fail(p, TN_EINVAL, "http_call: request, its size or cb missing");
    if (!r->url)
        return host_plugin_fail(p, TN_EINVAL, "http_call: no url");
    if (r->method && !token_ok(r->method))
        return host_plugin_fail(p, TN_EINVAL, "http_call: bad method");
    if (r->nheaders > 0 && !r->headers)
        return host_plugin_fail(p, TN_EINVAL, "http_call: nheaders without headers");
    if (r->body_len > 0 && !r->body)
        return host_plugin_fail(p, TN_EINVAL, "http_call: body_len without body");
    for (i = 0; i < r->nheaders; i++)
        if (!token_ok(r->headers[i].name) || !value_ok(r->headers[i].value))
            return host_plugin_fail(p, TN_EINVAL, "http_call: header %zu is not a valid field", i);
    return TN_OK;
}

/* What http_call and curl_run (named by what in messages) share before
 * the call exists: the request it belongs to, room in the plugin's lane,
 * then the call itself in *c. */
static int call_open(tn_plugin *self, tn_request *req, void *ud, const char *what, tn_call **c)
{
    host_calls *hc = calls_of(self);
    int rc;

    if ((rc = check_owner(self, hc, req, what)) != TN_OK)
        return rc;
    if (lane_full(hc, self))
        return host_plugin_fail(self, TN_EBUSY, "%s: %d calls running and %d queued", what,
                                hc->w->conf.outbound.max_per_plugin,
                                hc->w->conf.outbound.queue_max);
    if (!(*c = call_new(hc, self, req, ud)))
        return host_plugin_fail(self, TN_ENOMEM, "%s: out of memory", what);
    return TN_OK;
}

/* And once it is set up: submitted, and handed out in *out unless
 * submitting has already ended it. */
static int call_start(tn_call *c, tn_call **out)
{
    submit(c);
    if (out && c->state != CALL_DONE)
        *out = c;
    return TN_OK;
}

int host_api_http_call(tn_plugin *self, tn_request *req, const tn_http_request *r, tn_http_fn cb,
                       void *ud, tn_call **out)
{
    tn_call *c;
    int rc;

    if (out)
        *out = NULL;
    if (!self)
        return TN_EINVAL;
    if ((rc = check_http_request(self, r, cb)) != TN_OK)
        return rc;
    if ((rc = call_open(self, req, ud, "http_call", &c)) != TN_OK)
        return rc;
    c->hcb = cb;
    if ((rc = copy_request(c, r)) != TN_OK || (rc = setup_easy(c)) != TN_OK) {
        call_free(c);
        return host_plugin_fail(self, rc, "http_call: out of memory");
    }
    return call_start(c, out);
}

int host_api_curl_run(tn_plugin *self, tn_request *req, void *easy, tn_curl_fn cb, void *ud,
                      tn_call **out)
{
    tn_call *c;
    int rc;

    if (out)
        *out = NULL;
    if (!self)
        return TN_EINVAL;
    if (!easy || !cb)
        return host_plugin_fail(self, TN_EINVAL, "curl_run: easy handle or cb missing");
    if ((rc = call_open(self, req, ud, "curl_run", &c)) != TN_OK)
        return rc;
    c->is_curl_run = 1;
    c->ccb = cb;
    c->t.easy = easy;
    c->t.http_only = 0;
    return call_start(c, out);
}

void host_api_call_cancel(tn_call *c)
{
    if (!c || c->state == CALL_DONE)
        return;
    finish(c, TN_ECANCELED, CURLE_ABORTED_BY_CALLBACK, "cancelled by the plugin");
}

/* ---- the host's side ---------------------------------------------------- */

void host_calls_request_aborted(tn_request *req)
{
    while (req->calls)
        finish(req->calls, TN_ECANCELED, CURLE_ABORTED_BY_CALLBACK, "the client went away");
}

void host_calls_request_end(tn_request *req)
{
    tn_call *c;

    /* The callbacks run now, while the request they may name still is. */
    while ((c = req->calls) != NULL) {
        finish_v(c, TN_ECANCELED, CURLE_ABORTED_BY_CALLBACK, 0, "the request ended first");
        deliver(c);
    }
}

int host_calls_open(host_worker *w)
{
    host_calls *hc = calloc(1, sizeof *hc);

    if (!hc)
        return -1;
    hc->w = w;
    hc->nlanes = w->plugins.n;
    if (hc->nlanes > 0 && !(hc->lanes = calloc((size_t)hc->nlanes, sizeof *hc->lanes)))
        goto fail;
    if (!(hc->net = host_outbound_new(w->loop, &w->conf.outbound)))
        goto fail;
    uv_idle_init(w->loop, &hc->idle);
    hc->idle.data = hc;
    w->calls = hc;
    return 0;
fail:
    free(hc->lanes);
    free(hc);
    return -1;
}

void host_calls_stop(host_worker *w)
{
    host_calls *hc = w->calls;
    tn_call *c;

    if (!hc)
        return;
    hc->stopping = 1;
    while (hc->done_head) /* what had already ended, first */
        deliver_some(hc, CALLS_PER_TURN);
    while ((c = hc->all) != NULL) {
        finish_v(c, TN_ECANCELED, CURLE_ABORTED_BY_CALLBACK, 0, "the worker is stopping");
        deliver(c);
    }
    while (hc->done_head) /* anything a callback cancelled meanwhile */
        deliver_some(hc, CALLS_PER_TURN);
    uv_idle_stop(&hc->idle);
}

static void on_idle_closed(uv_handle_t *h)
{
    host_calls *hc = h->data;

    free(hc->lanes);
    free(hc);
}

void host_calls_close(host_worker *w)
{
    host_calls *hc = w->calls;

    if (!hc)
        return;
    host_calls_stop(w);
    while (hc->npool > 0)
        curl_easy_cleanup(hc->pool[--hc->npool]);
    host_outbound_free(hc->net);
    w->calls = NULL;
    uv_close((uv_handle_t *)&hc->idle, on_idle_closed);
}
