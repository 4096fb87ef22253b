/*
 * probe - a TEST-ONLY plugin that exposes host behaviour to the integration
 * tests (tests/integration): body echo, suspended requests, header injection
 * attempts (S7), route parameters, access control (S11) and streaming.
 *
 * Its AUTHENTICATE hook trusts a request header (X-Test-User) to set the
 * principal.  That is only acceptable because this plugin is never installed:
 * it is built into build/test-plugins, not build/plugins.
 */
#include <tanomu/tanomu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table the host gave init(); every worker process calls init() once. */
static const tn_api *api;

/* Upper bounds that keep a misbehaving test from tying up a worker. */
#define PROBE_SLOW_MAX_MS 60000
#define PROBE_STREAM_MAX_KB 65536
#define PROBE_PIECE 1024

/* Streaming pieces: piece i is PROBE_PIECE copies of 'a' + i % 26, so a test
 * can check both the length and the order of what arrived.  Static, because
 * resp_write may send after the call returns and the data must outlive it. */
static char pieces[26][PROBE_PIECE];

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

/* Append s to out (capacity cap) as a JSON string literal, with quotes.
 * Returns the new length, or cap when it did not fit (caller treats as
 * overflow).  Needed because route parameters and principals come from the
 * client and could otherwise break the JSON we answer with. */
static size_t json_str(char *out, size_t len, size_t cap, const char *s)
{
    if (len >= cap)
        return cap;
    out[len++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20) {
            n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p);
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        if (len + n >= cap)
            return cap;
        memcpy(out + len, esc, n);
        len += n;
    }
    if (len + 1 >= cap)
        return cap;
    out[len++] = '"';
    out[len] = '\0';
    return len;
}

/* Append literal text; same overflow convention as json_str. */
static size_t json_raw(char *out, size_t len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (len >= cap || len + n >= cap)
        return cap;
    memcpy(out + len, s, n + 1);
    return len + n;
}

/* json_str, or the literal null when s is NULL (an absent parameter). */
static size_t json_str_or_null(char *out, size_t len, size_t cap, const char *s)
{
    return s ? json_str(out, len, cap, s) : json_raw(out, len, cap, "null");
}

/* Parse a non-negative decimal query parameter; -1 when absent or invalid,
 * so handlers can answer 400 instead of guessing. */
static long query_long(tn_request *req, const char *name, long max)
{
    const char *v = api->req_query_param(req, name);
    if (!v || !*v)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > max)
        return -1;
    return n;
}

/* POST /probe/echo: the body back, as text/plain, to test body framing
 * (Content-Length, chunked) and limits. */
static tn_status h_echo(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    api->resp_status(req, 200);
    api->resp_header(req, "Content-Type", "text/plain; charset=utf-8");
    api->resp_body(req, body ? body : "", body ? len : 0);
    return TN_DONE;
}

/* State of one suspended /probe/slow request, allocated with the request. */
typedef struct slow_state {
    tn_request *req;
    long ms;
} slow_state;

static void slow_fire(tn_plugin *self, void *ud)
{
    (void)self;
    slow_state *st = ud;
    /* Even when the client has gone the request needs its resume (api.h);
     * answering anyway is harmless: the host drops the bytes. */
    char json[64];
    snprintf(json, sizeof json, "{\"slept\":%ld}", st->ms);
    api->resp_json(st->req, 200, json);
    api->req_resume(st->req, TN_DONE);
}

/* GET /probe/slow?ms=N: an in-flight request that lasts N ms without
 * blocking the loop, for graceful shutdown and reload tests. */
static tn_status h_slow(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    long ms = query_long(req, "ms", PROBE_SLOW_MAX_MS);
    if (ms < 0) {
        api->resp_error(req, 400, "bad_request", "ms must be 0..60000");
        return TN_DONE;
    }
    slow_state *st = api->req_alloc(req, sizeof *st);
    if (!st)
        return TN_ERROR;
    st->req = req;
    st->ms = ms;
    /* Tests wait for this line to know the request is in flight (instead of
     * sleeping and hoping) before they signal or reload the server. */
    api->req_log(req, TN_LOG_INFO, "probe slow start ms=%ld", ms);
    if (!api->timer_start(self, (uint64_t)ms, 0, slow_fire, st))
        return TN_ERROR;
    return TN_SUSPEND;
}

