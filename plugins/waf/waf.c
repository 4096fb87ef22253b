/*
 * waf.c - the WAF plugin: OWASP CRS through libmodsecurity, per tenant, in
 * the early phase, with the rules run in the thread pool.
 *
 * The early hook refuses a body over the tenant's limit (413), picks the
 * tenant's shared rule set (profiles.c), hands the request to the thread
 * pool (inspect.c) and suspends it; the completion, back on the loop,
 * answers 403 in block mode or lets the request go on in detect mode, and
 * either way writes one JSON log line (rule IDs and variable names only),
 * counts it and feeds the waf.alert aggregation (alerts.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <modsecurity/modsecurity.h>
#include <tanomu/tanomu.h>

#include "alerts.h"
#include "inspect.h"
#include "profiles.h"

#define WAF_VERSION "1.0.0"
#define ERR_MAX 1024

/* CRS rule families (the ID's first three digits) counted in metrics. */
static const struct family {
    unsigned prefix;
    const char *name;
} families[] = {
    {911, "method"}, {913, "scanner"}, {920, "protocol"}, {921, "protocol_attack"},
    {930, "lfi"},    {931, "rfi"},     {932, "rce"},      {933, "php"},
    {934, "nodejs"}, {941, "xss"},     {942, "sqli"},     {943, "session_fixation"},
    {944, "java"},   {0, "other"},
};
#define NFAMILIES (sizeof families / sizeof families[0])

/* Everything this worker's WAF keeps: one context, created by the first
 * check() or init(), freed by fini(). */
static struct waf_ctx {
    const tn_api *api;
    tn_plugin *self;
    ModSecurity *msc;
    waf_profiles *profiles;
    waf_alerts *alerts;
    tn_timer *alert_timer;
    unsigned alert_interval_s;
    tn_metric *inspected, *blocked, *detected, *body_refused, *failed;
    tn_metric *by_family[NFAMILIES];
} waf;

static const tn_config_key waf_settings[] = {
    {.name = "mode",
     .type = TN_TYPE_STRING,
     .default_value = "block",
     .min = 5,
     .max = 6,
     .description = "block: refuse with 403 what the rules refuse; detect: log and count only."},
    {.name = "paranoia",
     .type = TN_TYPE_INT,
     .default_value = "1",
     .min = 1,
     .max = 4,
     .description = "CRS paranoia level 1-4: higher catches more and refuses more ordinary "
                    "traffic."},
    {.name = "anomaly_threshold",
     .type = TN_TYPE_INT,
     .default_value = "5",
     .min = 1,
     .max = 10000,
     .description = "Inbound anomaly score at which a request is refused (CRS: critical 5, "
                    "error 4, warning 3, notice 2)."},
    {.name = "exclude_rules",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .max = 4000,
     .description = "Rule IDs this tenant switches off, separated by spaces or commas; "
                    "ID@/prefix only for paths that start with /prefix."},
    {.name = "rules_file",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .max = 1024,
     .description = "Absolute path of the tenant's own SecRules file, loaded after the "
                    "CRS; IDs 4190000-4199999 are the plugin's."},
    {.name = "body_limit",
     .type = TN_TYPE_INT,
     .default_value = "131072",
     .min = 1024,
     .max = 16777216,
     .description = "Largest request body inspected, in bytes; a larger one is refused "
                    "with 413."},
    {.name = NULL},
};

static const tn_config_key waf_global_settings[] = {
    {.name = "rules_dir",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .max = 1024,
     .description = "Directory of setup.conf and exclusions.conf; empty: waf/assets/rules "
                    "beside waf.so."},
    {.name = "crs_dir",
     .type = TN_TYPE_STRING,
     .default_value = "/usr/share/modsecurity-crs/rules",
     .min = 1,
     .max = 1024,
     .description = "The OWASP CRS rules; every *.conf in it is loaded in name order."},
    {.name = "alert_interval_s",
     .type = TN_TYPE_INT,
     .default_value = "60",
     .min = 1,
     .max = 86400,
     .description = "At most one waf.alert event per tenant per this many seconds."},
    {.name = NULL},
};

/* ---- settings ---------------------------------------------------------------- */

static int ensure_profiles(void)
{
    if (!waf.profiles)
        waf.profiles = waf_profiles_new();
    return waf.profiles ? 0 : -1;
}

/* Validates a tenant's section and remembers its profile, which is built
 * here once the plugin is initialised (settings changed later) or by
 * init() (at start and reload, where check() runs first). */
