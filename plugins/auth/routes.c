/*
 * routes.c - the auth plugin's HTTP contract (docs/auth.md):
 *   POST /auth/login     {login, password}  -> {user, csrf_token} + cookie
 *   POST /auth/logout
 *   GET  /auth/me
 *   POST /auth/reauth    {password}
 *   POST /auth/password  {current_password, new_password}
 *   POST /auth/password/reset          {login}  -> 202, token as an event
 *   POST /auth/password/reset/confirm  {token, new_password}
 *
 * The three that check a password share one path (pw_op): read the
 * account, take the per-account throttle, verify (and hash) in the thread
 * pool through the capped queue, then record the outcome, audit it and
 * commit before answering.  An unknown login is verified against a dummy
 * hash and answers exactly as a wrong password does (S12).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auth.h"
#include "session.h"

typedef enum { OP_LOGIN, OP_REAUTH, OP_CHANGE, OP_RESET } op_kind;

static const char *const op_action[] = {"auth.login", "auth.reauth", "auth.password_change",
                                        "auth.password_reset"};

#define AUTH_RESET_TTL_S 1800 /* a reset token lives 30 minutes */

/* One password-checking request; request memory, passwords malloc'd and
 * wiped by op_end(). */
typedef struct pw_op {
    auth_job job; /* first: the pool hands it back */
    auth_ctx *ctx;
    tn_request *req;
    op_kind kind;
    auth_settings set;
    char *pw, *newpw; /* NFKC-normalised */
    size_t pw_len, newpw_len;
    int have_session; /* the cookie's session: pre-login, or the current one */
    auth_token session;
    /* the account */
    int found, disabled;
    int has_totp;      /* a confirmed TOTP: the login needs its code */
    const char *stage; /* of the new session: "full", "mfa" or "enrol" */
    char *user_id, *login, *roles;
    char *email; /* NULL: none; for the password policy */
    char hash[AUTH_PW_HASH_MAX];
    /* what the work found */
    int verified, rehash, hash_failed;
    const char *refused;
    char newhash[AUTH_PW_HASH_MAX];
    auth_token fresh; /* the new session of a login */
    auth_token reset; /* the reset token being confirmed */
    long long ended;  /* sessions ended by a password change */
} pw_op;

static void op_wipe(pw_op *op)
{
    if (op->pw) {
        sodium_memzero(op->pw, op->pw_len);
        free(op->pw);
        op->pw = NULL;
    }
    if (op->newpw) {
        sodium_memzero(op->newpw, op->newpw_len);
        free(op->newpw);
        op->newpw = NULL;
    }
    sodium_memzero(op->newhash, sizeof op->newhash);
    auth_token_wipe(&op->session);
    auth_token_wipe(&op->fresh);
    auth_token_wipe(&op->reset);
}

/* The one way out of a pw_op once it is suspended. */
static void op_end(pw_op *op, tn_status st)
{
    tn_request *req = op->req;
    const tn_api *api = op->ctx->api;
    op_wipe(op);
    api->req_resume(req, st);
}

/* Ends the op once its transaction is over, keeping the answer already set. */
static void ended_keep_answer(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res;
    op_end(ud, TN_DONE);
}

static void db_ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* a failure aborts the transaction: commit says so */
}

/* security.important_operation (S6): the notifications plugin mails the
 * account's owner.  Durable, in the request's transaction. */
static int publish_important(pw_op *op, const char *operation)
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

