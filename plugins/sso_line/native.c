/*
 * native.c - sign-in from the shop's native apps (LINE SDK for iOS and
 * Android), which obtain the ID token themselves; it is ES256-signed by a
 * key of LINE's JWKS (by kid), not HS256 as for web login.
 *
 *   POST /auth/line/native/nonce  -> {"nonce"}: single use, 10 minutes
 *   POST /auth/line/native  {"id_token"}  -> a session, as the callback
 *
 * The algorithm is pinned to ES256 here (idtoken.c).  The JWKS is fetched
 * through the outbound client and kept per worker for an hour, fetched
 * again at once for a kid it does not have (LINE rotating its keys).
 * The token's nonce must be one this tenant handed out and not used yet.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "flow.h"
#include "idtoken.h"
#include "sso_line.h"

#define LINE_JWKS_TTL_S 3600
#define LINE_JWKS_REFETCH_S 60

typedef struct native_op {
    line_ctx *ctx;
    tn_request *req;
    line_settings set;
    char *token; /* request memory */
    line_claims claims;
} native_op;

static void db_ignore(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res, (void)ud; /* a failure aborts the transaction: commit says so */
}

static void nonce_hash(const char *nonce, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)nonce, strlen(nonce));
    sodium_bin2hex(hex, 65, h, sizeof h);
}

/* ---- the nonce ------------------------------------------------------------- */

typedef struct nonce_op {
    line_ctx *ctx;
    char nonce[LINE_B64_LEN + 1];
} nonce_op;

static void nonce_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    nonce_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else {
        line_answer(api, req, 200, json_pack("{s:s}", "nonce", op->nonce));
        api->resp_header(req, "Cache-Control", "no-store");
    }
    api->req_resume(req, TN_DONE);
}