static int waf_check(const tn_api *api, const tn_config *cfg, tn_check *chk)
{
    waf_profile_spec spec;
    char err[ERR_MAX];
    const char *mode = api->config_str(cfg, "mode");
    int bad = 0;

    if (!mode || (strcmp(mode, "block") != 0 && strcmp(mode, "detect") != 0)) {
        api->check_error(chk, "mode", "must be \"block\" or \"detect\"");
        bad = 1;
    }
    if (waf_spec_from_config(api, cfg, &spec, err, sizeof err) != 0) {
        api->check_error(chk, "exclude_rules", "%s", err);
        return -1;
    }
    if (spec.rules_file[0] && spec.rules_file[0] != '/') {
        api->check_error(chk, "rules_file", "must be an absolute path");
        return -1;
    }
    if (spec.rules_file[0] && waf_rules_file_check(spec.rules_file, err, sizeof err) != 0) {
        api->check_error(chk, "rules_file", "%s", err);
        return -1;
    }
    if (bad)
        return -1;
    if (ensure_profiles() != 0) {
        api->check_error(chk, NULL, "out of memory");
        return -1;
    }
    if (waf_profiles_note(waf.profiles, &spec, err, sizeof err) != 0) {
        api->check_error(chk, spec.rules_file[0] ? "rules_file" : "exclude_rules", "%s", err);
        return -1;
    }
    return 0;
}

/* ---- reporting ------------------------------------------------------------------ */

/* The verdict rules (949 blocking evaluation, 980 correlation) are not
 * what matched: leave them out of logs and counts. */
static int is_verdict(unsigned id)
{
    return (id >= 949000 && id <= 949999) || (id >= 980000 && id <= 980999);
}

static size_t family_of(unsigned id)
{
    size_t i;

    for (i = 0; i + 1 < NFAMILIES; i++)
        if (id / 1000 == families[i].prefix)
            return i;
    return NFAMILIES - 1;
}

static void count_families(const waf_job *job)
{
    int seen[NFAMILIES] = {0};
    size_t i;

    for (i = 0; i < job->nhits; i++)
        if (!is_verdict(job->hits[i].id))
            seen[family_of(job->hits[i].id)] = 1;
    for (i = 0; i < NFAMILIES; i++)
        if (seen[i] && waf.by_family[i])
            waf.api->metric_add(waf.by_family[i], job->tenant, 1);
}

/* One JSON line: tenant, mode, rule IDs, variable names; no values. */
static void log_hit(tn_request *req, const waf_job *job, const char *action)
{
    json_t *doc = json_object(), *rules = json_array(), *vars = json_array();
    char *line = NULL;
    size_t i, j;

    if (!doc || !rules || !vars)
        goto done;
    for (i = 0; i < job->nhits; i++) {
        if (is_verdict(job->hits[i].id))
            continue;
        json_array_append_new(rules, json_integer(job->hits[i].id));
        for (j = 0; j < i && strcmp(job->hits[j].var, job->hits[i].var) != 0; j++)
            ;
        if (j == i && job->hits[i].var[0])
            json_array_append_new(vars, json_string(job->hits[i].var));
    }
    json_object_set_new(doc, "event", json_string("waf"));
    json_object_set_new(doc, "action", json_string(action));
    json_object_set_new(doc, "tenant", json_string(job->tenant));
    json_object_set_new(doc, "status", json_integer(job->status));
    json_object_set(doc, "rules", rules);
    json_object_set(doc, "variables", vars);
    if (job->dropped)
        json_object_set_new(doc, "more_hits", json_integer((json_int_t)job->dropped));
    line = json_dumps(doc, JSON_COMPACT);
    if (line)
        waf.api->req_log(req, TN_LOG_WARN, "%s", line);
done:
    free(line);
    json_decref(rules);
    json_decref(vars);
    json_decref(doc);
}

static void alert_committed(tn_tx *tx, const tn_db_result *res, void *ud)
{
    (void)tx, (void)ud;
    if (waf.api->db_status(res) != TN_OK)
        waf.api->log(waf.self, TN_LOG_WARN, "waf.alert not published: %s",
                     waf.api->db_sqlstate(res));
}

/* Through the outbox, in a transaction of its own: durable subscribers
 * (the notifications plugin) see it, with retries; a plain event would
 * reach only this worker's plain subscribers. */
static void publish_alert(const char *tenant)
{
    const tn_api *api = waf.api;
    char *payload = waf_alerts_take(waf.alerts, tenant, waf.alert_interval_s);
    tn_tx *tx = NULL;

    if (payload == NULL)
        return;
    if (api->tx_begin(waf.self, tenant, &tx) != TN_OK)
        goto fail;
    if (api->tx_publish(tx, "waf.alert", payload) != TN_OK ||
        api->tx_commit(tx, alert_committed, NULL) != TN_OK) {
        api->tx_rollback(tx, NULL, NULL);
        goto fail;
    }
    free(payload);
    return;
fail:
    api->log(waf.self, TN_LOG_WARN, "waf.alert not published: %s", api->last_error(waf.self));
    free(payload);
}

