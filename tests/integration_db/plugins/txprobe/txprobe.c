/*
 * txprobe - a TEST-ONLY plugin exercising transactions outside a request
 * (SDK 1.2: tx_begin/tx_query/tx_commit/tx_rollback/tx_publish and
 * delivery_tx) through HTTP.  Every route starts a timer and suspends; the
 * timer's callback, which has no request, runs the transaction, and the
 * request is answered with what it saw, as JSON.  ?t=TENANT binds the
 * transaction ("none": no tenant).  Rows go to dbprobe's notes table.
 *
 *   POST /tx/write?t=T&flags=commit|rollback[&as=U]   INSERT a note (the
 *        body) naming tenant U (default T, or "a"), in a transaction bound
 *        to T, then end as asked: {"insert":S,"end":S,"sqlstate":"..."};
 *        with &audit=1 also a tx_audit row (actor "txprobe", action
 *        "txprobe.write", target note/BODY) and "audit":RC in the answer.
 *   GET  /tx/count?t=T       SELECT count(*) FROM notes (RLS decides):
 *        {"status":S,"count":N}
 *   POST /tx/refused         tx_query with the body as the statement:
 *        {"rc":RC,"last_error":"..."} (the statement never runs)
 *   GET  /tx/sleep?t=T&ms=N  SELECT pg_sleep: {"status":S,"sqlstate":"..."}
 *   POST /tx/hold?t=T        INSERT a note, then a 60 s pg_sleep, never
 *        ended: answered after the INSERT; when the worker stops, the
 *        sleep's callback logs "held statement answered STATUS".
 *   POST /tx/publish?t=T&keys=K1,K2&flags=hold|fail|wait   one durable
 *        event txprobe.sub per key, written with tx_publish, committed:
 *        {"publish":RC,"end":S}
 *
 * The durable subscriber to txprobe.sub writes the note "sub-KEY" through
 * delivery_tx(), with a tx_audit row (no actor, action "txprobe.sub",
 * target note/sub-KEY), and acknowledges from the INSERT's callback (delivery_done),
 * so the write commits with the ack.  Flags, each once per key (marker
 * files in marker_dir):
 *   hold  after the write, log "holding KEY after its write" and never
 *         finish: the test kills the worker while the write is uncommitted;
 *   fail  after the write, log "failing KEY" and fail: rolled back, retried;
 *   wait  the first key is written and acked as usual; the others log
 *         "waiting KEY" and stay suspended without writing, so the batch
 *         cannot settle after the first's ack committed: the test kills
 *         the worker in that window.
 * Each completed write logs "wrote KEY attempt N".
 */
#include <tanomu/tanomu.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const tn_api *api;
static tn_plugin *self_plugin; /* for log lines from callbacks */

typedef struct job {
    tn_request *req;
    tn_timer *timer;
    tn_tx *tx;
    const char *tenant; /* NULL: none */
    const char *arg;    /* body, statement, ms, keys */
    const char *flags;
    const char *as;
    const char *audit;
    int rc;
    int status;
    char out[512];
} job;

static job *held_job; /* POST /tx/hold's, open until the worker stops */

static void answer(job *j, int status, const char *json)
{
    api->resp_json(j->req, status, json);
    api->req_resume(j->req, TN_DONE);
}

/* A copy of the timer's job: the request memory outlives the timer. */
static tn_status start(tn_plugin *p, tn_request *req, tn_timer_fn fn, const char *arg)
{
    job *j = api->req_alloc(req, sizeof *j);
    const char *t = api->req_query_param(req, "t");

    if (!j || !t)
        return TN_ERROR;
    memset(j, 0, sizeof *j);
    j->req = req;
    j->tenant = strcmp(t, "none") == 0 ? NULL : api->req_strdup(req, t);
    j->arg = arg;
    j->flags = api->req_query_param(req, "flags");
    j->as = api->req_query_param(req, "as");
    j->audit = api->req_query_param(req, "audit");
    if (!(j->timer = api->timer_start(p, 0, 0, fn, j)))
        return TN_ERROR;
    return TN_SUSPEND;
}

static const char *body_text(tn_request *req)
{
    size_t len;
    const char *b = api->req_body(req, &len);
    char *s;

    if (len == 0 || len > 4096 || memchr(b, '\0', len) || !(s = api->req_alloc(req, len + 1)))
        return NULL;
    memcpy(s, b, len);
    s[len] = '\0';
    return s;
}

/* ---- POST /tx/write --------------------------------------------------------- */

