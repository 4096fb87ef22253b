/*
 * start.c - beginning a LINE sign-in or link, and unlinking.
 *
 * GET /auth/line/start: a flow row (purpose login) and its pre-login
 * cookie, then 302 to LINE's authorize endpoint with state, nonce and
 * the PKCE S256 challenge.  POST /auth/line/link: the same for the
 * signed-in user (purpose link), answered with JSON {authorize_url}
 * since a script with the CSRF token sends it.  DELETE /auth/line/link
 * removes the user's link.  Flows older than an hour are deleted as new
 * ones start.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "flow.h"
#include "sso_line.h"

#define LINE_URL_MAX 2048

typedef struct start_op {
    line_ctx *ctx;
    int link;
    line_flow flow;
    char url[LINE_URL_MAX];
} start_op;

static void db_ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* a failure aborts the transaction: commit says so */
}

static int authorize_url(const line_settings *s, const line_flow *f, char *out, size_t cap)
{
    char redirect[256];
    size_t n = strlen(s->authorize_endpoint), q = 0;
    char *query = out + n + 1;

    if (snprintf(redirect, sizeof redirect, "%s%s", s->redirect_base, LINE_CALLBACK_PATH) >=
            (int)sizeof redirect ||
        n + 2 >= cap)
        return -1;
    memcpy(out, s->authorize_endpoint, n);
    out[n] = '?';
    cap -= n + 1;
    if (line_form_add(query, cap, &q, "response_type", "code") ||
        line_form_add(query, cap, &q, "client_id", s->channel_id) ||
        line_form_add(query, cap, &q, "redirect_uri", redirect) ||
        line_form_add(query, cap, &q, "state", f->state) ||
        line_form_add(query, cap, &q, "scope", s->scope) ||
        line_form_add(query, cap, &q, "nonce", f->nonce) ||
        line_form_add(query, cap, &q, "code_challenge", f->challenge) ||
        line_form_add(query, cap, &q, "code_challenge_method", "S256") ||
        (s->prompt[0] && line_form_add(query, cap, &q, "prompt", s->prompt)) ||
        (s->bot_prompt[0] && line_form_add(query, cap, &q, "bot_prompt", s->bot_prompt)) ||
        (s->ui_locales[0] && line_form_add(query, cap, &q, "ui_locales", s->ui_locales)))
        return -1;
    return 0;
}

static void start_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    start_op *op = ud;
    const tn_api *api = op->ctx->api;
    char cookie[160];

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else if (line_cookie_set(cookie, sizeof cookie, &op->flow) != 0) {
        api->resp_error(req, 500, "internal", "cookie too long");
    } else {
        if (op->link) {
            line_answer(api, req, 200, json_pack("{s:s}", "authorize_url", op->url));
        } else {
            api->resp_json(req, 302, "{\"redirect\":true}");
            api->resp_header(req, "Location", op->url);
        }
        api->resp_header(req, "Set-Cookie", cookie);
        api->resp_header(req, "Cache-Control", "no-store");
    }
    sodium_memzero(cookie, sizeof cookie);
    line_flow_wipe(&op->flow);
    api->req_resume(req, TN_DONE);
}

static tn_status flow_begin(line_ctx *ctx, tn_request *req, int link)
{
    const tn_api *api = ctx->api;
    line_settings set;
    start_op *op;

    line_settings_read(ctx, req, &set);
    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ERROR;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->link = link;
    line_flow_new(&op->flow);
    if (authorize_url(&set, &op->flow, op->url, sizeof op->url) != 0) {
        line_flow_wipe(&op->flow);
        api->resp_error(req, 500, "internal", "the authorize URL is too long");
        return TN_DONE;
    }
    const char *p[4] = {op->flow.id, api->req_tenant(req), link ? "link" : "login",
                        link ? api->req_principal(req) : NULL};
    if (api->db_query(req,
                      "DELETE FROM sso_line_flows WHERE created_at < now() - interval '1 hour'", 0,
                      NULL, db_ignore, op) != TN_OK ||
        api->db_query(req,
                      "INSERT INTO sso_line_flows (id, tenant_id, purpose, user_id) "
                      "VALUES ($1, $2, $3, $4::uuid)",
                      4, p, db_ignore, op) != TN_OK ||
        api->db_commit(req, start_committed, op) != TN_OK) {
        line_flow_wipe(&op->flow);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

tn_status line_h_start(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    return line_take(ud, req) == 0 ? flow_begin(ud, req, 0) : TN_DONE;
}

tn_status line_h_link(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    return flow_begin(ud, req, 1);
}

/* ---- DELETE /auth/line/link ------------------------------------------------ */

static void unlink_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    const tn_api *api = ((line_ctx *)ud)->api;
    if (api->db_status(res) != TN_OK)
        api->resp_db_error(req, res);
    api->req_resume(req, TN_DONE);
}

static void unlink_deleted(tn_request *req, const tn_db_result *res, void *ud)
{
    line_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *user = api->req_principal(req);

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else if (api->db_rows(res) == 0) {
        api->resp_error(req, 404, "not_linked", "no LINE account is linked to this user");
    } else {
        api->resp_json(req, 200, "{\"unlinked\":true}");
        if (api->db_audit(req, "sso_line.unlink", "user", user, "ok") != TN_OK ||
            line_publish(api, req, user, "line_unlink") != TN_OK) {
            api->req_resume(req, TN_ERROR);
            return;
        }
        if (api->db_commit(req, unlink_committed, ctx) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    if (api->db_rollback(req, unlink_committed, ctx) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

tn_status line_h_unlink(tn_plugin *self, tn_request *req, void *ud)
{
    line_ctx *ctx = ud;
    const char *p[1] = {ctx->api->req_principal(req)};
    (void)self;
    return ctx->api->db_query(req,
                              "DELETE FROM sso_line_links WHERE user_id = $1::uuid "
                              "RETURNING line_sub",
                              1, p, unlink_deleted, ctx) == TN_OK
               ? TN_SUSPEND
               : TN_ERROR;
}
