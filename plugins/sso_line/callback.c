/*
 * callback.c - GET /auth/line/callback: LINE's answer to a flow.
 *
 *   1. An error from LINE (the user cancelled: access_denied) ends the
 *      flow with a JSON error.
 *   2. state must be the one derived from the pre-login cookie (constant
 *      time); the flow row is then consumed (DELETE ... RETURNING, single
 *      use, at most 10 minutes old) and committed, so a replayed callback
 *      finds nothing.
 *   3. The code is exchanged at the token endpoint through the host's
 *      outbound client (client_secret_post with the PKCE verifier).
 *   4. The ID token is verified (idtoken.c: HS256 pinned, iss, aud, exp,
 *      iat, nonce).  The tokens are then dropped: nothing needs them.
 *   5. A login finds the user linked to the LINE subject in this tenant
 *      (or creates one where the tenant allows) and signs them in through
 *      the auth plugin; a link binds the subject to the user who asked.
 * Refusals are logged with their reason, never with a token or code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "flow.h"
#include "idtoken.h"
#include "sso_line.h"

#define LINE_FORM_MAX 4096

typedef struct cb_op {
    line_ctx *ctx;
    tn_request *req;
    line_settings set;
    line_flow flow;
    char *code;
    int link;
    char flow_user[40]; /* link: who asked */
    line_claims claims;
    char user_id[40];
} cb_op;

/* The one way out once suspended: the flow cookie goes, whatever happened. */
static void cb_end(cb_op *op, tn_status st)
{
    const tn_api *api = op->ctx->api;
    tn_request *req = op->req;
    api->resp_header(req, "Set-Cookie", line_cookie_clear());
    line_flow_wipe(&op->flow);
    if (op->code)
        sodium_memzero(op->code, strlen(op->code));
    api->req_resume(req, st);
}

static void ended_keep_answer(tn_request *req, const tn_db_result *res, void *ud)
{
    cb_op *op = ud;
    if (op->ctx->api->db_status(res) != TN_OK)
        op->ctx->api->resp_db_error(req, res);
    cb_end(op, TN_DONE);
}

/* Answers a refusal, logs its reason, ends the transaction. */
static void refuse(cb_op *op, int status, const char *code, const char *message, const char *reason)
{
    const tn_api *api = op->ctx->api;
    api->req_log(op->req, TN_LOG_WARN, "line sign-in refused: %s", reason);
    api->metric_add(op->ctx->refusals, api->req_tenant(op->req), 1);
    api->resp_error(op->req, status, code, message);
    if (api->db_rollback(op->req, ended_keep_answer, op) != TN_OK)
        cb_end(op, TN_ERROR);
}

/* ---- 5. signing in, signing up, linking ------------------------------------- */

static void logged_in(tn_request *req, const tanomu_auth_login *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (res->status == TN_ENOTFOUND) {
        refuse(op, 403, "account_disabled", "the linked account is disabled", "disabled");
        return;
    }
    if (res->status != TN_OK) { /* answered by the auth plugin */
        cb_end(op, TN_DONE);
        return;
    }
    json_t *roles = json_array();
    for (const char *r = res->roles; roles && *r;) {
        size_t n = strcspn(r, ",");
        json_array_append_new(roles, json_stringn(r, n));
        r += n + (r[n] == ',');
    }
    json_t *out = json_pack("{s:{s:s, s:s, s:o}, s:s, s:b, s:b}", "user", "id", res->user_id,
                            "login", res->login, "roles", roles, "auth_method", "line",
                            "mfa_required", strcmp(res->stage, "mfa") == 0,
                            "mfa_enrolment_required", strcmp(res->stage, "enrol") == 0);
    if (out && res->csrf_token)
        json_object_set_new(out, "csrf_token", json_string(res->csrf_token));
    line_answer(api, req, 200, out);
    api->metric_add(op->ctx->logins, api->req_tenant(req), 1);
    cb_end(op, TN_DONE);
}

static void sign_in(cb_op *op, const char *user_id)
{
    if (op->ctx->auth->login(op->req, user_id, "line", logged_in, op) != TN_OK) {
        op->ctx->api->resp_error(op->req, 500, "internal", "cannot open the session");
        cb_end(op, TN_DONE);
    }
}

