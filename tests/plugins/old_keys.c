/*
 * old_keys - a TEST-ONLY plugin exactly as it would have been compiled
 * against the ABI 1.0 SDK: abi_minor 0 and its settings in the 1.0 layout of
 * tn_config_key, which ended at `description` (1.1 appended reserved[2]).
 *
 * The settings array's stride is therefore shorter than today's
 * sizeof(tn_config_key): a host that walks an old plugin's settings with
 * today's size reads the second key from the middle of the first.  The ABI
 * promise (abi.h: a host serves plugins built for an older minor) says the
 * host must pick the layout by the plugin's abi_minor.  GET /old_keys answers
 * both settings, so a test sees the values arrive.
 */
#include <tanomu/tanomu.h>

#include <stddef.h>
#include <stdio.h>

static const tn_api *api;

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

/* tn_config_key as ABI 1.0 defined it. */
typedef struct v1_0_config_key {
    const char *name;
    tn_type type;
    const char *default_value;
    double min;
    double max;
    unsigned flags;
    const char *description;
} v1_0_config_key;

_Static_assert(offsetof(v1_0_config_key, description) == offsetof(tn_config_key, description),
               "the 1.0 key must be a prefix of today's");

static const v1_0_config_key old_settings[] = {
    {"motto", TN_TYPE_STRING, "old but gold", 1, 32, 0, "A word or two"},
    {"level", TN_TYPE_INT, "3", 1, 9, 0, "One to nine"},
    {"loud", TN_TYPE_BOOL, "false", 0, 0, 0, "Whether to shout"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

static tn_status h_old_keys(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    const tn_config *cfg = api->req_config(req, self);
    if (!cfg)
        return TN_ERROR;
    const char *motto = api->config_str(cfg, "motto");
    char json[256];
    /* motto is 1..32 bytes by the schema and the tests set plain words, so
     * it needs no JSON escaping; refuse rather than truncate anyway. */
    int n = snprintf(json, sizeof json, "{\"motto\":\"%s\",\"level\":%lld,\"loud\":%s}",
                     motto ? motto : "", (long long)api->config_int(cfg, "level"),
                     api->config_bool(cfg, "loud") ? "true" : "false");
    if (n < 0 || (size_t)n >= sizeof json)
        return TN_ERROR;
    api->resp_json(req, 200, json);
    return TN_DONE;
}

static int old_keys_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    return api->route_add(self, "GET", "/old_keys", TN_ACCESS_PUBLIC, NULL, h_old_keys, NULL);
}

static const tn_plugin_desc desc = {
    .size = sizeof desc, /* the descriptor itself did not change in 1.1 */
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = 0,
    .name = "old_keys",
    .version = "0.0.2-test",
    .description = "Test-only: settings in the ABI 1.0 layout",
    /* What a 1.0 build stored here: a pointer to 1.0-layout keys. */
    .settings = (const tn_config_key *)(const void *)old_settings,
    .init = old_keys_init,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
