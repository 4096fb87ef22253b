/*
 * outprobe - a TEST-ONLY plugin that drives outbound calls (SDK 1.2) for
 * tests/integration/test_outbound.py and bench/outbound.sh.
 *
 *   GET /out/call?url=U[&method=M&timeout=MS&max=N&redirects=N&body=B&hdr=V]
 *       suspends, calls U (tied to the request), answers what came back
 *   GET /out/cancel?url=U      calls U, cancels at once, answers the result
 *   GET /out/fire?url=U[&timeout=MS&n=N]  N calls tied to no request;
 *       answers how many were accepted and how many refused TN_EBUSY; each
 *       result is logged ("outprobe fire done result=R status=S")
 *   GET /out/curl?url=U        curl_run with a handle that tries to switch
 *       the egress policy off (verify off, any protocol, its own socket
 *       callback, redirects on): the host's options must win
 *   GET /out/mail?url=U&rcpt=A curl_run of an SMTP delivery (STARTTLS)
 *   GET /out/load?url=U&n=N&ms=D   keeps N calls to U in flight for D ms
 *       (each one started again when it ends), for bench/outbound.sh;
 *   GET /out/load/stats        {"done":..,"failed":..,"running":..,"ms":..}
 *
 * Never installed: the URL comes from the client.
 */
#include <tanomu/tanomu.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const tn_api *api;
/* 1 while this plugin is inside http_call/call_cancel: a callback that
 * finds it set ran inside the call, which the host promises never happens. */
static int inside;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

