/*
 * mfa.c - the TOTP second factor (S13):
 *   POST /auth/mfa/totp/enrol    -> {otpauth_uri, secret}       (reauth)
 *   POST /auth/mfa/totp/confirm  {code} -> {recovery_codes}     (new session ID)
 *   POST /auth/mfa/totp/disable                                 (reauth)
 *   POST /auth/mfa/recovery      -> {recovery_codes}            (reauth)
 *   POST /auth/login/mfa         {code | recovery_code}         (the pre-MFA session's
 *                                                                only route)
 *
 * The secret is sealed with the SDK keyring before it reaches the
 * database and opened only to check a code; a code is accepted only by the
 * UPDATE that moves last_used_step forward, so a replay finds no row.
 * Recovery codes are stored as SHA-256 (128 random bits each: no slow
 * hash needed) and consumed by an UPDATE ... WHERE used_at IS NULL.
 * Every answer is sent after its transaction commits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "auth.h"
#include "session.h"
#include "totp.h"

#define MFA_PENDING_S 300 /* a pre-MFA session must pass the second factor this soon */

typedef struct mfa_op {
    auth_ctx *ctx;
    tn_request *req;
    auth_settings set;
    int have_cur;
    auth_token cur, fresh; /* the cookie's session; its replacement */
    const char *user_id;   /* request memory */
    char *login, *roles;   /* request memory */
    char code[AUTH_TOTP_DIGITS + 1];
    char rhash[65]; /* a typed recovery code's hash */
    int recovery;
    char step[24];
    char b32[AUTH_TOTP_B32_LEN + 1];
    char codes[AUTH_RECOVERY_CODES][AUTH_RECOVERY_LEN + 1];
    char hashes[AUTH_RECOVERY_CODES * 65 + 4]; /* {h,h,...} */
    char *sealed;                              /* api->free */
    /* the answer, sent once committed */
    int status;
    char *answer; /* malloc'd JSON, wiped */
    int set_cookie;
    const char *action; /* audited on failure */
} mfa_op;

static mfa_op *op_new(auth_ctx *ctx, tn_request *req)
{
    const tn_api *api = ctx->api;
    mfa_op *op = api->req_alloc(req, sizeof *op);
    if (op == NULL)
        return NULL;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->req = req;
    auth_settings_read(ctx, api->req_config(req, ctx->self), &op->set);
    op->have_cur = auth_token_parse(&op->cur, api->req_cookie(req, AUTH_COOKIE)) == 0;
    op->user_id = api->req_principal(req);
    return op;
}

static void op_wipe(mfa_op *op)
{
    if (op->sealed)
        op->ctx->api->free(op->sealed);
    op->sealed = NULL;
    if (op->answer) {
        sodium_memzero(op->answer, strlen(op->answer));
        free(op->answer);
    }
    op->answer = NULL;
    auth_token_wipe(&op->cur);
    auth_token_wipe(&op->fresh);
    sodium_memzero(op->code, sizeof op->code);
    sodium_memzero(op->b32, sizeof op->b32);
    sodium_memzero(op->codes, sizeof op->codes);
}

static void op_end(mfa_op *op, tn_status st)
{
    op_wipe(op);
    op->ctx->api->req_resume(op->req, st);
}

static void ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* the commit reports a failure */
}

/* Sends the prepared answer (and the new session's cookie) once the
 * transaction is in. */
static void committed(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    char cookie[128];

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else {
        api->resp_json(req, op->status, op->answer ? op->answer : "{}");
        api->resp_header(req, "Cache-Control", "no-store");
        if (op->set_cookie && auth_cookie_set(cookie, sizeof cookie, &op->fresh) == 0)
            api->resp_header(req, "Set-Cookie", cookie);
        sodium_memzero(cookie, sizeof cookie);
    }
    op_end(op, TN_DONE);
}

static int answer(mfa_op *op, int status, json_t *j)
{
    op->status = status;
    op->answer = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return op->answer ? TN_OK : TN_ENOMEM;
}

static void commit(mfa_op *op)
{
    if (op->ctx->api->db_commit(op->req, committed, op) != TN_OK)
        op_end(op, TN_ERROR);
}

