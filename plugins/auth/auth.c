/*
 * auth.c - the auth plugin: its descriptor and settings, init(), the
 * authenticate hook that turns a session cookie into the request's
 * principal (with the CSRF and Origin rules), and the job that removes
 * expired sessions.  The routes are in routes.c, the password rules in
 * password.c, tokens and cookies in session.c.
 *
 * Written only against the public SDK (tanomu/tanomu.h), as any plugin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "auth.h"
#include "session.h"
#include "totp.h"

#define AUTH_VERSION "0.1.0"
#define AUTH_CLEANUP_EVERY_S 600

const tn_route_opts auth_opts_reauth = {.size = sizeof(tn_route_opts),
                                        .max_auth_age_s = AUTH_REAUTH_MAX_AGE_S};
const tn_route_opts auth_opts_admin = {.size = sizeof(tn_route_opts), .need_mfa = 1};
const tn_route_opts auth_opts_admin_reauth = {.size = sizeof(tn_route_opts),
                                              .need_mfa = 1,
                                              .max_auth_age_s = AUTH_REAUTH_MAX_AGE_S};

static auth_ctx auth_state; /* this worker's; handed to every callback as ud */

static const tn_config_key auth_settings_keys[] = {
    {.name = "password_min_length",
     .type = TN_TYPE_INT,
     .default_value = "12",
     .min = AUTH_PW_MIN_FLOOR,
     .max = 128,
     .description = "Minimum password length in characters after NFKC (8 to 128)."},
    {.name = "password_words",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 4000,
     .description = "Comma-separated words (company, product names) no password may "
                    "contain; case-insensitive, words under 3 characters ignored."},
    {.name = "idle_timeout_s",
     .type = TN_TYPE_INT,
     .default_value = "1800",
     .min = 60,
     .max = 86400,
     .description = "A session unused this long ends (seconds)."},
    {.name = "admin_idle_timeout_s",
     .type = TN_TYPE_INT,
     .default_value = "900",
     .min = 60,
     .max = 86400,
     .description = "The idle timeout of tenant and platform administrators (seconds)."},
    {.name = "absolute_timeout_s",
     .type = TN_TYPE_INT,
     .default_value = "43200",
     .min = 300,
     .max = 2592000,
     .description = "A session ends this long after login (seconds)."},
    {.name = "allowed_origins",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 4000,
     .description = "Comma-separated origins (https://shop.example) allowed to send "
                    "state-changing requests besides the tenant's own host."},
    {.name = "delay_after",
     .type = TN_TYPE_INT,
     .default_value = "3",
     .min = 1,
     .max = 100,
     .description = "Failed logins of an account after which each further attempt waits "
                    "1, 2, 4 ... up to 60 seconds."},
    {.name = "lock_after",
     .type = TN_TYPE_INT,
     .default_value = "10",
     .min = 3,
     .max = 100,
     .description = "Failed logins of an account that lock it for lock_seconds."},
    {.name = "lock_seconds",
     .type = TN_TYPE_INT,
     .default_value = "900",
     .min = 60,
     .max = 86400,
     .description = "How long a locked account stays locked."},
    {.name = "mfa_required",
     .type = TN_TYPE_BOOL,
     .default_value = "false",
     .description = "Every user must set up TOTP: one without it can only enrol after "
                    "login.  Tenant and platform administrators always must."},
    {.name = NULL},
};

/* Plugin-wide (tanomu.conf plugins.auth), read with plugin_config() where
 * the host has it; otherwise these defaults apply. */
