/*
 * iface.c - "auth.sessions" version 1 (include/tanomu_auth.h): a session
 * opened for another plugin's sign-in (LINE Login), with the same rules
 * as a password login (routes.c login_success): a new session ID, the
 * client's old session deleted, the stage the tenant's MFA rules give,
 * audited, and the cookie set only once the transaction has committed.
 * Also the creation of an account with no usable password for sign-ups
 * through such a plugin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "session.h"
#include "tanomu_auth.h"

/* The worker's auth context, for calls that come from other plugins. */
static auth_ctx *iface_auth;

typedef struct login_op {
    tanomu_auth_login_cb cb;
    void *ud;
    const char *method;
    char *user_id, *login, *roles;
    const char *stage;
    int have_old;
    auth_token old, fresh;
} login_op;

static void login_finish(tn_request *req, login_op *op, int status)
{
    char csrf[AUTH_TOKEN_LEN + 1];
    tanomu_auth_login res = {.status = status,
                             .user_id = op->user_id,
                             .login = op->login,
                             .roles = op->roles,
                             .stage = op->stage};
    if (status == TN_OK && strcmp(op->stage, "mfa") != 0) {
        auth_csrf_token(&op->fresh, csrf);
        res.csrf_token = csrf;
    }
    auth_token_wipe(&op->old);
    auth_token_wipe(&op->fresh);
    op->cb(req, &res, op->ud);
    sodium_memzero(csrf, sizeof csrf);
}

static void login_rolled_back(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)res;
    login_finish(req, ud, TN_ENOTFOUND);
}

static void login_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    login_op *op = ud;
    const tn_api *api = iface_auth->api;
    char cookie[128];

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        login_finish(req, op, api->db_status(res));
        return;
    }
    if (auth_cookie_set(cookie, sizeof cookie, &op->fresh) != 0 ||
        api->resp_header(req, "Set-Cookie", cookie) != TN_OK ||
        api->resp_header(req, "Cache-Control", "no-store") != TN_OK) {
        api->resp_error(req, 500, "internal", "cannot set the session cookie");
        login_finish(req, op, TN_ENOMEM);
    } else {
        if (strcmp(op->stage, "mfa") != 0)
            api->metric_add(iface_auth->logins, api->req_tenant(req), 1);
        login_finish(req, op, TN_OK);
    }
    sodium_memzero(cookie, sizeof cookie);
}

static void db_ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* a failure aborts the transaction: commit says so */
}

/* The account: login, roles, disabled, a confirmed TOTP. */
static void login_account(tn_request *req, const tn_db_result *res, void *ud)
{
    login_op *op = ud;
    const tn_api *api = iface_auth->api;
    auth_settings set;
    const char *old[1] = {op->old.sid};
    const char *ins[5];
    int admin;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        if (api->db_rollback(req, NULL, NULL) != TN_OK)
            api->req_log(req, TN_LOG_WARN, "auth: rollback refused");
        login_finish(req, op, api->db_status(res));
        return;
    }
    if (api->db_rows(res) != 1 || strcmp(api->db_value(res, 0, 2), "t") == 0) {
        if (api->db_rollback(req, login_rolled_back, op) != TN_OK)
            login_finish(req, op, TN_ESTATE);
        return;
    }
    op->login = api->req_strdup(req, api->db_value(res, 0, 0));
    op->roles = api->req_strdup(req, api->db_value(res, 0, 1));
    if (op->login == NULL || op->roles == NULL) {
        api->resp_error(req, 500, "internal", "out of memory");
        login_finish(req, op, TN_ENOMEM);
        return;
    }
    auth_settings_read(iface_auth, api->req_config(req, iface_auth->self), &set);
    admin = strstr(op->roles, "tenant_admin") || strstr(op->roles, "platform_admin");
    /* As at a password login (S13): TOTP set up: the code next; required
     * and not set up: enrolment only. */
    op->stage = strcmp(api->db_value(res, 0, 3), "t") == 0 ? "mfa"
                : set.mfa_required || admin                ? "enrol"
                                                           : "full";
    auth_token_new(&op->fresh);
    ins[0] = op->fresh.sid;
    ins[1] = api->req_tenant(req);
    ins[2] = op->user_id;
    ins[3] = op->method;
    ins[4] = op->stage;
    if ((op->have_old && api->db_query(req, "DELETE FROM auth_sessions WHERE id = $1", 1, old,
                                       db_ignore, op) != TN_OK) ||
        api->db_query(req,
                      "INSERT INTO auth_sessions (id, tenant_id, user_id, auth_method, stage) "
                      "VALUES ($1, $2, $3::uuid, $4, $5)",
                      5, ins, db_ignore, op) != TN_OK ||
        api->db_audit(req, "auth.login", "user", op->user_id, "ok") != TN_OK ||
        api->db_commit(req, login_committed, op) != TN_OK) {
        api->resp_error(req, 500, "internal", "cannot open the session");
        login_finish(req, op, TN_ESTATE);
    }
}

