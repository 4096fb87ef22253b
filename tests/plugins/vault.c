/*
 * vault - a TEST-ONLY plugin for sealed secrets (S18, S16).  Its secret
 * setting `token` arrives as plaintext whether the tenant file wrote it
 * sealed, as file:PATH or in plain text; GET /vault/token answers it (only
 * a test plugin may: the tests compare it with what they sealed).  POST
 * /vault/seal seals the body for the request's tenant with secret_seal,
 * POST /vault/open opens one with secret_unseal and says whether it was
 * stale; a value that does not open is answered 422 with last_error, which
 * is also logged, so the tests can see that neither quotes a secret.
 */
#include <tanomu/tanomu.h>

#include <stdio.h>
#include <string.h>

static const tn_api *api;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

/* The tests use [A-Za-z0-9_:.-] only, so the JSON needs no escaping;
 * anything else is refused rather than emitted broken. */
static int plain_ok(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-", s[i]) ||
            !s[i])
            return 0;
    return 1;
}

static tn_status answer(tn_request *req, const char *name, const char *value, size_t n, int stale)
{
    char json[2048];
    int len;

    if (!plain_ok(value, n) || n > 1500)
        return TN_ERROR;
    len = snprintf(json, sizeof json, "{\"%s\":\"%.*s\",\"stale\":%d}", name, (int)n, value, stale);
    if (len < 0 || (size_t)len >= sizeof json)
        return TN_ERROR;
    api->resp_json(req, 200, json);
    return TN_DONE;
}

static tn_status h_token(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_config *cfg = api->req_config(req, self);
    const char *t = cfg ? api->config_str(cfg, "token") : "";

    (void)ud;
    return answer(req, "token", t, strlen(t), 0);
}

static tn_status h_seal(tn_plugin *self, tn_request *req, void *ud)
{
    size_t len = 0;
    const void *body = api->req_body(req, &len);
    char *sealed = NULL;
    tn_status st;

    (void)ud;
    if (api->secret_seal(self, api->req_tenant(req), body, len, &sealed) != TN_OK) {
        api->resp_error(req, 500, "seal", api->last_error(self));
        return TN_DONE;
    }
    st = answer(req, "sealed", sealed, strlen(sealed), 0);
    api->free(sealed);
    return st;
}

static tn_status h_open(tn_plugin *self, tn_request *req, void *ud)
{
    size_t len = 0, n = 0;
    const void *body = api->req_body(req, &len);
    char text[2048];
    void *plain = NULL;
    int stale = 0, rc;
    tn_status st;

    (void)ud;
    if (len >= sizeof text)
        return TN_ERROR;
    memcpy(text, body, len);
    text[len] = '\0';
    rc = api->secret_unseal(self, api->req_tenant(req), text, &plain, &n, &stale);
    if (rc != TN_OK) {
        api->req_log(req, TN_LOG_WARN, "vault: %s", api->last_error(self));
        api->resp_error(req, 422, rc == TN_ESEAL ? "eseal" : "einval", api->last_error(self));
        return TN_DONE;
    }
    st = answer(req, "plain", plain, n, stale);
    api->free(plain);
    return st;
}

static int vault_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    if (api->route_add(self, "GET", "/vault/token", TN_ACCESS_PUBLIC, NULL, h_token, NULL) != 0 ||
        api->route_add(self, "POST", "/vault/seal", TN_ACCESS_PUBLIC, NULL, h_seal, NULL) != 0 ||
        api->route_add(self, "POST", "/vault/open", TN_ACCESS_PUBLIC, NULL, h_open, NULL) != 0)
        return -1;
    return 0;
}

static const tn_config_key vault_settings[] = {
    {.name = "token",
     .type = TN_TYPE_STRING,
     .min = 1,
     .max = 64,
     .flags = TN_KEY_SECRET,
     .description = "A provider token"},
    {.name = "fallback",
     .type = TN_TYPE_STRING,
     .default_value = "dflt-canary-0451",
     .flags = TN_KEY_SECRET,
     .description = "A secret with a default (shown as ***)"},
    {.name = "note", .type = TN_TYPE_STRING, .default_value = "", .description = "Not a secret"},
    {.name = NULL},
};

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "vault",
    .version = "0.1.0-test",
    .description = "Test-only: sealed secrets",
    .settings = vault_settings,
    .init = vault_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