tn_status line_h_native_nonce(tn_plugin *self, tn_request *req, void *ud)
{
    line_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    line_settings set;
    line_flow f;
    nonce_op *op;
    char id[65];
    (void)self;

    line_settings_read(ctx, req, &set);
    if (!set.native_login) {
        api->resp_error(req, 404, "not_found", "native app sign-in is off");
        return TN_DONE;
    }
    if (line_take(ctx, req) != 0)
        return TN_DONE;
    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ERROR;
    op->ctx = ctx;
    line_flow_new(&f); /* 32 random bytes, base64url */
    memcpy(op->nonce, f.text, sizeof op->nonce);
    line_flow_wipe(&f);
    nonce_hash(op->nonce, id);
    const char *p[2] = {id, api->req_tenant(req)};
    if (api->db_query(req,
                      "DELETE FROM sso_line_flows WHERE created_at < now() - interval '1 hour'", 0,
                      NULL, db_ignore, op) != TN_OK ||
        api->db_query(req,
                      "INSERT INTO sso_line_flows (id, tenant_id, purpose) VALUES ($1, $2, "
                      "'native')",
                      2, p, db_ignore, op) != TN_OK ||
        api->db_commit(req, nonce_committed, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- the ID token ------------------------------------------------------------ */

static void native_refuse(native_op *op, int status, const char *code, const char *message,
                          const char *reason)
{
    const tn_api *api = op->ctx->api;
    api->req_log(op->req, TN_LOG_WARN, "line native sign-in refused: %s", reason);
    api->metric_add(op->ctx->refusals, api->req_tenant(op->req), 1);
    api->resp_error(op->req, status, code, message);
    api->req_resume(op->req, TN_DONE);
}

static void nonce_committed_sign_in(tn_request *req, const tn_db_result *res, void *ud)
{
    native_op *op = ud;
    const tn_api *api = op->ctx->api;
    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
    } else if (line_sign_in_sub(op->ctx, req, op->claims.sub) != TN_OK) {
        api->req_resume(req, TN_ERROR);
    }
}

static void nonce_unknown(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req, (void)res;
    native_refuse(ud, 400, "flow_expired", "the nonce is unknown, used or expired",
                  "nonce not live (replayed or expired)");
}

static void nonce_consumed(tn_request *req, const tn_db_result *res, void *ud)
{
    native_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
    } else if (api->db_rows(res) != 1) {
        if (api->db_rollback(req, nonce_unknown, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
    } else if (api->db_commit(req, nonce_committed_sign_in, op) != TN_OK) {
        api->req_resume(req, TN_ERROR);
    }
}

static void verify_and_go(native_op *op)
{
    const tn_api *api = op->ctx->api;
    const char *why = "";
    char reason[64], id[65];
    line_expect e = {.jwks = op->ctx->jwks,
                     .issuer = op->set.issuer,
                     .audience = op->set.channel_id,
                     .nonce = NULL, /* returned; consumed below */
                     .now = (long long)time(NULL),
                     .skew_s = op->set.skew_s,
                     .max_age_s = LINE_FLOW_TTL_S};

    if (line_idtoken_verify(op->token, &e, &op->claims, &why) != 0) {
        snprintf(reason, sizeof reason, "id_token %s", why);
        native_refuse(op, 401, "id_token_invalid", "LINE's ID token was refused", reason);
        return;
    }
    nonce_hash(op->claims.nonce, id);
    const char *p[1] = {id};
    if (api->db_query(op->req,
                      "DELETE FROM sso_line_flows WHERE id = $1 AND purpose = 'native' AND "
                      "created_at > now() - interval '10 minutes' RETURNING purpose",
                      1, p, nonce_consumed, op) != TN_OK)
        api->req_resume(op->req, TN_ERROR);
}

static void jwks_answered(tn_plugin *self, const tn_http_response *res, void *ud)
{
    native_op *op = ud;
    line_ctx *ctx = op->ctx;
    const tn_api *api = ctx->api;
    char *url = NULL, *text = NULL;
    (void)self;

    if (res->result == TN_ECANCELED) {
        api->req_resume(op->req, TN_DONE);
        return;
    }
    if (res->result != TN_OK || res->status != 200) {
        api->req_log(op->req, TN_LOG_WARN, "line JWKS unavailable: %d %s", res->status,
                     res->result != TN_OK ? res->error : "");
        api->resp_error(op->req, 502, "line_unavailable", "LINE's keys could not be read");
        api->req_resume(op->req, TN_DONE);
        return;
    }
    if ((url = strdup(op->set.jwks_endpoint)) == NULL ||
        (text = strndup(res->body, res->body_len)) == NULL) {
        free(url);
        api->req_resume(op->req, TN_ERROR);
        return;
    }
    free(ctx->jwks_url);
    free(ctx->jwks);
    ctx->jwks_url = url;
    ctx->jwks = text;
    ctx->jwks_at = (long long)time(NULL);
    verify_and_go(op);
}

tn_status line_h_native(tn_plugin *self, tn_request *req, void *ud)
{
    line_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t len = 0;
    const char *body = api->req_body(req, &len);
    json_t *j = NULL;
    native_op *op;
    tn_status st = TN_SUSPEND;
    (void)self;

    if ((op = api->req_alloc(req, sizeof *op)) == NULL)
        return TN_ERROR;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->req = req;
    line_settings_read(ctx, req, &op->set);
    if (!op->set.native_login) {
        api->resp_error(req, 404, "not_found", "native app sign-in is off");
        return TN_DONE;
    }
    if (line_take(ctx, req) != 0)
        return TN_DONE;
    j = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_string(json_object_get(j, "id_token")) ||
        (op->token = api->req_strdup(req, json_string_value(json_object_get(j, "id_token")))) ==
            NULL) {
        json_decref(j);
        api->resp_error(req, 400, "bad_request", "send {\"id_token\": \"...\"}");
        return TN_DONE;
    }
    json_decref(j);
    /* The cached keys serve when fresh, for this URL, and with the kid;
     * an unknown kid fetches again, but not more than once a minute, so
     * tokens with made-up kids do not turn into calls to LINE. */
    long long age = (long long)time(NULL) - ctx->jwks_at;
    if (ctx->jwks && strcmp(ctx->jwks_url, op->set.jwks_endpoint) == 0 && age < LINE_JWKS_TTL_S &&
        (age < LINE_JWKS_REFETCH_S || line_jwks_has_kid(ctx->jwks, op->token))) {
        verify_and_go(op);
        return TN_SUSPEND;
    }
    tn_http_request r = {.size = sizeof r, .url = op->set.jwks_endpoint, .timeout_ms = 10000};
    if (api->http_call(ctx->self, req, &r, jwks_answered, op, NULL) != TN_OK) {
        api->resp_error(req, 503, "busy", "cannot reach LINE now; try again");
        st = TN_DONE;
    }
    return st;
}