static void on_alert_tick(tn_plugin *self, void *ud)
{
    const char *t;
    size_t i;
    (void)self;
    (void)ud;
    waf_alerts_tick(waf.alerts);
    for (i = 0; i < waf_alerts_tenants(waf.alerts); i++)
        if ((t = waf_alerts_pending(waf.alerts, i)) != NULL)
            publish_alert(t);
}

static int answer_blocked(tn_request *req)
{
    const tn_api *api = waf.api;
    const char *rid = api->req_id(req);
    json_t *doc = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "waf_blocked", "message",
                            "the request was refused by the web application firewall", "request_id",
                            rid ? rid : "");
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int rc = body ? api->resp_json(req, 403, body) : TN_ENOMEM;

    free(body);
    json_decref(doc);
    return rc;
}

/* ---- the request ------------------------------------------------------------------ */

typedef struct header_walk {
    tn_request *req;
    waf_header *v;
    size_t n, cap;
} header_walk;

static int collect_header(const char *name, const char *value, void *ud)
{
    header_walk *w = ud;

    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        waf_header *v = waf.api->req_alloc(w->req, cap * sizeof *v);
        if (!v)
            return 1;
        if (w->n)
            memcpy(v, w->v, w->n * sizeof *v);
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n].name = name;
    w->v[w->n++].value = value;
    return 0;
}

static void work(void *ud)
{
    waf_inspect(ud);
}

static void work_done(void *ud, int status)
{
    waf_job *job = ud;
    tn_request *req = job->req;
    tn_status st = TN_CONTINUE;

    if (status != 0 || job->failed) {
        waf.api->metric_add(waf.failed, job->tenant, 1);
        waf.api->req_log(req, TN_LOG_ERROR, "waf: the rules could not run");
        st = waf.api->resp_error(req, 503, "waf_unavailable", "try again later") == TN_OK
                 ? TN_DONE
                 : TN_ERROR;
        goto out;
    }
    if (!job->intervened)
        goto out;
    if (job->mode_block) {
        job->status = 403;
        log_hit(req, job, "block");
        waf.api->metric_add(waf.blocked, job->tenant, 1);
        count_families(job);
        st = answer_blocked(req) == TN_OK ? TN_DONE : TN_ERROR;
    } else {
        log_hit(req, job, "detect");
        waf.api->metric_add(waf.detected, job->tenant, 1);
    }
    if (waf_alerts_add(waf.alerts, job->tenant, job->mode_block, job->hits, job->nhits))
        publish_alert(job->tenant);
out:
    free(job->tenant);
    free(job);
    waf.api->req_resume(req, st);
}

static const char *request_uri(tn_request *req)
{
    const tn_api *api = waf.api;
    const char *path = api->req_path(req), *query = api->req_query(req);
    size_t lp, lq;
    char *uri;

    if (!query || !query[0])
        return path;
    lp = strlen(path);
    lq = strlen(query);
    if (!(uri = api->req_alloc(req, lp + lq + 2)))
        return NULL;
    memcpy(uri, path, lp);
    uri[lp] = '?';
    memcpy(uri + lp + 1, query, lq + 1);
    return uri;
}

static tn_status refuse(tn_request *req, int status, const char *code, const char *message)
{
    return waf.api->resp_error(req, status, code, message) == TN_OK ? TN_DONE : TN_ERROR;
}

static tn_status waf_early(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *api = waf.api;
    const tn_config *cfg = api->req_config(req, self);
    const char *tenant = api->req_tenant(req);
    header_walk hw = {.req = req};
    waf_profile_spec spec;
    waf_profile *prof;
    waf_job *job;
    size_t blen = 0;
    const void *body = api->req_body(req, &blen);
    char err[ERR_MAX];
    (void)ud;

    if (!cfg)
        return TN_ERROR;
    if (blen > (size_t)api->config_int(cfg, "body_limit")) {
        api->metric_add(waf.body_refused, tenant, 1);
        return refuse(req, 413, "payload_too_large", "the request body is too large");
    }
    if (waf_spec_from_config(api, cfg, &spec, err, sizeof err) != 0 ||
        !(prof = waf_profiles_find(waf.profiles, &spec))) {
        api->metric_add(waf.failed, tenant, 1);
        api->req_log(req, TN_LOG_ERROR, "waf: no rule set for the tenant's settings");
        return refuse(req, 503, "waf_unavailable", "try again later"); /* fail closed */
    }
    if (api->req_header_each(req, collect_header, &hw) != TN_OK)
        return TN_ERROR;
    if (!(job = calloc(1, sizeof *job)))
        return TN_ERROR;
    job->msc = waf.msc;
    job->rules = waf_profile_rules(prof);
    job->method = api->req_method(req);
    job->uri = request_uri(req);
    job->client = api->req_client_addr(req);
    job->headers = hw.v;
    job->nheaders = hw.n;
    job->body = body;
    job->body_len = blen;
    job->req = req;
    job->mode_block = strcmp(api->config_str(cfg, "mode"), "block") == 0;
    job->tenant = strdup(tenant ? tenant : "");
    if (!job->uri || !job->client || !job->tenant ||
        api->work_queue(self, work, work_done, job) != TN_OK) {
        free(job->tenant);
        free(job);
        return TN_ERROR;
    }
    api->metric_add(waf.inspected, tenant, 1);
    return TN_SUSPEND;
}

