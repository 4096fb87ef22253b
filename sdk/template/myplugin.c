/*
 * myplugin.c - a minimal Tanomu plugin to copy: one route, one setting.
 *
 * Rename it: the file, NAME in the Makefile and CMakeLists.txt, and .name
 * below (which must equal the file name without .so, [a-z0-9_]{1,32}).
 * GET /myplugin/ping answers {"pong":true,"limit":N}, N being the tenant's
 * `limit` setting.  docs/sdk.md of Tanomu explains every part.
 */
#include <stdio.h>

#include <tanomu/tanomu.h>

/* The host's function table, kept by init() for the callbacks. */
static const tn_api *api;

/* The tenant's settings: the host checks type, bounds and default before
 * the plugin sees them; `tanomu plugins --schema myplugin` prints them.
 * Designated initializers: later SDK minors append members (zero here). */
static const tn_config_key settings[] = {
    {.name = "limit",
     .type = TN_TYPE_INT,
     .default_value = "10",
     .min = 1,
     .max = 100,
     .description = "Items per page, 1 to 100."},
    {.name = NULL},
};

static tn_status ping(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_config *cfg = api->req_config(req, self);
    char body[64];
    (void)ud;
    /* An integer needs no escaping; text from settings or requests does:
     * build JSON with a JSON library (see the hello plugin). */
    snprintf(body, sizeof body, "{\"pong\":true,\"limit\":%lld}",
             (long long)api->config_int(cfg, "limit"));
    return api->resp_json(req, 200, body) == TN_OK ? TN_DONE : TN_ERROR;
}

static int init(tn_plugin *self, const tn_api *host_api)
{
    api = host_api;
    return api->route_add(self, "GET", "/myplugin/ping", TN_ACCESS_PUBLIC, NULL, ping, NULL);
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "myplugin",
    .version = "0.1.0",
    .description = "A template plugin: GET /myplugin/ping.",
    .settings = settings,
    .init = init,
};

/* The one exported symbol; <tanomu/plugin.h> declares it. */
TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
