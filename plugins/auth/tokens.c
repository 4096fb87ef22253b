/*
 * tokens.c - API tokens (issue 8, "API tokens"; docs/auth.md "API tokens"):
 *   POST   /auth/tokens      {name, roles, buyer_id?, expires_in_days?} -> 201
 *                            with the token, shown this once
 *   GET    /auth/tokens      the tenant's tokens, never a secret
 *   DELETE /auth/tokens/:id  revoke
 * and the authenticate step for `Authorization: Bearer tnk_<id>_<secret>`.
 *
 * The secret is 32 bytes from randombytes_buf; the table keeps only the
 * hex SHA-256 of those bytes, looked up together with the token's ID.  A
 * bearer request is its own authority: it needs no CSRF token, and one
 * that also carries the session cookie is refused (400), so a request
 * never mixes a browser's ambient authority with a token's.  The token's
 * principal is "token:<id>" with the token's roles as far as its creator
 * still holds them, and only while the creator's account is enabled.  A
 * buyer token (the role buyer alone, with a buyer ID, made by a tenant
 * admin: an admin invites buyers' staff, so the role is within theirs)
 * carries the attribute buyer_id as a buyer's session does, while its
 * creator is still a tenant admin.
 * Row-level security confines the lookup to the request's tenant (S21).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "auth.h"
#include "session.h"
#include "tokens.h"

#define TOK_PRINCIPAL "token:"

/* ---- the token's text ------------------------------------------------------ */

static void tok_hash(auth_tok *t)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, t->raw, sizeof t->raw);
    sodium_bin2hex(t->hash, sizeof t->hash, h, sizeof h);
}