static int iface_login(tn_request *req, const char *user_id, const char *method,
                       tanomu_auth_login_cb cb, void *ud)
{
    const tn_api *api;
    login_op *op;

    if (iface_auth == NULL || req == NULL || user_id == NULL || cb == NULL || method == NULL ||
        strcmp(method, "line") != 0) /* the methods auth_sessions.auth_method admits */
        return TN_EINVAL;
    api = iface_auth->api;
    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ENOMEM;
    memset(op, 0, sizeof *op);
    op->cb = cb;
    op->ud = ud;
    op->method = "line";
    if ((op->user_id = api->req_strdup(req, user_id)) == NULL)
        return TN_ENOMEM;
    op->have_old = auth_token_parse(&op->old, api->req_cookie(req, AUTH_COOKIE)) == 0;
    const char *p[1] = {op->user_id};
    return api->db_query(req,
                         "SELECT login, array_to_string(roles, ','), disabled, "
                         "EXISTS (SELECT 1 FROM auth_mfa_totp t WHERE t.tenant_id = "
                         "auth_users.tenant_id AND t.user_id = auth_users.id AND t.confirmed) "
                         "FROM auth_users WHERE id = $1::uuid",
                         1, p, login_account, op);
}

typedef struct user_op {
    tanomu_auth_user_cb cb;
    void *ud;
    int status;
} user_op;

static void user_rolled_back(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    (void)res;
    op->cb(req, op->status, NULL, op->ud);
}

static void user_created(tn_request *req, const tn_db_result *res, void *ud)
{
    user_op *op = ud;
    const tn_api *api = iface_auth->api;

    if (api->db_status(res) == TN_OK && api->db_rows(res) == 1) {
        const char *id = api->db_value(res, 0, 0);
        op->status = api->db_audit(req, "auth.user_create", "user", id, "ok");
        if (op->status == TN_OK) {
            op->cb(req, TN_OK, id, op->ud);
            return;
        }
    } else {
        op->status = strcmp(api->db_sqlstate(res), "23505") == 0 ? TN_EEXIST : api->db_status(res);
    }
    if (op->status == TN_OK)
        op->status = TN_EDB_QUERY;
    if (api->db_rollback(req, user_rolled_back, op) != TN_OK)
        op->cb(req, op->status, NULL, op->ud);
}

/* A syntactically valid Argon2id PHC string of random bytes: no password
 * verifies against it (that would need a preimage), and the column's
 * CHECK holds.  The account signs in only through its linked provider
 * until a password reset gives it one. */
static void unusable_hash(char *out, size_t len)
{
    unsigned char salt[16], hash[32];
    char s64[32], h64[48];
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(hash, sizeof hash);
    sodium_bin2base64(s64, sizeof s64, salt, sizeof salt,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    sodium_bin2base64(h64, sizeof h64, hash, sizeof hash,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    snprintf(out, len, "$argon2id$v=19$m=19456,t=2,p=1$%s$%s", s64, h64);
}

static int iface_create_user(tn_request *req, const char *login, const char *role,
                             tanomu_auth_user_cb cb, void *ud)
{
    const tn_api *api;
    char hash[128];
    user_op *op;
    int rc;

    if (iface_auth == NULL || req == NULL || cb == NULL || login == NULL || role == NULL ||
        (strcmp(role, "staff") != 0 && strcmp(role, "buyer") != 0) || login[0] == '\0' ||
        strlen(login) > AUTH_LOGIN_MAX)
        return TN_EINVAL;
    api = iface_auth->api;
    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ENOMEM;
    op->cb = cb;
    op->ud = ud;
    op->status = TN_OK;
    unusable_hash(hash, sizeof hash);
    const char *p[4] = {api->req_tenant(req), login, role, hash};
    rc = api->db_query(req,
                       "INSERT INTO auth_users (tenant_id, login, roles, password_hash) "
                       "VALUES ($1, $2, ARRAY[$3]::text[], $4) RETURNING id::text",
                       4, p, user_created, op);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

static const tanomu_auth_sessions iface_table = {
    .size = sizeof iface_table,
    .login = iface_login,
    .create_user = iface_create_user,
};

int auth_iface_export(auth_ctx *ctx)
{
    iface_auth = ctx;
    return ctx->api->iface_export(ctx->self, TANOMU_AUTH_SESSIONS, TANOMU_AUTH_SESSIONS_VERSION,
                                  &iface_table);
}
