/*
 * conform.c - a TEST-ONLY plugin for the conformance test: the same source
 * runs as conform.so in the real host and compiled into the testkit runner
 * (run_testkit.c), and test_conformance.py compares what both answer to the
 * same requests (scenarios.json).  Every route, hook and subscription here
 * is driven by the request so that one scenario exercises one rule of the
 * SDK: access and roles, path parameters, query, cookie and header
 * reading, error answers, response headers the host must refuse (S7),
 * Content-Type and its charset (S5), statuses, suspend/resume from timers
 * and work, the hook phases, streaming, per-tenant settings, events,
 * metric and late registration, and (ABI 1.2) authentication details and
 * route options: re-authentication and MFA answered 401 alike (S6, S9, S13).
 *
 * Its AUTHENTICATE hook trusts request headers (X-Test-User, X-Test-Roles,
 * X-Test-Auth-*) for the principal and how it authenticated: acceptable only because this plugin is never
 * installed (built into build/test-plugins).
 *
 * Every answer is JSON built with jansson, keys sorted, so both sides
 * produce the same bytes for the same values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <tanomu/tanomu.h>

#define CONFORM_SLEEP_MAX_MS 10000
#define CONFORM_STREAM_MAX 64
#define CONFORM_EVENTS_MAX 64

/* What this worker process keeps between requests; one per process, as
 * the host calls init() once per worker (the test runs one worker). */
static struct conform_ctx {
    const tn_api *api;
    json_t *registered;  /* results of what init() tried to register */
    json_t *events;      /* what the subscriber received, until read */
    tn_metric *requests; /* requests_total{tenant} */
    long response_hook_runs;
} conform;

/* -- helpers ---------------------------------------------------------- */

/* Answers doc (stolen) as JSON with status; TN_ERROR if it cannot. */
static tn_status reply(tn_request *req, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    int rc = text ? conform.api->resp_json(req, status, text) : TN_ENOMEM;

    free(text);
    json_decref(doc);
    return rc == TN_OK ? TN_DONE : TN_ERROR;
}

/* A string or null; text that is not UTF-8 becomes {"hex": ...} so the
 * answer stays JSON whatever the client sent. */
static json_t *str_or_null(const char *s)
{
    json_t *j;
    char *hex;

    if (s == NULL)
        return json_null();
    if ((j = json_string(s)) != NULL)
        return j;
    hex = malloc(strlen(s) * 2 + 1);
    if (hex == NULL)
        return json_null();
    for (size_t i = 0; s[i]; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)s[i]);
    j = json_pack("{s:s}", "hex", hex);
    free(hex);
    return j;
}

/* A non-negative decimal query parameter at most max; dflt when absent,
 * -1 when not a number in range. */
static long query_long(tn_request *req, const char *name, long dflt, long max)
{
    const char *v = conform.api->req_query_param(req, name);
    char *end;
    long n;

    if (v == NULL)
        return dflt;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0 || n > max)
        return -1;
    return n;
}

static int query_is(tn_request *req, const char *name, const char *value)
{
    const char *v = conform.api->req_query_param(req, name);
    return v != NULL && strcmp(v, value) == 0;
}

static tn_status bad_request(tn_request *req, const char *message)
{
    conform.api->resp_error(req, 400, "bad_request", message);
    return TN_DONE;
}

/* -- the request as the plugin reads it --------------------------------- */

/* GET|HEAD /c/info: what the API says about the request. */
static tn_status h_info(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    size_t blen = 0;
    (void)ud;
    api->req_body(req, &blen);
    api->metric_add(conform.requests, api->req_tenant(req), 1);
    (void)self;
    return reply(req, 200,
                 json_pack("{s:o,s:o,s:o,s:o,s:o,s:i,s:o,s:I}", "tenant",
                           str_or_null(api->req_tenant(req)), "method",
                           str_or_null(api->req_method(req)), "path",
                           str_or_null(api->req_path(req)), "query",
                           str_or_null(api->req_query(req)), "route",
                           str_or_null(api->req_route(req)), "tls", api->req_is_tls(req), "client",
                           str_or_null(api->req_client_addr(req)), "body_len", (json_int_t)blen));
}

/* GET /c/me (authenticated) and GET /c/admin (roles "admin, ops"): the
 * principal, its roles as req_has_role() sees them, and what a second
 * req_set_principal() outside the authenticate phase gets. */
static tn_status h_principal(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    (void)self;
    (void)ud;
    int late = api->req_set_principal(req, "mallory", "admin");
    return reply(req, 200,
                 json_pack("{s:s,s:o,s:{s:b,s:b,s:b,s:b,s:b},s:i}", "route",
                           (const char *)ud ? (const char *)ud : "", "user",
                           str_or_null(api->req_principal(req)), "has", "admin",
                           api->req_has_role(req, "admin"), "ops", api->req_has_role(req, "ops"),
                           "viewer", api->req_has_role(req, "viewer"), " ops ",
                           api->req_has_role(req, " ops "), "", api->req_has_role(req, ""),
                           "late_set_principal", late));
}

/* GET /c/auth, /c/reauth, /c/mfa (ABI 1.2): what req_auth() gives.  Times
 * are not answered (the two sides' clocks differ by the scenario's run
 * time), only whether the details are there. */