static const tn_config_key auth_global_keys[] = {
    {.name = "hash_concurrency",
     .type = TN_TYPE_INT,
     .default_value = "1",
     .min = 1,
     .max = 64,
     .description = "Password hashes run at once per worker (each takes 19 MiB); keep it "
                    "below the cores per worker."},
    {.name = "hash_nice",
     .type = TN_TYPE_INT,
     .default_value = "10",
     .min = 0,
     .max = 19,
     .description = "The nice value (and SCHED_BATCH) of the plugin's hashing threads, so "
                    "the event loops run first when they share the cores with hashes."},
    {.name = "hash_queue",
     .type = TN_TYPE_INT,
     .default_value = "64",
     .min = 1,
     .max = 100000,
     .description = "Password checks waiting per worker before logins answer 503."},
    {.name = "common_passwords",
     .type = TN_TYPE_STRING,
     .default_value = "/usr/share/john/password.lst",
     .min = 1,
     .max = 4096,
     .description = "A list of common passwords, one a line (Debian john-data)."},
    {.name = "login_rate_per_min",
     .type = TN_TYPE_FLOAT,
     .default_value = "20",
     .min = 0.1,
     .max = 100000,
     .description = "Login attempts per minute per client address and tenant."},
    {.name = "login_burst",
     .type = TN_TYPE_INT,
     .default_value = "20",
     .min = 1,
     .max = 100000,
     .description = "Login attempts a client address may make at once."},
    {.name = NULL},
};

void auth_settings_read(const auth_ctx *ctx, const tn_config *cfg, auth_settings *s)
{
    const tn_api *api = ctx->api;
    s->min_length = (int)api->config_int(cfg, "password_min_length");
    s->words = api->config_str(cfg, "password_words");
    s->allowed_origins = api->config_str(cfg, "allowed_origins");
    s->idle_s = (int)api->config_int(cfg, "idle_timeout_s");
    s->admin_idle_s = (int)api->config_int(cfg, "admin_idle_timeout_s");
    s->absolute_s = (int)api->config_int(cfg, "absolute_timeout_s");
    s->lock_after = (int)api->config_int(cfg, "lock_after");
    s->lock_s = (int)api->config_int(cfg, "lock_seconds");
    s->delay_after = (int)api->config_int(cfg, "delay_after");
    s->mfa_required = api->config_bool(cfg, "mfa_required");
    if (s->min_length < AUTH_PW_MIN_FLOOR) /* the schema says so; never weaker (S12) */
        s->min_length = AUTH_PW_MIN_FLOOR;
}