/* ---- life cycle ---------------------------------------------------------------- */

/* waf/assets/rules beside the waf.so this code was loaded from. */
static int default_rules_dir(char *out, size_t len)
{
    Dl_info info;
    char *copy;
    int n;

    if (dladdr((void *)tn_plugin_entry, &info) == 0 || !info.dli_fname)
        return -1;
    if (!(copy = strdup(info.dli_fname)))
        return -1;
    n = snprintf(out, len, "%s/waf/assets/rules", dirname(copy));
    free(copy);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int make_metrics(tn_plugin *self, const tn_api *api)
{
    char name[64], help[128];
    size_t i;

    waf.inspected = api->metric_counter(self, "inspected_total", "Requests inspected.");
    waf.blocked = api->metric_counter(self, "blocked_total", "Requests refused with 403.");
    waf.detected = api->metric_counter(self, "detected_total",
                                       "Requests the rules refused, let through in detect mode.");
    waf.body_refused = api->metric_counter(self, "body_refused_total",
                                           "Requests refused with 413: body over body_limit.");
    waf.failed = api->metric_counter(self, "failed_total",
                                     "Requests answered 503: the rules could not run.");
    if (!waf.inspected || !waf.blocked || !waf.detected || !waf.body_refused || !waf.failed)
        return -1;
    for (i = 0; i < NFAMILIES; i++) {
        snprintf(name, sizeof name, "blocked_%s_total", families[i].name);
        snprintf(help, sizeof help, "Blocked requests in which a %s rule matched.",
                 families[i].name);
        if (!(waf.by_family[i] = api->metric_counter(self, name, help)))
            return -1;
    }
    return 0;
}

static int waf_init(tn_plugin *self, const tn_api *api)
{
    const tn_config *g = api->plugin_config(self);
    const char *rules_dir = api->config_str(g, "rules_dir");
    char dir[4096], err[ERR_MAX];

    waf.api = api;
    waf.self = self;
    waf.alert_interval_s = (unsigned)api->config_int(g, "alert_interval_s");
    if (!rules_dir || !rules_dir[0]) {
        if (default_rules_dir(dir, sizeof dir) != 0) {
            api->log(self, TN_LOG_ERROR, "cannot find the rules directory: set rules_dir");
            return -1;
        }
        rules_dir = dir;
    }
    if (ensure_profiles() != 0 || !(waf.alerts = waf_alerts_new()) || !(waf.msc = msc_init()) ||
        make_metrics(self, api) != 0)
        return -1;
    msc_set_connector_info(waf.msc, "tanomu-waf/" WAF_VERSION);
    msc_set_log_cb(waf.msc, waf_on_rule_message);
    if (waf_profiles_configure(waf.profiles, rules_dir, api->config_str(g, "crs_dir"), err,
                               sizeof err) != 0 ||
        waf_profiles_build_all(waf.profiles, err, sizeof err) != 0) {
        api->log(self, TN_LOG_ERROR, "rules did not load: %s", err);
        return -1;
    }
    waf.alert_timer = api->timer_start(self, waf.alert_interval_s * 1000ull,
                                       waf.alert_interval_s * 1000ull, on_alert_tick, NULL);
    if (!waf.alert_timer || api->hook_add(self, TN_PHASE_EARLY, waf_early, NULL) != TN_OK)
        return -1;
    api->log(self, TN_LOG_INFO, "ready, version %s, %zu rule set(s)", WAF_VERSION,
             waf_profiles_count(waf.profiles));
    return 0;
}

static void waf_fini(tn_plugin *self)
{
    (void)self;
    if (waf.alert_timer)
        waf.api->timer_stop(waf.alert_timer);
    waf_profiles_free(waf.profiles);
    waf_alerts_free(waf.alerts);
    if (waf.msc)
        msc_cleanup(waf.msc);
    memset(&waf, 0, sizeof waf);
}

static const tn_plugin_desc waf_desc = {
    .size = sizeof waf_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "waf",
    .version = WAF_VERSION,
    .description = "Web application firewall: OWASP CRS through libmodsecurity, per tenant.",
    .settings = waf_settings,
    .check = waf_check,
    .init = waf_init,
    .fini = waf_fini,
    .global_settings = waf_global_settings,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &waf_desc;
}