static void signup_linked(tn_request *req, const tn_db_result *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        if (api->db_rollback(req, ended_keep_answer, op) != TN_OK)
            cb_end(op, TN_ERROR);
        return;
    }
    sign_in(op, op->user_id);
}

static void user_made(tn_request *req, int status, const char *user_id, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (status == TN_EEXIST) { /* rolled back by the auth plugin */
        api->resp_error(req, 409, "conflict", "an account with this LINE login exists");
        cb_end(op, TN_DONE);
        return;
    }
    if (status != TN_OK || strlen(user_id) >= sizeof op->user_id) {
        api->resp_error(req, 500, "internal", "cannot create the account");
        cb_end(op, TN_DONE);
        return;
    }
    memcpy(op->user_id, user_id, strlen(user_id) + 1);
    const char *p[3] = {api->req_tenant(req), op->user_id, op->claims.sub};
    if (api->db_query(req,
                      "INSERT INTO sso_line_links (tenant_id, user_id, line_sub) "
                      "VALUES ($1, $2::uuid, $3)",
                      3, p, signup_linked, op) != TN_OK ||
        api->db_audit(req, "sso_line.signup", "user", op->user_id, "ok") != TN_OK)
        cb_end(op, TN_ERROR);
}

static void link_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    else
        api->resp_json(req, 200, "{\"linked\":true}");
    cb_end(op, TN_DONE);
}

static void link_inserted(tn_request *req, const tn_db_result *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK && strcmp(api->db_sqlstate(res), "23505") == 0) {
        refuse(op, 409, "user_already_linked", "this user has another LINE account linked",
               "user already linked");
        return;
    }
    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        if (api->db_rollback(req, ended_keep_answer, op) != TN_OK)
            cb_end(op, TN_ERROR);
        return;
    }
    if (api->db_audit(req, "sso_line.link", "user", op->flow_user, "ok") != TN_OK ||
        line_publish(api, req, op->flow_user, "line_link") != TN_OK ||
        api->db_commit(req, link_committed, op) != TN_OK)
        cb_end(op, TN_ERROR);
}

static void do_link(cb_op *op, const char *linked_to)
{
    const tn_api *api = op->ctx->api;
    const char *me = api->req_principal(op->req);

    /* The session that finishes the link must be the one that started it. */
    if (me == NULL || strcmp(me, op->flow_user) != 0) {
        refuse(op, 403, "session_changed", "sign in as the user who started the link",
               "link finished by another session");
        return;
    }
    if (linked_to != NULL) {
        if (strcmp(linked_to, me) == 0) {
            api->resp_json(op->req, 200, "{\"linked\":true}");
            if (api->db_rollback(op->req, ended_keep_answer, op) != TN_OK)
                cb_end(op, TN_ERROR);
        } else {
            refuse(op, 409, "line_already_linked", "this LINE account is linked to another user",
                   "line account linked elsewhere");
        }
        return;
    }
    const char *p[3] = {api->req_tenant(op->req), me, op->claims.sub};
    if (api->db_query(op->req,
                      "INSERT INTO sso_line_links (tenant_id, user_id, line_sub) "
                      "VALUES ($1, $2::uuid, $3)",
                      3, p, link_inserted, op) != TN_OK)
        cb_end(op, TN_ERROR);
}

static void link_read(tn_request *req, const tn_db_result *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *linked = api->db_rows(res) == 1 ? api->db_value(res, 0, 0) : NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        if (api->db_rollback(req, ended_keep_answer, op) != TN_OK)
            cb_end(op, TN_ERROR);
        return;
    }
    if (op->link) {
        do_link(op, linked);
    } else if (linked != NULL) {
        if (strlen(linked) >= sizeof op->user_id) {
            cb_end(op, TN_ERROR);
            return;
        }
        memcpy(op->user_id, linked, strlen(linked) + 1);
        sign_in(op, op->user_id);
    } else if (op->set.allow_signup) {
        char login[LINE_SUB_MAX + 8];
        snprintf(login, sizeof login, "line_%s", op->claims.sub);
        if (op->ctx->auth->create_user(req, login, op->set.signup_role, user_made, op) != TN_OK)
            cb_end(op, TN_ERROR);
    } else {
        refuse(op, 403, "not_linked",
               "this LINE account is not linked to a user here: sign in and link it first",
               "not linked");
    }
}

