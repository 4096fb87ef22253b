/*
 * wide - a TEST-ONLY plugin for two small ABI 1.2 calls.  Plugin-wide
 * settings (desc->global_settings, tanomu.conf's plugins.wide { ... }):
 * GET /wide answers what api->plugin_config() holds, and what init() read
 * from it, so a test sees the values reach the plugin, defaults included,
 * and that a reload with bad values is refused.  Header iteration: GET
 * /wide/headers answers every request header, in arrival order, as
 * req_header_each() gives them.  GET /wide/token?guess=X says whether the
 * plugin-wide secret api_token (sealed in tanomu.conf) opened to X.
 */
#include <tanomu/tanomu.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const tn_api *api;
static long long retries_at_init = -1;

static const tn_config_key global_keys[] = {
    {.name = "base_url",
     .type = TN_TYPE_STRING,
     .default_value = "https://api.example.com",
     .min = 8,
     .max = 200,
     .description = "Where the provider answers."},
    {.name = "retries",
     .type = TN_TYPE_INT,
     .default_value = "2",
     .min = 0,
     .max = 10,
     .description = "How often to try again."},
    {.name = "relay",
     .type = TN_TYPE_STRING,
     .flags = TN_KEY_REQUIRED,
     .description = "The SMTP relay, host:port."},
    {.name = "api_token",
     .type = TN_TYPE_STRING,
     .flags = TN_KEY_SECRET,
     .max = 200,
     .description = "The provider's token: sealed, or file:PATH."},
    {.name = NULL},
};

static tn_status answer(tn_request *req, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int rc = text ? api->resp_json(req, 200, text) : TN_ENOMEM;

    free(text);
    json_decref(doc);
    return rc == TN_OK ? TN_DONE : TN_ERROR;
}

static tn_status h_wide(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_config *cfg = api->plugin_config(self);

    (void)ud;
    if (!cfg)
        return TN_ERROR;
    return answer(req, json_pack("{s:s, s:I, s:s, s:b, s:b, s:I}", "base_url",
                                 api->config_str(cfg, "base_url"), "retries",
                                 (json_int_t)api->config_int(cfg, "retries"), "relay",
                                 api->config_str(cfg, "relay"), "base_url_set",
                                 api->config_is_set(cfg, "base_url"), "tenant_null",
                                 api->config_tenant(cfg) == NULL, "retries_at_init",
                                 (json_int_t)retries_at_init));
}

static int add_header(const char *name, const char *value, void *ud)
{
    return json_array_append_new(ud, json_pack("[s,s]", name, value));
}

static tn_status h_headers(tn_plugin *self, tn_request *req, void *ud)
{
    json_t *list = json_array();

    (void)self;
    (void)ud;
    if (!list || api->req_header_each(req, add_header, list) != TN_OK) {
        json_decref(list);
        return TN_ERROR;
    }
    return answer(req, json_pack("{s:o}", "headers", list));
}

/* GET /wide/token?guess=X: whether the plugin-wide secret opened to X,
 * without ever answering the secret itself. */
static tn_status h_token(tn_plugin *self, tn_request *req, void *ud)
{
    const char *token = api->config_str(api->plugin_config(self), "api_token");
    const char *guess = api->req_query_param(req, "guess");

    (void)ud;
    return answer(req, json_pack("{s:b, s:b}", "set", token[0] != '\0', "match",
                                 guess && strcmp(guess, token) == 0));
}

static int wide_init(tn_plugin *self, const tn_api *a)
{
    const tn_config *cfg;

    api = a;
    if (!TN_API_HAS(a, plugin_config) || !TN_API_HAS(a, req_header_each))
        return -1;
    if (!(cfg = a->plugin_config(self))) /* never NULL after init: already so in init */
        return -1;
    retries_at_init = (long long)a->config_int(cfg, "retries");
    if (a->route_add(self, "GET", "/wide", TN_ACCESS_PUBLIC, NULL, h_wide, NULL) != TN_OK ||
        a->route_add(self, "GET", "/wide/token", TN_ACCESS_PUBLIC, NULL, h_token, NULL) != TN_OK)
        return -1;
    return a->route_add(self, "GET", "/wide/headers", TN_ACCESS_PUBLIC, NULL, h_headers, NULL);
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "wide",
    .version = "1.0",
    .description = "Test plugin: plugin-wide settings and request header iteration.",
    .global_settings = global_keys,
    .init = wide_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
