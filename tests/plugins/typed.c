/*
 * typed - a TEST-ONLY plugin with one setting of every type and flag, so the
 * integration tests can exercise the host's schema checks (wrong type, out
 * of bounds, missing required, unknown key), a plugin check() error at the
 * line of a key, `tanomu plugins --schema`, and that a SECRET value never
 * reaches output or logs (S16).  GET /typed answers the effective settings,
 * except the secret, of which it only says whether it is set.
 */
#include <tanomu/tanomu.h>

#include <stdio.h>

static const tn_api *api;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

/* Cross-field rule, reported at the line of `count` so a test can tell the
 * plugin's own errors apart from the host's schema errors. */
static int typed_check(const tn_api *a, const tn_config *cfg, tn_check *chk)
{
    if (a->config_bool(cfg, "verbose") && a->config_int(cfg, "count") < 5) {
        a->check_error(chk, "count", "count must be at least 5 when verbose is true (typed)");
        return 1;
    }
    return 0;
}

static tn_status h_typed(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    const tn_config *cfg = api->req_config(req, self);
    if (!cfg)
        return TN_ERROR;
    const char *name = api->config_str(cfg, "name");
    const char *key = api->config_str(cfg, "api_key");
    char json[512];
    /* name is bounded to 32 bytes of [a-z0-9-] by the tests that set it;
     * still, refuse rather than emit broken JSON if it does not fit. */
    int n = snprintf(json, sizeof json,
                     "{\"name\":\"%s\",\"count\":%lld,\"ratio\":%.3f,\"verbose\":%s,"
                     "\"api_key_set\":%s}",
                     name ? name : "", (long long)api->config_int(cfg, "count"),
                     api->config_float(cfg, "ratio"),
                     api->config_bool(cfg, "verbose") ? "true" : "false",
                     key && *key ? "true" : "false");
    if (n < 0 || (size_t)n >= sizeof json)
        return TN_ERROR;
    api->resp_json(req, 200, json);
    return TN_DONE;
}

static int typed_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    return api->route_add(self, "GET", "/typed", TN_ACCESS_PUBLIC, NULL, h_typed, NULL);
}

static const tn_config_key typed_settings[] = {
    {.name = "name",
     .type = TN_TYPE_STRING,
     .default_value = NULL,
     .min = 1,
     .max = 32,
     .flags = TN_KEY_REQUIRED,
     .description = "Display name (required)"},
    {.name = "count",
     .type = TN_TYPE_INT,
     .default_value = "3",
     .min = 1,
     .max = 10,
     .description = "How many, 1 to 10"},
    {.name = "ratio",
     .type = TN_TYPE_FLOAT,
     .default_value = "0.5",
     .min = 0,
     .max = 1,
     .description = "A fraction"},
    {.name = "verbose",
     .type = TN_TYPE_BOOL,
     .default_value = "false",
     .description = "Needs count >= 5"},
    {.name = "api_key",
     .type = TN_TYPE_STRING,
     .default_value = NULL,
     .flags = TN_KEY_SECRET,
     .description = "Credential; never printed"},
    {.name = NULL},
};

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "typed",
    .version = "0.3.0-test",
    .description = "Test-only: one setting of each type and flag",
    .settings = typed_settings,
    .check = typed_check,
    .init = typed_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