static int auth_check(const tn_api *api, const tn_config *cfg, tn_check *chk)
{
    int bad = 0;
    if (api->config_int(cfg, "delay_after") > api->config_int(cfg, "lock_after")) {
        api->check_error(chk, "delay_after", "must not be above lock_after");
        bad = 1;
    }
    if (api->config_int(cfg, "idle_timeout_s") > api->config_int(cfg, "absolute_timeout_s")) {
        api->check_error(chk, "idle_timeout_s", "must not be above absolute_timeout_s");
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* ---- error answers -------------------------------------------------------- */

void auth_error_field(const tn_api *api, tn_request *req, int status, const char *code,
                      const char *message, const char *field, const char *reason)
{
    json_t *err = json_pack("{s:{s:s, s:s, s:{s:s}}}", "error", "code", code, "message", message,
                            "fields", field, reason);
    char *text = err ? json_dumps(err, JSON_COMPACT) : NULL;
    if (text)
        api->resp_json(req, status, text);
    else
        api->resp_error(req, status, code, message);
    free(text);
    json_decref(err);
}

json_t *auth_roles_json(const char *csv)
{
    json_t *a = json_array();
    while (a && csv && *csv) {
        size_t n = strcspn(csv, ",");
        if (json_array_append_new(a, json_stringn(csv, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        csv += n + (csv[n] == ',');
    }
    return a;
}

void auth_error_retry(const tn_api *api, tn_request *req, int status, const char *code,
                      const char *message, long long secs)
{
    char buf[24];
    api->resp_error(req, status, code, message); /* replaces headers: Retry-After after */
    snprintf(buf, sizeof buf, "%lld", secs < 1 ? 1LL : secs);
    api->resp_header(req, "Retry-After", buf);
}

/* ---- the authenticate hook ------------------------------------------------ */

/* The live-session lookup: keeps last_seen fresh and gives the principal.
 * $1 session id, $2 absolute, $3 idle, $4 admins' idle timeout (s). */
static const char sql_touch[] =
    "UPDATE auth_sessions s SET last_seen = now() FROM auth_users u "
    "WHERE s.id = $1 AND u.tenant_id = s.tenant_id AND u.id = s.user_id AND NOT u.disabled "
    "AND s.created_at > now() - make_interval(secs => $2::int) "
    "AND s.last_seen > now() - make_interval(secs => CASE WHEN " AUTH_SQL_IS_ADMIN
    " THEN $4::int ELSE $3::int END) "
    "RETURNING s.user_id::text, array_to_string(u.roles, ','), "
    "floor(extract(epoch FROM s.authenticated_at))::bigint, s.mfa_passed, s.auth_method, "
    "u.buyer_id, s.stage";

typedef struct hook_op {
    auth_ctx *ctx;
    char sid[AUTH_SID_LEN + 1];
    char *user_id, *roles; /* request memory */
    char *buyer_id;        /* request memory; NULL unless a buyer's */
    long long auth_time;   /* s.authenticated_at: login or last re-authentication */
    int mfa_passed;
    int csrf_bad;      /* state-changing without the session's token */
    int pre_mfa;       /* password passed, TOTP pending: no principal yet */
    int enrol_only;    /* MFA required and not set up: only enrolment answers */
    const char *route; /* the request's */
    /* s.auth_method: "password", "line" (the auth.sessions interface) */
    const char *method;
} hook_op;

static void hook_csrf_refused(tn_request *req, const tn_db_result *res, void *ud)
{
    hook_op *op = ud;
    (void)res; /* rolled back or not, the request is refused */
    op->ctx->api->resp_error(req, 403, "csrf_token", "missing or wrong X-CSRF-Token");
    op->ctx->api->req_resume(req, TN_DONE);
}

/* How and when the principal authenticated (ABI 1.2): the host enforces
 * route options (need_mfa, max_auth_age_s) against it, and other plugins
 * read the buyer a buyer's staff member belongs to. */
static int set_auth(const tn_api *api, tn_request *req, const hook_op *op)
{
    tn_attr attr = {.name = "buyer_id", .value = op->buyer_id};
    tn_auth_info info = {.size = sizeof info,
                         .method = op->method ? op->method : "password",
                         .auth_time = op->auth_time,
                         .mfa_passed = op->mfa_passed,
                         .session_hash = op->sid,
                         .attrs = op->buyer_id ? &attr : NULL,
                         .nattrs = op->buyer_id ? 1 : 0};
    return api->req_set_auth(req, &info);
}

static void hook_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    hook_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (op->pre_mfa) {
        /* Anonymous until POST /auth/login/mfa: the cookie stays. */
    } else if (op->user_id == NULL) {
        /* A dead session's cookie is HttpOnly: only we can remove it. */
        api->resp_header(req, "Set-Cookie", auth_cookie_clear());
    } else if (api->req_set_principal(req, op->user_id, op->roles) != TN_OK ||
               set_auth(api, req, op) != TN_OK) {
        api->req_log(req, TN_LOG_ERROR, "auth: cannot set the principal: %s",
                     api->last_error(op->ctx->self));
        api->req_resume(req, TN_ERROR);
        return;
    }
    if (op->enrol_only && strcmp(op->route, AUTH_MFA_ENROL_ROUTE) != 0 &&
        strcmp(op->route, AUTH_MFA_CONFIRM_ROUTE) != 0 && strcmp(op->route, "/auth/logout") != 0) {
        api->resp_error(req, 403, "mfa_enrolment_required",
                        "set up TOTP first (POST " AUTH_MFA_ENROL_ROUTE ")");
        api->req_resume(req, TN_DONE);
        return;
    }
    api->req_resume(req, TN_CONTINUE);
}

static void hook_ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* the commit reports a failure */
}

static void hook_touched(tn_request *req, const tn_db_result *res, void *ud)
{
    hook_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *p[1] = {op->sid};

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_rows(res) == 1 && strcmp(api->db_value(res, 0, 6), "mfa") == 0) {
        op->pre_mfa = 1; /* no authority: no CSRF question either */
    } else if (api->db_rows(res) == 1 && op->csrf_bad) {
        /* A live session's authority without its CSRF token: refused,
         * and the refused request does not even keep the session alive. */
        if (api->db_rollback(req, hook_csrf_refused, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    if (op->pre_mfa) {
        /* committed below, without a principal */
    } else if (api->db_rows(res) == 1) {
        op->enrol_only = strcmp(api->db_value(res, 0, 6), "enrol") == 0;
        op->user_id = api->req_strdup(req, api->db_value(res, 0, 0));
        op->roles = api->req_strdup(req, api->db_value(res, 0, 1));
        op->auth_time = strtoll(api->db_value(res, 0, 2), NULL, 10);
        op->mfa_passed = strcmp(api->db_value(res, 0, 3), "t") == 0;
        op->method = api->req_strdup(req, api->db_value(res, 0, 4));
        if (api->db_value(res, 0, 5) != NULL) /* only a buyer's staff have one */
            op->buyer_id = api->req_strdup(req, api->db_value(res, 0, 5));
        if (!op->user_id || !op->roles) {
            api->req_resume(req, TN_ERROR);
            return;
        }
    } else {
        /* Expired (or unknown, or its user disabled): deleted now, and the
         * request goes on without a principal (401 where one is needed). */
        if (api->db_query(req, "DELETE FROM auth_sessions WHERE id = $1", 1, p, hook_ignore, op) !=
            TN_OK) {
            api->req_resume(req, TN_ERROR);
            return;
        }
    }
    if (api->db_commit(req, hook_committed, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

/* The session's CSRF token, from X-CSRF-Token (API clients) or from the
 * csrf_token field of an HTML form: URL-encoded or multipart/form-data.
 * The host hands the hook a complete request, body included, so the field
 * is judged here like the header: missing, malformed or wrong is 403. */
static int csrf_present(const tn_api *api, tn_request *req, const auth_token *tok)
{
    const char *header = api->req_header(req, "X-CSRF-Token");
    const char *type = api->req_header(req, "Content-Type");
    char field[AUTH_TOKEN_LEN + 1];
    const void *body;
    size_t len = 0;
    int ok;

    if (header != NULL)
        return auth_csrf_ok(tok, header);
    if (type == NULL)
        return 0;
    body = api->req_body(req, &len);
    if (strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0)
        ok = auth_form_token(body, len, "csrf_token", field, sizeof field) == 0;
    else if (strncasecmp(type, "multipart/form-data", 19) == 0)
        ok = auth_multipart_token(body, len, type, "csrf_token", field, sizeof field) == 0;
    else
        ok = 0;
    if (!ok)
        return 0;
    ok = auth_csrf_ok(tok, field);
    sodium_memzero(field, sizeof field);
    return ok;
}

static tn_status auth_hook(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *route = api->req_route(req);
    const char *method = api->req_method(req);
    const char *origin = api->req_header(req, "Origin");
    auth_settings set;
    auth_token tok;
    char abs_s[16], idle_s[16], admin_s[16];
    hook_op *op;
    tn_status st = TN_CONTINUE;

    (void)self;
    if (route == NULL)
        return TN_CONTINUE; /* 404/405 follows */
    auth_settings_read(ctx, api->req_config(req, ctx->self), &set);
    /* A state-changing request from a page of another origin is refused
     * outright, login included (login CSRF). */
    if (auth_method_changes_state(method) && origin != NULL &&
        !auth_origin_allowed(origin, api->req_header(req, "Host"), set.allowed_origins)) {
        api->resp_error(req, 403, "csrf_origin", "the request's Origin is not allowed");
        return TN_DONE;
    }
    /* Login replaces whatever session the client had (fixation). */
    if (strcmp(route, AUTH_LOGIN_ROUTE) == 0 || strcmp(route, AUTH_LOGIN_MFA_ROUTE) == 0)
        return TN_CONTINUE; /* /auth/login/mfa reads its pre-MFA session itself */
    /* An API token is its own authority: no cookie, no CSRF (tokens.c). */
    if (auth_tokens_authenticate(ctx, req, &st))
        return st;
    if (auth_token_parse(&tok, api->req_cookie(req, AUTH_COOKIE)) != 0)
        return TN_CONTINUE; /* no session: anonymous, with no ambient authority */
    if ((op = api->req_alloc(req, sizeof *op)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->route = route;
    memcpy(op->sid, tok.sid, sizeof op->sid);
    /* Judged once the session is known to be alive: a dead session's
     * cookie carries no authority, so it must not block public routes
     * (a password reset, say) with a 403 the client cannot cure. */
    op->csrf_bad = auth_method_changes_state(method) && !csrf_present(api, req, &tok);
    snprintf(abs_s, sizeof abs_s, "%d", set.absolute_s);
    snprintf(idle_s, sizeof idle_s, "%d", set.idle_s);
    snprintf(admin_s, sizeof admin_s, "%d", set.admin_idle_s);
    const char *p[4] = {op->sid, abs_s, idle_s, admin_s};
    st = api->db_query(req, sql_touch, 4, p, hook_touched, op) == TN_OK ? TN_SUSPEND : TN_ERROR;
done:
    auth_token_wipe(&tok);
    return st;
}

/* ---- the clean-up job ------------------------------------------------------ */

static const char sql_cleanup[] =
    "DELETE FROM auth_sessions s USING auth_users u "
    "WHERE u.tenant_id = s.tenant_id AND u.id = s.user_id AND (u.disabled "
    "OR s.created_at <= now() - make_interval(secs => $1::int) "
    "OR s.last_seen <= now() - make_interval(secs => CASE WHEN " AUTH_SQL_IS_ADMIN
    " THEN $3::int ELSE $2::int END))";

static void cleanup_done(tn_tx *tx, const tn_db_result *res, void *ud)
{
    tn_job_run *run = ud;
    (void)tx;
    if (auth_state.api->db_status(res) != TN_OK)
        auth_state.api->job_done(run, 0, auth_state.api->db_sqlstate(res));
    else
        auth_state.api->job_done(run, 1, NULL);
}

static void cleanup_ignore(tn_tx *tx, const tn_db_result *res, void *ud)
{
    (void)tx, (void)res, (void)ud; /* a failure aborts the transaction: the next says so */
}

static void cleanup_deleted(tn_tx *tx, const tn_db_result *res, void *ud)
{
    const tn_api *api = auth_state.api;
    if (api->db_status(res) != TN_OK) {
        api->job_done(ud, 0, api->db_sqlstate(res));
        api->tx_rollback(tx, NULL, NULL);
        return;
    }
    if (api->tx_commit(tx, cleanup_done, ud) != TN_OK)
        api->job_done(ud, 0, "commit refused");
}

static tn_status auth_cleanup(tn_plugin *self, tn_job_run *run, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *tenant = api->job_tenant(run);
    const tn_config *cfg = tenant ? api->tenant_config(self, tenant) : NULL;
    auth_settings set;
    char a[16], i[16], j[16];
    const char *p[3] = {a, i, j};
    tn_tx *tx;

    if (cfg == NULL)
        return TN_CONTINUE; /* the tenant went away */
    auth_settings_read(ctx, cfg, &set);
    snprintf(a, sizeof a, "%d", set.absolute_s);
    snprintf(i, sizeof i, "%d", set.idle_s);
    snprintf(j, sizeof j, "%d", set.admin_idle_s);
    if (api->tx_begin(self, tenant, &tx) != TN_OK)
        return TN_ERROR;
    /* Used and expired reset tokens are kept a day for the record. */
    if (api->tx_query(tx, sql_cleanup, 3, p, cleanup_ignore, run) != TN_OK ||
        api->tx_query(tx,
                      "DELETE FROM auth_password_resets "
                      "WHERE expires_at < now() - interval '1 day'",
                      0, NULL, cleanup_deleted, run) != TN_OK) {
        api->tx_rollback(tx, NULL, NULL);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

/* ---- init ------------------------------------------------------------------ */

static int auth_init(tn_plugin *self, const tn_api *api)
{
    auth_ctx *ctx = &auth_state;
    const tn_config *g = NULL;
    const char *common = "/usr/share/john/password.lst";
    unsigned cap = 1, qmax = 64, burst = 20;
    int nice = AUTH_POOL_NICE_DEFAULT;
    double per_min = 20;
    char err[512];
    tn_job_spec job = {.size = sizeof job,
                       .name = "session_cleanup",
                       .every_s = AUTH_CLEANUP_EVERY_S,
                       .per_tenant = 1,
                       .lease_s = 120};

    memset(ctx, 0, sizeof *ctx);
    ctx->api = api;
    ctx->self = self;
    if (TN_API_HAS(api, plugin_config) && (g = api->plugin_config(self)) != NULL) {
        cap = (unsigned)api->config_int(g, "hash_concurrency");
        qmax = (unsigned)api->config_int(g, "hash_queue");
        nice = (int)api->config_int(g, "hash_nice");
        common = api->config_str(g, "common_passwords");
        per_min = api->config_float(g, "login_rate_per_min");
        burst = (unsigned)api->config_int(g, "login_burst");
    }
    if (auth_pw_init(&ctx->pw, common, err, sizeof err) != 0) {
        api->log(self, TN_LOG_ERROR, "auth: %s", err);
        return -1;
    }
    ctx->pw_ready = 1;
    if (auth_totp_init() != 0) {
        api->log(self, TN_LOG_ERROR, "auth: liboath initialisation failed");
        return -1;
    }
    auth_pool_init(&ctx->pool, api, self, cap, qmax);
    auth_pool_set_nice(&ctx->pool, nice);
    /* About 52 bytes a key: 256 KiB hold some 5,000 client addresses. */
    ctx->login_zone = api->limit_zone(self, "login", per_min / 60.0, burst, 256 * 1024);
    /* Audit of refusals by the login zone: one entry a minute per address,
     * so a flood does not become a database write per request. */
    if (ctx->login_zone != NULL)
        ctx->audit_zone = api->limit_zone(self, "login_audit", 1.0 / 60.0, 1, 128 * 1024);
    if (ctx->login_zone == NULL || ctx->audit_zone == NULL) {
        api->log(self, TN_LOG_ERROR, "auth: limit_zone: %s", api->last_error(self));
        return -1;
    }
    ctx->logins = api->metric_counter(self, "logins_total", "Successful logins.");
    ctx->failures = api->metric_counter(self, "login_failures_total", "Failed logins.");
    ctx->locks = api->metric_counter(self, "account_locks_total", "Accounts locked.");
    if (api->hook_add(self, TN_PHASE_AUTHENTICATE, auth_hook, ctx) != TN_OK ||
        api->job_schedule(self, &job, auth_cleanup, ctx) != TN_OK || auth_routes_add(ctx) != 0 ||
        auth_sessions_routes_add(ctx) != 0 || auth_users_routes_add(ctx) != 0 ||
        auth_mfa_routes_add(ctx) != 0 || auth_tokens_routes_add(ctx) != 0 ||
        auth_email_routes_add(ctx) != 0 || auth_iface_export(ctx) != TN_OK) {
        api->log(self, TN_LOG_ERROR, "auth: registration failed: %s", api->last_error(self));
        return -1;
    }
    if (TN_API_HAS(api, command_add) && auth_cli_add(ctx) != TN_OK) /* tanomu user add: cli.c */
        return api->log(self, TN_LOG_ERROR, "auth: %s", api->last_error(self)), -1;
    return 0;
}

static void auth_fini(tn_plugin *self)
{
    (void)self;
    /* The hashing threads first: they may still use the policy. */
    auth_pool_fini(&auth_state.pool);
    if (auth_state.pw_ready)
        auth_pw_free(&auth_state.pw);
    auth_state.pw_ready = 0;
}

static const tn_plugin_desc auth_desc = {
    .size = sizeof auth_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "auth",
    .version = AUTH_VERSION,
    .description = "Accounts, Argon2id passwords, sessions with CSRF, login throttling.",
    .settings = auth_settings_keys,
    .check = auth_check,
    .init = auth_init,
    .fini = auth_fini,
    .global_settings = auth_global_keys,
    .schema_needs = "0005_auth_token_buyer", /* after 0004_auth_email */
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &auth_desc;
}
