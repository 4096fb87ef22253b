/*
 * sso_line.c - LINE Login (OpenID Connect code flow with PKCE) as a
 * plugin: its descriptor, per-tenant settings and their checks, init(),
 * and the routes (docs/sso_line.md):
 *   GET    /auth/line/start     302 to LINE's authorize endpoint
 *   GET    /auth/line/callback  the code -> tokens -> a session (callback.c)
 *   POST   /auth/line/link      signed in, re-authenticated: start a link
 *   DELETE /auth/line/link      unlink
 * Sessions are the auth plugin's, opened through its "auth.sessions"
 * interface (plugins/auth/include/tanomu_auth.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sso_line.h"

#define LINE_VERSION "0.1.0"

static line_ctx line_state; /* this worker's; the ud of every route */

static const tn_config_key line_keys[] = {
    {.name = "channel_id",
     .type = TN_TYPE_STRING,
     .flags = TN_KEY_REQUIRED,
     .min = 1,
     .max = 32,
     .description = "The LINE Login channel's ID (digits): client_id, and the ID token's aud."},
    {.name = "channel_secret",
     .type = TN_TYPE_STRING,
     .flags = TN_KEY_REQUIRED | TN_KEY_SECRET,
     .min = 8,
     .max = 128,
     .description = "The channel secret: client_secret, and the HS256 key of ID tokens. "
                    "Write it sealed (tanomu secret seal)."},
    {.name = "redirect_base",
     .type = TN_TYPE_STRING,
     .flags = TN_KEY_REQUIRED,
     .min = 8,
     .max = 200,
     .description = "The shop's origin, e.g. https://shop.example: the callback URL "
                    "registered with LINE is this + /auth/line/callback."},
    {.name = "allow_signup",
     .type = TN_TYPE_BOOL,
     .default_value = "false",
     .description = "A LINE account linked to no user creates one (else only linked users "
                    "sign in)."},
    {.name = "signup_role",
     .type = TN_TYPE_STRING,
     .default_value = "buyer",
     .min = 1,
     .max = 16,
     .description = "The role of accounts LINE creates: staff or buyer (never an admin)."},
    {.name = "scope",
     .type = TN_TYPE_STRING,
     .default_value = "openid profile",
     .min = 6,
     .max = 100,
     .description = "Scopes asked for; must include openid."},
    {.name = "prompt",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 16,
     .description = "LINE's prompt: empty, consent or none."},
    {.name = "bot_prompt",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 16,
     .description = "LINE's bot_prompt (add the official account as a friend): empty, normal "
                    "or aggressive."},
    {.name = "ui_locales",
     .type = TN_TYPE_STRING,
     .default_value = "",
     .min = 0,
     .max = 64,
     .description = "LINE's ui_locales, e.g. ja-JP."},
    {.name = "authorize_endpoint",
     .type = TN_TYPE_STRING,
     .default_value = "https://access.line.me/oauth2/v2.1/authorize",
     .min = 8,
     .max = 200,
     .description = "LINE's authorize endpoint (change only for a test provider)."},
    {.name = "token_endpoint",
     .type = TN_TYPE_STRING,
     .default_value = "https://api.line.me/oauth2/v2.1/token",
     .min = 8,
     .max = 200,
     .description = "LINE's token endpoint (change only for a test provider)."},
    {.name = "issuer",
     .type = TN_TYPE_STRING,
     .default_value = "https://access.line.me",
     .min = 8,
     .max = 200,
     .description = "The iss ID tokens must carry (change only for a test provider)."},
    {.name = "native_login",
     .type = TN_TYPE_BOOL,
     .default_value = "false",
     .description = "Accept ID tokens from the shop's native apps (LINE SDK, ES256) at "
                    "POST /auth/line/native."},
    {.name = "jwks_endpoint",
     .type = TN_TYPE_STRING,
     .default_value = "https://api.line.me/oauth2/v2.1/certs",
     .min = 8,
     .max = 200,
     .description = "LINE's JWKS, the ES256 keys of native apps' ID tokens (change only for a "
                    "test provider)."},
    {.name = "clock_skew_s",
     .type = TN_TYPE_INT,
     .default_value = "60",
     .min = 0,
     .max = 300,
     .description = "Clock difference with LINE tolerated for exp and iat (seconds)."},
    {.name = NULL},
};