static void write_ended(tn_tx *tx, const tn_db_result *res, void *ud)
{
    job *j = ud;
    char json[600], audit[32] = "";

    (void)tx;
    if (j->audit)
        snprintf(audit, sizeof audit, ",\"audit\":%d", j->rc);
    snprintf(json, sizeof json, "{\"insert\":%d,\"end\":%d,\"sqlstate\":\"%s\"%s}", j->status,
             api->db_status(res), j->out, audit);
    answer(j, 200, json);
}

static void write_inserted(tn_tx *tx, const tn_db_result *res, void *ud)
{
    job *j = ud;
    int commit = j->flags && strcmp(j->flags, "commit") == 0;

    j->status = api->db_status(res);
    snprintf(j->out, sizeof j->out, "%s", api->db_sqlstate(res));
    if ((commit ? api->tx_commit(tx, write_ended, j) : api->tx_rollback(tx, write_ended, j)) !=
        TN_OK)
        answer(j, 500, "{\"error\":\"end not queued\"}");
}

static void run_write(tn_plugin *p, void *ud)
{
    job *j = ud;
    const char *params[2] = {j->as ? j->as : j->tenant ? j->tenant : "a", j->arg};

    api->timer_stop(j->timer);
    if (api->tx_begin(p, j->tenant, &j->tx) != TN_OK ||
        api->tx_query(j->tx, "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)", 2, params,
                      write_inserted, j) != TN_OK) {
        answer(j, 500, "{\"error\":\"not queued\"}");
        return;
    }
    if (j->audit) /* answered with the write; a refusal leaves the transaction as it was */
        j->rc = api->tx_audit(j->tx, "txprobe", "txprobe.write", "note", j->arg, "ok");
}

static tn_status h_write(tn_plugin *p, tn_request *req, void *ud)
{
    const char *body = body_text(req);
    const char *end = api->req_query_param(req, "flags");
    (void)ud;
    if (!body || !end)
        return TN_ERROR;
    return start(p, req, run_write, body);
}

/* ---- GET /tx/count, GET /tx/sleep ------------------------------------------------ */

static void read_done(tn_tx *tx, const tn_db_result *res, void *ud)
{
    job *j = ud;

    snprintf(j->out, sizeof j->out, "{\"status\":%d,\"sqlstate\":\"%s\",\"count\":%s}",
             api->db_status(res), api->db_sqlstate(res),
             api->db_rows(res) == 1 && api->db_value(res, 0, 0) ? api->db_value(res, 0, 0)
                                                                : "null");
    if (api->tx_commit(tx, NULL, NULL) != TN_OK)
        answer(j, 500, "{\"error\":\"commit not queued\"}");
    else
        answer(j, 200, j->out);
}

static void run_read(tn_plugin *p, void *ud)
{
    job *j = ud;
    const char *params[1] = {j->arg};

    api->timer_stop(j->timer);
    if (api->tx_begin(p, j->tenant, &j->tx) != TN_OK ||
        api->tx_query(j->tx,
                      j->arg ? "SELECT pg_sleep($1::double precision / 1000)::text"
                             : "SELECT count(*) FROM notes",
                      j->arg ? 1 : 0, params, read_done, j) != TN_OK)
        answer(j, 500, "{\"error\":\"not queued\"}");
}

static tn_status h_count(tn_plugin *p, tn_request *req, void *ud)
{
    (void)p;
    (void)ud;
    return start(p, req, run_read, NULL);
}

static tn_status h_sleep(tn_plugin *p, tn_request *req, void *ud)
{
    const char *ms = api->req_query_param(req, "ms");

    (void)ud;
    return ms ? start(p, req, run_read, ms) : TN_ERROR;
}

/* ---- POST /tx/refused -------------------------------------------------------------- */

static void run_refused(tn_plugin *p, void *ud)
{
    job *j = ud;
    char json[600];
    const char *e;
    size_t i, n = 0;

    api->timer_stop(j->timer);
    j->rc = api->tx_begin(p, j->tenant, &j->tx);
    if (j->rc == TN_OK)
        j->rc = api->tx_query(j->tx, j->arg, 0, NULL, NULL, NULL);
    /* The message as JSON: it has no quotes or backslashes, but be sure. */
    e = api->last_error(p);
    for (i = 0; e[i] && n < sizeof j->out - 1; i++)
        j->out[n++] = e[i] == '"' || e[i] == '\\' ? '\'' : e[i];
    j->out[n] = '\0';
    snprintf(json, sizeof json, "{\"rc\":%d,\"last_error\":\"%s\"}", j->rc, j->out);
    if (j->tx)
        api->tx_rollback(j->tx, NULL, NULL);
    answer(j, 200, json);
}