static tn_status h_auth(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    const tn_auth_info *a = api->req_auth(req);
    (void)self;
    if (a == NULL)
        return reply(req, 200, json_pack("{s:s,s:n}", "route", (const char *)ud, "auth"));
    return reply(req, 200,
                 json_pack("{s:s,s:{s:s,s:b,s:o,s:o,s:o,s:I,s:b}}", "route", (const char *)ud,
                           "auth", "method", a->method, "mfa_passed", a->mfa_passed, "session_hash",
                           str_or_null(a->session_hash), "buyer_id",
                           str_or_null(tn_auth_attr(a, "buyer_id")), "missing",
                           str_or_null(tn_auth_attr(a, "missing")), "nattrs", (json_int_t)a->nattrs,
                           "auth_time_set", a->auth_time > 0));
}

/* GET /c/items/:id/\*rest and GET /c/items/:id: bound parameters, decoded. */
static tn_status h_items(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    (void)self;
    (void)ud;
    return reply(req, 200,
                 json_pack("{s:o,s:o,s:o,s:o,s:o}", "path", str_or_null(api->req_path(req)), "id",
                           str_or_null(api->req_param(req, "id")), "rest",
                           str_or_null(api->req_param(req, "rest")), "missing",
                           str_or_null(api->req_param(req, "nope")), "route",
                           str_or_null(api->req_route(req))));
}

/* GET /c/read: query parameters, cookies and headers. */
static tn_status h_read(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    (void)self;
    (void)ud;
    return reply(
        req, 200,
        json_pack(
            "{s:o,s:{s:o,s:o,s:o,s:o,s:o,s:o,s:o},s:{s:o,s:o,s:o,s:o,s:o},s:{s:o,s:o,s:o,s:o}}",
            "query", str_or_null(api->req_query(req)), "param", "q",
            str_or_null(api->req_query_param(req, "q")), "plus",
            str_or_null(api->req_query_param(req, "plus")), "empty",
            str_or_null(api->req_query_param(req, "empty")), "bare",
            str_or_null(api->req_query_param(req, "bare")), "bad",
            str_or_null(api->req_query_param(req, "bad")), "nul",
            str_or_null(api->req_query_param(req, "nul")), "missing",
            str_or_null(api->req_query_param(req, "missing")), "cookie", "sid",
            str_or_null(api->req_cookie(req, "sid")), "theme",
            str_or_null(api->req_cookie(req, "theme")), "quoted",
            str_or_null(api->req_cookie(req, "quoted")), "later",
            str_or_null(api->req_cookie(req, "later")), "missing",
            str_or_null(api->req_cookie(req, "missing")), "header", "in",
            str_or_null(api->req_header(req, "X-Conform-In")), "in_lower",
            str_or_null(api->req_header(req, "x-conform-in")), "content_type",
            str_or_null(api->req_header(req, "Content-Type")), "missing",
            str_or_null(api->req_header(req, "X-Conform-Missing"))));
}

/* POST|PUT /c/echo: the body back as text, its length in a header. */
static tn_status h_echo(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    char n[32];
    (void)self;
    (void)ud;
    snprintf(n, sizeof n, "%zu", len);
    api->resp_status(req, 200);
    api->resp_header(req, "Content-Type", "text/plain");
    api->resp_header(req, "X-Conform-Len", n);
    api->resp_body(req, body, len);
    return TN_DONE;
}

/* -- the response ------------------------------------------------------ */

/* GET /c/error?status=&code=&message=: resp_error drops the header set
 * before it; a refused call is reported as {"rc": ...}. */
static tn_status h_error(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    long status = query_long(req, "status", 400, 999);
    const char *code = api->req_query_param(req, "code");
    const char *message = api->req_query_param(req, "message");
    int rc;
    (void)self;
    (void)ud;
    api->resp_header(req, "X-Conform-Before", "dropped by resp_error");
    rc = api->resp_error(req, (int)status, code ? code : "plugin_error",
                         message ? message : "the plugin says no");
    if (rc != TN_OK)
        return reply(req, 200, json_pack("{s:i}", "rc", rc));
    api->resp_header(req, "X-Conform-After", "kept");
    return TN_DONE;
}

/* GET /c/headers: every kind of response header a plugin may try; the
 * accepted ones go out, the return codes are the body. */
