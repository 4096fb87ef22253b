/*
 * sessions.c - listing and ending sessions (issue 8, "Sessions and CSRF"):
 *   GET    /auth/sessions            the caller's own sessions
 *   DELETE /auth/sessions/:id        end one of them (the current one too)
 *   DELETE /auth/users/:id/sessions  a tenant admin ends all of a user's
 *
 * A session is named by what the table stores, the hex SHA-256 of its
 * token: showing it gives nothing a client can present as a cookie.
 * Row-level security keeps every statement inside the request's tenant;
 * the user_id condition keeps a user to their own sessions.  The hook has
 * already demanded the CSRF token for the DELETEs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth.h"
#include "session.h"

/* An API token's principal (token:<id>) has no sessions: 403, rather than
 * its ID reaching a uuid column. */
static int token_refused(const tn_api *api, tn_request *req)
{
    const char *p = api->req_principal(req);
    if (p == NULL || strncmp(p, "token:", 6) != 0)
        return 0;
    api->resp_error(req, 403, "session_required", "sessions belong to a signed-in user");
    return 1;
}

typedef struct end_op {
    auth_ctx *ctx;
    const char *target; /* session id or user id */
    int current;        /* ending the session of this request */
    int by_admin;
    long long n;
} end_op;

static int is_hex64(const char *s)
{
    if (s == NULL || strlen(s) != AUTH_SID_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static int is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

static void list_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)res; /* the answer is set; a failed read-only commit changes nothing */
    ((auth_ctx *)ud)->api->req_resume(req, TN_DONE);
}

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    json_t *list = NULL, *out = NULL;
    char *text = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        goto done;
    }
    list = json_array();
    for (int i = 0; list && i < api->db_rows(res); i++)
        json_array_append_new(
            list,
            json_pack("{s:s, s:I, s:I, s:I, s:s, s:b, s:b}", "id", api->db_value(res, i, 0),
                      "created_at", (json_int_t)strtoll(api->db_value(res, i, 1), NULL, 10),
                      "last_seen", (json_int_t)strtoll(api->db_value(res, i, 2), NULL, 10),
                      "authenticated_at", (json_int_t)strtoll(api->db_value(res, i, 3), NULL, 10),
                      "auth_method", api->db_value(res, i, 4), "mfa_passed",
                      strcmp(api->db_value(res, i, 5), "t") == 0, "current",
                      strcmp(api->db_value(res, i, 6), "t") == 0));
    out = list ? json_pack("{s:o}", "sessions", list) : NULL;
    text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (text)
        api->resp_json(req, 200, text);
    else
        api->resp_error(req, 500, "internal", "out of memory");
done:
    free(text);
    json_decref(out);
    if (api->db_commit(req, list_committed, ctx) != TN_OK) /* read-only: ends it cleanly */
        api->req_resume(req, TN_ERROR);
}

static tn_status h_list(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    auth_token tok;
    const char *cookie = api->req_cookie(req, AUTH_COOKIE);
    char sid[AUTH_SID_LEN + 1] = "";
    const char *p[2] = {api->req_principal(req), sid};

    (void)self;
    if (token_refused(api, req))
        return TN_DONE;
    if (auth_token_parse(&tok, cookie) == 0)
        memcpy(sid, tok.sid, sizeof sid);
    auth_token_wipe(&tok);
    if (api->db_query(req,
                      "SELECT id, extract(epoch FROM created_at)::bigint, "
                      "extract(epoch FROM last_seen)::bigint, "
                      "extract(epoch FROM authenticated_at)::bigint, auth_method, mfa_passed, "
                      "id = $2 FROM auth_sessions WHERE user_id = $1::uuid "
                      "ORDER BY created_at, id",
                      2, p, listed, ctx) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

static void end_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    end_op *op = ud;
    const tn_api *api = op->ctx->api;
    char body[64];

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else if (!op->by_admin && op->n == 0) {
        api->resp_error(req, 404, "not_found", "no such session of yours");
    } else {
        snprintf(body, sizeof body, "{\"sessions_ended\":%lld}", op->n);
        api->resp_json(req, 200, body);
        if (op->current)
            api->resp_header(req, "Set-Cookie", auth_cookie_clear());
    }
    api->req_resume(req, TN_DONE);
}

static void ended(tn_request *req, const tn_db_result *res, void *ud)
{
    end_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) == TN_OK) {
        op->n = api->db_affected(res);
        if (op->n > 0)
            api->db_audit(req, "auth.session_end", op->by_admin ? "user" : "session",
                          op->by_admin ? op->target : api->req_principal(req), "ok");
    }
    if (api->db_commit(req, end_committed, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

static tn_status h_end_own(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *id = api->req_param(req, "id");
    auth_token tok;
    end_op *op;

    (void)self;
    if (token_refused(api, req))
        return TN_DONE;
    if (!is_hex64(id)) {
        api->resp_error(req, 404, "not_found", "no such session of yours");
        return TN_DONE;
    }
    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ERROR;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->target = id;
    if (auth_token_parse(&tok, api->req_cookie(req, AUTH_COOKIE)) == 0)
        op->current = strcmp(tok.sid, id) == 0;
    auth_token_wipe(&tok);
    const char *p[2] = {id, api->req_principal(req)};
    if (api->db_query(req, "DELETE FROM auth_sessions WHERE id = $1 AND user_id = $2::uuid", 2, p,
                      ended, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

static tn_status h_end_user(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *id = api->req_param(req, "id");
    end_op *op;

    (void)self;
    if (!is_uuid(id)) {
        api->resp_error(req, 404, "not_found", "no such user");
        return TN_DONE;
    }
    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ERROR;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->target = id;
    op->by_admin = 1;
    op->current = strcasecmp(id, api->req_principal(req)) == 0;
    const char *p[1] = {id};
    if (api->db_query(req, "DELETE FROM auth_sessions WHERE user_id = $1::uuid", 1, p, ended, op) !=
        TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

int auth_sessions_routes_add(auth_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_plugin *self = ctx->self;
    if (api->route_add(self, "GET", "/auth/sessions", TN_ACCESS_AUTHENTICATED, NULL, h_list, ctx) ||
        api->route_add(self, "DELETE", "/auth/sessions/:id", TN_ACCESS_AUTHENTICATED, NULL,
                       h_end_own, ctx) ||
        api->route_add_opts(self, "DELETE", "/auth/users/:id/sessions", TN_ACCESS_ROLES,
                            "tenant_admin", h_end_user, ctx, &auth_opts_admin))
        return -1;
    return 0;
}