/* Reads a JSON object body; NULL after answering 400. */
static json_t *body_object(const tn_api *api, tn_request *req)
{
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        api->resp_error(req, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* A string member; NULL after answering 400 with the field named. */
static const char *body_string(const tn_api *api, tn_request *req, json_t *j, const char *name,
                               size_t *len)
{
    json_t *v = json_object_get(j, name);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        auth_error_field(api, req, 400, "bad_request", "a required field is missing", name,
                         "required");
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* NFKC of a password field into *out; 0, or -1 after answering 400. */
static int take_password(const tn_api *api, tn_request *req, json_t *j, const char *name,
                         char **out, size_t *out_len)
{
    size_t len;
    const char *reason = NULL;
    const char *pw = body_string(api, req, j, name, &len);
    if (pw == NULL)
        return -1;
    if ((*out = auth_pw_normalize(pw, len, out_len, &reason)) == NULL) {
        auth_error_field(api, req, 400, "bad_request", auth_pw_reason_message(reason), name,
                         reason);
        return -1;
    }
    return 0;
}

static pw_op *op_new(auth_ctx *ctx, tn_request *req, op_kind kind)
{
    const tn_api *api = ctx->api;
    pw_op *op = api->req_alloc(req, sizeof *op);
    if (op == NULL)
        return NULL;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->req = req;
    op->kind = kind;
    auth_settings_read(ctx, api->req_config(req, ctx->self), &op->set);
    op->have_session = auth_token_parse(&op->session, api->req_cookie(req, AUTH_COOKIE)) == 0;
    return op;
}

/* ---- the end of a password check ----------------------------------------- */

static void answer_invalid(pw_op *op)
{
    const tn_api *api = op->ctx->api;
    if (op->kind == OP_LOGIN)
        api->resp_error(op->req, 401, "invalid_credentials", "wrong login ID or password");
    else
        api->resp_error(op->req, 403, "invalid_credentials", "wrong password");
}

static void failure_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    else
        answer_invalid(op);
    op_end(op, TN_DONE);
}

/* After the failure counter moved: lock event and audit, then commit. */
static void failure_counted(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *tenant = api->req_tenant(req);

    if (res != NULL && api->db_status(res) == TN_OK && api->db_rows(res) == 1) {
        long n = strtol(api->db_value(res, 0, 0), NULL, 10);
        if (n >= op->set.lock_after) {
            json_t *ev = json_pack("{s:s, s:i}", "user_id", op->user_id, "lock_seconds",
                                   op->set.lock_s);
            char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
            api->db_publish(req, "auth.account_locked", text ? text : "{}");
            api->db_audit(req, "auth.account_lock", "user", op->user_id, "ok");
            api->metric_add(op->ctx->locks, tenant, 1);
            free(text);
            json_decref(ev);
        }
    }
    api->db_audit(req, op_action[op->kind], "user", op->found ? op->user_id : NULL, "failed");
    if (api->db_commit(req, failure_committed, op) != TN_OK)
        op_end(op, TN_ERROR);
}

/* Count the failure on the account: a growing delay after delay_after
 * failures (1, 2, 4 ... 60 s), a lock of lock_seconds at lock_after. */
static void record_failure(pw_op *op)
{
    const tn_api *api = op->ctx->api;
    char lock_after[16], lock_s[16], delay_after[16];

    api->metric_add(op->ctx->failures, api->req_tenant(op->req), 1);
    if (!op->found) {
        failure_counted(op->req, NULL, op);
        return;
    }
    snprintf(lock_after, sizeof lock_after, "%d", op->set.lock_after);
    snprintf(lock_s, sizeof lock_s, "%d", op->set.lock_s);
    snprintf(delay_after, sizeof delay_after, "%d", op->set.delay_after);
    const char *p[4] = {op->user_id, lock_after, lock_s, delay_after};
    if (api->db_query(op->req, AUTH_SQL_FAILURE, 4, p, failure_counted, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static void login_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    const tn_api *api = op->ctx->api;
    char cookie[128], csrf[AUTH_TOKEN_LEN + 1];
    json_t *out = NULL, *roles = NULL;
    char *text = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        op_end(op, TN_DONE);
        return;
    }
    auth_csrf_token(&op->fresh, csrf);
    roles = auth_roles_json(op->roles);
    if (strcmp(op->stage, "mfa") == 0) /* the code next, at /auth/login/mfa */
        out = json_pack("{s:b}", "mfa_required", 1);
    else
        out = json_pack("{s:{s:s, s:s, s:o}, s:s, s:b}", "user", "id", op->user_id, "login",
                        op->login, "roles", roles, "csrf_token", csrf, "mfa_enrolment_required",
                        strcmp(op->stage, "enrol") == 0);
    if (strcmp(op->stage, "mfa") == 0)
        json_decref(roles);
    text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (text == NULL || auth_cookie_set(cookie, sizeof cookie, &op->fresh) != 0) {
        api->resp_error(req, 500, "internal", "out of memory");
    } else {
        api->resp_json(req, 200, text);
        api->resp_header(req, "Set-Cookie", cookie);
        api->resp_header(req, "Cache-Control", "no-store");
    }
    if (strcmp(op->stage, "mfa") != 0)
        api->metric_add(op->ctx->logins, api->req_tenant(req), 1);
    sodium_memzero(cookie, sizeof cookie);
    sodium_memzero(csrf, sizeof csrf);
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    json_decref(out);
    op_end(op, TN_DONE);
}

static void login_success(pw_op *op)
{
    const tn_api *api = op->ctx->api;
    tn_request *req = op->req;
    const char *old[1] = {op->session.sid};
    const char *reset[2] = {op->user_id, op->rehash ? op->newhash : NULL};
    const char *ins[4];
    int admin = strstr(op->roles, "tenant_admin") || strstr(op->roles, "platform_admin");

    /* With TOTP set up, the session can do nothing but pass it; without,
     * where MFA is required (the tenant's setting, and always for admins,
     * S13), nothing but enrol. */
    op->stage = op->has_totp ? "mfa" : op->set.mfa_required || admin ? "enrol" : "full";
    auth_token_new(&op->fresh);
    ins[0] = op->fresh.sid;
    ins[1] = api->req_tenant(req);
    ins[2] = op->user_id;
    ins[3] = op->stage;
    /* The session the client came with dies here (fixation): the new one
     * has a new ID. */
    if ((op->have_session && api->db_query(req, "DELETE FROM auth_sessions WHERE id = $1", 1, old,
                                           db_ignore, op) != TN_OK) ||
        api->db_query(req,
                      "UPDATE auth_users SET failed_logins = 0, locked_until = NULL, "
                      "password_hash = coalesce($2, password_hash) WHERE id = $1::uuid",
                      2, reset, db_ignore, op) != TN_OK ||
        api->db_query(req,
                      "INSERT INTO auth_sessions (id, tenant_id, user_id, auth_method, stage) "
                      "VALUES ($1, $2, $3::uuid, 'password', $4)",
                      4, ins, db_ignore, op) != TN_OK ||
        api->db_audit(req, "auth.login", "user", op->user_id, "ok") != TN_OK ||
        (op->rehash &&
         api->db_audit(req, "auth.password_rehash", "user", op->user_id, "ok") != TN_OK) ||
        api->db_commit(req, login_committed, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static void simple_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    const tn_api *api = op->ctx->api;
    char body[64];

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else if (op->kind == OP_REAUTH) {
        api->resp_json(req, 200, "{\"reauthenticated\":true}");
    } else if (op->kind == OP_RESET) {
        snprintf(body, sizeof body, "{\"reset\":true,\"sessions_ended\":%lld}", op->ended);
        api->resp_json(req, 200, body);
    } else {
        snprintf(body, sizeof body, "{\"changed\":true,\"sessions_ended\":%lld}", op->ended);
        api->resp_json(req, 200, body);
    }
    op_end(op, TN_DONE);
}

static void sessions_ended(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    (void)req;
    if (op->ctx->api->db_status(res) == TN_OK)
        op->ended = op->ctx->api->db_affected(res);
}

static void reauth_success(pw_op *op)
{
    const tn_api *api = op->ctx->api;
    const char *s[1] = {op->session.sid};
    const char *u[1] = {op->user_id};

    if (api->db_query(op->req, "UPDATE auth_sessions SET authenticated_at = now() WHERE id = $1", 1,
                      s, db_ignore, op) != TN_OK ||
        api->db_query(op->req,
                      "UPDATE auth_users SET failed_logins = 0, locked_until = NULL "
                      "WHERE id = $1::uuid",
                      1, u, db_ignore, op) != TN_OK ||
        api->db_audit(op->req, "auth.reauth", "user", op->user_id, "ok") != TN_OK ||
        api->db_commit(op->req, simple_committed, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static void refused_rolled_back(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    (void)res;
    auth_error_field(op->ctx->api, req, 422, "weak_password", auth_pw_reason_message(op->refused),
                     "new_password", op->refused);
    op_end(op, TN_DONE);
}

static void change_success(pw_op *op)
{
    const tn_api *api = op->ctx->api;
    const char *u[2] = {op->user_id, op->newhash};
    const char *s[2] = {op->user_id, op->session.sid};

    if (op->refused) {
        if (api->db_rollback(op->req, refused_rolled_back, op) != TN_OK)
            op_end(op, TN_ERROR);
        return;
    }
    /* The password changed: every other session of the user ends. */
    if (api->db_query(op->req,
                      "UPDATE auth_users SET password_hash = $2, password_changed_at = now(), "
                      "failed_logins = 0, locked_until = NULL WHERE id = $1::uuid",
                      2, u, db_ignore, op) != TN_OK ||
        api->db_query(op->req, "DELETE FROM auth_sessions WHERE user_id = $1::uuid AND id <> $2", 2,
                      s, sessions_ended, op) != TN_OK ||
        api->db_audit(op->req, "auth.password_change", "user", op->user_id, "ok") != TN_OK ||
        publish_important(op, "password_change") != TN_OK ||
        api->db_commit(op->req, simple_committed, op) != TN_OK)
        op_end(op, TN_ERROR);
}

/* ---- password reset --------------------------------------------------------- */

static void reset_claimed(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *u[2] = {op->user_id, op->newhash};
    const char *s[1] = {op->user_id};

    /* Single use: of two confirmations racing, one claims the row. */
    if (api->db_status(res) == TN_OK && api->db_affected(res) != 1) {
        api->resp_error(req, 400, "invalid_token", "the reset token is unknown, used or expired");
        if (api->db_rollback(req, ended_keep_answer, op) != TN_OK)
            op_end(op, TN_ERROR);
        return;
    }
    if (api->db_query(req,
                      "UPDATE auth_users SET password_hash = $2, password_changed_at = now(), "
                      "failed_logins = 0, locked_until = NULL WHERE id = $1::uuid",
                      2, u, db_ignore, op) != TN_OK ||
        api->db_query(req, "DELETE FROM auth_sessions WHERE user_id = $1::uuid", 1, s,
                      sessions_ended, op) != TN_OK ||
        api->db_audit(req, "auth.password_reset", "user", op->user_id, "ok") != TN_OK ||
        publish_important(op, "password_reset") != TN_OK ||
        api->db_commit(req, simple_committed, op) != TN_OK)
        op_end(op, TN_ERROR);
}

static void reset_success(pw_op *op)
{
    const tn_api *api = op->ctx->api;
    const char *p[1] = {op->reset.sid};

    if (op->refused) {
        if (api->db_rollback(op->req, refused_rolled_back, op) != TN_OK)
            op_end(op, TN_ERROR);
        return;
    }
    if (api->db_query(op->req,
                      "UPDATE auth_password_resets SET used_at = now() "
                      "WHERE id = $1 AND used_at IS NULL AND expires_at > now()",
                      1, p, reset_claimed, op) != TN_OK)
        op_end(op, TN_ERROR);
}

/* ---- the thread pool part -------------------------------------------------- */

static void op_work(auth_job *job)
{
    pw_op *op = (pw_op *)job;
    if (op->kind == OP_RESET) { /* the token stood in for the password */
        auth_policy pol = {.min_length = op->set.min_length,
                           .login = op->login,
                           .email = op->email,
                           .words = op->set.words};
        op->verified = op->found && !op->disabled;
        op->refused = auth_pw_check(&op->ctx->pw, &pol, op->newpw, op->newpw_len);
        if (op->verified && op->refused == NULL)
            op->hash_failed = auth_pw_hash(op->newpw, op->newpw_len, op->newhash) != 0;
        return;
    }
    /* Always one full verification, the dummy's for an unknown or disabled
     * account, so every outcome costs the same (S12). */
    int ok = auth_pw_verify(op->found && !op->disabled ? op->hash : op->ctx->pw.dummy_hash, op->pw,
                            op->pw_len);
    op->verified = ok && op->found && !op->disabled;
    if (!op->verified)
        return;
    if (op->kind == OP_LOGIN && auth_pw_needs_rehash(op->hash)) {
        op->rehash = auth_pw_hash(op->pw, op->pw_len, op->newhash) == 0;
    } else if (op->kind == OP_CHANGE) {
        auth_policy pol = {.min_length = op->set.min_length,
                           .login = op->login,
                           .email = op->email,
                           .words = op->set.words};
        op->refused = auth_pw_check(&op->ctx->pw, &pol, op->newpw, op->newpw_len);
        if (op->refused == NULL)
            op->hash_failed = auth_pw_hash(op->newpw, op->newpw_len, op->newhash) != 0;
    }
}

static void op_work_done(auth_job *job, int status)
{
    pw_op *op = (pw_op *)job;
    const tn_api *api = op->ctx->api;

    if (status != 0) {
        auth_error_retry(api, op->req, 503, "unavailable", "the server is stopping", 1);
        op_end(op, TN_DONE);
    } else if (op->hash_failed) {
        op_end(op, TN_ERROR);
    } else if (op->kind == OP_RESET && !op->verified) {
        api->resp_error(op->req, 400, "invalid_token",
                        "the reset token is unknown, used or "
                        "expired");
        if (api->db_rollback(op->req, ended_keep_answer, op) != TN_OK)
            op_end(op, TN_ERROR);
    } else if (op->kind == OP_RESET) {
        reset_success(op);
    } else if (!op->verified) {
        record_failure(op);
    } else if (op->kind == OP_LOGIN) {
        login_success(op);
    } else if (op->kind == OP_REAUTH) {
        reauth_success(op);
    } else {
        change_success(op);
    }
}

static void throttled_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    if (op->ctx->api->db_status(res) != TN_OK)
        op->ctx->api->resp_db_error(req, res);
    op_end(op, TN_DONE);
}

/* The account row: id, login, hash, roles, disabled, seconds still locked. */
static void account_read(tn_request *req, const tn_db_result *res, void *ud)
{
    pw_op *op = ud;
    const tn_api *api = op->ctx->api;
    long long wait = 0;
    int rc;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        op_end(op, TN_DONE);
        return;
    }
    if (api->db_rows(res) == 1) {
        const char *hash = api->db_value(res, 0, 2);
        op->found = 1;
        op->user_id = api->req_strdup(req, api->db_value(res, 0, 0));
        op->login = api->req_strdup(req, api->db_value(res, 0, 1));
        op->roles = api->req_strdup(req, api->db_value(res, 0, 3));
        op->disabled = strcmp(api->db_value(res, 0, 4), "t") == 0;
        wait = strtoll(api->db_value(res, 0, 5), NULL, 10);
        op->has_totp = api->db_value(res, 0, 6) && strcmp(api->db_value(res, 0, 6), "t") == 0;
        if (api->db_value(res, 0, 7) != NULL &&
            (op->email = api->req_strdup(req, api->db_value(res, 0, 7))) == NULL) {
            op_end(op, TN_ERROR);
            return;
        }
        if (!op->user_id || !op->login || !op->roles || strlen(hash) >= sizeof op->hash) {
            op_end(op, TN_ERROR);
            return;
        }
        memcpy(op->hash, hash, strlen(hash) + 1);
    } else if (op->kind == OP_RESET) {
        api->resp_error(req, 400, "invalid_token", "the reset token is unknown, used or expired");
        if (api->db_rollback(req, ended_keep_answer, op) != TN_OK)
            op_end(op, TN_ERROR);
        return;
    } else if (op->kind != OP_LOGIN) {
        api->resp_error(req, 401, "unauthenticated", "the session's account is gone");
        op_end(op, TN_DONE);
        return;
    }
    if (wait > 0) {
        /* Throttled: not even verified, so a lock cannot be outwaited by
         * guessing faster.  Audited as denied. */
        auth_error_retry(api, req, 429, "too_many_attempts",
                         "too many failed attempts for this account; retry later", wait);
        if (api->db_audit(req, op_action[op->kind], "user", op->user_id, "denied") != TN_OK ||
            api->db_commit(req, throttled_committed, op) != TN_OK)
            op_end(op, TN_ERROR);
        return;
    }
    rc = auth_pool_submit(&op->ctx->pool, &op->job, op_work, op_work_done);
    if (rc == TN_EBUSY) {
        auth_error_retry(api, req, 503, "busy", "too many logins in progress; retry later", 1);
        op_end(op, TN_DONE);
    } else if (rc != TN_OK) {
        op_end(op, TN_ERROR);
    }
}

static const char sql_account[] =
    "SELECT id::text, login, password_hash, array_to_string(roles, ','), disabled, "
    "greatest(0, ceil(extract(epoch FROM locked_until - now())))::bigint, "
    "EXISTS (SELECT 1 FROM auth_mfa_totp t WHERE t.tenant_id = auth_users.tenant_id "
    "AND t.user_id = auth_users.id AND t.confirmed), email "
    "FROM auth_users WHERE ";

static const char sql_reset_account[] =
    "SELECT u.id::text, u.login, u.password_hash, array_to_string(u.roles, ','), u.disabled, "
    "0::bigint, false, u.email FROM auth_password_resets r JOIN auth_users u "
    "ON u.tenant_id = r.tenant_id AND u.id = r.user_id "
    "WHERE r.id = $1 AND r.used_at IS NULL AND r.expires_at > now()";

static tn_status op_start(pw_op *op, const char *key)
{
    const tn_api *api = op->ctx->api;
    char sql[sizeof sql_reset_account + sizeof sql_account + 32];
    const char *p[1] = {key};

    if (op->kind == OP_RESET)
        snprintf(sql, sizeof sql, "%s", sql_reset_account);
    else
        snprintf(sql, sizeof sql, "%s%s", sql_account,
                 op->kind == OP_LOGIN ? "lower(login) = lower($1)" : "id = $1::uuid");
    if (api->db_query(op->req, sql, 1, p, account_read, op) != TN_OK) {
        op_wipe(op);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

/* ---- handlers ----------------------------------------------------------------- */

static tn_status h_login(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t login_len = 0;
    const char *login;
    json_t *j = NULL;
    pw_op *op;
    tn_status st = TN_DONE;
    int rc;

    (void)self;
    if ((rc = auth_take_address(ctx, req, "auth.login")) != 0)
        return rc > 0 ? TN_SUSPEND : TN_DONE;
    if ((j = body_object(api, req)) == NULL)
        return TN_DONE;
    if ((login = body_string(api, req, j, "login", &login_len)) == NULL)
        goto done;
    if (login_len > AUTH_LOGIN_MAX) {
        auth_error_field(api, req, 400, "bad_request", "the login ID is too long", "login",
                         "too_long");
        goto done;
    }
    if ((op = op_new(ctx, req, OP_LOGIN)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    if (take_password(api, req, j, "password", &op->pw, &op->pw_len) != 0) {
        op_wipe(op);
        goto done;
    }
    st = op_start(op, login);
done:
    json_decref(j); /* jansson's copy of the password: freed, not wiped (see docs/auth.md) */
    return st;
}

static tn_status h_reauth(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    json_t *j;
    pw_op *op;
    tn_status st = TN_DONE;

    (void)self;
    if ((j = body_object(api, req)) == NULL)
        return TN_DONE;
    if (json_object_get(j, "password") == NULL && json_object_get(j, "code") != NULL) {
        st = auth_mfa_reauth(ctx, req, j); /* a TOTP code instead of the password */
        json_decref(j);
        return st;
    }
    if ((op = op_new(ctx, req, OP_REAUTH)) == NULL) {
        st = TN_ERROR;
    } else if (!op->have_session) {
        api->resp_error(req, 400, "bad_request", "re-authentication needs a session cookie");
    } else if (take_password(api, req, j, "password", &op->pw, &op->pw_len) == 0) {
        st = op_start(op, api->req_principal(req));
    } else {
        op_wipe(op);
    }
    json_decref(j);
    return st;
}

static tn_status h_password(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    json_t *j;
    pw_op *op;
    tn_status st = TN_DONE;

    (void)self;
    if ((j = body_object(api, req)) == NULL)
        return TN_DONE;
    if ((op = op_new(ctx, req, OP_CHANGE)) == NULL) {
        st = TN_ERROR;
    } else if (!op->have_session) {
        api->resp_error(req, 400, "bad_request", "a password change needs a session cookie");
    } else if (take_password(api, req, j, "current_password", &op->pw, &op->pw_len) == 0 &&
               take_password(api, req, j, "new_password", &op->newpw, &op->newpw_len) == 0) {
        st = op_start(op, api->req_principal(req));
    } else {
        op_wipe(op);
    }
    json_decref(j);
    return st;
}

static void throttle_audited(tn_request *req, const tn_db_result *res, void *ud)
{
    auth_ctx *ctx = ud;
    (void)res; /* the 429 stands either way; the host logs a failed commit */
    ctx->api->req_resume(req, TN_DONE);
}

/* Takes one unit of the per-address zone (login, reset, reset confirm
 * share it); 0, or -1 after answering 429 (or 500: fail closed), or 1
 * after answering 429 with the refusal's audit entry being committed
 * (the handler returns TN_SUSPEND).  A refusal is audited as action,
 * result "denied" (the core schema knows ok / denied / failed) with the
 * target type "address" and the client address as target, which tells it
 * from an account's denial (target: the user); the body (login ID,
 * password) is not read.  At most once per address and tenant a minute:
 * the "login_audit" zone allows one entry a minute, so a flood of refused
 * requests costs the database one row a minute per address, not one per
 * request. */
int auth_take_address(auth_ctx *ctx, tn_request *req, const char *action)
{
    const tn_api *api = ctx->api;
    uint64_t retry_ms = 0, audit_ms = 0;
    int rc = api->limit_take(ctx->login_zone, api->req_tenant(req), api->req_client_addr(req), 1,
                             &retry_ms);
    if (rc < 0) {
        api->resp_error(req, 500, "internal", "rate limit unavailable");
        return -1;
    }
    if (rc == 1)
        return 0;
    auth_error_retry(api, req, 429, "too_many_attempts",
                     "too many attempts from this address; retry later",
                     (long long)((retry_ms + 999) / 1000));
    if (action == NULL || api->req_tenant(req) == NULL ||
        api->limit_take(ctx->audit_zone, api->req_tenant(req), api->req_client_addr(req), 1,
                        &audit_ms) != 1)
        return -1;
    if (api->db_audit(req, action, "address", api->req_client_addr(req), "denied") != TN_OK ||
        api->db_commit(req, throttle_audited, ctx) != TN_OK) {
        api->log(ctx->self, TN_LOG_WARN, "auth: the throttled %s was not audited", action);
        return -1;
    }
    return 1;
}

static void reset_ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* the commit reports a failure */
}

typedef struct reset_req {
    auth_ctx *ctx;
    auth_token tok;
    char expires[24];
} reset_req;

static void reset_requested(tn_request *req, const tn_db_result *res, void *ud)
{
    reset_req *rr = ud;
    const tn_api *api = rr->ctx->api;
    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    auth_token_wipe(&rr->tok);
    api->req_resume(req, TN_DONE);
}

/* The account of the login, if any: a token, its hash stored, the token
 * in the event (the notifications plugin mails it; S16: no log has it). */
static void reset_account(tn_request *req, const tn_db_result *res, void *ud)
{
    reset_req *rr = ud;
    const tn_api *api = rr->ctx->api;
    json_t *ev = NULL;
    char *text = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        auth_token_wipe(&rr->tok);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_rows(res) == 1 && strcmp(api->db_value(res, 0, 2), "f") == 0) {
        const char *uid = api->db_value(res, 0, 0);
        const char *p[3] = {rr->tok.sid, api->req_tenant(req), uid};
        ev = json_pack("{s:s, s:s, s:s, s:I}", "user_id", uid, "login", api->db_value(res, 0, 1),
                       "token", rr->tok.text, "expires_in", (json_int_t)AUTH_RESET_TTL_S);
        text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        if (text == NULL ||
            api->db_query(req,
                          "INSERT INTO auth_password_resets (id, tenant_id, user_id, expires_at) "
                          "VALUES ($1, $2, $3::uuid, now() + interval '30 minutes')",
                          3, p, reset_ignore, rr) != TN_OK ||
            api->db_publish(req, "auth.password_reset_requested", text) != TN_OK ||
            api->db_audit(req, "auth.password_reset_request", "user", uid, "ok") != TN_OK)
            api->resp_error(req, 500, "internal", "reset not recorded");
    }
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    json_decref(ev);
    if (api->db_commit(req, reset_requested, rr) != TN_OK) {
        auth_token_wipe(&rr->tok);
        api->req_resume(req, TN_ERROR);
    }
}

/* Always the same answer: whether the login exists is not told. */
static tn_status h_reset(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t len = 0;
    const char *login;
    json_t *j;
    reset_req *rr;
    tn_status st = TN_DONE;
    int rc;

    (void)self;
    /* Refused: audited as auth.password_reset_request "denied", once a
     * minute per address at most (the login_audit zone, shared with login). */
    if ((rc = auth_take_address(ctx, req, "auth.password_reset_request")) != 0)
        return rc > 0 ? TN_SUSPEND : TN_DONE;
    if ((j = body_object(api, req)) == NULL)
        return TN_DONE;
    if ((login = body_string(api, req, j, "login", &len)) == NULL || len > AUTH_LOGIN_MAX) {
        if (login)
            auth_error_field(api, req, 400, "bad_request", "the login ID is too long", "login",
                             "too_long");
        goto done;
    }
    if ((rr = api->req_alloc(req, sizeof *rr)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    memset(rr, 0, sizeof *rr);
    rr->ctx = ctx;
    auth_token_new(&rr->tok);
    api->resp_json(req, 202, "{\"requested\":true}");
    const char *p[1] = {login};
    st = api->db_query(req,
                       "SELECT id::text, login, disabled FROM auth_users "
                       "WHERE lower(login) = lower($1)",
                       1, p, reset_account, rr) == TN_OK
             ? TN_SUSPEND
             : TN_ERROR;
done:
    json_decref(j);
    return st;
}

static tn_status h_reset_confirm(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t len = 0;
    const char *token;
    json_t *j;
    pw_op *op;
    tn_status st = TN_DONE;
    int rc;

    (void)self;
    if ((rc = auth_take_address(ctx, req, "auth.password_reset")) != 0) /* as above */
        return rc > 0 ? TN_SUSPEND : TN_DONE;
    if ((j = body_object(api, req)) == NULL)
        return TN_DONE;
    if ((token = body_string(api, req, j, "token", &len)) == NULL)
        goto done;
    if ((op = op_new(ctx, req, OP_RESET)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    if (auth_token_parse(&op->reset, token) != 0) {
        api->resp_error(req, 400, "invalid_token", "the reset token is unknown, used or expired");
        op_wipe(op);
        goto done;
    }
    if (take_password(api, req, j, "new_password", &op->newpw, &op->newpw_len) != 0) {
        op_wipe(op);
        goto done;
    }
    st = op_start(op, op->reset.sid);
done:
    json_decref(j);
    return st;
}

/* ---- logout and me ------------------------------------------------------------ */

static void committed_resume(tn_request *req, const tn_db_result *res, void *ud)
{
    const tn_api *api = ((auth_ctx *)ud)->api;
    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    api->req_resume(req, TN_DONE);
}

static tn_status h_logout(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    auth_token tok;
    const char *p[1] = {tok.sid};
    tn_status st = TN_SUSPEND;

    (void)self;
    if (auth_token_parse(&tok, api->req_cookie(req, AUTH_COOKIE)) != 0) {
        api->resp_error(req, 400, "bad_request", "logout needs a session cookie");
        return TN_DONE;
    }
    /* The response is set now; the commit callback only replaces it on a
     * database failure. */
    api->resp_json(req, 200, "{\"logged_out\":true}");
    api->resp_header(req, "Set-Cookie", auth_cookie_clear());
    if (api->db_query(req, "DELETE FROM auth_sessions WHERE id = $1", 1, p, db_ignore, ctx) !=
            TN_OK ||
        api->db_audit(req, "auth.logout", "user", api->req_principal(req), "ok") != TN_OK ||
        api->db_commit(req, committed_resume, ctx) != TN_OK)
        st = TN_ERROR;
    auth_token_wipe(&tok);
    return st;
}

typedef struct me_op {
    auth_ctx *ctx;
    char csrf[AUTH_TOKEN_LEN + 1];
} me_op;

static void me_read(tn_request *req, const tn_db_result *res, void *ud)
{
    me_op *op = ud;
    const tn_api *api = op->ctx->api;
    json_t *out = NULL, *roles = NULL;
    char *text = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else if (api->db_rows(res) != 1) {
        api->resp_error(req, 401, "unauthenticated", "the session ended");
    } else {
        const char *buyer = api->db_value(res, 0, 3), *email = api->db_value(res, 0, 8);
        roles = auth_roles_json(api->db_value(res, 0, 2));
        out = json_pack("{s:{s:s, s:s, s:o, s:o, s:o}, s:I, s:I, s:b, s:s, s:s}", "user", "id",
                        api->db_value(res, 0, 0), "login", api->db_value(res, 0, 1), "roles", roles,
                        "buyer_id", buyer ? json_string(buyer) : json_null(), "email",
                        email ? json_string(email) : json_null(), "authenticated_at",
                        (json_int_t)strtoll(api->db_value(res, 0, 4), NULL, 10),
                        "session_created_at",
                        (json_int_t)strtoll(api->db_value(res, 0, 5), NULL, 10), "mfa_passed",
                        strcmp(api->db_value(res, 0, 6), "t") == 0, "auth_method",
                        api->db_value(res, 0, 7), "csrf_token", op->csrf);
        text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (text) {
            api->resp_json(req, 200, text);
            api->resp_header(req, "Cache-Control", "no-store");
        } else {
            api->resp_error(req, 500, "internal", "out of memory");
        }
    }
    free(text);
    json_decref(out);
    sodium_memzero(op->csrf, sizeof op->csrf);
    if (api->db_commit(req, committed_resume, op->ctx) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

static tn_status h_me(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    auth_token tok;
    me_op *op;
    tn_status st = TN_SUSPEND;

    (void)self;
    if (auth_token_parse(&tok, api->req_cookie(req, AUTH_COOKIE)) != 0) {
        /* A principal from elsewhere (an API token, later): no session. */
        api->resp_error(req, 400, "bad_request", "no session cookie");
        return TN_DONE;
    }
    const char *p[1] = {tok.sid};
    if ((op = api->req_alloc(req, sizeof *op)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    op->ctx = ctx;
    auth_csrf_token(&tok, op->csrf);
    if (api->db_query(req,
                      "SELECT u.id::text, u.login, array_to_string(u.roles, ','), u.buyer_id, "
                      "extract(epoch FROM s.authenticated_at)::bigint, "
                      "extract(epoch FROM s.created_at)::bigint, s.mfa_passed, s.auth_method, "
                      "u.email "
                      "FROM auth_sessions s JOIN auth_users u "
                      "ON u.tenant_id = s.tenant_id AND u.id = s.user_id WHERE s.id = $1",
                      1, p, me_read, op) != TN_OK)
        st = TN_ERROR;
done:
    auth_token_wipe(&tok);
    return st;
}

int auth_routes_add(auth_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_plugin *self = ctx->self;
    if (api->route_add(self, "POST", AUTH_LOGIN_ROUTE, TN_ACCESS_PUBLIC, NULL, h_login, ctx) ||
        api->route_add(self, "POST", "/auth/logout", TN_ACCESS_AUTHENTICATED, NULL, h_logout,
                       ctx) ||
        api->route_add(self, "GET", "/auth/me", TN_ACCESS_AUTHENTICATED, NULL, h_me, ctx) ||
        api->route_add(self, "POST", "/auth/reauth", TN_ACCESS_AUTHENTICATED, NULL, h_reauth,
                       ctx) ||
        api->route_add_opts(self, "POST", "/auth/password", TN_ACCESS_AUTHENTICATED, NULL,
                            h_password, ctx, &auth_opts_reauth) ||
        api->route_add(self, "POST", "/auth/password/reset", TN_ACCESS_PUBLIC, NULL, h_reset,
                       ctx) ||
        api->route_add(self, "POST", "/auth/password/reset/confirm", TN_ACCESS_PUBLIC, NULL,
                       h_reset_confirm, ctx))
        return -1;
    return 0;
}