/* Plugin-wide (tanomu.conf plugins.sso_line). */
static const tn_config_key line_global_keys[] = {
    {.name = "start_rate_per_min",
     .type = TN_TYPE_FLOAT,
     .default_value = "30",
     .min = 0.1,
     .max = 100000,
     .description = "Sign-ins started (start, native nonce and token) per minute per client "
                    "address and tenant: each writes a row or calls LINE."},
    {.name = "start_burst",
     .type = TN_TYPE_INT,
     .default_value = "30",
     .min = 1,
     .max = 100000,
     .description = "Sign-ins a client address may start at once."},
    {.name = NULL},
};

int line_take(line_ctx *ctx, tn_request *req)
{
    const tn_api *api = ctx->api;
    uint64_t retry = 0;
    char secs[24];
    int rc = api->limit_take(ctx->zone, api->req_tenant(req), api->req_client_addr(req), 1, &retry);
    if (rc == 1)
        return 0;
    if (rc < 0) { /* a bug, not the client's: logged, and not held against them */
        api->req_log(req, TN_LOG_WARN, "sso_line: limit_take: %s", api->last_error(ctx->self));
        return 0;
    }
    api->resp_error(req, 429, "too_many_requests", "too many LINE sign-ins started; retry later");
    snprintf(secs, sizeof secs, "%llu", (unsigned long long)(retry + 999) / 1000);
    api->resp_header(req, "Retry-After", secs);
    return -1;
}

void line_settings_read(const line_ctx *ctx, tn_request *req, line_settings *s)
{
    const tn_api *api = ctx->api;
    const tn_config *c = api->req_config(req, ctx->self);
    s->channel_id = api->config_str(c, "channel_id");
    s->channel_secret = api->config_str(c, "channel_secret");
    s->redirect_base = api->config_str(c, "redirect_base");
    s->allow_signup = api->config_bool(c, "allow_signup");
    s->signup_role = api->config_str(c, "signup_role");
    s->scope = api->config_str(c, "scope");
    s->prompt = api->config_str(c, "prompt");
    s->bot_prompt = api->config_str(c, "bot_prompt");
    s->ui_locales = api->config_str(c, "ui_locales");
    s->authorize_endpoint = api->config_str(c, "authorize_endpoint");
    s->token_endpoint = api->config_str(c, "token_endpoint");
    s->issuer = api->config_str(c, "issuer");
    s->skew_s = (int)api->config_int(c, "clock_skew_s");
    s->native_login = api->config_bool(c, "native_login");
    s->jwks_endpoint = api->config_str(c, "jwks_endpoint");
}

static int one_of(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(v, *list) == 0)
            return 1;
    return 0;
}

/* An http(s) URL with no query, fragment, spaces or trailing slash. */
static int url_ok(const char *v)
{
    return (strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0) &&
           strpbrk(v, "?# \t\r\n\"<>") == NULL && v[strlen(v) - 1] != '/';
}

static int refuse(const tn_api *api, tn_check *chk, const char *key, const char *why)
{
    api->check_error(chk, key, "%s", why);
    return 1;
}

