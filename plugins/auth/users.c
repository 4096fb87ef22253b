/*
 * users.c - a tenant admin's accounts (issue 8, "/auth/users"):
 *   GET   /auth/users        the tenant's accounts
 *   POST  /auth/users        {login, roles, buyer_id?, email?} -> 201; an invitation
 *                            token is published (auth.user_invited) for the
 *                            notifications plugin: the new user sets a
 *                            password with /auth/password/reset/confirm
 *   PATCH /auth/users/:id    {roles?, buyer_id?, disabled?}; a change ends the
 *                            user's sessions, so new rights come with a new
 *                            session
 *   DELETE /auth/users/:id/mfa   resets the user's MFA: TOTP and recovery codes
 *                            removed, sessions ended; the next login enrols
 *                            again where MFA is required (tenant or admin)
 *
 * Roles a tenant admin may give: tenant_admin, staff, buyer (with the
 * buyer's ID); platform_admin only from the command line, and a platform
 * admin's account is not theirs to change (it answers as no such user).  An
 * admin does not change their own account here (no self-lockout, no
 * self-promotion).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "auth.h"
#include "email.h"
#include "session.h"

#define AUTH_INVITE_TTL_S (7 * 86400)
#define AUTH_BUYER_MAX 128

typedef struct user_op {
    auth_ctx *ctx;
    auth_token invite;
    char *user_id;
    char *login;
    char *roles; /* comma-separated, validated */
    char *buyer; /* a PATCH's buyer_id (NULL: none) */
    int buyer_given;
    char email[AUTH_EMAIL_MAX + 1]; /* normalised; "" when none */
    int disabled;                   /* -1: unchanged */
    long long ended;
} user_op;

static void answer_resume(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    if (op->ctx->api->db_status(res) != TN_OK)
        op->ctx->api->resp_db_error(req, res);
    auth_token_wipe(&op->invite);
    op->ctx->api->req_resume(req, TN_DONE);
}

static void ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* the commit reports a failure */
}

/* roles: a JSON array of assignable role names, no repeats, into "a,b".
 * With has_buyer 0 or 1, buyer_id must be given exactly when "buyer" is
 * (-1: the database checks it).  NULL after answering. */
static char *roles_of(const tn_api *api, tn_request *req, json_t *arr, int has_buyer)
{
    static const char *const allowed[] = {"tenant_admin", "staff", "buyer"};
    char buf[64] = "";
    int seen[3] = {0, 0, 0};
    size_t i;
    json_t *v;

    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 3)
        goto bad;
    json_array_foreach(arr, i, v)
    {
        size_t k;
        for (k = 0; k < 3; k++)
            if (json_is_string(v) && strcmp(json_string_value(v), allowed[k]) == 0)
                break;
        if (k == 3 || seen[k]++)
            goto bad;
        if (buf[0])
            strcat(buf, ",");
        strcat(buf, allowed[k]);
    }
    if (has_buyer >= 0 && seen[2] != has_buyer) {
        auth_error_field(api, req, 422, "invalid", "buyer_id goes with the buyer role, and only",
                         "buyer_id", "buyer_mismatch");
        return NULL;
    }
    return api->req_strdup(req, buf);
bad:
    auth_error_field(api, req, 422, "invalid",
                     "roles: one to three of tenant_admin, staff, buyer, no repeats", "roles",
                     "invalid");
    return NULL;
}