static tn_status h_refused(tn_plugin *p, tn_request *req, void *ud)
{
    const char *sql = body_text(req);

    (void)ud;
    return sql ? start(p, req, run_refused, sql) : TN_ERROR;
}

/* ---- POST /tx/hold: open when the worker stops ---------------------------------------- */

static void held_answered(tn_tx *tx, const tn_db_result *res, void *ud)
{
    (void)tx;
    (void)ud;
    api->log(self_plugin, TN_LOG_INFO, "held statement answered %d", api->db_status(res));
}

static void hold_inserted(tn_tx *tx, const tn_db_result *res, void *ud)
{
    job *j = ud;
    char json[64];

    snprintf(json, sizeof json, "{\"insert\":%d}", api->db_status(res));
    api->tx_query(tx, "SELECT pg_sleep(60)", 0, NULL, held_answered, NULL);
    answer(j, 200, json);
}

static void run_hold(tn_plugin *p, void *ud)
{
    job *j = ud;
    const char *params[2] = {j->tenant, "held-open"};

    api->timer_stop(j->timer);
    if (held_job || !j->tenant || api->tx_begin(p, j->tenant, &j->tx) != TN_OK ||
        api->tx_query(j->tx, "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)", 2, params,
                      hold_inserted, j) != TN_OK) {
        answer(j, 500, "{\"error\":\"not queued\"}");
        return;
    }
    held_job = j;
}

static tn_status h_hold(tn_plugin *p, tn_request *req, void *ud)
{
    (void)ud;
    return start(p, req, run_hold, NULL);
}

/* ---- POST /tx/publish ------------------------------------------------------------------- */

static void published(tn_tx *tx, const tn_db_result *res, void *ud)
{
    job *j = ud;
    char json[96];

    (void)tx;
    snprintf(json, sizeof json, "{\"publish\":%d,\"end\":%d}", j->rc, api->db_status(res));
    answer(j, 200, json);
}

static void run_publish(tn_plugin *p, void *ud)
{
    job *j = ud;
    char keys[128], payload[160], *k, *save = NULL;
    const char *f = j->flags ? j->flags : "";

    api->timer_stop(j->timer);
    if (api->tx_begin(p, j->tenant, &j->tx) != TN_OK) {
        answer(j, 500, "{\"error\":\"tx_begin\"}");
        return;
    }
    snprintf(keys, sizeof keys, "%s", j->arg);
    for (k = strtok_r(keys, ",", &save); k && j->rc == TN_OK; k = strtok_r(NULL, ",", &save)) {
        /* "wait" is for the keys after the first (see the top). */
        snprintf(payload, sizeof payload, "{\"key\":\"%s\",\"flags\":\"%s\"}", k,
                 strcmp(f, "wait") == 0 && k == keys ? "" : f);
        j->rc = api->tx_publish(j->tx, "txprobe.sub", payload);
    }
    if (api->tx_commit(j->tx, published, j) != TN_OK)
        answer(j, 500, "{\"error\":\"commit not queued\"}");
}

static tn_status h_publish(tn_plugin *p, tn_request *req, void *ud)
{
    const char *keys = api->req_query_param(req, "keys");
    size_t i;

    (void)ud;
    if (!keys || strlen(keys) > 100)
        return TN_ERROR;
    for (i = 0; keys[i]; i++)
        if (!((keys[i] >= 'a' && keys[i] <= 'z') || (keys[i] >= '0' && keys[i] <= '9') ||
              keys[i] == ','))
            return TN_ERROR;
    return start(p, req, run_publish, keys);
}

/* ---- the durable subscriber -------------------------------------------------------------- */

typedef struct delivery {
    tn_delivery *d;
    char key[24];
    char dir[256];
    char flags[32];
    int attempt;
} delivery;

/* Creates DIR/PREFIX-KEY; 1 if this call made it (the first time). */
static int once(const delivery *v, const char *prefix)
{
    char path[320];
    int fd;

    if (!v->dir[0])
        return 0;
    snprintf(path, sizeof path, "%s/%s-%s", v->dir, prefix, v->key);
    if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600)) < 0)
        return 0;
    close(fd);
    return 1;
}