int line_sign_in_sub(line_ctx *ctx, tn_request *req, const char *sub)
{
    const tn_api *api = ctx->api;
    cb_op *op = api->req_alloc(req, sizeof *op);

    if (op == NULL || strlen(sub) > LINE_SUB_MAX)
        return TN_ENOMEM;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->req = req;
    line_settings_read(ctx, req, &op->set);
    memcpy(op->claims.sub, sub, strlen(sub) + 1);
    const char *p[1] = {op->claims.sub};
    return api->db_query(req, "SELECT user_id::text FROM sso_line_links WHERE line_sub = $1", 1, p,
                         link_read, op);
}

/* ---- 3, 4. the code exchange and the ID token ------------------------------ */

static void tokens_answered(tn_plugin *self, const tn_http_response *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;
    json_t *body = NULL, *err;
    const char *why = "";
    (void)self;

    if (res->result == TN_ECANCELED) {
        cb_end(op, TN_DONE);
        return;
    }
    if (res->result != TN_OK) {
        api->req_log(op->req, TN_LOG_WARN, "line token endpoint unreachable: %s", res->error);
        api->resp_error(op->req, 502, "line_unavailable", "LINE did not answer; try again");
        cb_end(op, TN_DONE);
        return;
    }
    body = json_loadb(res->body, res->body_len, 0, NULL);
    if (res->status != 200) {
        err = json_object_get(body, "error");
        int grant = json_is_string(err) && strcmp(json_string_value(err), "invalid_grant") == 0;
        api->req_log(op->req, TN_LOG_WARN, "line sign-in refused: token endpoint %d%s", res->status,
                     grant ? " invalid_grant" : "");
        api->metric_add(op->ctx->refusals, api->req_tenant(op->req), 1);
        if (grant)
            api->resp_error(op->req, 400, "code_refused",
                            "LINE refused the authorization code (used, expired or not ours)");
        else
            api->resp_error(op->req, 502, "line_error", "LINE refused the token request");
        json_decref(body);
        cb_end(op, TN_DONE);
        return;
    }
    line_expect e = {.secret = op->set.channel_secret,
                     .secret_len = strlen(op->set.channel_secret),
                     .issuer = op->set.issuer,
                     .audience = op->set.channel_id,
                     .nonce = op->flow.nonce,
                     .now = (long long)time(NULL),
                     .skew_s = op->set.skew_s,
                     .max_age_s = LINE_FLOW_TTL_S};
    int bad = line_idtoken_verify(json_string_value(json_object_get(body, "id_token")), &e,
                                  &op->claims, &why);
    json_decref(body); /* the access and refresh tokens are not kept */
    if (bad) {
        char reason[64];
        snprintf(reason, sizeof reason, "id_token %s", why);
        refuse(op, 401, "id_token_invalid", "LINE's ID token was refused", reason);
        return;
    }
    const char *p[1] = {op->claims.sub};
    if (api->db_query(op->req, "SELECT user_id::text FROM sso_line_links WHERE line_sub = $1", 1, p,
                      link_read, op) != TN_OK)
        cb_end(op, TN_ERROR);
}

static int exchange(cb_op *op)
{
    const tn_api *api = op->ctx->api;
    char form[LINE_FORM_MAX], redirect[256];
    size_t n = 0;
    int rc = TN_EINVAL;
    tn_http_header h[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                          {"Accept", "application/json"}};
    tn_http_request r = {.size = sizeof r,
                         .method = "POST",
                         .url = op->set.token_endpoint,
                         .headers = h,
                         .nheaders = 2,
                         .body = form,
                         .timeout_ms = 10000};

    snprintf(redirect, sizeof redirect, "%s%s", op->set.redirect_base, LINE_CALLBACK_PATH);
    if (line_form_add(form, sizeof form, &n, "grant_type", "authorization_code") == 0 &&
        line_form_add(form, sizeof form, &n, "code", op->code) == 0 &&
        line_form_add(form, sizeof form, &n, "redirect_uri", redirect) == 0 &&
        line_form_add(form, sizeof form, &n, "client_id", op->set.channel_id) == 0 &&
        line_form_add(form, sizeof form, &n, "client_secret", op->set.channel_secret) == 0 &&
        line_form_add(form, sizeof form, &n, "code_verifier", op->flow.verifier) == 0) {
        r.body_len = n;
        rc = api->http_call(op->ctx->self, op->req, &r, tokens_answered, op, NULL);
    }
    sodium_memzero(form, sizeof form);
    return rc;
}

