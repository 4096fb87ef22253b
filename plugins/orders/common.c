/*
 * common.c - the request helpers every route of the ordering plugin uses:
 * who the caller is, JSON bodies and field-level errors, ETag/If-Match
 * (so two staff editing one row cannot overwrite each other silently)
 * and opaque pagination cursors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "normalize.h"
#include "orders.h"

int orders_caller_get(orders_ctx *ctx, tn_request *req, orders_role min, orders_caller *c)
{
    const tn_api *api = ctx->api;
    const tn_auth_info *info = TN_API_HAS(api, req_auth) ? api->req_auth(req) : NULL;

    memset(c, 0, sizeof *c);
    c->user_id = api->req_principal(req);
    if (api->req_has_role(req, "tenant_admin"))
        c->role = ORDERS_ROLE_ADMIN;
    else if (api->req_has_role(req, "staff"))
        c->role = ORDERS_ROLE_STAFF;
    else if (api->req_has_role(req, "buyer")) {
        /* A buyer without its buyer is nobody here: fail closed. */
        /* As every code is compared: normalised (normalize.c), so the
         * attribute "ｂ００１" is the buyer B001. */
        const char *attr = tn_auth_attr(info, "buyer_id");
        char code[ORDERS_CODE_MAX + 1];
        if (attr != NULL && orders_code_normalize(attr, code) == NULL) {
            c->buyer_code = api->req_strdup(req, code);
            if (c->buyer_code != NULL)
                c->role = ORDERS_ROLE_BUYER;
        }
    }
    if (c->user_id == NULL || c->role == ORDERS_ROLE_NONE || c->role < min) {
        api->resp_error(req, 403, "forbidden", "Your role does not allow this.");
        return -1;
    }
    return 0;
}

json_t *orders_body_object(orders_ctx *ctx, tn_request *req)
{
    const tn_api *api = ctx->api;
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    json_error_t jerr;
    json_t *j;

    if (body == NULL || len == 0) {
        api->resp_error(req, 400, "invalid_json", "The request body must be a JSON object.");
        return NULL;
    }
    /* JSON_REJECT_DUPLICATES: {"price": 1, "price": 2} is ambiguous. */
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        api->resp_error(req, 400, "invalid_json", "The request body must be a JSON object.");
        return NULL;
    }
    return j;
}

void orders_field_error(json_t **fields, const char *field, const char *reason)
{
    if (*fields == NULL)
        *fields = json_object();
    if (*fields != NULL && json_object_get(*fields, field) == NULL)
        json_object_set_new(*fields, field, json_string(reason));
}

void orders_error_fields(orders_ctx *ctx, tn_request *req, int status, const char *code,
                         const char *message, json_t *fields)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    json_t *top = NULL;

    if (err != NULL && fields != NULL)
        json_object_set(err, "fields", fields);
    if (err != NULL)
        top = json_pack("{s:o}", "error", err);
    else
        json_decref(err);
    json_decref(fields);
    if (top == NULL || orders_reply(ctx, req, status, top) != 0)
        ctx->api->resp_error(req, status, code, message);
}

int orders_reply(orders_ctx *ctx, tn_request *req, int status, json_t *json)
{
    char *text = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;
    int rc = -1;

    json_decref(json);
    if (text == NULL)
        goto fail;
    if (ctx->api->resp_json(req, status, text) != TN_OK)
        goto fail;
    rc = 0;
fail:
    free(text);
    if (rc != 0)
        ctx->api->resp_error(req, 500, "internal", "The answer could not be built.");
    return rc;
}

void orders_etag_set(orders_ctx *ctx, tn_request *req, const char *version)
{
    char etag[40];

    snprintf(etag, sizeof etag, "\"v%s\"", version ? version : "0");
    ctx->api->resp_header(req, "ETag", etag);
}

long long orders_if_match(orders_ctx *ctx, tn_request *req)
{
    const tn_api *api = ctx->api;
    const char *h = api->req_header(req, "If-Match");
    char *end = NULL;
    long long v;

    if (h == NULL) {
        api->resp_error(req, 428, "precondition_required",
                        "Send If-Match with the ETag you read, so no change is lost.");
        return 0;
    }
    if (strncmp(h, "\"v", 2) != 0)
        goto stale;
    v = strtoll(h + 2, &end, 10);
    if (end == h + 2 || v < 1 || strcmp(end, "\"") != 0)
        goto stale;
    return v;
stale:
    api->resp_error(req, 412, "precondition_failed",
                    "If-Match does not name a version of this object.");
    return 0;
}

int orders_limit(orders_ctx *ctx, tn_request *req)
{
    const char *s = ctx->api->req_query_param(req, "limit");
    char *end = NULL;
    long v;

    if (s == NULL)
        return ORDERS_PAGE_DEFAULT;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > ORDERS_PAGE_MAX) {
        json_t *f = NULL;
        orders_field_error(&f, "limit", "must be a whole number from 1 to 200");
        orders_error_fields(ctx, req, 400, "invalid_query", "A query parameter is not valid.",
                            f);
        return -1;
    }
    return (int)v;
}

char *orders_cursor_encode(orders_ctx *ctx, tn_request *req, const char *key)
{
    size_t n = strlen(key);
    size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = ctx->api->req_alloc(req, cap);

    if (out == NULL)
        return NULL;
    return sodium_bin2base64(out, cap, (const unsigned char *)key, n,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int orders_cursor_decode(orders_ctx *ctx, tn_request *req, const char *cursor, char *out,
                         size_t outsz)
{
    size_t n = 0;
    const char *end = NULL;

    if (outsz < 2 || sodium_base642bin((unsigned char *)out, outsz - 1, cursor, strlen(cursor),
                                       NULL, &n, &end,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        *end != '\0' || memchr(out, '\0', n) != NULL)
        goto bad;
    out[n] = '\0';
    return 0;
bad:
    ctx->api->resp_error(req, 400, "invalid_cursor", "The cursor is not one this API gave.");
    return -1;
}