/* GET /probe/header?value=V (percent-decoded V) or ?case=crlf|cr|lf|name:
 * try to set a response header and report what the host answered (S7).
 * The `case` variants build the hostile value here, so the test does not
 * depend on whether req_query_param lets decoded control bytes through. */
static tn_status h_header(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    const char *name = "X-Probe";
    const char *value = api->req_query_param(req, "value");
    const char *which = api->req_query_param(req, "case");
    if (!value && which) {
        if (strcmp(which, "crlf") == 0)
            value = "a\r\nX-Injected: yes";
        else if (strcmp(which, "cr") == 0)
            value = "a\rX-Injected: yes";
        else if (strcmp(which, "lf") == 0)
            value = "a\nX-Injected: yes";
        else if (strcmp(which, "name") == 0) {
            name = "X-Probe\r\nX-Injected";
            value = "yes";
        }
    }
    if (!value) {
        api->resp_error(req, 400, "bad_request", "value or case required");
        return TN_DONE;
    }
    int rc = api->resp_header(req, name, value);
    char json[64];
    snprintf(json, sizeof json, "{\"rc\":%d}", rc);
    api->resp_json(req, 200, json);
    return TN_DONE;
}

/* GET /probe/params/:id/\*rest: the bound parameters, for the router tests. */
static tn_status h_params(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    const char *id = api->req_param(req, "id");
    const char *rest = api->req_param(req, "rest");
    char json[2048];
    size_t n = json_raw(json, 0, sizeof json, "{\"id\":");
    n = json_str_or_null(json, n, sizeof json, id);
    n = json_raw(json, n, sizeof json, ",\"rest\":");
    n = json_str_or_null(json, n, sizeof json, rest);
    n = json_raw(json, n, sizeof json, "}");
    if (n >= sizeof json) {
        api->resp_error(req, 414, "too_long", "parameters too long for the probe");
        return TN_DONE;
    }
    api->resp_json(req, 200, json);
    return TN_DONE;
}

/* Answer {"<key>":true,"user":principal}; shared by /probe/me and
 * /probe/admin, which differ only in the access rule the host enforces. */
static tn_status answer_principal(tn_request *req, const char *key)
{
    const char *user = api->req_principal(req);
    char json[512];
    size_t n = json_raw(json, 0, sizeof json, "{\"");
    n = json_raw(json, n, sizeof json, key);
    n = json_raw(json, n, sizeof json, "\":true,\"user\":");
    n = json_str_or_null(json, n, sizeof json, user);
    n = json_raw(json, n, sizeof json, "}");
    if (n >= sizeof json)
        return TN_ERROR;
    api->resp_json(req, 200, json);
    return TN_DONE;
}

static tn_status h_me(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    return answer_principal(req, "me");
}

static tn_status h_admin(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    return answer_principal(req, "admin");
}

/* GET /probe/stream?kb=N: a chunked response of N pieces of 1 KiB. */
static tn_status h_stream(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    long kb = query_long(req, "kb", PROBE_STREAM_MAX_KB);
    if (kb < 0) {
        api->resp_error(req, 400, "bad_request", "kb must be 0..65536");
        return TN_DONE;
    }
    api->resp_status(req, 200);
    api->resp_header(req, "Content-Type", "text/plain; charset=utf-8");
    if (api->resp_stream_begin(req) != TN_OK)
        return TN_ERROR;
    for (long i = 0; i < kb; i++) {
        if (api->resp_write(req, pieces[i % 26], PROBE_PIECE, NULL, NULL) != TN_OK)
            return TN_ERROR;
    }
    if (api->resp_end(req) != TN_OK)
        return TN_ERROR;
    return TN_DONE;
}

/* GET /probe/label: this tenant's `label` setting, to show that settings
 * are per tenant and change with a reload. */