/* ---- list ------------------------------------------------------------------ */

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    const tn_api *api = op->ctx->api;
    json_t *list = NULL, *out = NULL;
    char *text = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else {
        list = json_array();
        for (int i = 0; list && i < api->db_rows(res); i++) {
            const char *buyer = api->db_value(res, i, 3), *email = api->db_value(res, i, 6);
            json_array_append_new(list,
                                  json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:b}", "id",
                                            api->db_value(res, i, 0), "login",
                                            api->db_value(res, i, 1), "roles",
                                            auth_roles_json(api->db_value(res, i, 2)), "buyer_id",
                                            buyer ? json_string(buyer) : json_null(), "email",
                                            email ? json_string(email) : json_null(), "disabled",
                                            strcmp(api->db_value(res, i, 4), "t") == 0, "locked",
                                            strcmp(api->db_value(res, i, 5), "t") == 0));
        }
        out = list ? json_pack("{s:o}", "users", list) : NULL;
        text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (text)
            api->resp_json(req, 200, text);
        else
            api->resp_error(req, 500, "internal", "out of memory");
    }
    free(text);
    json_decref(out);
    if (api->db_commit(req, answer_resume, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

static user_op *op_new(auth_ctx *ctx, tn_request *req)
{
    user_op *op = ctx->api->req_alloc(req, sizeof *op);
    if (op) {
        memset(op, 0, sizeof *op);
        op->ctx = ctx;
        op->disabled = -1;
    }
    return op;
}

static tn_status h_list(tn_plugin *self, tn_request *req, void *ud)
{
    user_op *op = op_new(ud, req);
    (void)self;
    if (op == NULL ||
        op->ctx->api->db_query(req,
                               "SELECT id::text, login, array_to_string(roles, ','), buyer_id, "
                               "disabled, coalesce(locked_until > now(), false), email "
                               "FROM auth_users ORDER BY lower(login)",
                               0, NULL, listed, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- create (invite) ----------------------------------------------------------- */

static void created(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    const tn_api *api = op->ctx->api;
    json_t *ev = NULL, *out = NULL;
    char *evt = NULL, *text = NULL;

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        api->resp_db_error(req, res); /* 409 for a login ID taken */
        auth_token_wipe(&op->invite);
        api->req_resume(req, TN_DONE);
        return;
    }
    op->user_id = api->req_strdup(req, api->db_value(res, 0, 0));
    const char *p[3] = {op->invite.sid, api->req_tenant(req), op->user_id};
    /* The notifications plugin mails the invitation to email, when given. */
    ev = json_pack("{s:s, s:s, s:s, s:I, s:o}", "user_id", op->user_id, "login", op->login, "token",
                   op->invite.text, "expires_in", (json_int_t)AUTH_INVITE_TTL_S, "email",
                   op->email[0] ? json_string(op->email) : json_null());
    evt = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    out = json_pack("{s:{s:s, s:s, s:o, s:o}}", "user", "id", op->user_id ? op->user_id : "",
                    "login", op->login, "roles", auth_roles_json(op->roles), "email",
                    op->email[0] ? json_string(op->email) : json_null());
    text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (op->user_id == NULL || evt == NULL || text == NULL ||
        api->db_query(req,
                      "INSERT INTO auth_password_resets (id, tenant_id, user_id, expires_at) "
                      "VALUES ($1, $2, $3::uuid, now() + interval '7 days')",
                      3, p, ignore, op) != TN_OK ||
        api->db_publish(req, "auth.user_invited", evt) != TN_OK ||
        api->db_audit(req, "auth.user_create", "user", op->user_id, "ok") != TN_OK) {
        api->resp_error(req, 500, "internal", "the invitation was not recorded");
        if (api->db_rollback(req, answer_resume, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
    } else {
        api->resp_json(req, 201, text);
        if (api->db_commit(req, answer_resume, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
    }
    if (evt) {
        sodium_memzero(evt, strlen(evt));
        free(evt);
    }
    free(text);
    json_decref(ev);
    json_decref(out);
}

static tn_status h_create(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *login = json_object_get(j, "login"), *buyer = json_object_get(j, "buyer_id");
    json_t *email = json_object_get(j, "email");
    user_op *op = NULL;
    tn_status st = TN_DONE;

    (void)self;
    if (!json_is_object(j) || !json_is_string(login) || json_string_length(login) == 0 ||
        json_string_length(login) > AUTH_LOGIN_MAX) {
        auth_error_field(api, req, 400, "bad_request", "login: 1 to 254 bytes", "login", "invalid");
        goto done;
    }
    if (buyer && !json_is_null(buyer) &&
        (!json_is_string(buyer) || json_string_length(buyer) == 0 ||
         json_string_length(buyer) > AUTH_BUYER_MAX)) {
        auth_error_field(api, req, 400, "bad_request", "buyer_id: 1 to 128 bytes", "buyer_id",
                         "invalid");
        goto done;
    }
    if ((op = op_new(ctx, req)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    op->login = api->req_strdup(req, json_string_value(login));
    if ((op->roles = roles_of(api, req, json_object_get(j, "roles"), json_is_string(buyer))) ==
        NULL)
        goto done;
    if (email && !json_is_null(email) &&
        (!json_is_string(email) ||
         auth_email_normalize(json_string_value(email), json_string_length(email), op->email))) {
        auth_error_field(api, req, 422, "invalid", "not an e-mail address this server takes",
                         "email", "invalid");
        goto done;
    }
    auth_token_new(&op->invite);
    /* Nobody knows the password: the dummy's hash of random bytes.  The
     * invitation sets a real one. */
    const char *p[6] = {op->login,
                        op->roles,
                        json_is_string(buyer) ? json_string_value(buyer) : NULL,
                        ctx->pw.dummy_hash,
                        api->req_tenant(req),
                        op->email[0] ? op->email : NULL};
    st = api->db_query(req,
                       "INSERT INTO auth_users (login, roles, buyer_id, password_hash, tenant_id, "
                       "email) VALUES ($1, string_to_array($2, ','), $3, $4, $5, $6) "
                       "RETURNING id::text",
                       6, p, created, op) == TN_OK
             ? TN_SUSPEND
             : TN_ERROR;
    if (st != TN_SUSPEND)
        auth_token_wipe(&op->invite);
done:
    json_decref(j);
    return st;
}

/* ---- change roles, buyer ID, or disable ------------------------------------------ */

static void updated(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *p[1] = {op->user_id};

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    json_t *ev = json_pack("{s:s, s:s, s:s}", "user_id", op->user_id, "operation",
                           op->roles || op->buyer_given ? "roles_change"
                           : op->disabled == 1          ? "account_disable"
                                                        : "account_enable",
                           "client_addr", api->req_client_addr(req));
    char *evt = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    /* New rights (roles, or the buyer acted for), or none: every session
     * of the user ends (a new session ID at every privilege change). */
    if (evt == NULL ||
        api->db_query(req, "DELETE FROM auth_sessions WHERE user_id = $1::uuid", 1, p, ignore,
                      op) != TN_OK ||
        api->db_publish(req, "security.important_operation", evt) != TN_OK ||
        api->db_audit(req, "auth.user_update", "user", op->user_id, "ok") != TN_OK ||
        api->db_commit(req, answer_resume, op) != TN_OK) {
        api->req_resume(req, TN_ERROR);
    } else {
        api->resp_json(req, 200, "{\"updated\":true}");
    }
    free(evt);
    json_decref(ev);
}

static void refused(user_op *op, tn_request *req, const char *field, const char *reason,
                    const char *message)
{
    const tn_api *api = op->ctx->api;
    auth_error_field(api, req, 422, "invalid", message, field, reason);
    if (api->db_rollback(req, answer_resume, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

/* The account, locked: its roles and buyer ID as they are, so the new
 * pair is judged whole.  The buyer role goes with a buyer ID and only it:
 * a buyer ID given for an account that will not be a buyer is refused,
 * and one left from a dropped buyer role is cleared (the session hook
 * hands any stored buyer ID to other plugins). */
static void update_found(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    const tn_api *api = op->ctx->api;
    char dis[8];
    const char *roles, *buyer;
    int is_buyer;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_rows(res) != 1) {
        api->resp_error(req, 404, "not_found", "no such user");
        if (api->db_rollback(req, answer_resume, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    op->user_id = api->req_strdup(req, api->db_value(res, 0, 0));
    roles = op->roles ? op->roles : api->db_value(res, 0, 1);
    buyer = op->buyer_given ? op->buyer : api->db_value(res, 0, 2);
    is_buyer = strcmp(roles, "buyer") == 0 || strncmp(roles, "buyer,", 6) == 0 ||
               strstr(roles, ",buyer") != NULL;
    if (is_buyer && buyer == NULL) {
        refused(op, req, "buyer_id", "required", "the buyer role needs a buyer_id");
        return;
    }
    if (!is_buyer && op->buyer_given && op->buyer != NULL) {
        refused(op, req, "buyer_id", "buyer_mismatch",
                "buyer_id goes with the buyer role, and only");
        return;
    }
    if (!is_buyer)
        buyer = NULL;
    snprintf(dis, sizeof dis, "%s", op->disabled == 1 ? "true" : "false");
    const char *p[4] = {op->user_id, roles, buyer, op->disabled >= 0 ? dis : NULL};
    if (op->user_id == NULL ||
        api->db_query(req,
                      "UPDATE auth_users SET roles = string_to_array($2, ','), buyer_id = $3, "
                      "disabled = coalesce($4::boolean, disabled) WHERE id = $1::uuid",
                      4, p, updated, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

/* buyer_id in a PATCH: absent (unchanged), null (none), or 1 to 128 bytes
 * without control characters.  0, or -1 after answering 400. */
static int take_buyer(const tn_api *api, tn_request *req, json_t *v, user_op *op)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (v == NULL)
        return 0;
    op->buyer_given = 1;
    if (json_is_null(v))
        return 0;
    for (size_t i = 0; s && i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s = NULL;
    if (s == NULL || n == 0 || n > AUTH_BUYER_MAX ||
        (op->buyer = api->req_strdup(req, s)) == NULL) {
        auth_error_field(api, req, 400, "bad_request",
                         "buyer_id: null, or 1 to 128 bytes without control characters", "buyer_id",
                         "invalid");
        return -1;
    }
    return 0;
}

static tn_status h_update(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *roles = json_object_get(j, "roles"), *dis = json_object_get(j, "disabled");
    json_t *buyer = json_object_get(j, "buyer_id");
    const char *id = api->req_param(req, "id");
    user_op *op = NULL;
    tn_status st = TN_DONE;

    (void)self;
    if (!json_is_object(j) || (roles == NULL && dis == NULL && buyer == NULL) ||
        (dis && !json_is_boolean(dis))) {
        api->resp_error(req, 400, "bad_request",
                        "give roles, buyer_id and/or disabled (a boolean)");
        goto done;
    }
    if (strcasecmp(id, api->req_principal(req)) == 0) {
        api->resp_error(req, 409, "own_account", "an admin does not change their own account");
        goto done;
    }
    if ((op = op_new(ctx, req)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    if (dis)
        op->disabled = json_is_true(dis);
    if ((roles && (op->roles = roles_of(api, req, roles, -1)) == NULL) ||
        take_buyer(api, req, buyer, op) != 0)
        goto done;
    const char *p[1] = {id};
    /* FOR UPDATE: two changes of one account are judged one after the
     * other.  A platform admin's account answers as no such user. */
    st = api->db_query(req,
                       "SELECT id::text, array_to_string(roles, ','), buyer_id FROM auth_users "
                       "WHERE id::text = lower($1) AND NOT ('platform_admin' = ANY (roles)) "
                       "FOR UPDATE",
                       1, p, update_found, op) == TN_OK
             ? TN_SUSPEND
             : TN_ERROR;
done:
    json_decref(j);
    return st;
}

/* ---- reset MFA ------------------------------------------------------------------ */

/* The account exists in the tenant and is not a platform admin's: remove
 * its TOTP and recovery codes and end its sessions in the same transaction,
 * so a stolen session cannot outlive the reset.  Where MFA is required
 * (the tenant's option, or an admin), the next login is the enrol-only
 * session. */
static void mfa_found(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *p[1] = {op->user_id};
    json_t *ev = NULL;
    char *evt = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_rows(res) != 1) {
        api->resp_error(req, 404, "not_found", "no such user");
        if (api->db_rollback(req, answer_resume, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    op->user_id = api->req_strdup(req, api->db_value(res, 0, 0));
    p[0] = op->user_id;
    ev = json_pack("{s:s, s:s, s:s}", "user_id", op->user_id ? op->user_id : "", "operation",
                   "mfa_reset", "client_addr", api->req_client_addr(req));
    evt = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (op->user_id == NULL || evt == NULL ||
        api->db_query(req, "DELETE FROM auth_mfa_recovery WHERE user_id = $1::uuid", 1, p, ignore,
                      op) != TN_OK ||
        api->db_query(req, "DELETE FROM auth_mfa_totp WHERE user_id = $1::uuid", 1, p, ignore,
                      op) != TN_OK ||
        api->db_query(req, "DELETE FROM auth_sessions WHERE user_id = $1::uuid", 1, p, ignore,
                      op) != TN_OK ||
        api->db_publish(req, "security.important_operation", evt) != TN_OK ||
        api->db_audit(req, "auth.mfa_reset", "user", op->user_id, "ok") != TN_OK ||
        api->db_commit(req, answer_resume, op) != TN_OK) {
        api->req_resume(req, TN_ERROR);
    } else {
        api->resp_json(req, 200, "{\"mfa_reset\":true}");
    }
    free(evt);
    json_decref(ev);
}

static tn_status h_mfa_reset(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *id = api->req_param(req, "id");
    user_op *op;

    (void)self;
    if (strcasecmp(id, api->req_principal(req)) == 0) {
        api->resp_error(req, 409, "own_account",
                        "an admin does not reset their own MFA (POST /auth/mfa/totp/disable)");
        return TN_DONE;
    }
    if ((op = op_new(ctx, req)) == NULL)
        return TN_ERROR;
    op->user_id = api->req_strdup(req, id);
    const char *p[1] = {op->user_id};
    /* FOR UPDATE: a concurrent role change waits for the reset. */
    if (op->user_id == NULL ||
        api->db_query(req,
                      "SELECT id::text FROM auth_users WHERE id::text = lower($1) "
                      "AND NOT ('platform_admin' = ANY (roles)) FOR UPDATE",
                      1, p, mfa_found, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

int auth_users_routes_add(auth_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_plugin *self = ctx->self;
    if (api->route_add_opts(self, "GET", "/auth/users", TN_ACCESS_ROLES, "tenant_admin", h_list,
                            ctx, &auth_opts_admin) ||
        api->route_add_opts(self, "POST", "/auth/users", TN_ACCESS_ROLES, "tenant_admin", h_create,
                            ctx, &auth_opts_admin_reauth) ||
        api->route_add_opts(self, "PATCH", "/auth/users/:id", TN_ACCESS_ROLES, "tenant_admin",
                            h_update, ctx, &auth_opts_admin_reauth) ||
        api->route_add_opts(self, "DELETE", "/auth/users/:id/mfa", TN_ACCESS_ROLES, "tenant_admin",
                            h_mfa_reset, ctx, &auth_opts_admin_reauth))
        return -1;
    return 0;
}