static tn_status h_headers(tn_plugin *self, tn_request *req, void *ud)
{
    static const struct {
        const char *name, *value;
    } cases[] = {
        {"X-Conform-Ok", "yes"},
        {"X-Conform-Tab", "a\tb"},
        {"X-Conform-Utf8", "caf\xc3\xa9"},
        {"X-Conform-Empty", ""},
        {"X-Conform-Crlf", "a\r\nX-Injected: 1"},
        {"X-Conform-Cr", "a\rb"},
        {"X-Conform-Lf", "a\nb"},
        {"X-Conform-Ctl", "a\x01z"},
        {"X-Conform-Del", "a\x7fz"},
        {"Bad Name", "v"},
        {"X-Conform:Colon", "v"},
        {"", "v"},
        {"Content-Length", "5"},
        {"Transfer-Encoding", "chunked"},
        {"Connection", "close"},
        {"Date", "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"X-Request-Id", "forged"},
        {"Keep-Alive", "timeout=5"},
        {"Upgrade", "websocket"},
        {"content-length", "7"},
        {"Set-Cookie", "a=1; Path=/; HttpOnly"},
        {"Set-Cookie", "b=2; Secure"},
        {"Cache-Control", "no-store"},
        {"Location", "/c/info"},
        {"Retry-After", "7"},
        {"X-Conform-Dup", "one"},
        {"X-Conform-Dup", "two"},
        {"Content-Type", "application/vnd.conform+json"},
        {"Content-Type", "text/html"},
    };
    const tn_api *api = conform.api;
    json_t *rcs = json_array();
    char *big = malloc(9001);
    (void)self;
    (void)ud;
    if (rcs == NULL || big == NULL) {
        free(big);
        json_decref(rcs);
        return TN_ERROR;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        json_array_append_new(rcs, json_pack("[o,i]", str_or_null(cases[i].name),
                                             api->resp_header(req, cases[i].name, cases[i].value)));
    memset(big, 'x', 9000);
    big[9000] = '\0';
    json_array_append_new(rcs, json_pack("[s,i]", "X-Conform-Big(9000)",
                                         api->resp_header(req, "X-Conform-Big", big)));
    big[8192] = '\0';
    json_array_append_new(rcs, json_pack("[s,i]", "X-Conform-Big(8192)",
                                         api->resp_header(req, "X-Conform-Big", big)));
    free(big);
    return reply(req, 200, rcs);
}

/* GET /c/status?code=N: resp_status() and a body without Content-Type;
 * the return code rides in a header. */
static tn_status h_status(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    long code = query_long(req, "code", 200, 999);
    char rc[16];
    (void)self;
    (void)ud;
    snprintf(rc, sizeof rc, "%d", api->resp_status(req, (int)code));
    api->resp_header(req, "X-Conform-Rc", rc);
    api->resp_body(req, "status body", 11);
    return TN_DONE;
}

/* GET /c/body-only: a body, no status, no Content-Type. */
static tn_status h_body_only(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    conform.api->resp_body(req, "just a body", 11);
    return TN_DONE;
}

/* GET /c/nothing: returns TN_DONE without answering. */
static tn_status h_nothing(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)req;
    (void)ud;
    return TN_DONE;
}

/* GET /c/ctype?ct=: a plugin's Content-Type, then a second one. */
static tn_status h_ctype(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    const char *ct = api->req_query_param(req, "ct");
    char rc[32];
    int first = api->resp_header(req, "Content-Type", ct ? ct : "text/plain");
    int second = api->resp_header(req, "content-type", "text/csv");
    (void)self;
    (void)ud;
    snprintf(rc, sizeof rc, "%d,%d", first, second);
    api->resp_header(req, "X-Conform-Rc", rc);
    if (query_is(req, "json", "1"))
        return reply(req, 201, json_pack("{s:b}", "json", 1));
    api->resp_status(req, 200);
    api->resp_body(req, "typed", 5);
    return TN_DONE;
}

/* GET /c/json-bad: resp_json() with text that is not JSON. */
static tn_status h_json_bad(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    (void)self;
    (void)ud;
    if (api->resp_json(req, 200, "{not json") != TN_OK)
        api->resp_error(req, 500, "json_refused", "resp_json refused the text");
    return TN_DONE;
}

/* GET /c/fail: the handler returns TN_ERROR after setting a header. */
static tn_status h_fail(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    conform.api->resp_header(req, "X-Conform-Lost", "yes");
    return TN_ERROR;
}

/* -- suspend and resume -------------------------------------------------- */

typedef struct later {
    tn_request *req;
    long ms;
    tn_status status;
    int answer; /* answer before resuming */
} later;

static tn_status status_named(const char *s)
{
    if (s == NULL || strcmp(s, "done") == 0)
        return TN_DONE;
    if (strcmp(s, "error") == 0)
        return TN_ERROR;
    if (strcmp(s, "continue") == 0)
        return TN_CONTINUE;
    return TN_SUSPEND; /* resuming with it is a plugin bug both must refuse */
}

static void later_fire(tn_plugin *self, void *ud)
{
    later *l = ud;
    (void)self;
    if (l->answer)
        reply(l->req, 200, json_pack("{s:i}", "slept", (int)l->ms));
    conform.api->req_resume(l->req, l->status);
}

/* Schedules a resume of req with status after ms; NULL on failure. */
static later *resume_later(tn_plugin *self, tn_request *req, long ms, tn_status status, int answer)
{
    later *l = conform.api->req_alloc(req, sizeof *l);
    if (l == NULL)
        return NULL;
    l->req = req;
    l->ms = ms;
    l->status = status;
    l->answer = answer;
    if (!conform.api->timer_start(self, (uint64_t)ms, 0, later_fire, l))
        return NULL;
    return l;
}

/* GET /c/suspend?ms=N&then=done|error|continue|suspend&answer=0|1 */
static tn_status h_suspend(tn_plugin *self, tn_request *req, void *ud)
{
    long ms = query_long(req, "ms", 10, CONFORM_SLEEP_MAX_MS);
    (void)ud;
    if (ms < 0)
        return bad_request(req, "ms must be 0..10000");
    if (!resume_later(self, req, ms, status_named(conform.api->req_query_param(req, "then")),
                      !query_is(req, "answer", "0")))
        return TN_ERROR;
    return TN_SUSPEND;
}

/* GET /c/early-resume: resumes before returning TN_SUSPEND. */
static tn_status h_early_resume(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    reply(req, 200, json_pack("{s:b}", "early", 1));
    conform.api->req_resume(req, status_named(conform.api->req_query_param(req, "then")));
    return TN_SUSPEND;
}

typedef struct work_job {
    tn_request *req;
    long n;
    long long sum;
} work_job;

static void work_run(void *ud)
{
    work_job *j = ud;
    for (long i = 1; i <= j->n; i++)
        j->sum += i;
}

static void work_done(void *ud, int status)
{
    work_job *j = ud;
    reply(j->req, 200, json_pack("{s:i,s:I}", "status", status, "sum", (json_int_t)j->sum));
    conform.api->req_resume(j->req, TN_DONE);
}

/* GET /c/work?n=N: the sum 1..N computed in the thread pool. */
static tn_status h_work(tn_plugin *self, tn_request *req, void *ud)
{
    work_job *j = conform.api->req_alloc(req, sizeof *j);
    (void)ud;
    if (j == NULL)
        return TN_ERROR;
    j->req = req;
    j->n = query_long(req, "n", 100, 1000000);
    j->sum = 0;
    if (j->n < 0)
        return bad_request(req, "n must be 0..1000000");
    if (conform.api->work_queue(self, work_run, work_done, j) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

static void stopped_fire(tn_plugin *self, void *ud)
{
    later *l = ud;
    (void)self;
    reply(l->req, 200, json_pack("{s:s}", "fired", "the stopped timer"));
    conform.api->req_resume(l->req, TN_DONE);
}

/* GET /c/timer-stop: a stopped timer never fires; a later one answers. */
static tn_status h_timer_stop(tn_plugin *self, tn_request *req, void *ud)
{
    later *l = conform.api->req_alloc(req, sizeof *l);
    tn_timer *t;
    (void)ud;
    if (l == NULL)
        return TN_ERROR;
    l->req = req;
    if ((t = conform.api->timer_start(self, 5, 0, stopped_fire, l)) == NULL)
        return TN_ERROR;
    conform.api->timer_stop(t);
    if (!resume_later(self, req, 20, TN_DONE, 1))
        return TN_ERROR;
    return TN_SUSPEND;
}

/* -- streaming ------------------------------------------------------------ */

/* GET /c/stream?n=N: a chunked body of N lines; what the API answers after
 * the head and after the end rides in the last line. */
static tn_status h_stream(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    long n = query_long(req, "n", 3, CONFORM_STREAM_MAX);
    char line[128];
    int rc_begin, rc_header, rc_status, rc_body, rc_write, rc_end;
    (void)self;
    (void)ud;
    if (n < 0)
        return bad_request(req, "n must be 0..64");
    api->resp_status(req, 200);
    api->resp_header(req, "Content-Type", "text/plain");
    api->resp_header(req, "X-Conform-Stream", "before head");
    rc_begin = api->resp_stream_begin(req);
    rc_header = api->resp_header(req, "X-Conform-Late", "after head");
    rc_status = api->resp_status(req, 201);
    rc_body = api->resp_body(req, "x", 1);
    for (long i = 0; i < n; i++) {
        int len = snprintf(line, sizeof line, "line %ld\n", i);
        api->resp_write(req, line, (size_t)len, NULL, NULL);
    }
    rc_write = api->resp_write(req, "", 0, NULL, NULL);
    int len = snprintf(line, sizeof line, "begin=%d header=%d status=%d body=%d empty_write=%d\n",
                       rc_begin, rc_header, rc_status, rc_body, rc_write);
    api->resp_write(req, line, (size_t)len, NULL, NULL);
    rc_end = api->resp_end(req);
    (void)rc_end; /* the request is gone after a successful end */
    return TN_DONE;
}

/* -- the database, as a host without one answers -------------------------- */

/* The statement's result: what the accessors say, then resp_db_error(). */
static void db_answered(tn_request *req, const tn_db_result *res, void *ud)
{
    const tn_api *api = conform.api;
    char line[256];
    const char *sqlstate = api->db_sqlstate(res), *colname = api->db_colname(res, 0);
    snprintf(line, sizeof line,
             "status=%d sqlstate=%s rows=%d cols=%d affected=%lld "
             "colname=%s value=%s",
             api->db_status(res), sqlstate ? sqlstate : "(null)", api->db_rows(res),
             api->db_cols(res), (long long)api->db_affected(res), colname ? colname : "(null)",
             api->db_value(res, 0, 0) ? "set" : "(null)");
    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    else
        reply(req, 200, json_pack("{s:b}", "ran", 1));
    api->resp_header(req, "X-Conform-Db-Result", line);
    if (ud != NULL)
        api->resp_header(req, "X-Conform-Db-Rcs", ud);
    api->req_resume(req, TN_DONE);
}

/* GET /c/db: one statement whose answer is the response, and what
 * db_query, db_publish and db_audit refuse at once (X-Conform-Db-Rcs). */
static tn_status h_db(tn_plugin *self, tn_request *req, void *ud)
{
    static const char *const refused[] = {
        "BEGIN",
        "commit",
        "  -- note\n ROLLBACK",
        "/* c */ SET search_path TO x",
        "reset all",
        "SELECT set_config('app.tenant_id', 'x', false)",
        "SELECT U&\"x\"",
        "listen x",
        "DO $$ BEGIN END $$",
        "/* unclosed SELECT 1",
        "",
    };
    const tn_api *api = conform.api;
    const char *one[] = {"1"};
    size_t n = 0, cap = 256;
    char *rcs = api->req_alloc(req, cap);
    (void)self;
    (void)ud;
    if (rcs == NULL)
        return TN_ERROR;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        n += (size_t)snprintf(rcs + n, cap - n, "%d,",
                              api->db_query(req, refused[i], 0, NULL, db_answered, NULL));
    n += (size_t)snprintf(rcs + n, cap - n, "args:%d,%d,%d;",
                          api->db_query(req, "SELECT 1", -1, NULL, db_answered, NULL),
                          api->db_query(req, "SELECT 1", 1001, one, db_answered, NULL),
                          api->db_query(req, "SELECT $1", 1, NULL, db_answered, NULL));
    /* The statement first: the later ones ride in its transaction. */
    int rc = api->db_query(req, "SELECT current_setting('app.tenant_id') WHERE 1 = $1", 1, one,
                           db_answered, rcs);
    n += (size_t)snprintf(rcs + n, cap - n, "query:%d;publish:%d,%d;audit:%d,%d", rc,
                          api->db_publish(req, "order-created", "{}"),
                          api->db_publish(req, "order.created", "not json"),
                          api->db_audit(req, "", "order", "1", "ok"),
                          api->db_audit(req, "order.view", "order", "1", "maybe"));
    /* ?more=1: valid ones too, queued behind the statement. */
    if (query_is(req, "more", "1"))
        snprintf(rcs + n, cap - n, ";more:%d,%d", api->db_publish(req, "order.created", "{}"),
                 api->db_audit(req, "order.view", "order", NULL, "ok"));
    return rc == TN_OK ? TN_SUSPEND : TN_ERROR;
}

/* -- settings ------------------------------------------------------------- */

static json_t *config_json(const tn_config *cfg)
{
    const tn_api *api = conform.api;
    if (cfg == NULL)
        return json_null();
    return json_pack("{s:o,s:o,s:I,s:f,s:b,s:o,s:o,s:I,s:{s:b,s:b,s:b,s:b,s:b,s:b}}", "tenant",
                     str_or_null(api->config_tenant(cfg)), "label",
                     str_or_null(api->config_str(cfg, "label")), "limit",
                     (json_int_t)api->config_int(cfg, "limit"), "ratio",
                     api->config_float(cfg, "ratio"), "flag", api->config_bool(cfg, "flag"), "note",
                     str_or_null(api->config_str(cfg, "note")), "unknown_str",
                     str_or_null(api->config_str(cfg, "nope")), "label_as_int",
                     (json_int_t)api->config_int(cfg, "label"), "is_set", "label",
                     api->config_is_set(cfg, "label"), "limit", api->config_is_set(cfg, "limit"),
                     "ratio", api->config_is_set(cfg, "ratio"), "flag",
                     api->config_is_set(cfg, "flag"), "note", api->config_is_set(cfg, "note"),
                     "nope", api->config_is_set(cfg, "nope"));
}

/* GET /c/settings?other=T: this tenant's settings, and T's outside the
 * request (tenant_config). */
static tn_status h_settings(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    const char *other = api->req_query_param(req, "other");
    (void)ud;
    return reply(req, 200,
                 json_pack("{s:o,s:o}", "mine", config_json(api->req_config(req, self)), "other",
                           other ? config_json(api->tenant_config(self, other)) : json_null()));
}

/* -- events ------------------------------------------------------------- */

static void on_event(tn_plugin *self, const tn_event *ev, void *ud)
{
    const tn_config *cfg = ev->tenant_id ? conform.api->tenant_config(self, ev->tenant_id) : NULL;
    json_t *rec;
    if (json_array_size(conform.events) >= CONFORM_EVENTS_MAX)
        return;
    /* Outside a request, settings come from tenant_config(). */
    rec = json_pack("{s:o,s:s,s:o,s:o,s:o,s:i,s:b}", "label",
                    str_or_null(cfg ? conform.api->config_str(cfg, "label") : NULL), "subscription",
                    (const char *)ud, "name", str_or_null(ev->name), "tenant",
                    str_or_null(ev->tenant_id), "payload", str_or_null(ev->payload), "attempt",
                    ev->size >= offsetof(tn_event, attempt) + sizeof ev->attempt ? ev->attempt : -1,
                    "len_ok", ev->payload != NULL && ev->payload_len == strlen(ev->payload));
    json_array_append_new(conform.events, rec);
}

/* GET /c/publish?name=&tenant=self|none|T&payload=: event_publish's answer. */
static tn_status h_publish(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    const char *name = api->req_query_param(req, "name");
    const char *tenant = api->req_query_param(req, "tenant");
    const char *payload = api->req_query_param(req, "payload");
    (void)ud;
    if (tenant == NULL || strcmp(tenant, "self") == 0)
        tenant = api->req_tenant(req);
    else if (strcmp(tenant, "none") == 0)
        tenant = NULL;
    if (payload == NULL)
        payload = "{\"n\":1}";
    else if (strcmp(payload, "null") == 0)
        payload = NULL; /* the host publishes "{}" */
    return reply(req, 200,
                 json_pack("{s:i}", "rc",
                           api->event_publish(self, tenant, name ? name : "order.created",
                                              payload)));
}

/* GET /c/events: what the subscriber received since the last read. */
static tn_status h_events(tn_plugin *self, tn_request *req, void *ud)
{
    json_t *got = conform.events;
    (void)self;
    (void)ud;
    conform.events = json_array();
    return reply(req, 200, json_pack("{s:o}", "received", got ? got : json_array()));
}

/* -- registration ------------------------------------------------------- */

static void record(const char *what, json_t *value)
{
    json_object_set_new(conform.registered, what, value);
}

/* GET /c/registered: what init() got, what registering now gets, and
 * what the plugin learns of itself and the host. */
static tn_status h_registered(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    json_t *late =
        json_pack("{s:i,s:i,s:i,s:b}", "route_add",
                  api->route_add(self, "GET", "/c/late", TN_ACCESS_PUBLIC, NULL, h_info, NULL),
                  "hook_add", api->hook_add(self, TN_PHASE_HANDLE, h_info, NULL), "event_subscribe",
                  api->event_subscribe(self, "late.event", on_event, "late"), "metric_counter",
                  api->metric_counter(self, "late_total", "late") != NULL);
    (void)ud;
    return reply(req, 200,
                 json_pack("{s:O,s:o,s:o,s:o}", "init", conform.registered, "late", late, "plugin",
                           str_or_null(api->plugin_name(self)), "host_version",
                           str_or_null(api->host_version())));
}

/* GET /c/hook-runs: response hook runs since the last read. */
static tn_status h_hook_runs(tn_plugin *self, tn_request *req, void *ud)
{
    long n = conform.response_hook_runs;
    (void)self;
    (void)ud;
    conform.response_hook_runs = 0;
    return reply(req, 200, json_pack("{s:i}", "response_hook_runs", (int)n));
}

/* -- hooks ---------------------------------------------------------------- */

/* X-Conform-<Phase>: done | error | suspend-<status> drives a hook. */
static tn_status drive_hook(tn_plugin *self, tn_request *req, const char *header, const char *phase)
{
    const char *how = conform.api->req_header(req, header);
    if (how == NULL)
        return TN_CONTINUE;
    if (strcmp(how, "done") == 0) {
        conform.api->resp_error(req, 429, "slow_down", phase);
        conform.api->resp_header(req, "Retry-After", "3");
        return TN_DONE;
    }
    if (strcmp(how, "error") == 0)
        return TN_ERROR;
    if (strncmp(how, "suspend-", 8) == 0) {
        if (!resume_later(self, req, 5, status_named(how + 8), 0))
            return TN_ERROR;
        return TN_SUSPEND;
    }
    return TN_CONTINUE;
}

static tn_status hook_early(tn_plugin *self, tn_request *req, void *ud)
{
    const char *route = conform.api->req_route(req);
    (void)ud;
    if (conform.api->req_header(req, "X-Conform-Early-Probe"))
        conform.api->resp_header(req, "X-Conform-Early-Route", route ? route : "none");
    return drive_hook(self, req, "X-Conform-Early", "early");
}

/* ABI 1.2: X-Test-Auth-Method (with X-Test-Auth-Age, seconds before now;
 * X-Test-Mfa; X-Test-Session-Hash; X-Test-Buyer) passes how the principal
 * authenticated to req_set_auth; X-Conform-Auth-Set answers its codes (a
 * second call must be TN_ESTATE). */
static void set_auth(tn_request *req)
{
    const tn_api *api = conform.api;
    const char *method = api->req_header(req, "X-Test-Auth-Method");
    const char *age = api->req_header(req, "X-Test-Auth-Age");
    const char *buyer = api->req_header(req, "X-Test-Buyer");
    tn_attr attrs[1] = {{"buyer_id", buyer}};
    tn_auth_info info = {.size = sizeof info,
                         .method = method,
                         .auth_time = (int64_t)time(NULL) - (age ? atol(age) : 0),
                         .mfa_passed = api->req_header(req, "X-Test-Mfa") != NULL,
                         .session_hash = api->req_header(req, "X-Test-Session-Hash"),
                         .attrs = attrs,
                         .nattrs = buyer ? 1 : 0};
    char rcs[32];
    int first, second;

    if (method == NULL)
        return;
    first = api->req_set_auth(req, &info);
    second = api->req_set_auth(req, &info);
    snprintf(rcs, sizeof rcs, "%d,%d", first, second);
    api->resp_header(req, "X-Conform-Auth-Set", rcs);
}

/* X-Test-User and X-Test-Roles (verbatim, spaces kept) set the principal;
 * X-Test-User-Twice tries a second time.  The return codes go out in
 * X-Conform-Auth when X-Conform-Auth-Probe is sent. */
static tn_status hook_authenticate(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = conform.api;
    const char *user = api->req_header(req, "X-Test-User");
    const char *roles = api->req_header(req, "X-Test-Roles");
    char rcs[32];
    int first = 1, second = 1;
    (void)ud;
    if (user != NULL)
        first = api->req_set_principal(req, user, roles);
    if (user != NULL && api->req_header(req, "X-Test-User-Twice"))
        second = api->req_set_principal(req, "other", "admin");
    if (api->req_header(req, "X-Conform-Auth-Probe")) {
        snprintf(rcs, sizeof rcs, "%d,%d", first, second);
        api->resp_header(req, "X-Conform-Auth", rcs);
    }
    set_auth(req);
    return drive_hook(self, req, "X-Conform-Authenticate", "authenticate");
}

static tn_status hook_authorize(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    return drive_hook(self, req, "X-Conform-Authorize", "authorize");
}

static tn_status hook_handle(tn_plugin *self, tn_request *req, void *ud)
{
    const char *route = conform.api->req_route(req);
    (void)ud;
    if (conform.api->req_header(req, "X-Conform-Handle-Probe"))
        conform.api->resp_header(req, "X-Conform-Handle-Route", route ? route : "none");
    return drive_hook(self, req, "X-Conform-Handle", "handle");
}

/* Marks every response of a tenant that enables conform; counts its runs. */
static tn_status hook_response(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    conform.response_hook_runs++;
    conform.api->resp_header(req, "X-Conform-Hook", "ran");
    return drive_hook(self, req, "X-Conform-Response", "response");
}

/* Runs after hook_response unless that one ended the phase. */
static tn_status hook_response_second(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    conform.api->resp_header(req, "X-Conform-Hook2", "ran");
    return TN_CONTINUE;
}

/* -- init ------------------------------------------------------------- */

static void register_metrics(tn_plugin *self)
{
    static const char *const names[] = {
        "requests_total",
        "queue_depth",
        "Bad_Name",
        "9lives",
        "with-dash",
        "",
        "a23456789012345678901234567890123456789012345678",  /* 48 */
        "a234567890123456789012345678901234567890123456789", /* 49 */
    };
    json_t *m = json_object();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tn_metric *got = i == 1 ? conform.api->metric_gauge(self, names[i], "a gauge")
                                : conform.api->metric_counter(self, names[i], "a counter");
        if (i == 0)
            conform.requests = got;
        json_object_set_new(m, names[i][0] ? names[i] : "(empty)", json_boolean(got != NULL));
    }
    json_object_set_new(m, "requests_total(again)",
                        json_boolean(conform.api->metric_counter(self, "requests_total", "twice") !=
                                     NULL));
    record("metrics", m);
}

static void register_events(tn_plugin *self)
{
    static const char *const names[] = {
        "order.created", "order.cancelled", "order-created", "Order.created", "1order", "",
    };
    json_t *e = json_object();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_object_set_new(e, names[i][0] ? names[i] : "(empty)",
                            json_integer(conform.api->event_subscribe(self, names[i], on_event,
                                                                      (void *)names[i])));
    record("subscribe", e);
}

/* Routes the plugin depends on; a failure refuses init. */
static int register_routes(tn_plugin *self)
{
    static const struct {
        const char *method, *pattern;
        tn_access access;
        const char *roles;
        tn_hook_fn fn;
        const char *ud;
    } routes[] = {
        {"GET", "/c/info", TN_ACCESS_PUBLIC, NULL, h_info, NULL},
        {"GET", "/c/me", TN_ACCESS_AUTHENTICATED, NULL, h_principal, "me"},
        {"GET", "/c/admin", TN_ACCESS_ROLES, "admin, ops", h_principal, "admin"},
        {"GET", "/c/items/:id/*rest", TN_ACCESS_PUBLIC, NULL, h_items, NULL},
        {"GET", "/c/items/:id", TN_ACCESS_PUBLIC, NULL, h_items, NULL},
        {"GET", "/c/items/special", TN_ACCESS_PUBLIC, NULL, h_items, NULL},
        {"GET", "/c/read", TN_ACCESS_PUBLIC, NULL, h_read, NULL},
        {"POST", "/c/echo", TN_ACCESS_PUBLIC, NULL, h_echo, NULL},
        {"PUT", "/c/echo", TN_ACCESS_AUTHENTICATED, NULL, h_echo, NULL},
        {"GET", "/c/error", TN_ACCESS_PUBLIC, NULL, h_error, NULL},
        {"GET", "/c/headers", TN_ACCESS_PUBLIC, NULL, h_headers, NULL},
        {"GET", "/c/status", TN_ACCESS_PUBLIC, NULL, h_status, NULL},
        {"GET", "/c/body-only", TN_ACCESS_PUBLIC, NULL, h_body_only, NULL},
        {"GET", "/c/nothing", TN_ACCESS_PUBLIC, NULL, h_nothing, NULL},
        {"GET", "/c/ctype", TN_ACCESS_PUBLIC, NULL, h_ctype, NULL},
        {"GET", "/c/json-bad", TN_ACCESS_PUBLIC, NULL, h_json_bad, NULL},
        {"GET", "/c/fail", TN_ACCESS_PUBLIC, NULL, h_fail, NULL},
        {"GET", "/c/suspend", TN_ACCESS_PUBLIC, NULL, h_suspend, NULL},
        {"GET", "/c/early-resume", TN_ACCESS_PUBLIC, NULL, h_early_resume, NULL},
        {"GET", "/c/work", TN_ACCESS_PUBLIC, NULL, h_work, NULL},
        {"GET", "/c/timer-stop", TN_ACCESS_PUBLIC, NULL, h_timer_stop, NULL},
        {"GET", "/c/stream", TN_ACCESS_PUBLIC, NULL, h_stream, NULL},
        {"GET", "/c/settings", TN_ACCESS_PUBLIC, NULL, h_settings, NULL},
        {"GET", "/c/db", TN_ACCESS_PUBLIC, NULL, h_db, NULL},
        {"GET", "/c/publish", TN_ACCESS_PUBLIC, NULL, h_publish, NULL},
        {"GET", "/c/events", TN_ACCESS_PUBLIC, NULL, h_events, NULL},
        {"GET", "/c/registered", TN_ACCESS_PUBLIC, NULL, h_registered, NULL},
        {"GET", "/c/hook-runs", TN_ACCESS_PUBLIC, NULL, h_hook_runs, NULL},
        {"GET", "/c/auth", TN_ACCESS_AUTHENTICATED, NULL, h_auth, "auth"},
    };
    /* ABI 1.2 route options: re-authentication within 300 s (S6, S9), a
     * second factor for admins (S13). */
    static const tn_route_opts reauth = {.size = sizeof reauth, .max_auth_age_s = 300};
    static const tn_route_opts mfa = {.size = sizeof mfa, .need_mfa = 1};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = conform.api->route_add(self, routes[i].method, routes[i].pattern, routes[i].access,
                                        routes[i].roles, routes[i].fn, (void *)routes[i].ud);
        if (rc != TN_OK) {
            conform.api->log(self, TN_LOG_ERROR, "route %s %s: %d", routes[i].method,
                             routes[i].pattern, rc);
            return rc;
        }
    }
    if (conform.api->route_add_opts(self, "GET", "/c/reauth", TN_ACCESS_AUTHENTICATED, NULL, h_auth,
                                    "reauth", &reauth) != TN_OK ||
        conform.api->route_add_opts(self, "GET", "/c/mfa", TN_ACCESS_ROLES, "admin", h_auth, "mfa",
                                    &mfa) != TN_OK)
        return TN_EINVAL;
    return TN_OK;
}

/* Routes the host must refuse (or accept) at registration; only recorded. */
static void register_odd_routes(tn_plugin *self)
{
    static const struct {
        const char *key, *method, *pattern;
        tn_access access;
        const char *roles;
    } odd[] = {
        {"duplicate", "GET", "/c/info", TN_ACCESS_PUBLIC, NULL},
        {"same_shape", "GET", "/c/items/:other", TN_ACCESS_PUBLIC, NULL},
        {"trailing_slash", "GET", "/c/odd/", TN_ACCESS_PUBLIC, NULL},
        {"no_slash", "GET", "c/odd", TN_ACCESS_PUBLIC, NULL},
        {"empty_segment", "GET", "/c//odd", TN_ACCESS_PUBLIC, NULL},
        {"star_not_last", "GET", "/c/*rest/odd", TN_ACCESS_PUBLIC, NULL},
        {"bad_method", "get", "/c/odd", TN_ACCESS_PUBLIC, NULL},
        {"trace", "TRACE", "/c/odd", TN_ACCESS_PUBLIC, NULL},
        {"roles_without_roles", "GET", "/c/odd1", TN_ACCESS_ROLES, NULL},
        {"roles_empty", "GET", "/c/odd2", TN_ACCESS_ROLES, ""},
        {"public_with_roles", "GET", "/c/odd3", TN_ACCESS_PUBLIC, "admin"},
        {"bad_access", "GET", "/c/odd4", (tn_access)7, NULL},
    };
    json_t *r = json_object();
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        json_object_set_new(r, odd[i].key,
                            json_integer(conform.api->route_add(self, odd[i].method, odd[i].pattern,
                                                                odd[i].access, odd[i].roles, h_info,
                                                                NULL)));
    json_object_set_new(r, "null_handler",
                        json_integer(conform.api->route_add(self, "GET", "/c/odd5",
                                                            TN_ACCESS_PUBLIC, NULL, NULL, NULL)));
    {
        static const tn_route_opts mfa = {.size = sizeof mfa, .need_mfa = 1};
        tn_route_opts unknown = {.size = sizeof unknown, .reserved = {&unknown}};
        json_object_set_new(r, "opts_on_public",
                            json_integer(conform.api->route_add_opts(self, "GET", "/c/odd6",
                                                                     TN_ACCESS_PUBLIC, NULL, h_info,
                                                                     NULL, &mfa)));
        json_object_set_new(r, "opts_unknown",
                            json_integer(conform.api->route_add_opts(self, "GET", "/c/odd7",
                                                                     TN_ACCESS_AUTHENTICATED, NULL,
                                                                     h_info, NULL, &unknown)));
    }
    json_object_set_new(r, "hook_bad_phase",
                        json_integer(conform.api->hook_add(self, (tn_phase)TN_PHASE_COUNT,
                                                           hook_handle, NULL)));
    json_object_set_new(r, "hook_null",
                        json_integer(conform.api->hook_add(self, TN_PHASE_HANDLE, NULL, NULL)));
    record("routes", r);
}

static int conform_init(tn_plugin *self, const tn_api *api)
{
    conform.api = api;
    conform.response_hook_runs = 0;
    conform.registered = json_object();
    conform.events = json_array();
    if (conform.registered == NULL || conform.events == NULL)
        return TN_ENOMEM;
    if (register_routes(self) != TN_OK)
        return -1;
    register_odd_routes(self);
    register_metrics(self);
    register_events(self);
    if (api->hook_add(self, TN_PHASE_EARLY, hook_early, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_AUTHENTICATE, hook_authenticate, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_AUTHORIZE, hook_authorize, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_HANDLE, hook_handle, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_RESPONSE, hook_response, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_RESPONSE, hook_response_second, NULL) != TN_OK)
        return -1;
    return 0;
}

static void conform_fini(tn_plugin *self)
{
    (void)self;
    json_decref(conform.registered);
    json_decref(conform.events);
    conform.registered = conform.events = NULL;
}

static const tn_config_key conform_settings[] = {
    {.name = "label",
     .type = TN_TYPE_STRING,
     .default_value = "conform",
     .min = 1,
     .max = 64,
     .description = "Free text read back by GET /c/settings"},
    {.name = "limit",
     .type = TN_TYPE_INT,
     .default_value = "10",
     .min = 1,
     .max = 100,
     .description = "An integer setting"},
    {.name = "ratio",
     .type = TN_TYPE_FLOAT,
     .default_value = "0.5",
     .min = 0,
     .max = 1,
     .description = "A float setting"},
    {.name = "flag",
     .type = TN_TYPE_BOOL,
     .default_value = "false",
     .description = "A bool setting"},
    {.name = "note", .type = TN_TYPE_STRING, .description = "No default: empty unless set"},
    {.name = NULL},
};

static const tn_plugin_desc conform_desc = {
    .size = sizeof conform_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "conform",
    .version = "0.1.0-test",
    .description = "Test-only: the same scenarios on the testkit and on the host",
    .settings = conform_settings,
    .init = conform_init,
    .fini = conform_fini,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &conform_desc;
}