static tn_status h_label(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    const tn_config *cfg = api->req_config(req, self);
    const char *label = cfg ? api->config_str(cfg, "label") : NULL;
    const char *tenant = api->req_tenant(req);
    char json[512];
    size_t n = json_raw(json, 0, sizeof json, "{\"label\":");
    n = json_str_or_null(json, n, sizeof json, label);
    n = json_raw(json, n, sizeof json, ",\"tenant\":");
    n = json_str_or_null(json, n, sizeof json, tenant);
    n = json_raw(json, n, sizeof json, "}");
    if (n >= sizeof json)
        return TN_ERROR;
    api->resp_json(req, 200, json);
    return TN_DONE;
}

/* X-Test-User: "userid;role1,role2" (roles optional) sets the principal. */
static tn_status hook_authenticate(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    const char *h = api->req_header(req, "X-Test-User");
    if (!h || !*h)
        return TN_CONTINUE;
    char *copy = api->req_strdup(req, h);
    if (!copy)
        return TN_ERROR;
    char *roles = strchr(copy, ';');
    if (roles)
        *roles++ = '\0';
    if (*copy)
        api->req_set_principal(req, copy, roles ? roles : "");
    return TN_CONTINUE;
}

static void response_resume(tn_plugin *self, void *ud)
{
    (void)self;
    api->req_resume(ud, TN_DONE);
}

/* Marks every response of a tenant that enables probe, so a test can tell
 * whether probe's hooks ran for a request (they must not when disabled).
 * With request header X-Probe-Suspend-Response the hook suspends and
 * resumes with TN_DONE from a timer: the response phase must then end,
 * not start over (each run adds one X-Probe-Hook header). */
static tn_status hook_response(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    api->resp_header(req, "X-Probe-Hook", "ran");
    if (api->req_header(req, "X-Probe-Suspend-Response")) {
        if (!api->timer_start(self, 10, 0, response_resume, req))
            return TN_ERROR;
        return TN_SUSPEND;
    }
    return TN_CONTINUE;
}

static int probe_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    for (int i = 0; i < 26; i++)
        memset(pieces[i], 'a' + i, PROBE_PIECE);

    struct {
        const char *method, *pattern;
        tn_access access;
        const char *roles;
        tn_hook_fn fn;
    } routes[] = {
        {"POST", "/probe/echo", TN_ACCESS_PUBLIC, NULL, h_echo},
        {"GET", "/probe/slow", TN_ACCESS_PUBLIC, NULL, h_slow},
        {"GET", "/probe/header", TN_ACCESS_PUBLIC, NULL, h_header},
        {"GET", "/probe/params/:id/*rest", TN_ACCESS_PUBLIC, NULL, h_params},
        {"GET", "/probe/me", TN_ACCESS_AUTHENTICATED, NULL, h_me},
        {"GET", "/probe/admin", TN_ACCESS_ROLES, "admin", h_admin},
        {"GET", "/probe/stream", TN_ACCESS_PUBLIC, NULL, h_stream},
        {"GET", "/probe/label", TN_ACCESS_PUBLIC, NULL, h_label},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = api->route_add(self, routes[i].method, routes[i].pattern, routes[i].access,
                                routes[i].roles, routes[i].fn, NULL);
        if (rc != TN_OK) {
            api->log(self, TN_LOG_ERROR, "route_add %s %s failed: %d", routes[i].method,
                     routes[i].pattern, rc);
            return rc;
        }
    }
    if (api->hook_add(self, TN_PHASE_AUTHENTICATE, hook_authenticate, NULL) != TN_OK)
        return -1;
    if (api->hook_add(self, TN_PHASE_RESPONSE, hook_response, NULL) != TN_OK)
        return -1;
    return 0;
}

static const tn_config_key probe_settings[] = {
    {.name = "label",
     .type = TN_TYPE_STRING,
     .default_value = "probe",
     .min = 1,
     .max = 64,
     .description = "Free text answered by GET /probe/label"},
    {.name = NULL},
};

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "probe",
    .version = "0.1.0-test",
    .description = "Test-only probe routes for the integration tests",
    .settings = probe_settings,
    .init = probe_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