static int line_check(const tn_api *api, const tn_config *cfg, tn_check *chk)
{
    static const char *const roles[] = {"staff", "buyer", NULL};
    static const char *const prompts[] = {"", "consent", "none", NULL};
    static const char *const bots[] = {"", "normal", "aggressive", NULL};
    static const char *const urls[] = {"redirect_base", "authorize_endpoint", "token_endpoint",
                                       "issuer",        "jwks_endpoint",      NULL};
    const char *id = api->config_str(cfg, "channel_id");
    const char *scope = api->config_str(cfg, "scope");
    int bad = 0;

    if (strspn(id, "0123456789") != strlen(id))
        bad |= refuse(api, chk, "channel_id", "must be digits");
    if (!one_of(api->config_str(cfg, "signup_role"), roles))
        bad |= refuse(api, chk, "signup_role", "must be staff or buyer");
    if (!one_of(api->config_str(cfg, "prompt"), prompts))
        bad |= refuse(api, chk, "prompt", "must be empty, consent or none");
    if (!one_of(api->config_str(cfg, "bot_prompt"), bots))
        bad |= refuse(api, chk, "bot_prompt", "must be empty, normal or aggressive");
    if (strncmp(scope, "openid", 6) != 0 || (scope[6] != ' ' && scope[6] != '\0'))
        bad |= refuse(api, chk, "scope", "must begin with openid");
    if (strspn(api->config_str(cfg, "ui_locales"),
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- ") !=
        strlen(api->config_str(cfg, "ui_locales")))
        bad |= refuse(api, chk, "ui_locales", "must be language tags");
    for (const char *const *k = urls; *k; k++)
        if (!url_ok(api->config_str(cfg, *k)))
            bad |= refuse(api, chk, *k, "must be an http(s) URL without query or final /");
    return bad ? -1 : 0;
}

void line_answer(const tn_api *api, tn_request *req, int status, void *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    if (text)
        api->resp_json(req, status, text);
    else
        api->resp_error(req, 500, "internal", "out of memory");
    free(text);
    json_decref(json);
}

int line_publish(const tn_api *api, tn_request *req, const char *user_id, const char *operation)
{
    json_t *ev = json_pack("{s:s, s:s, s:s}", "user_id", user_id, "operation", operation,
                           "client_addr", api->req_client_addr(req));
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    int rc = text ? api->db_publish(req, "security.important_operation", text) : TN_ENOMEM;
    free(text);
    json_decref(ev);
    return rc;
}

/* Linking and unlinking are important operations: a password (or TOTP)
 * entered within 5 minutes (S6, S9). */
static const tn_route_opts line_reauth = {.size = sizeof(tn_route_opts), .max_auth_age_s = 300};

static int line_init(tn_plugin *self, const tn_api *api)
{
    line_ctx *ctx = &line_state;

    memset(ctx, 0, sizeof *ctx);
    ctx->api = api;
    ctx->self = self;
    ctx->auth = api->iface_get(self, TANOMU_AUTH_SESSIONS, TANOMU_AUTH_SESSIONS_VERSION);
    if (ctx->auth == NULL || ctx->auth->size < sizeof *ctx->auth) {
        api->log(self, TN_LOG_ERROR, "sso_line: %s", api->last_error(self));
        return -1;
    }
    const tn_config *g = api->plugin_config(self);
    ctx->zone = api->limit_zone(self, "start", api->config_float(g, "start_rate_per_min") / 60.0,
                                (unsigned)api->config_int(g, "start_burst"), 128 * 1024);
    if (ctx->zone == NULL) {
        api->log(self, TN_LOG_ERROR, "sso_line: limit_zone: %s", api->last_error(self));
        return -1;
    }
    ctx->logins = api->metric_counter(self, "logins_total", "Sign-ins through LINE.");
    ctx->refusals = api->metric_counter(self, "refusals_total",
                                        "LINE callbacks refused (state, code, ID token).");
    if (api->route_add(self, "GET", "/auth/line/start", TN_ACCESS_PUBLIC, NULL, line_h_start,
                       ctx) != TN_OK ||
        api->route_add(self, "GET", LINE_CALLBACK_PATH, TN_ACCESS_PUBLIC, NULL, line_h_callback,
                       ctx) != TN_OK ||
        api->route_add_opts(self, "POST", "/auth/line/link", TN_ACCESS_AUTHENTICATED, NULL,
                            line_h_link, ctx, &line_reauth) != TN_OK ||
        api->route_add_opts(self, "DELETE", "/auth/line/link", TN_ACCESS_AUTHENTICATED, NULL,
                            line_h_unlink, ctx, &line_reauth) != TN_OK ||
        api->route_add(self, "POST", "/auth/line/native/nonce", TN_ACCESS_PUBLIC, NULL,
                       line_h_native_nonce, ctx) != TN_OK ||
        api->route_add(self, "POST", "/auth/line/native", TN_ACCESS_PUBLIC, NULL, line_h_native,
                       ctx) != TN_OK) {
        api->log(self, TN_LOG_ERROR, "sso_line: registration failed: %s", api->last_error(self));
        return -1;
    }
    return 0;
}

static void line_fini(tn_plugin *self)
{
    (void)self;
    free(line_state.jwks_url);
    free(line_state.jwks);
    line_state.jwks_url = line_state.jwks = NULL;
}

static const char *const line_depends[] = {"auth", NULL};

static const tn_plugin_desc line_desc = {
    .size = sizeof line_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "sso_line",
    .version = LINE_VERSION,
    .description = "LINE Login: OpenID Connect code flow with PKCE, account linking.",
    .depends = line_depends,
    .settings = line_keys,
    .check = line_check,
    .init = line_init,
    .fini = line_fini,
    .global_settings = line_global_keys,
    .schema_needs = "0001_sso_line",
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &line_desc;
}