void auth_tok_new(auth_tok *t)
{
    memset(t, 0, sizeof *t);
    randombytes_buf(t->raw, sizeof t->raw);
    sodium_bin2base64(t->secret, sizeof t->secret, t->raw, sizeof t->raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    tok_hash(t);
}

static int is_uuid(const char *s)
{
    for (int i = 0; i < AUTH_TOK_ID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[AUTH_TOK_ID_LEN] == '\0' || s[AUTH_TOK_ID_LEN] == '_';
}

int auth_tok_text(auth_tok *t, const char *id)
{
    if (id == NULL || strlen(id) != AUTH_TOK_ID_LEN || !is_uuid(id))
        return -1;
    memcpy(t->id, id, AUTH_TOK_ID_LEN + 1);
    snprintf(t->text, sizeof t->text, AUTH_TOK_PREFIX "%s_%s", t->id, t->secret);
    return 0;
}

int auth_tok_parse(auth_tok *t, const char *bearer)
{
    const char *id, *secret;
    size_t n = 0;

    memset(t, 0, sizeof *t);
    if (bearer == NULL || strlen(bearer) != AUTH_TOK_LEN ||
        strncmp(bearer, AUTH_TOK_PREFIX, strlen(AUTH_TOK_PREFIX)) != 0)
        return -1;
    id = bearer + strlen(AUTH_TOK_PREFIX);
    if (!is_uuid(id) || id[AUTH_TOK_ID_LEN] != '_')
        return -1;
    memcpy(t->id, id, AUTH_TOK_ID_LEN);
    secret = id + AUTH_TOK_ID_LEN + 1;
    if (sodium_base642bin(t->raw, sizeof t->raw, secret, AUTH_TOK_SECRET_LEN, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != sizeof t->raw) {
        sodium_memzero(t->raw, sizeof t->raw);
        return -1;
    }
    /* One spelling per token: the canonical text of these bytes. */
    sodium_bin2base64(t->secret, sizeof t->secret, t->raw, sizeof t->raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (sodium_memcmp(t->secret, secret, AUTH_TOK_SECRET_LEN) != 0) {
        auth_tok_wipe(t);
        return -1;
    }
    tok_hash(t);
    return 0;
}

void auth_tok_wipe(auth_tok *t)
{
    sodium_memzero(t->raw, sizeof t->raw);
    sodium_memzero(t->secret, sizeof t->secret);
    sodium_memzero(t->text, sizeof t->text);
}

/* ---- shared ------------------------------------------------------------------ */

typedef struct tok_op {
    auth_ctx *ctx;
    auth_tok tok;
    char *name, *roles; /* request memory */
    char *buyer_id;     /* a buyer token's; NULL otherwise */
    char *user_id;      /* the creator, from the token's row */
    int64_t created;
    int failed; /* the bearer step: the token was refused */
} tok_op;

static tok_op *op_new(auth_ctx *ctx, tn_request *req)
{
    tok_op *op = ctx->api->req_alloc(req, sizeof *op);
    if (op) {
        memset(op, 0, sizeof *op);
        op->ctx = ctx;
    }
    return op;
}

static void answered(tn_request *req, const tn_db_result *res, void *ud)
{
    tok_op *op = ud;
    if (op->ctx->api->db_status(res) != TN_OK)
        op->ctx->api->resp_db_error(req, res);
    auth_tok_wipe(&op->tok);
    op->ctx->api->req_resume(req, TN_DONE);
}

static void answer_json(const tn_api *api, tn_request *req, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text)
        api->resp_json(req, status, text);
    else
        api->resp_error(req, 500, "internal", "out of memory");
    if (text) {
        sodium_memzero(text, strlen(text)); /* may hold the new token */
        free(text);
    }
}

static json_t *epoch_or_null(const char *v)
{
    return v ? json_integer(strtoll(v, NULL, 10)) : json_null();
}

/* ---- the bearer step of the authenticate hook ------------------------------ */

/* The live token: its creator and roles (the token's, as far as the
 * creator still holds them), and last_used_at refreshed when older than
 * AUTH_TOK_TOUCH_S, in the same statement.  $1 id, $2 secret hash. */
static const char sql_use[] =
    "WITH t AS (SELECT t.id, t.created_by::text AS creator, "
    "array_to_string(ARRAY(SELECT unnest(t.roles) INTERSECT SELECT unnest(u.roles || "
    "CASE WHEN 'tenant_admin' = ANY (u.roles) THEN ARRAY['buyer'] ELSE '{}'::text[] END) "
    "ORDER BY 1), ',') AS roles, extract(epoch FROM t.created_at)::bigint AS created, "
    "CASE WHEN 'tenant_admin' = ANY (u.roles) THEN t.buyer_id END AS buyer_id "
    "FROM auth_tokens t JOIN auth_users u ON u.tenant_id = t.tenant_id AND u.id = t.created_by "
    "WHERE t.id = $1::uuid AND t.secret_hash = $2 AND t.revoked_at IS NULL "
    "AND t.expires_at > now() AND NOT u.disabled), "
    "touched AS (UPDATE auth_tokens a SET last_used_at = now() FROM t WHERE a.id = t.id "
    "AND (a.last_used_at IS NULL OR a.last_used_at <= now() - interval '60 seconds') "
    "RETURNING a.id) "
    "SELECT t.creator, t.roles, t.created, t.buyer_id FROM t";

static void use_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    tok_op *op = ud;
    const tn_api *api = op->ctx->api;
    char principal[sizeof TOK_PRINCIPAL + AUTH_TOK_ID_LEN];
    /* buyer_id as a buyer's session has it (auth.c set_auth). */
    tn_attr attrs[2] = {{.name = "created_by", .value = op->user_id},
                        {.name = "buyer_id", .value = op->buyer_id}};
    tn_auth_info info = {.size = sizeof info,
                         .method = "api_token",
                         .auth_time = op->created,
                         .mfa_passed = 0,
                         .attrs = attrs,
                         .nattrs = op->buyer_id ? 2 : 1};

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (op->failed) {
        api->req_resume(req, TN_DONE); /* answered 401 or 429 already */
        return;
    }
    snprintf(principal, sizeof principal, TOK_PRINCIPAL "%s", op->tok.id);
    if (api->req_set_principal(req, principal, op->roles) != TN_OK ||
        (TN_API_HAS(api, req_set_auth) && api->req_set_auth(req, &info) != TN_OK)) {
        api->req_log(req, TN_LOG_ERROR, "auth: cannot set the token's principal");
        api->req_resume(req, TN_ERROR);
        return;
    }
    api->req_resume(req, TN_CONTINUE);
}

/* A refused token: 401 invalid_token, or 429 once the client address has
 * spent the login zone (failed tokens and failed logins count alike);
 * audited as auth.token_use "failed" with the ID the client gave. */
static int use_refused(tok_op *op, tn_request *req)
{
    const tn_api *api = op->ctx->api;
    uint64_t retry_ms = 0;
    int rc = api->limit_take(op->ctx->login_zone, api->req_tenant(req), api->req_client_addr(req),
                             1, &retry_ms);

    op->failed = 1;
    if (rc == 0)
        auth_error_retry(api, req, 429, "too_many_attempts",
                         "too many attempts from this address; retry later",
                         (long long)((retry_ms + 999) / 1000));
    else
        api->resp_error(req, 401, "invalid_token",
                        "the bearer token is unknown, revoked or "
                        "expired");
    api->resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    if (api->db_audit(req, "auth.token_use", "token", op->tok.id[0] ? op->tok.id : NULL,
                      "failed") != TN_OK)
        return -1;
    return api->db_commit(req, use_committed, op) == TN_OK ? 0 : -1;
}

static void used(tn_request *req, const tn_db_result *res, void *ud)
{
    tok_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_rows(res) != 1) {
        if (use_refused(op, req) != 0)
            api->req_resume(req, TN_ERROR);
        return;
    }
    op->user_id = api->req_strdup(req, api->db_value(res, 0, 0));
    op->roles = api->req_strdup(req, api->db_value(res, 0, 1));
    op->created = strtoll(api->db_value(res, 0, 2), NULL, 10);
    if (api->db_value(res, 0, 3) != NULL &&
        (op->buyer_id = api->req_strdup(req, api->db_value(res, 0, 3))) == NULL) {
        api->req_resume(req, TN_ERROR);
        return;
    }
    if (op->user_id == NULL || op->roles == NULL || api->db_commit(req, use_committed, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

int auth_tokens_authenticate(auth_ctx *ctx, tn_request *req, tn_status *st)
{
    const tn_api *api = ctx->api;
    const char *authz = api->req_header(req, "Authorization");
    tok_op *op;

    if (authz == NULL || strncasecmp(authz, "Bearer ", 7) != 0)
        return 0;
    *st = TN_DONE;
    if (api->req_cookie(req, AUTH_COOKIE) != NULL) {
        /* Which authority would it be?  Neither: the client says. */
        api->resp_error(req, 400, "ambiguous_credentials",
                        "send either a bearer token or the session cookie, not both");
        return 1;
    }
    if ((op = op_new(ctx, req)) == NULL) {
        *st = TN_ERROR;
        return 1;
    }
    authz += 7;
    while (*authz == ' ')
        authz++;
    if (auth_tok_parse(&op->tok, authz) != 0) {
        *st = use_refused(op, req) == 0 ? TN_SUSPEND : TN_ERROR;
        return 1;
    }
    const char *p[2] = {op->tok.id, op->tok.hash};
    *st = api->db_query(req, sql_use, 2, p, used, op) == TN_OK ? TN_SUSPEND : TN_ERROR;
    auth_tok_wipe(&op->tok); /* the ID and hash stay: the secret is not needed again */
    return 1;
}

/* ---- POST /auth/tokens ---------------------------------------------------------- */

static int is_token_principal(const tn_api *api, tn_request *req)
{
    const char *p = api->req_principal(req);
    return p && strncmp(p, TOK_PRINCIPAL, strlen(TOK_PRINCIPAL)) == 0;
}

/* roles: a JSON array of tenant_admin and/or staff, or buyer alone, no
 * repeats, each held by the creator (buyer: a tenant admin's, who invites
 * buyers' staff), into "a,b".  NULL after answering 422. */
static char *roles_of(const tn_api *api, tn_request *req, json_t *arr)
{
    static const char *const allowed[] = {"tenant_admin", "staff", "buyer"};
    char buf[64] = "";
    int seen[3] = {0, 0, 0};
    size_t i;
    json_t *v;

    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 2)
        goto bad;
    json_array_foreach(arr, i, v)
    {
        size_t k;
        for (k = 0; k < 3; k++)
            if (json_is_string(v) && strcmp(json_string_value(v), allowed[k]) == 0)
                break;
        if (k == 3 || seen[k]++)
            goto bad;
        if (k == 2 && json_array_size(arr) != 1) {
            auth_error_field(api, req, 422, "invalid", "a buyer token has the role buyer alone",
                             "roles", "buyer_alone");
            return NULL;
        }
        if (!api->req_has_role(req, k == 2 ? "tenant_admin" : allowed[k])) {
            auth_error_field(api, req, 422, "invalid",
                             "a token never has a role its creator does not hold", "roles",
                             "exceeds_creator");
            return NULL;
        }
        if (buf[0])
            strcat(buf, ",");
        strcat(buf, allowed[k]);
    }
    return api->req_strdup(req, buf);
bad:
    auth_error_field(api, req, 422, "invalid",
                     "roles: one or two of tenant_admin, staff, no repeats; or buyer alone",
                     "roles", "invalid");
    return NULL;
}

/* buyer_id: given (1 to 128 bytes, no control characters) exactly when the
 * role is buyer.  0 with *out set (NULL for none), or -1 after 422. */
static int buyer_of(const tn_api *api, tn_request *req, json_t *v, const char *roles, char **out)
{
    int buyer = strcmp(roles, "buyer") == 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    *out = NULL;
    if (!buyer && (v == NULL || json_is_null(v)))
        return 0;
    if (!buyer) {
        auth_error_field(api, req, 422, "invalid", "buyer_id goes with the role buyer, and only",
                         "buyer_id", "buyer_mismatch");
        return -1;
    }
    if (s == NULL || n == 0 || n > AUTH_TOK_BUYER_MAX) {
        auth_error_field(api, req, 422, "invalid",
                         "a buyer token needs the buyer's ID (buyer_id, 1 to 128 bytes)",
                         "buyer_id", s == NULL ? "required" : "invalid");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            auth_error_field(api, req, 422, "invalid", "buyer_id: no control characters",
                             "buyer_id", "invalid");
            return -1;
        }
    return (*out = api->req_strdup(req, s)) ? 0 : -1;
}

static int name_ok(json_t *name)
{
    const char *s = json_string_value(name);
    size_t n = json_string_length(name);
    if (s == NULL || n == 0 || n > AUTH_TOK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static void created(tn_request *req, const tn_db_result *res, void *ud)
{
    tok_op *op = ud;
    const tn_api *api = op->ctx->api;
    json_t *out;

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1 ||
        auth_tok_text(&op->tok, api->db_value(res, 0, 0)) != 0) {
        api->resp_db_error(req, res);
        auth_tok_wipe(&op->tok);
        api->req_resume(req, TN_DONE);
        return;
    }
    out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "token", op->tok.text, "id", op->tok.id,
                    "name", op->name, "roles", auth_roles_json(op->roles), "buyer_id",
                    op->buyer_id ? json_string(op->buyer_id) : json_null(), "created_at",
                    (json_int_t)strtoll(api->db_value(res, 0, 1), NULL, 10), "expires_at",
                    (json_int_t)strtoll(api->db_value(res, 0, 2), NULL, 10));
    if (out == NULL ||
        api->db_audit(req, "auth.token_create", "token", op->tok.id, "ok") != TN_OK) {
        api->resp_error(req, 500, "internal", "the token was not recorded");
        if (api->db_rollback(req, answered, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
    } else {
        /* Shown once: no cache keeps it. */
        answer_json(api, req, 201, out);
        api->resp_header(req, "Cache-Control", "no-store");
        if (api->db_commit(req, answered, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
    }
    if (out) {
        json_t *tok = json_object_get(out, "token");
        if (tok) /* jansson's copy of the token */
            sodium_memzero((char *)json_string_value(tok), json_string_length(tok));
        json_decref(out);
    }
}

static tn_status h_create(tn_plugin *self, tn_request *req, void *ud)
{
    auth_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *name = json_object_get(j, "name"), *days = json_object_get(j, "expires_in_days");
    json_int_t d = AUTH_TOK_DEFAULT_DAYS;
    tok_op *op = NULL;
    tn_status st = TN_DONE;
    char dbuf[16];

    (void)self;
    if (is_token_principal(api, req)) {
        /* A token does not mint tokens: each comes from a person. */
        api->resp_error(req, 403, "session_required", "tokens are made from a signed-in session");
        goto done;
    }
    if (!json_is_object(j) || !name_ok(name)) {
        auth_error_field(api, req, 400, "bad_request",
                         "name: 1 to 100 bytes without control characters", "name", "invalid");
        goto done;
    }
    if (days != NULL) {
        d = json_is_integer(days) ? json_integer_value(days) : 0;
        if (d < 1 || d > AUTH_TOK_MAX_DAYS) {
            auth_error_field(api, req, 422, "invalid", "expires_in_days: 1 to 365",
                             "expires_in_days", "out_of_range");
            goto done;
        }
    }
    if ((op = op_new(ctx, req)) == NULL) {
        st = TN_ERROR;
        goto done;
    }
    op->name = api->req_strdup(req, json_string_value(name));
    if ((op->roles = roles_of(api, req, json_object_get(j, "roles"))) == NULL ||
        buyer_of(api, req, json_object_get(j, "buyer_id"), op->roles, &op->buyer_id) != 0)
        goto done;
    snprintf(dbuf, sizeof dbuf, "%lld", (long long)d);
    auth_tok_new(&op->tok);
    const char *p[7] = {api->req_tenant(req),    op->name,    op->tok.hash, op->roles, dbuf,
                        api->req_principal(req), op->buyer_id};
    st = op->name && api->db_query(req,
                                   "INSERT INTO auth_tokens (tenant_id, name, secret_hash, roles, "
                                   "expires_at, created_by, buyer_id) VALUES ($1, $2, $3, "
                                   "string_to_array($4, ','), now() + make_interval(days => "
                                   "$5::int), $6::uuid, $7) RETURNING id::text, "
                                   "extract(epoch FROM created_at)::bigint, "
                                   "extract(epoch FROM expires_at)::bigint",
                                   7, p, created, op) == TN_OK
             ? TN_SUSPEND
             : TN_ERROR;
    if (st != TN_SUSPEND)
        auth_tok_wipe(&op->tok);
done:
    json_decref(j);
    return st;
}

/* ---- GET /auth/tokens ------------------------------------------------------------- */

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    tok_op *op = ud;
    const tn_api *api = op->ctx->api;
    json_t *list, *out = NULL;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
    } else {
        list = json_array();
        for (int i = 0; list && i < api->db_rows(res); i++)
            json_array_append_new(
                list, json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
                                api->db_value(res, i, 0), "name", api->db_value(res, i, 1), "roles",
                                auth_roles_json(api->db_value(res, i, 2)), "buyer_id",
                                api->db_value(res, i, 8) ? json_string(api->db_value(res, i, 8))
                                                         : json_null(),
                                "created_by", api->db_value(res, i, 3), "created_at",
                                epoch_or_null(api->db_value(res, i, 4)), "expires_at",
                                epoch_or_null(api->db_value(res, i, 5)), "last_used_at",
                                epoch_or_null(api->db_value(res, i, 6)), "revoked_at",
                                epoch_or_null(api->db_value(res, i, 7))));
        out = list ? json_pack("{s:o}", "tokens", list) : NULL;
        answer_json(api, req, 200, out);
    }
    json_decref(out);
    if (api->db_commit(req, answered, op) != TN_OK)
        api->req_resume(req, TN_ERROR);
}

static tn_status h_list(tn_plugin *self, tn_request *req, void *ud)
{
    tok_op *op = op_new(ud, req);
    (void)self;
    if (op == NULL ||
        op->ctx->api->db_query(req,
                               "SELECT id::text, name, array_to_string(roles, ','), "
                               "created_by::text, extract(epoch FROM created_at)::bigint, "
                               "extract(epoch FROM expires_at)::bigint, "
                               "extract(epoch FROM last_used_at)::bigint, "
                               "extract(epoch FROM revoked_at)::bigint, buyer_id "
                               "FROM auth_tokens ORDER BY created_at DESC, id",
                               0, NULL, listed, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- DELETE /auth/tokens/:id -------------------------------------------------------- */

static void revoked(tn_request *req, const tn_db_result *res, void *ud)
{
    tok_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        api->req_resume(req, TN_DONE);
        return;
    }
    if (api->db_rows(res) != 1) {
        api->resp_error(req, 404, "not_found", "no such live token");
        if (api->db_rollback(req, answered, op) != TN_OK)
            api->req_resume(req, TN_ERROR);
        return;
    }
    if (api->db_audit(req, "auth.token_revoke", "token", api->db_value(res, 0, 0), "ok") != TN_OK ||
        api->db_commit(req, answered, op) != TN_OK) {
        api->req_resume(req, TN_ERROR);
        return;
    }
    api->resp_json(req, 200, "{\"revoked\":true}");
}

static tn_status h_revoke(tn_plugin *self, tn_request *req, void *ud)
{
    tok_op *op = op_new(ud, req);
    const char *p[1] = {op ? op->ctx->api->req_param(req, "id") : NULL};
    (void)self;
    if (op == NULL || op->ctx->api->db_query(req,
                                             "UPDATE auth_tokens SET revoked_at = now() "
                                             "WHERE id::text = lower($1) AND revoked_at IS NULL "
                                             "RETURNING id::text",
                                             1, p, revoked, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

int auth_tokens_routes_add(auth_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_plugin *self = ctx->self;
    /* Token administration is a person's, with MFA passed: a bearer token
     * (mfa_passed 0) gets 401 mfa_required here, whatever its roles. */
    if (api->route_add_opts(self, "GET", "/auth/tokens", TN_ACCESS_ROLES, "tenant_admin", h_list,
                            ctx, &auth_opts_admin) ||
        api->route_add_opts(self, "POST", "/auth/tokens", TN_ACCESS_ROLES, "tenant_admin", h_create,
                            ctx, &auth_opts_admin) ||
        api->route_add_opts(self, "DELETE", "/auth/tokens/:id", TN_ACCESS_ROLES, "tenant_admin",
                            h_revoke, ctx, &auth_opts_admin))
        return -1;
    return 0;
}