static void sub_written(tn_tx *tx, const tn_db_result *res, void *ud)
{
    delivery *v = ud;

    (void)tx;
    if (api->db_status(res) != TN_OK) {
        api->log(self_plugin, TN_LOG_WARN, "write of %s failed: %d %s", v->key, api->db_status(res),
                 api->db_sqlstate(res));
        api->delivery_done(v->d, 0, "write failed");
    } else if (strstr(v->flags, "hold") && once(v, "held")) {
        api->log(self_plugin, TN_LOG_INFO, "holding %s after its write", v->key);
        return; /* never finished: the test kills the worker */
    } else if (strstr(v->flags, "fail") && once(v, "failed")) {
        api->log(self_plugin, TN_LOG_INFO, "failing %s", v->key);
        api->delivery_done(v->d, 0, "failing on purpose");
    } else {
        api->log(self_plugin, TN_LOG_INFO, "wrote %s attempt %d", v->key, v->attempt);
        api->delivery_done(v->d, 1, NULL);
    }
    free(v);
}

static int json_str(const char *json, const char *name, char *out, size_t cap)
{
    char pat[32];
    const char *s, *e;

    snprintf(pat, sizeof pat, "\"%s\": \"", name);
    if (!(s = strstr(json, pat))) {
        snprintf(pat, sizeof pat, "\"%s\":\"", name);
        if (!(s = strstr(json, pat)))
            return -1;
    }
    s += strlen(pat);
    if (!(e = strchr(s, '"')) || (size_t)(e - s) >= cap)
        return -1;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return 0;
}

static tn_status on_sub(tn_plugin *p, const tn_event *ev, tn_delivery *d, void *ud)
{
    const tn_config *cfg = api->tenant_config(p, ev->tenant_id);
    const char *dir = cfg ? api->config_str(cfg, "marker_dir") : NULL;
    const char *params[2];
    char body[40];
    delivery *v = calloc(1, sizeof *v);
    tn_tx *tx;

    (void)ud;
    if (!v || json_str(ev->payload, "key", v->key, sizeof v->key) != 0) {
        free(v);
        return TN_ERROR;
    }
    json_str(ev->payload, "flags", v->flags, sizeof v->flags);
    snprintf(v->dir, sizeof v->dir, "%s", dir ? dir : "");
    v->d = d;
    v->attempt = ev->attempt;
    if (strstr(v->flags, "wait") && once(v, "waited")) {
        api->log(p, TN_LOG_INFO, "waiting %s", v->key);
        free(v);
        return TN_SUSPEND; /* never finished: the test kills the worker */
    }
    snprintf(body, sizeof body, "sub-%s", v->key);
    params[0] = ev->tenant_id;
    params[1] = body;
    /* The audit row first: it has no callback, so a refusal frees v once. */
    if (!(tx = api->delivery_tx(d)) ||
        api->tx_audit(tx, NULL, "txprobe.sub", "note", body, "ok") != TN_OK ||
        api->tx_query(tx, "INSERT INTO notes (tenant_id, body) VALUES ($1, $2)", 2, params,
                      sub_written, v) != TN_OK) {
        free(v);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

static int init(tn_plugin *self, const tn_api *a)
{
    api = a;
    self_plugin = self;
    if (!TN_API_HAS(api, delivery_tx) || !TN_API_HAS(api, tx_audit))
        return -1;
    if (api->route_add(self, "POST", "/tx/write", TN_ACCESS_PUBLIC, NULL, h_write, NULL) ||
        api->route_add(self, "GET", "/tx/count", TN_ACCESS_PUBLIC, NULL, h_count, NULL) ||
        api->route_add(self, "GET", "/tx/sleep", TN_ACCESS_PUBLIC, NULL, h_sleep, NULL) ||
        api->route_add(self, "POST", "/tx/refused", TN_ACCESS_PUBLIC, NULL, h_refused, NULL) ||
        api->route_add(self, "POST", "/tx/hold", TN_ACCESS_PUBLIC, NULL, h_hold, NULL) ||
        api->route_add(self, "POST", "/tx/publish", TN_ACCESS_PUBLIC, NULL, h_publish, NULL))
        return -1;
    return api->event_subscribe_durable(self, "txprobe.sub", on_sub, NULL);
}

/* A transaction still open here is the host's to roll back (tx.h). */
static void fini(tn_plugin *self)
{
    (void)self;
    held_job = NULL;
}

static const tn_config_key settings[] = {
    {.name = "marker_dir",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .description = "Directory for the once-per-key marker files (tests only)."},
    {.name = NULL},
};

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = 2,
    .name = "txprobe",
    .version = "1.0.0",
    .description = "Test-only: transactions outside a request over HTTP.",
    .settings = settings,
    .init = init,
    .fini = fini,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