/* ---- 2. the flow ------------------------------------------------------------ */

static void flow_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        cb_end(op, TN_DONE);
        return;
    }
    if (exchange(op) != TN_OK) {
        api->req_log(req, TN_LOG_WARN, "line token call refused: %s",
                     api->last_error(op->ctx->self));
        api->resp_error(req, 503, "busy", "cannot reach LINE now; try again");
        cb_end(op, TN_DONE);
    }
}

static void flow_consumed(tn_request *req, const tn_db_result *res, void *ud)
{
    cb_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        if (api->db_rollback(req, ended_keep_answer, op) != TN_OK)
            cb_end(op, TN_ERROR);
        return;
    }
    if (api->db_rows(res) != 1) {
        refuse(op, 400, "flow_expired",
               "this LINE sign-in expired or was already used; start again",
               "no live flow (replayed or expired)");
        return;
    }
    op->link = strcmp(api->db_value(res, 0, 0), "link") == 0;
    if (op->link) {
        const char *u = api->db_value(res, 0, 1);
        if (u == NULL || strlen(u) >= sizeof op->flow_user) {
            cb_end(op, TN_ERROR);
            return;
        }
        memcpy(op->flow_user, u, strlen(u) + 1);
    }
    /* Consumed for good before LINE is asked: a replay finds nothing. */
    if (api->db_commit(req, flow_committed, op) != TN_OK)
        cb_end(op, TN_ERROR);
}

/* error= from LINE: the user cancelled, or LINE refused the request. */
static tn_status provider_error(line_ctx *ctx, tn_request *req, const char *error)
{
    const tn_api *api = ctx->api;
    int denied = strcmp(error, "access_denied") == 0;
    int plain = strlen(error) <= 64 &&
                strspn(error, "abcdefghijklmnopqrstuvwxyz_") == strlen(error);
    api->req_log(req, TN_LOG_INFO, "line sign-in ended by LINE: %s", plain ? error : "(other)");
    api->metric_add(ctx->refusals, api->req_tenant(req), 1);
    if (denied)
        api->resp_error(req, 403, "line_access_denied",
                        "LINE sign-in was cancelled or not allowed");
    else
        api->resp_error(req, 502, "line_error", "LINE refused the sign-in request");
    api->resp_header(req, "Set-Cookie", line_cookie_clear());
    return TN_DONE;
}

tn_status line_h_callback(tn_plugin *self, tn_request *req, void *ud)
{
    line_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *error = api->req_query_param(req, "error");
    const char *code = api->req_query_param(req, "code");
    cb_op *op;
    (void)self;

    if (error != NULL)
        return provider_error(ctx, req, error);
    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ERROR;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->req = req;
    if (line_flow_parse(&op->flow, api->req_cookie(req, LINE_COOKIE)) != 0 ||
        !line_flow_state_ok(&op->flow, api->req_query_param(req, "state"))) {
        line_flow_wipe(&op->flow);
        api->req_log(req, TN_LOG_WARN, "line sign-in refused: state mismatch");
        api->metric_add(ctx->refusals, api->req_tenant(req), 1);
        api->resp_error(req, 400, "state_mismatch",
                        "this LINE sign-in was not started by this browser; start again");
        return TN_DONE;
    }
    if (code == NULL || code[0] == '\0' || strlen(code) > 512 ||
        (op->code = api->req_strdup(req, code)) == NULL) {
        line_flow_wipe(&op->flow);
        api->resp_error(req, 400, "bad_request", "the callback has no code");
        return TN_DONE;
    }
    line_settings_read(ctx, req, &op->set);
    const char *p[1] = {op->flow.id};
    if (api->db_query(req,
                      "DELETE FROM sso_line_flows WHERE id = $1 AND created_at > now() - "
                      "interval '10 minutes' RETURNING purpose, user_id::text",
                      1, p, flow_consumed, op) != TN_OK) {
        line_flow_wipe(&op->flow);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}
