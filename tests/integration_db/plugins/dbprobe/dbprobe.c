/*
 * dbprobe - a TEST-ONLY plugin exercising the database API through HTTP:
 *
 *   POST /db/notes           insert the body as a note, publish note.created,
 *                            write an audit entry, commit: 201 {"id": N}
 *   GET  /db/notes           every note the request can see, with its tenant,
 *                            and the serving backend's pid; the SELECT
 *                            "forgets" WHERE tenant_id on purpose (S21)
 *   POST /db/notes/as/:t     insert naming tenant :t explicitly (RLS must refuse)
 *   GET  /db/sleep?ms=N      holds a pooled connection N ms (pool exhaustion)
 *   GET  /db/echo?v=...      SELECT $1 round trip (S1: values stay values)
 *   POST /db/fail            publish, then fail the transaction: no event
 *   POST /db/roundtrip       INSERT ... RETURNING id, SELECT it back by id,
 *                            commit: 201 {"id": N} (the benchmark's unit)
 *
 * A durable subscriber to note.created logs each delivery ("delivered
 * event ID attempt N tenant T").  Flags on POST /db/notes travel in the
 * event's payload and steer the subscriber; each leaves marker files named
 * after the event id in the tenant's `marker_dir` setting:
 *   ?crash=1  abort() the worker on the first delivery (crashed-ID), to
 *             prove a killed worker loses nothing; ?crash=always aborts on
 *             every delivery (a poison event: no marker);
 *   ?hold=1   on the first delivery log "holding delivery of event ID" and
 *             return TN_SUSPEND, finishing only HOLD_MS later from a timer
 *             (held-ID): a window in which a test can kill -9 the worker;
 *   ?fail=1   fail every delivery ("failing event ID attempt N") until a
 *             file heal-ID exists: retries, backoff and the dead letter.
 * Bodies must be 1..4096 bytes without NUL (values travel as C strings:
 * a NUL would silently cut the note short, A6).
 */
#include <tanomu/tanomu.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const tn_api *api;
static tn_plugin *self_plugin;

#define FLAG_CRASH 1
#define FLAG_HOLD 2
#define FLAG_FAIL 4
#define FLAG_CRASH_ALWAYS 8
#define HOLD_MS 10000 /* below the host's 30 s delivery timeout */

static tn_status finish_error(tn_request *req, const tn_db_result *res)
{
    api->resp_db_error(req, res);
    api->req_resume(req, TN_DONE);
    return TN_DONE;
}

/* ---- POST /db/notes ------------------------------------------------------- */

static void notes_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    char *id = ud;
    char json[64];

    if (api->db_status(res) != TN_OK) {
        finish_error(req, res);
        return;
    }
    snprintf(json, sizeof json, "{\"id\":%s}", id);
    api->resp_json(req, 201, json);
    api->req_resume(req, TN_DONE);
}

static void note_inserted(tn_request *req, const tn_db_result *res, void *ud)
{
    char payload[160];
    const int *flags = ud;
    char *id;

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        api->db_rollback(req, NULL, NULL);
        finish_error(req, res);
        return;
    }
    id = api->req_strdup(req, api->db_value(res, 0, 0));
    snprintf(payload, sizeof payload,
             "{\"id\":%s,\"crash\":%s,\"crash_always\":%s,\"hold\":%s,\"fail\":%s}", id,
             *flags & FLAG_CRASH ? "true" : "false", *flags & FLAG_CRASH_ALWAYS ? "true" : "false",
             *flags & FLAG_HOLD ? "true" : "false", *flags & FLAG_FAIL ? "true" : "false");
    if (api->db_publish(req, "note.created", payload) != TN_OK ||
        api->db_audit(req, "note.create", "note", id, "ok") != TN_OK ||
        api->db_commit(req, notes_committed, id) != TN_OK) {
        api->resp_error(req, 500, "internal", "could not queue");
        api->req_resume(req, TN_DONE);
    }
}

