/*
 * dbprobe - a TEST-ONLY plugin exercising the database API through HTTP:
 *
 *   POST /db/notes           insert the body as a note, publish note.created,
 *                            write an audit entry, commit: 201 {"id": N}
 *   GET  /db/notes           every note the request can see, with its tenant;
 *                            the SELECT "forgets" WHERE tenant_id on purpose (S21)
 *   POST /db/notes/as/:t     insert naming tenant :t explicitly (RLS must refuse)
 *   GET  /db/sleep?ms=N      holds a pooled connection N ms (pool exhaustion)
 *   GET  /db/echo?v=...      SELECT $1 round trip (S1: values stay values)
 *   POST /db/fail            publish, then fail the transaction: no event
 *
 * A durable subscriber to note.created logs each delivery; a payload with
 * "crash": true aborts the worker on the first delivery of that event (it
 * leaves a marker file named after the event id in the `marker_dir`
 * setting), to prove a killed worker loses nothing.
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
    const char *crash = ud;
    char *id;

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        api->db_rollback(req, NULL, NULL);
        finish_error(req, res);
        return;
    }
    id = api->req_strdup(req, api->db_value(res, 0, 0));
    snprintf(payload, sizeof payload, "{\"id\":%s,\"crash\":%s}", id, crash ? "true" : "false");
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
    const char *params[1];
    char *text;

    (void)p;
    (void)ud;
    if (len == 0 || len > 4096) {
        api->resp_error(req, 400, "bad_request", "body of 1..4096 bytes");
        return TN_DONE;
    }
    text = api->req_alloc(req, len + 1);
    memcpy(text, body, len);
    text[len] = '\0';
    params[0] = text;
    if (api->db_query(req, "INSERT INTO notes (tenant_id, body) "
                           "VALUES (current_setting('app.tenant_id'), $1) RETURNING id",
                      1, params, note_inserted,
                      api->req_query_param(req, "crash") ? (void *)"crash" : NULL) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- GET /db/notes -------------------------------------------------------- */

static void notes_listed(tn_request *req, const tn_db_result *res, void *ud)
{
    int i, n;
    size_t cap = 64;
    char *out, *p;

    (void)ud;
    if (api->db_status(res) != TN_OK) {
        finish_error(req, res);
        return;
    }
    n = api->db_rows(res);
    for (i = 0; i < n; i++)
        cap += strlen(api->db_value(res, i, 0)) + strlen(api->db_value(res, i, 1)) + 32;
    p = out = api->req_alloc(req, cap);
    p += sprintf(p, "{\"tenants\":[");
    for (i = 0; i < n; i++)
        p += sprintf(p, "%s{\"id\":%s,\"tenant\":\"%s\"}", i ? "," : "", api->db_value(res, i, 0),
                     api->db_value(res, i, 1));
    sprintf(p, "],\"count\":%d}", n);
    api->resp_json(req, 200, out);
    api->db_commit(req, NULL, NULL);
    api->req_resume(req, TN_DONE);
}

static tn_status h_list(tn_plugin *p, tn_request *req, void *ud)
{
    (void)p;
    (void)ud;
    /* No WHERE tenant_id: row-level security is what keeps tenants apart. */
    if (api->db_query(req, "SELECT id, tenant_id FROM notes ORDER BY id", 0, NULL, notes_listed,
                      NULL) != TN_OK)
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
    char *out;
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
    out = NULL;
    (void)out;
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
    const char *params[1] = {v ? v : ""};

    (void)p;
    (void)ud;
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

/* ---- the durable subscriber ------------------------------------------------- */

static tn_status on_note(tn_plugin *p, const tn_event *ev, tn_delivery *d, void *ud)
{
    const tn_config *cfg = api->tenant_config(p, ev->tenant_id);
    const char *dir = cfg ? api->config_str(cfg, "marker_dir") : "";
    char path[512];
    int fd;

    (void)d;
    (void)ud;
    if (strstr(ev->payload, "\"crash\": true") || strstr(ev->payload, "\"crash\":true")) {
        snprintf(path, sizeof path, "%s/crashed-%lld", dir, (long long)ev->id);
        fd = dir[0] ? open(path, O_CREAT | O_EXCL | O_WRONLY, 0600) : -1;
        if (fd >= 0) {
            close(fd);
            api->log(p, TN_LOG_WARN, "crashing on purpose in delivery of event %lld",
                     (long long)ev->id);
            abort();
        }
    }
    api->log(p, TN_LOG_INFO, "delivered event %lld attempt %d tenant %s", (long long)ev->id,
             ev->attempt, ev->tenant_id);
    return TN_CONTINUE;
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
        api->route_add(self, "POST", "/db/fail", TN_ACCESS_PUBLIC, NULL, h_fail, NULL))
        return -1;
    return api->event_subscribe_durable(self, "note.created", on_note, NULL);
}

static const tn_config_key settings[] = {
    {.name = "marker_dir", .type = TN_TYPE_STRING, .default_value = "",
     .description = "Directory for crash-once marker files (tests only)."},
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
