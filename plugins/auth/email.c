/*
 * email.c - e-mail addresses on accounts (see email.h):
 *   PUT /auth/me/email {email} -> 200 {email, changed}
 * A user changes their own address with a session that authenticated at
 * most 300 s ago (route options: the host answers 401 reauth_required).
 * The change is audited (auth.email_change) and publishes, durably in
 * the same transaction, security.important_operation (S6) and
 * auth.email_changed {user_id, old_email, new_email}: the notifications
 * plugin mails the old address, so a hijacked session that moves the
 * address away is seen by the owner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "email.h"

static int atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static int local_ok(const char *s, size_t n)
{
    if (n == 0 || n > AUTH_EMAIL_LOCAL_MAX || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(atext((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] != '.')))
            return 0;
    return 1;
}

static int label_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* Two or more labels, each 1..63 of letters, digits and inner hyphens. */
static int domain_ok(const char *s, size_t n)
{
    size_t labels = 0, i = 0;

    while (i < n) {
        size_t start = i;
        while (i < n && s[i] != '.') {
            if (!label_char((unsigned char)s[i]))
                return 0;
            i++;
        }
        if (i == start || i - start > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        if (i < n && ++i == n) /* a trailing dot */
            return 0;
    }
    return labels >= 2;
}

int auth_email_normalize(const char *in, size_t len, char *out)
{
    const char *at;
    size_t local;

    out[0] = '\0';
    if (in == NULL || len < 3 || len > AUTH_EMAIL_MAX || memchr(in, '\0', len) != NULL)
        return -1;
    if ((at = memchr(in, '@', len)) == NULL)
        return -1;
    local = (size_t)(at - in);
    if (!local_ok(in, local) || !domain_ok(at + 1, len - local - 1))
        return -1;
    memcpy(out, in, len);
    out[len] = '\0';
    for (size_t i = local + 1; i < len; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
    return 0;
}

/* ---- PUT /auth/me/email ------------------------------------------------------ */

typedef struct email_op {
    auth_ctx *ctx;
    char email[AUTH_EMAIL_MAX + 1];
    const char *user_id;
} email_op;

static void answered(tn_request *req, const tn_db_result *res, void *ud)
{
    email_op *op = ud;
    if (op->ctx->api->db_status(res) != TN_OK)
        op->ctx->api->resp_db_error(req, res);
    op->ctx->api->req_resume(req, TN_DONE);
}

static int publish(const tn_api *api, tn_request *req, const char *name, json_t *ev)
{
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    int rc = text ? api->db_publish(req, name, text) : TN_ENOMEM;
    free(text);
    json_decref(ev);
    return rc;
}

/* The row's address before the change, locked first (FOR UPDATE), so two
 * changes at once each report the address they replaced. */
static void updated(tn_request *req, const tn_db_result *res, void *ud)
{
    email_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *old;
    json_t *out;
    char *text;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res); /* 409 conflict: another account has it */
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_rows(res) != 1) {
        api->resp_error(req, 401, "unauthenticated", "the session's account is gone");
        if (api->db_rollback(req, answered, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    old = api->db_value(res, 0, 0);
    if (old != NULL && strcmp(old, op->email) == 0) {
        /* Nothing changed: nothing to tell anyone. */
        out = json_pack("{s:s, s:b}", "email", op->email, "changed", 0);
        text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (text)
            api->resp_json(req, 200, text);
        else
            api->resp_error(req, 500, "internal", "out of memory");
        free(text);
        json_decref(out);
        if (api->db_rollback(req, answered, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    if (publish(api, req, "security.important_operation",
                json_pack("{s:s, s:s, s:s}", "user_id", op->user_id, "operation", "email_change",
                          "client_addr", api->req_client_addr(req))) != TN_OK ||
        publish(api, req, "auth.email_changed",
                json_pack("{s:s, s:o, s:s}", "user_id", op->user_id, "old_email",
                          old ? json_string(old) : json_null(), "new_email", op->email)) != TN_OK ||
        api->db_audit(req, "auth.email_change", "user", op->user_id, "ok") != TN_OK) {
        api->resp_error(req, 500, "internal", "the change was not recorded");
        if (api->db_rollback(req, answered, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    out = json_pack("{s:s, s:b}", "email", op->email, "changed", 1);
    text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (text)
        api->resp_json(req, 200, text);
    else
        api->resp_error(req, 500, "internal", "out of memory");
    free(text);
    json_decref(out);
    if (api->db_commit(req, answered, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

static tn_status h_email(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *email = json_object_get(j, "email");
    email_op *op;
    tn_status st = TN_DONE;

    (void)self;
    if (strncmp(api->req_principal(req), "token:", 6) == 0) {
        /* An account's address is its owner's to change, in person. */
        api->resp_error(req, 403, "session_required", "the address is changed from a session");
        goto done;
    }
    if (!json_is_object(j) || !json_is_string(email)) {
        auth_error_field(api, req, 400, "bad_request", "a required field is missing", "email",
                         "required");
        goto done;
    }
    if ((op = api->req_alloc(req, sizeof *op)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->user_id = api->req_principal(req);
    if (auth_email_normalize(json_string_value(email), json_string_length(email), op->email) != 0) {
        auth_error_field(api, req, 422, "invalid", "not an e-mail address this server takes",
                         "email", "invalid");
        goto done;
    }
    const char *p[2] = {op->user_id, op->email};
    st = api->db_query(req,
                       "WITH o AS (SELECT id, email FROM auth_users WHERE id = $1::uuid "
                       "FOR UPDATE) UPDATE auth_users u SET email = $2 FROM o "
                       "WHERE u.id = o.id RETURNING o.email",
                       2, p, updated, op) == TN_OK
             ? TN_SUSPEND
             : TN_ERROR;
done:
    json_decref(j);
    return st;
}

int auth_email_routes_add(auth_ctx *ctx)
{
    return ctx->api->route_add_opts(ctx->self, "PUT", "/auth/me/email", TN_ACCESS_AUTHENTICATED,
                                    NULL, h_email, ctx, &auth_opts_reauth) == TN_OK
               ? 0
               : -1;
}