/* s as a JSON string literal into out (cap bytes), printable ASCII only. */
static void json_str(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0, i;

    out[o++] = '"';
    for (i = 0; i < n && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch > 0x7e) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

static long qnum(tn_request *req, const char *name, long def)
{
    const char *v = api->req_query_param(req, name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static const char *header_of(const tn_http_response *res, const char *name)
{
    size_t i;

    for (i = 0; i < res->nheaders; i++)
        if (strcmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return "";
}

static void on_call(tn_plugin *self, const tn_http_response *res, void *ud)
{
    tn_request *req = ud;
    char body[1200], err[700], echo[300], json[2600];

    (void)self;
    json_str(body, sizeof body, res->body, res->body_len < 200 ? res->body_len : 200);
    json_str(err, sizeof err, res->error, strlen(res->error));
    json_str(echo, sizeof echo, header_of(res, "x-echo"), strlen(header_of(res, "x-echo")));
    snprintf(json, sizeof json,
             "{\"result\":%d,\"status\":%d,\"error\":%s,\"body_len\":%zu,\"body\":%s,"
             "\"x_echo\":%s,\"aborted\":%d,\"inside\":%d}",
             res->result, res->status, err, res->body_len, body, echo, api->req_is_aborted(req),
             inside);
    api->resp_json(req, 200, json);
    api->req_resume(req, TN_DONE);
}

static tn_status call_route(tn_plugin *self, tn_request *req, void *ud)
{
    tn_http_header hdrs[1];
    tn_http_request r;
    tn_call *call = NULL;
    const char *hdr = api->req_query_param(req, "hdr"), *body = api->req_query_param(req, "body");
    int rc;

    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.url = api->req_query_param(req, "url");
    r.method = api->req_query_param(req, "method");
    r.timeout_ms = (uint32_t)qnum(req, "timeout", 0);
    r.max_response = (size_t)qnum(req, "max", 0);
    r.max_redirects = (uint32_t)qnum(req, "redirects", 0);
    if (hdr) {
        hdrs[0].name = "X-Probe";
        hdrs[0].value = hdr;
        r.headers = hdrs;
        r.nheaders = 1;
    }
    if (body) {
        r.body = body;
        r.body_len = strlen(body);
    }
    inside = 1;
    rc = api->http_call(self, req, &r, on_call, req, &call);
    inside = 0;
    if (rc != TN_OK) {
        char json[400];
        snprintf(json, sizeof json, "{\"call_rc\":%d}", rc);
        api->resp_json(req, 200, json);
        return TN_DONE;
    }
    if (ud) { /* /out/cancel */
        inside = 1;
        api->call_cancel(call);
        inside = 0;
    }
    return TN_SUSPEND;
}

static void on_fire(tn_plugin *self, const tn_http_response *res, void *ud)
{
    (void)ud;
    api->log(self, TN_LOG_INFO, "outprobe fire done result=%d status=%d", res->result, res->status);
}

static tn_status fire_route(tn_plugin *self, tn_request *req, void *ud)
{
    tn_http_request r;
    long i, n = qnum(req, "n", 1);
    int ok = 0, busy = 0, other = 0;
    char json[200];

    (void)ud;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.url = api->req_query_param(req, "url");
    r.timeout_ms = (uint32_t)qnum(req, "timeout", 0);
    for (i = 0; i < n && i < 100000; i++) {
        int rc = api->http_call(self, NULL, &r, on_fire, NULL, NULL);
        if (rc == TN_OK)
            ok++;
        else if (rc == TN_EBUSY)
            busy++;
        else
            other++;
    }
    snprintf(json, sizeof json, "{\"accepted\":%d,\"busy\":%d,\"other\":%d}", ok, busy, other);
    api->resp_json(req, 200, json);
    return TN_DONE;
}

/* ---- a sustained load (bench) ----------------------------------------- */

/* Per worker process: one load at a time. */
static struct {
    char url[512];
    uint64_t start_ms, end_ms, last_ms;
    long done, failed, running;
} load;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void load_next(tn_plugin *self);

static void on_load(tn_plugin *self, const tn_http_response *res, void *ud)
{
    (void)ud;
    load.running--;
    if (res->result == TN_OK && res->status == 200) {
        load.done++;
    } else if (load.failed++ < 5) {
        api->log(self, TN_LOG_WARN, "outprobe load call failed: %d %d %s", res->result, res->status,
                 res->error);
    }
    load.last_ms = now_ms();
    if (load.last_ms < load.end_ms && res->result != TN_ECANCELED)
        load_next(self);
}

static void load_next(tn_plugin *self)
{
    tn_http_request r;

    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.url = load.url;
    if (api->http_call(self, NULL, &r, on_load, NULL, NULL) == TN_OK)
        load.running++;
    else
        load.failed++;
}

static tn_status load_route(tn_plugin *self, tn_request *req, void *ud)
{
    const char *url = api->req_query_param(req, "url");
    long i, n = qnum(req, "n", 1000);

    (void)ud;
    if (!url || strlen(url) >= sizeof load.url || load.running > 0) {
        api->resp_json(req, 409, "{\"error\":\"busy or bad url\"}");
        return TN_DONE;
    }
    snprintf(load.url, sizeof load.url, "%s", url);
    load.done = load.failed = 0;
    load.start_ms = load.last_ms = now_ms();
    load.end_ms = load.start_ms + (uint64_t)qnum(req, "ms", 10000);
    for (i = 0; i < n; i++)
        load_next(self);
    api->resp_json(req, 202, "{}");
    return TN_DONE;
}

static tn_status load_stats(tn_plugin *self, tn_request *req, void *ud)
{
    char json[200];

    (void)self;
    (void)ud;
    snprintf(json, sizeof json, "{\"done\":%ld,\"failed\":%ld,\"running\":%ld,\"ms\":%llu}",
             load.done, load.failed, load.running,
             (unsigned long long)(load.last_ms - load.start_ms));
    api->resp_json(req, 200, json);
    return TN_DONE;
}

/* ---- curl_run ----------------------------------------------------------- */

/* The plugin's own socket callback: would connect anywhere. */
static curl_socket_t open_anything(void *clientp, curlsocktype purpose,
                                   struct curl_sockaddr *address)
{
    (void)clientp;
    (void)purpose;
    return socket(address->family, address->socktype, address->protocol);
}

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

typedef struct mail {
    tn_request *req;
    struct curl_slist *rcpt;
    const char *text;
    size_t off, len;
} mail;

static void on_curl(tn_plugin *self, void *easy, int result, int curl_code, const char *error,
                    void *ud)
{
    mail *m = ud;
    char err[700], json[900];
    long resp = 0;

    (void)self;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp);
    json_str(err, sizeof err, error, strlen(error));
    snprintf(json, sizeof json, "{\"result\":%d,\"curl_code\":%d,\"error\":%s,\"response\":%ld}",
             result, curl_code, err, resp);
    curl_easy_cleanup(easy);
    curl_slist_free_all(m->rcpt);
    api->resp_json(m->req, 200, json);
    api->req_resume(m->req, TN_DONE);
    free(m);
}

static size_t mail_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    mail *m = ud;
    size_t n = size * nmemb;

    if (n > m->len - m->off)
        n = m->len - m->off;
    memcpy(buf, m->text + m->off, n);
    m->off += n;
    return n;
}

static tn_status curl_route(tn_plugin *self, tn_request *req, void *ud)
{
    static const char msg[] = "From: noreply@example.jp\r\nTo: buyer@example.jp\r\n"
                              "Subject: outprobe\r\n\r\nOrder received.\r\n";
    const char *url = api->req_query_param(req, "url"), *rcpt = api->req_query_param(req, "rcpt");
    CURL *e = curl_easy_init();
    mail *m = calloc(1, sizeof *m);

    if (!e || !m || !url) {
        curl_easy_cleanup(e);
        free(m);
        return TN_ERROR;
    }
    m->req = req;
    curl_easy_setopt(e, CURLOPT_URL, url);
    /* Everything the egress policy forbids, set by the plugin: */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "all");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_anything);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_NONE);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (ud) { /* /out/mail */
        m->text = msg;
        m->len = sizeof msg - 1;
        m->rcpt = curl_slist_append(NULL, rcpt ? rcpt : "buyer@example.jp");
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, "noreply@example.jp");
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, m->rcpt);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, mail_read);
        curl_easy_setopt(e, CURLOPT_READDATA, m);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    }
    if (api->curl_run(self, req, e, on_curl, m, NULL) != TN_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(m->rcpt);
        free(m);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

static int outprobe_init(tn_plugin *self, const tn_api *a)
{
    static const struct {
        const char *path;
        tn_hook_fn fn;
        void *ud;
    } routes[] = {
        {"/out/call", call_route, NULL},       {"/out/cancel", call_route, "cancel"},
        {"/out/fire", fire_route, NULL},       {"/out/curl", curl_route, NULL},
        {"/out/mail", curl_route, "mail"},     {"/out/load", load_route, NULL},
        {"/out/load/stats", load_stats, NULL},
    };
    size_t i;

    api = a;
    if (!TN_API_HAS(a, curl_run))
        return -1;
    for (i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (a->route_add(self, "GET", routes[i].path, TN_ACCESS_PUBLIC, NULL, routes[i].fn,
                         routes[i].ud) != TN_OK)
            return -1;
    return 0;
}

static void outprobe_fini(tn_plugin *self)
{
    api->log(self, TN_LOG_INFO, "outprobe fini");
}

static const tn_plugin_desc desc = {
    .size = sizeof(tn_plugin_desc),
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "outprobe",
    .version = "1.0.0",
    .description = "test-only: outbound calls",
    .init = outprobe_init,
    .fini = outprobe_fini,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