static tn_status h_create(tn_plugin *p, tn_request *req, void *ud)
{
    size_t len;
    const char *body = api->req_body(req, &len);
    const char *params[2];
    const char *crash;
    char *text;
    int *flags;

    (void)p;
    (void)ud;
    if (len == 0 || len > 4096) {
        api->resp_error(req, 400, "bad_request", "body of 1..4096 bytes");
        return TN_DONE;
    }
    if (memchr(body, '\0', len)) {
        api->resp_error(req, 400, "bad_request", "the body contains a NUL byte");
        return TN_DONE;
    }
    text = api->req_alloc(req, len + 1);
    flags = api->req_alloc(req, sizeof *flags);
    if (!text || !flags)
        return TN_ERROR;
    memcpy(text, body, len);
    text[len] = '\0';
    /* The row's tenant is the request's, as a parameter: the host keeps
     * app.tenant_id to itself, and RLS's WITH CHECK holds us to it. */
    params[0] = api->req_tenant(req);
    params[1] = text;
    crash = api->req_query_param(req, "crash");
    *flags = (crash ? strcmp(crash, "always") == 0 ? FLAG_CRASH_ALWAYS : FLAG_CRASH : 0) |
             (api->req_query_param(req, "hold") ? FLAG_HOLD : 0) |
             (api->req_query_param(req, "fail") ? FLAG_FAIL : 0);
    if (api->db_query(req, "INSERT INTO notes (tenant_id, body) VALUES ($1, $2) RETURNING id", 2,
                      params, note_inserted, flags) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- GET /db/notes -------------------------------------------------------- */

static void notes_listed(tn_request *req, const tn_db_result *res, void *ud)
{
    int i, n, count = 0;
    size_t cap = 96;
    char *out, *p;
    const char *backend;

    (void)ud;
    if (api->db_status(res) != TN_OK || api->db_rows(res) < 1) {
        finish_error(req, res);
        return;
    }
    n = api->db_rows(res);
    for (i = 0; i < n; i++)
        if (api->db_value(res, i, 0))
            cap += strlen(api->db_value(res, i, 0)) + strlen(api->db_value(res, i, 1)) + 32;
    backend = api->db_value(res, 0, 2);
    if (!(p = out = api->req_alloc(req, cap + strlen(backend ? backend : "0")))) {
        api->resp_error(req, 500, "internal", "out of memory");
        api->req_resume(req, TN_DONE);
        return;
    }
    p += sprintf(p, "{\"tenants\":[");
    for (i = 0; i < n; i++) {
        if (!api->db_value(res, i, 0))
            continue; /* the row of the empty LEFT JOIN: no notes */
        p += sprintf(p, "%s{\"id\":%s,\"tenant\":\"%s\"}", count++ ? "," : "",
                     api->db_value(res, i, 0), api->db_value(res, i, 1));
    }
    sprintf(p, "],\"count\":%d,\"backend\":%s}", count, backend ? backend : "0");
    api->resp_json(req, 200, out);
    api->db_commit(req, NULL, NULL);
    api->req_resume(req, TN_DONE);
}

static tn_status h_list(tn_plugin *p, tn_request *req, void *ud)
{
    (void)p;
    (void)ud;
    /* No WHERE tenant_id: row-level security is what keeps tenants apart.
     * The backend's pid says which pooled connection served the listing
     * (tests check that one connection serves tenant after tenant). */
    if (api->db_query(req,
                      "SELECT n.id, n.tenant_id, pg_backend_pid() FROM (SELECT 1) AS one "
                      "LEFT JOIN notes n ON true ORDER BY n.id",
                      0, NULL, notes_listed, NULL) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- POST /db/notes/as/:tenant ---------------------------------------------- */

static void foreign_done(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)ud;
    if (api->db_status(res) == TN_OK) {
        api->db_commit(req, NULL, NULL);
        api->resp_json(req, 201, "{\"inserted\":true}");
        api->req_resume(req, TN_DONE);
        return;
    }
    finish_error(req, res);
}

static tn_status h_foreign(tn_plugin *p, tn_request *req, void *ud)
{
    const char *params[2] = {api->req_param(req, "tenant"), "foreign"};

    (void)p;
    (void)ud;
    if (api->db_query(req, "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)", 2, params,
                      foreign_done, NULL) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- GET /db/sleep, GET /db/echo -------------------------------------------- */

static void simple_done(tn_request *req, const tn_db_result *res, void *ud)
{
    const char *v;

    (void)ud;
    if (api->db_status(res) != TN_OK) {
        finish_error(req, res);
        return;
    }
    v = api->db_rows(res) > 0 ? api->db_value(res, 0, 0) : NULL;
    api->resp_status(req, 200);
    api->resp_header(req, "Content-Type", "text/plain");
    if (v)
        api->resp_body(req, v, strlen(v));
    api->db_commit(req, NULL, NULL);
    api->req_resume(req, TN_DONE);
}

static tn_status h_sleep(tn_plugin *p, tn_request *req, void *ud)
{
    const char *ms = api->req_query_param(req, "ms");
    const char *params[1] = {ms ? ms : "100"};

    (void)p;
    (void)ud;
    if (api->db_query(req, "SELECT pg_sleep($1::double precision / 1000)::text", 1, params,
                      simple_done, NULL) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

static tn_status h_echo(tn_plugin *p, tn_request *req, void *ud)
{
    const char *v = api->req_query_param(req, "v");
    const char *params[1] = {v};

    (void)p;
    (void)ud;
    /* Absent, or refused by the host's decoder (%00, bad escapes). */
    if (!v) {
        api->resp_error(req, 400, "bad_request", "query parameter v missing or not valid");
        return TN_DONE;
    }
    if (api->db_query(req, "SELECT $1::text", 1, params, simple_done, NULL) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- POST /db/fail: an event written in a transaction that rolls back ---- */

static void fail_done(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)ud;
    /* The division by zero aborted the transaction: commit reports it. */
    if (api->db_status(res) == TN_OK) {
        api->resp_json(req, 500, "{\"unexpected\":\"commit succeeded\"}");
    } else {
        api->resp_json(req, 200, "{\"rolled_back\":true}");
    }
    api->req_resume(req, TN_DONE);
}

static tn_status h_fail(tn_plugin *p, tn_request *req, void *ud)
{
    (void)p;
    (void)ud;
    if (api->db_publish(req, "note.created", "{\"id\":-1,\"crash\":false}") != TN_OK ||
        api->db_query(req, "SELECT 1/0", 0, NULL, NULL, NULL) != TN_OK ||
        api->db_commit(req, fail_done, NULL) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- POST /db/roundtrip: one write and one read, the benchmark's unit ------ */

static void rt_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    char json[64];

    if (api->db_status(res) != TN_OK) {
        finish_error(req, res);
        return;
    }
    snprintf(json, sizeof json, "{\"id\":%s}", (const char *)ud);
    api->resp_json(req, 201, json);
    api->req_resume(req, TN_DONE);
}

static void rt_selected(tn_request *req, const tn_db_result *res, void *ud)
{
    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        if (api->db_status(res) == TN_OK)
            api->resp_error(req, 500, "internal", "the row just written is not there");
        else
            api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_commit(req, rt_committed, ud) != TN_OK) {
        api->resp_error(req, 500, "internal", "could not queue");
        api->req_resume(req, TN_DONE);
    }
}

static void rt_inserted(tn_request *req, const tn_db_result *res, void *ud)
{
    const char *params[1];
    char *id;

    (void)ud;
    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        finish_error(req, res);
        return;
    }
    id = api->req_strdup(req, api->db_value(res, 0, 0));
    params[0] = id;
    if (api->db_query(req, "SELECT id, body FROM notes WHERE id = $1::bigint", 1, params,
                      rt_selected, id) != TN_OK) {
        api->resp_error(req, 500, "internal", "could not queue");
        api->req_resume(req, TN_DONE);
    }
}

static tn_status h_roundtrip(tn_plugin *p, tn_request *req, void *ud)
{
    size_t len;
    const char *body = api->req_body(req, &len);
    const char *params[2];
    char *text;

    (void)p;
    (void)ud;
    if (len == 0 || len > 4096 || memchr(body, '\0', len)) {
        api->resp_error(req, 400, "bad_request", "body of 1..4096 bytes without NUL");
        return TN_DONE;
    }
    if (!(text = api->req_alloc(req, len + 1)))
        return TN_ERROR;
    memcpy(text, body, len);
    text[len] = '\0';
    params[0] = api->req_tenant(req);
    params[1] = text;
    if (api->db_query(req, "INSERT INTO notes (tenant_id, body) VALUES ($1, $2) RETURNING id", 2,
                      params, rt_inserted, NULL) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- the durable subscriber ------------------------------------------------- */

/* Deliveries held by ?hold=1; a fixed table, so nothing leaks if the worker
 * stops while one is held. */
typedef struct {
    tn_timer *timer;
    tn_delivery *d;
    long long id;
} held_delivery;
static held_delivery held[16];

static int flag(const tn_event *ev, const char *name)
{
    char a[32], b[32];

    snprintf(a, sizeof a, "\"%s\": true", name);
    snprintf(b, sizeof b, "\"%s\":true", name);
    return strstr(ev->payload, a) || strstr(ev->payload, b);
}

/* Creates DIR/PREFIX-ID; 1 if this call made it (first time), else 0. */
static int marker_create(const char *dir, const char *prefix, long long id)
{
    char path[512];
    int fd;

    if (!dir[0])
        return 0;
    snprintf(path, sizeof path, "%s/%s-%lld", dir, prefix, id);
    if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600)) < 0)
        return 0;
    close(fd);
    return 1;
}

static int marker_exists(const char *dir, const char *prefix, long long id)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s-%lld", dir, prefix, id);
    return dir[0] && stat(path, &st) == 0;
}

static void release_held(tn_plugin *p, void *ud)
{
    held_delivery *h = ud;

    api->log(p, TN_LOG_INFO, "releasing held event %lld", h->id);
    api->timer_stop(h->timer);
    api->delivery_done(h->d, 1, NULL);
    h->timer = NULL;
    h->d = NULL;
}

static tn_status on_note(tn_plugin *p, const tn_event *ev, tn_delivery *d, void *ud)
{
    const tn_config *cfg = api->tenant_config(p, ev->tenant_id);
    const char *dir = cfg ? api->config_str(cfg, "marker_dir") : "";
    long long id = (long long)ev->id;
    size_t i;

    (void)ud;
    if (!dir)
        dir = "";
    if (flag(ev, "crash_always")) {
        api->log(p, TN_LOG_WARN, "crashing on purpose in delivery of event %lld attempt %d", id,
                 ev->attempt);
        abort();
    }
    if (flag(ev, "crash") && marker_create(dir, "crashed", id)) {
        api->log(p, TN_LOG_WARN, "crashing on purpose in delivery of event %lld", id);
        abort();
    }
    if (flag(ev, "fail") && !marker_exists(dir, "heal", id)) {
        api->log(p, TN_LOG_INFO, "failing event %lld attempt %d tenant %s", id, ev->attempt,
                 ev->tenant_id);
        return TN_ERROR;
    }
    if (flag(ev, "hold")) {
        for (i = 0; i < sizeof held / sizeof held[0] && held[i].d; i++)
            ;
        if (i < sizeof held / sizeof held[0] && marker_create(dir, "held", id)) {
            held[i].d = d;
            held[i].id = id;
            held[i].timer = api->timer_start(p, HOLD_MS, 0, release_held, &held[i]);
            if (held[i].timer) {
                api->log(p, TN_LOG_INFO, "holding delivery of event %lld attempt %d tenant %s", id,
                         ev->attempt, ev->tenant_id);
                return TN_SUSPEND;
            }
            held[i].d = NULL;
        }
    }
    api->log(p, TN_LOG_INFO, "delivered event %lld attempt %d tenant %s", id, ev->attempt,
             ev->tenant_id);
    return TN_CONTINUE;
}

/* ---- GET /db/late: commit and rollback with nothing begun, and calls
 * asked after commit was asked but before it was sent or answered ---- */

static struct {
    int nothing_rc, nothing_cb; /* rollback with nothing begun */
    int after_query, after_end; /* returns of calls after the commit */
    int late_cb;                /* callbacks of those: must stay 0 */
} late;

static void late_nothing(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req;
    (void)ud;
    late.nothing_cb = api->db_status(res) == TN_OK ? 1 : -1;
}

static void late_refused(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req;
    (void)res;
    (void)ud;
    late.late_cb++;
}

static void late_selected(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req;
    (void)res;
    (void)ud;
}

static void late_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    char body[200];

    (void)ud;
    snprintf(body, sizeof body,
             "{\"nothing_rc\":%d,\"nothing_cb\":%d,\"after_query\":%d,\"after_end\":%d,"
             "\"late_cb\":%d,\"commit\":%d}",
             late.nothing_rc, late.nothing_cb, late.after_query, late.after_end, late.late_cb,
             api->db_status(res));
    api->resp_json(req, 200, body);
    api->req_resume(req, TN_DONE);
}

static tn_status h_late(tn_plugin *p, tn_request *req, void *ud)
{
    (void)p;
    (void)ud;
    memset(&late, 0, sizeof late);
    late.nothing_rc = api->db_rollback(req, late_nothing, NULL);
    /* Queued while the transaction begins: the commit is not sent yet. */
    if (api->db_query(req, "SELECT 1", 0, NULL, late_selected, NULL) != TN_OK ||
        api->db_commit(req, late_committed, NULL) != TN_OK)
        return TN_ERROR;
    late.after_query = api->db_query(req, "SELECT 2", 0, NULL, late_refused, NULL);
    late.after_end = api->db_rollback(req, late_refused, NULL);
    return TN_SUSPEND;
}

static int init(tn_plugin *self, const tn_api *a)
{
    api = a;
    self_plugin = self;
    if (!TN_API_HAS(api, delivery_done))
        return -1;
    if (api->route_add(self, "POST", "/db/notes", TN_ACCESS_PUBLIC, NULL, h_create, NULL) ||
        api->route_add(self, "GET", "/db/notes", TN_ACCESS_PUBLIC, NULL, h_list, NULL) ||
        api->route_add(self, "POST", "/db/notes/as/:tenant", TN_ACCESS_PUBLIC, NULL, h_foreign,
                       NULL) ||
        api->route_add(self, "GET", "/db/sleep", TN_ACCESS_PUBLIC, NULL, h_sleep, NULL) ||
        api->route_add(self, "GET", "/db/echo", TN_ACCESS_PUBLIC, NULL, h_echo, NULL) ||
        api->route_add(self, "POST", "/db/fail", TN_ACCESS_PUBLIC, NULL, h_fail, NULL) ||
        api->route_add(self, "POST", "/db/roundtrip", TN_ACCESS_PUBLIC, NULL, h_roundtrip, NULL) ||
        api->route_add(self, "GET", "/db/late", TN_ACCESS_PUBLIC, NULL, h_late, NULL))
        return -1;
    return api->event_subscribe_durable(self, "note.created", on_note, NULL);
}

static const tn_config_key settings[] = {
    {.name = "marker_dir",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .description = "Directory for the marker files of the crash/hold/fail flags (tests only)."},
    {.name = NULL},
};

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = 1,
    .name = "dbprobe",
    .version = "1.0.0",
    .description = "Test-only: the database API over HTTP.",
    .settings = settings,
    .init = init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