/* An error answer; what was done (an audit of the failure) is committed. */
static void refuse(mfa_op *op, int status, const char *code, const char *message)
{
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    if (answer(op, status, j) != TN_OK) {
        op_end(op, TN_ERROR);
        return;
    }
    commit(op);
}

static void rolled_back(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res;
    op_end(ud, TN_DONE);
}

/* Refuses with nothing kept. */
static void refuse_rollback(mfa_op *op, int status, const char *code, const char *message)
{
    op->ctx->api->resp_error(op->req, status, code, message);
    if (op->ctx->api->db_rollback(op->req, rolled_back, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static int publish_important(mfa_op *op, const char *operation)
{
    const tn_api *api = op->ctx->api;
    json_t *ev = json_pack("{s:s, s:s, s:s}", "user_id", op->user_id, "operation", operation,
                           "client_addr", api->req_client_addr(op->req));
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    int rc = text ? api->db_publish(op->req, "security.important_operation", text) : TN_ENOMEM;
    free(text);
    json_decref(ev);
    return rc;
}

static int db_ok(mfa_op *op, const tn_db_result *res)
{
    const tn_api *api = op->ctx->api;
    if (api->db_status(res) == TN_OK)
        return 1;
    api->resp_db_error(op->req, res);
    op_end(op, TN_DONE);
    return 0;
}

/* Opens the sealed secret and checks op->code; 0 with op->step set. */
static int code_ok(mfa_op *op, const char *sealed)
{
    const tn_api *api = op->ctx->api;
    void *secret = NULL;
    size_t len = 0;
    int stale = 0;
    int64_t step = 0;
    int rc = -1;

    if (api->secret_unseal(op->ctx->self, api->req_tenant(op->req), sealed, &secret, &len,
                           &stale) != TN_OK) {
        api->req_log(op->req, TN_LOG_ERROR, "auth: a TOTP secret does not open: %s",
                     api->last_error(op->ctx->self));
        return -2;
    }
    if (auth_totp_check(secret, len, time(NULL), op->code, &step) == 0) {
        snprintf(op->step, sizeof op->step, "%lld", (long long)step);
        rc = 0;
    }
    sodium_memzero(secret, len);
    api->free(secret);
    return rc;
}

/* Ten new recovery codes: op->codes to show, op->hashes to store. */
static void new_recovery(mfa_op *op)
{
    char *p = op->hashes;
    *p++ = '{';
    for (int i = 0; i < AUTH_RECOVERY_CODES; i++) {
        char h[65];
        auth_recovery_new(op->codes[i], h);
        memcpy(p, h, 64);
        p += 64;
        *p++ = i + 1 < AUTH_RECOVERY_CODES ? ',' : '}';
    }
    *p = '\0';
}

static json_t *codes_json(const mfa_op *op)
{
    json_t *a = json_array();
    for (int i = 0; a && i < AUTH_RECOVERY_CODES; i++)
        json_array_append_new(a, json_string(op->codes[i]));
    return a;
}

/* Replaces the user's recovery codes (the INSERT's callback: cb). */
static int store_recovery(mfa_op *op, tn_db_fn cb)
{
    const tn_api *api = op->ctx->api;
    const char *d[1] = {op->user_id};
    const char *p[3] = {api->req_tenant(op->req), op->user_id, op->hashes};
    new_recovery(op);
    if (api->db_query(op->req, "DELETE FROM auth_mfa_recovery WHERE user_id = $1::uuid", 1, d,
                      ignore, op) != TN_OK)
        return TN_ERROR;
    return api->db_query(op->req,
                         "INSERT INTO auth_mfa_recovery (id, tenant_id, user_id) "
                         "SELECT h, $1, $2::uuid FROM unnest($3::text[]) h "
                         "WHERE EXISTS (SELECT 1 FROM auth_mfa_totp "
                         "WHERE user_id = $2::uuid AND confirmed) RETURNING 1",
                         3, p, cb, op);
}

/* A code from the body: {"code": "123456"}; 0, or -1 after answering. */
static int take_code(mfa_op *op, json_t *j, int recovery_allowed)
{
    const tn_api *api = op->ctx->api;
    json_t *c = json_object_get(j, "code"), *r = json_object_get(j, "recovery_code");
    if (json_is_string(c) && json_string_length(c) == AUTH_TOTP_DIGITS) {
        memcpy(op->code, json_string_value(c), AUTH_TOTP_DIGITS + 1);
        return 0;
    }
    if (recovery_allowed && json_is_string(r) &&
        auth_recovery_hash(json_string_value(r), op->rhash) == 0) {
        op->recovery = 1;
        return 0;
    }
    auth_error_field(api, op->req, 400, "bad_request",
                     recovery_allowed ? "a 6-digit code or a recovery code is required"
                                      : "a 6-digit code is required",
                     "code", "required");
    return -1;
}

static json_t *body_object(const tn_api *api, tn_request *req)
{
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    json_t *j = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        api->resp_error(req, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- enrol ------------------------------------------------------------------- */

static void enrol_stored(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    char uri[1024];

    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) != 1) {
        refuse_rollback(op, 409, "mfa_enrolled", "TOTP is already set up: disable it first");
        return;
    }
    if (auth_totp_uri(uri, sizeof uri, api->req_tenant(req), api->db_value(res, 0, 0), op->b32) !=
            0 ||
        answer(op, 200, json_pack("{s:s, s:s}", "otpauth_uri", uri, "secret", op->b32)) != TN_OK ||
        api->db_audit(req, "auth.mfa_enrol_start", "user", op->user_id, "ok") != TN_OK) {
        sodium_memzero(uri, sizeof uri);
        op_end(op, TN_ERROR);
        return;
    }
    sodium_memzero(uri, sizeof uri);
    commit(op);
}

static tn_status h_enrol(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    unsigned char raw[AUTH_TOTP_SECRET_BYTES];
    mfa_op *op = op_new(ctx, req);
    int rc;

    (void)self;
    if (op == NULL)
        return TN_ERROR;
    auth_totp_new(raw, op->b32);
    rc = api->secret_seal(ctx->self, api->req_tenant(req), raw, sizeof raw, &op->sealed);
    sodium_memzero(raw, sizeof raw);
    if (rc != TN_OK) {
        api->req_log(req, TN_LOG_ERROR, "auth: cannot seal a TOTP secret: %s",
                     api->last_error(ctx->self));
        op_wipe(op);
        api->resp_error(req, 503, "unavailable", "secrets are not configured on this server");
        return TN_DONE;
    }
    const char *p[3] = {api->req_tenant(req), op->user_id, op->sealed};
    /* A pending enrolment is replaced; a confirmed one is not (no row). */
    if (api->db_query(req,
                      "INSERT INTO auth_mfa_totp (tenant_id, user_id, secret_sealed) "
                      "VALUES ($1, $2::uuid, $3) ON CONFLICT (tenant_id, user_id) DO UPDATE "
                      "SET secret_sealed = EXCLUDED.secret_sealed, last_used_step = NULL, "
                      "created_at = now() WHERE NOT auth_mfa_totp.confirmed "
                      "RETURNING (SELECT login FROM auth_users WHERE id = $2::uuid)",
                      3, p, enrol_stored, op) != TN_OK) {
        api->req_log(req, TN_LOG_ERROR, "auth: enrol: %s", api->last_error(ctx->self));
        op_wipe(op);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

/* ---- confirm ----------------------------------------------------------------- */

/* The session becomes a full one with MFA passed, under a new ID
 * (a privilege change, S4).  cb gets the UPDATE. */
static int rotate_session(mfa_op *op, int reauth, tn_db_fn cb)
{
    const tn_api *api = op->ctx->api;
    if (!op->have_cur) /* not a cookie session: nothing to rotate */
        return api->db_query(op->req, "SELECT 1", 0, NULL, cb, op);
    auth_token_new(&op->fresh);
    op->set_cookie = 1;
    const char *p[2] = {op->fresh.sid, op->cur.sid};
    return api->db_query(op->req,
                         reauth ? "UPDATE auth_sessions SET id = $1, stage = 'full', "
                                  "mfa_passed = true, authenticated_at = now(), last_seen = now() "
                                  "WHERE id = $2"
                                : "UPDATE auth_sessions SET id = $1, stage = 'full', "
                                  "mfa_passed = true WHERE id = $2",
                         2, p, cb, op);
}

static void confirm_done(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    char csrf[AUTH_TOKEN_LEN + 1] = "";

    if (!db_ok(op, res))
        return;
    if (op->set_cookie)
        auth_csrf_token(&op->fresh, csrf);
    json_t *j = json_pack("{s:o, s:s}", "recovery_codes", codes_json(op), "csrf_token", csrf);
    sodium_memzero(csrf, sizeof csrf);
    if (answer(op, 200, j) != TN_OK ||
        api->db_audit(req, "auth.mfa_enrol", "user", op->user_id, "ok") != TN_OK ||
        publish_important(op, "mfa_enrol") != TN_OK) {
        op_end(op, TN_ERROR);
        return;
    }
    commit(op);
}

static void confirm_recovery(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    (void)req;
    if (!db_ok(op, res))
        return;
    if (rotate_session(op, 0, confirm_done) != TN_OK)
        op_end(op, TN_ERROR);
}

static void confirm_taken(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) != 1) { /* replayed, or confirmed meanwhile */
        if (api->db_audit(req, "auth.mfa_enrol", "user", op->user_id, "failed") != TN_OK)
            op_end(op, TN_ERROR);
        else
            refuse(op, 403, "invalid_code", "wrong or already used code");
        return;
    }
    if (store_recovery(op, confirm_recovery) != TN_OK)
        op_end(op, TN_ERROR);
}

static void confirm_read(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    int rc;

    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) != 1) {
        refuse_rollback(op, 409, "mfa_not_pending", "no TOTP enrolment to confirm");
        return;
    }
    if ((rc = code_ok(op, api->db_value(res, 0, 0))) != 0) {
        if (rc == -2 ||
            api->db_audit(req, "auth.mfa_enrol", "user", op->user_id, "failed") != TN_OK)
            op_end(op, TN_ERROR);
        else
            refuse(op, 403, "invalid_code", "wrong or already used code");
        return;
    }
    const char *p[2] = {op->user_id, op->step};
    if (api->db_query(req,
                      "UPDATE auth_mfa_totp SET confirmed = true, confirmed_at = now(), "
                      "last_used_step = $2::bigint WHERE user_id = $1::uuid AND NOT confirmed "
                      "AND (last_used_step IS NULL OR last_used_step < $2::bigint) RETURNING 1",
                      2, p, confirm_taken, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static tn_status h_confirm(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    json_t *j;
    mfa_op *op;
    tn_status st = TN_DONE;

    (void)self;
    if ((j = body_object(api, req)) == NULL)
        return TN_DONE;
    if ((op = op_new(ctx, req)) == NULL) {
        st = TN_ERROR;
    } else if (take_code(op, j, 0) == 0) {
        const char *p[1] = {op->user_id};
        st = api->db_query(req,
                           "SELECT secret_sealed FROM auth_mfa_totp "
                           "WHERE user_id = $1::uuid AND NOT confirmed",
                           1, p, confirm_read, op) == TN_OK
                 ? TN_SUSPEND
                 : TN_ERROR;
    }
    if (st != TN_SUSPEND && op)
        op_wipe(op);
    json_decref(j);
    return st;
}

/* ---- disable and new recovery codes ----------------------------------------- */

static void disable_done(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) != 1) {
        refuse_rollback(op, 409, "mfa_not_enrolled", "TOTP is not set up");
        return;
    }
    if (answer(op, 200, json_pack("{s:b}", "disabled", 1)) != TN_OK ||
        api->db_audit(req, "auth.mfa_disable", "user", op->user_id, "ok") != TN_OK ||
        publish_important(op, "mfa_disable") != TN_OK) {
        op_end(op, TN_ERROR);
        return;
    }
    commit(op);
}

static tn_status h_disable(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    mfa_op *op = op_new(ctx, req);

    (void)self;
    if (op == NULL)
        return TN_ERROR;
    const char *p[2] = {op->user_id, op->set.mfa_required ? "true" : "false"};
    /* The user's sessions lose MFA; one that must have it is back to
     * enrolment only. */
    if (api->db_query(req, "DELETE FROM auth_mfa_recovery WHERE user_id = $1::uuid", 1, p, ignore,
                      op) != TN_OK ||
        api->db_query(req,
                      "UPDATE auth_sessions SET mfa_passed = false, stage = CASE WHEN $2::bool "
                      "OR (SELECT " AUTH_SQL_IS_ADMIN " FROM auth_users u WHERE u.id = $1::uuid) "
                      "THEN 'enrol' ELSE stage END WHERE user_id = $1::uuid",
                      2, p, ignore, op) != TN_OK ||
        api->db_query(req, "DELETE FROM auth_mfa_totp WHERE user_id = $1::uuid RETURNING 1", 1, p,
                      disable_done, op) != TN_OK) {
        op_wipe(op);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

static void recovery_stored(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) == 0) {
        refuse_rollback(op, 409, "mfa_not_enrolled", "TOTP is not set up");
        return;
    }
    if (answer(op, 200, json_pack("{s:o}", "recovery_codes", codes_json(op))) != TN_OK ||
        api->db_audit(req, "auth.mfa_recovery_codes", "user", op->user_id, "ok") != TN_OK ||
        publish_important(op, "mfa_recovery_codes") != TN_OK) {
        op_end(op, TN_ERROR);
        return;
    }
    commit(op);
}

static tn_status h_recovery(tn_plugin *self, tn_request *req, void *ud)
{
    mfa_op *op = op_new(ud, req);
    (void)self;
    if (op == NULL)
        return TN_ERROR;
    if (store_recovery(op, recovery_stored) != TN_OK) {
        op_wipe(op);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

/* ---- the second step of a login ---------------------------------------------- */

static void login_done(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    char csrf[AUTH_TOKEN_LEN + 1];

    if (!db_ok(op, res))
        return;
    auth_csrf_token(&op->fresh, csrf);
    json_t *j = json_pack("{s:{s:s, s:s, s:o}, s:s}", "user", "id", op->user_id, "login", op->login,
                          "roles", auth_roles_json(op->roles), "csrf_token", csrf);
    sodium_memzero(csrf, sizeof csrf);
    if (answer(op, 200, j) != TN_OK ||
        api->db_audit(req, "auth.login_mfa", "user", op->user_id, "ok") != TN_OK ||
        (op->recovery &&
         (api->db_audit(req, "auth.mfa_recovery_used", "user", op->user_id, "ok") != TN_OK ||
          publish_important(op, "mfa_recovery_code_used") != TN_OK))) {
        op_end(op, TN_ERROR);
        return;
    }
    api->metric_add(op->ctx->logins, api->req_tenant(req), 1);
    commit(op);
}

static void failure_counted(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) == 1 &&
        strtol(api->db_value(res, 0, 0), NULL, 10) >= op->set.lock_after) {
        json_t *ev = json_pack("{s:s, s:i}", "user_id", op->user_id, "lock_seconds",
                               op->set.lock_s);
        char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        api->db_publish(req, "auth.account_locked", text ? text : "{}");
        api->db_audit(req, "auth.account_lock", "user", op->user_id, "ok");
        api->metric_add(op->ctx->locks, api->req_tenant(req), 1);
        free(text);
        json_decref(ev);
    }
    if (api->db_audit(req, op->action ? op->action : "auth.login_mfa", "user", op->user_id,
                      "failed") != TN_OK) {
        op_end(op, TN_ERROR);
        return;
    }
    /* a wrong code at re-authentication is 403, as a wrong password */
    refuse(op, op->action ? 403 : 401, "invalid_code", "wrong or already used code");
}

/* A failed second factor counts on the account like a wrong password. */
static void login_failed(mfa_op *op)
{
    const tn_api *api = op->ctx->api;
    char lock_after[16], lock_s[16], delay_after[16];
    snprintf(lock_after, sizeof lock_after, "%d", op->set.lock_after);
    snprintf(lock_s, sizeof lock_s, "%d", op->set.lock_s);
    snprintf(delay_after, sizeof delay_after, "%d", op->set.delay_after);
    const char *p[4] = {op->user_id, lock_after, lock_s, delay_after};
    api->metric_add(op->ctx->failures, api->req_tenant(op->req), 1);
    if (api->db_query(op->req, AUTH_SQL_FAILURE, 4, p, failure_counted, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static void login_taken(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *p[1] = {op->user_id};
    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) != 1) { /* replayed code, used recovery code */
        login_failed(op);
        return;
    }
    if (api->db_query(req,
                      "UPDATE auth_users SET failed_logins = 0, locked_until = NULL "
                      "WHERE id = $1::uuid",
                      1, p, ignore, op) != TN_OK ||
        rotate_session(op, 1, login_done) != TN_OK)
        op_end(op, TN_ERROR);
}

static void throttled(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    if (op->ctx->api->db_status(res) != TN_OK)
        op->ctx->api->resp_db_error(req, res);
    op_end(op, TN_DONE);
}

static void login_read(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    long long wait;
    int rc;

    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) != 1) {
        api->resp_error(req, 401, "unauthenticated", "no pending login: log in again");
        op_end(op, TN_DONE);
        return;
    }
    op->user_id = api->req_strdup(req, api->db_value(res, 0, 0));
    op->login = api->req_strdup(req, api->db_value(res, 0, 1));
    op->roles = api->req_strdup(req, api->db_value(res, 0, 2));
    wait = strtoll(api->db_value(res, 0, 4), NULL, 10);
    if (!op->user_id || !op->login || !op->roles) {
        op_end(op, TN_ERROR);
        return;
    }
    if (wait > 0) {
        auth_error_retry(api, req, 429, "too_many_attempts",
                         "too many failed attempts for this account; retry later", wait);
        if (api->db_audit(req, "auth.login_mfa", "user", op->user_id, "denied") != TN_OK ||
            api->db_commit(req, throttled, op) != TN_OK)
            op_end(op, TN_ERROR);
        return;
    }
    if (op->recovery) {
        const char *p[2] = {op->rhash, op->user_id};
        rc = api->db_query(req,
                           "UPDATE auth_mfa_recovery SET used_at = now() WHERE id = $1 "
                           "AND user_id = $2::uuid AND used_at IS NULL RETURNING 1",
                           2, p, login_taken, op);
    } else if ((rc = code_ok(op, api->db_value(res, 0, 3))) == -1) {
        login_failed(op);
        return;
    } else if (rc == 0) {
        const char *p[2] = {op->user_id, op->step};
        rc = api->db_query(req,
                           "UPDATE auth_mfa_totp SET last_used_step = $2::bigint "
                           "WHERE user_id = $1::uuid AND confirmed AND "
                           "(last_used_step IS NULL OR last_used_step < $2::bigint) RETURNING 1",
                           2, p, login_taken, op);
    }
    if (rc != TN_OK)
        op_end(op, TN_ERROR);
}

static tn_status h_login_mfa(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    json_t *j;
    mfa_op *op;
    tn_status st = TN_DONE;
    char pending[16];
    int rc;

    (void)self;
    if ((rc = auth_take_address(ctx, req, "auth.login_mfa")) != 0)
        return rc > 0 ? TN_SUSPEND : TN_DONE;
    if ((j = body_object(api, req)) == NULL)
        return TN_DONE;
    snprintf(pending, sizeof pending, "%d", MFA_PENDING_S);
    if ((op = op_new(ctx, req)) == NULL) {
        st = TN_ERROR;
    } else if (!op->have_cur) {
        api->resp_error(req, 401, "unauthenticated", "no pending login: log in again");
    } else if (take_code(op, j, 1) == 0) {
        const char *p[2] = {op->cur.sid, pending};
        st = api->db_query(req,
                           "SELECT s.user_id::text, u.login, array_to_string(u.roles, ','), "
                           "t.secret_sealed, greatest(0, ceil(extract(epoch FROM "
                           "u.locked_until - now())))::bigint "
                           "FROM auth_sessions s JOIN auth_users u "
                           "ON u.tenant_id = s.tenant_id AND u.id = s.user_id "
                           "JOIN auth_mfa_totp t ON t.tenant_id = s.tenant_id "
                           "AND t.user_id = s.user_id "
                           "WHERE s.id = $1 AND s.stage = 'mfa' AND NOT u.disabled "
                           "AND t.confirmed AND s.created_at > now() - "
                           "make_interval(secs => $2::int)",
                           2, p, login_read, op) == TN_OK
                 ? TN_SUSPEND
                 : TN_ERROR;
    }
    if (st != TN_SUSPEND && op)
        op_wipe(op);
    json_decref(j);
    return st;
}

/* ---- re-authentication with a code ----------------------------------------- */

static void reauth_done(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (!db_ok(op, res))
        return;
    if (answer(op, 200, json_pack("{s:b}", "reauthenticated", 1)) != TN_OK ||
        api->db_audit(req, "auth.reauth", "user", op->user_id, "ok") != TN_OK) {
        op_end(op, TN_ERROR);
        return;
    }
    commit(op);
}

static void reauth_taken(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *p[2] = {op->user_id, op->cur.sid};
    if (!db_ok(op, res))
        return;
    if (api->db_rows(res) != 1) {
        op->action = "auth.reauth";
        login_failed(op);
        return;
    }
    if (api->db_query(req,
                      "UPDATE auth_users SET failed_logins = 0, locked_until = NULL "
                      "WHERE id = $1::uuid",
                      1, p, ignore, op) != TN_OK ||
        api->db_query(req,
                      "UPDATE auth_sessions SET authenticated_at = now(), mfa_passed = true "
                      "WHERE id = $2 AND user_id = $1::uuid",
                      2, p, reauth_done, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static void reauth_read(tn_request *req, const tn_db_result *res, void *ud)
{
    mfa_op *op = ud;
    const tn_api *api = op->ctx->api;
    long long wait;
    int rc;

    if (!db_ok(op, res))
        return;
    op->action = "auth.reauth";
    if (api->db_rows(res) != 1) {
        refuse_rollback(op, 409, "mfa_not_enrolled", "TOTP is not set up: use the password");
        return;
    }
    wait = strtoll(api->db_value(res, 0, 1), NULL, 10);
    if (wait > 0) {
        auth_error_retry(api, req, 429, "too_many_attempts",
                         "too many failed attempts for this account; retry later", wait);
        if (api->db_audit(req, "auth.reauth", "user", op->user_id, "denied") != TN_OK ||
            api->db_commit(req, throttled, op) != TN_OK)
            op_end(op, TN_ERROR);
        return;
    }
    if ((rc = code_ok(op, api->db_value(res, 0, 0))) == -1) {
        login_failed(op);
        return;
    }
    const char *p[2] = {op->user_id, op->step};
    if (rc != 0 || api->db_query(req,
                                 "UPDATE auth_mfa_totp SET last_used_step = $2::bigint "
                                 "WHERE user_id = $1::uuid AND confirmed AND "
                                 "(last_used_step IS NULL OR last_used_step < $2::bigint) "
                                 "RETURNING 1",
                                 2, p, reauth_taken, op) != TN_OK)
        op_end(op, TN_ERROR);
}

tn_status auth_mfa_reauth(auth_ctx *ctx, tn_request *req, json_t *body)
{
    const tn_api *api = ctx->api;
    mfa_op *op = op_new(ctx, req);

    if (op == NULL)
        return TN_ERROR;
    if (!op->have_cur) {
        api->resp_error(req, 400, "bad_request", "re-authentication needs a session cookie");
    } else if (take_code(op, body, 0) == 0) {
        const char *p[1] = {op->user_id};
        if (api->db_query(req,
                          "SELECT t.secret_sealed, greatest(0, ceil(extract(epoch FROM "
                          "u.locked_until - now())))::bigint FROM auth_mfa_totp t "
                          "JOIN auth_users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id "
                          "WHERE t.user_id = $1::uuid AND t.confirmed",
                          1, p, reauth_read, op) == TN_OK)
            return TN_SUSPEND;
        op_wipe(op);
        return TN_ERROR;
    }
    op_wipe(op);
    return TN_DONE;
}

int auth_mfa_routes_add(auth_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_plugin *self = ctx->self;
    if (api->route_add(self, "POST", AUTH_LOGIN_MFA_ROUTE, TN_ACCESS_PUBLIC, NULL, h_login_mfa,
                       ctx) ||
        api->route_add_opts(self, "POST", AUTH_MFA_ENROL_ROUTE, TN_ACCESS_AUTHENTICATED, NULL,
                            h_enrol, ctx, &auth_opts_reauth) ||
        api->route_add(self, "POST", AUTH_MFA_CONFIRM_ROUTE, TN_ACCESS_AUTHENTICATED, NULL,
                       h_confirm, ctx) ||
        api->route_add_opts(self, "POST", "/auth/mfa/totp/disable", TN_ACCESS_AUTHENTICATED, NULL,
                            h_disable, ctx, &auth_opts_reauth) ||
        api->route_add_opts(self, "POST", "/auth/mfa/recovery", TN_ACCESS_AUTHENTICATED, NULL,
                            h_recovery, ctx, &auth_opts_reauth))
        return -1;
    return 0;
}
