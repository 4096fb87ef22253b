/*
 * iface_user.h - the body of the TEST-ONLY plugins that look demo.math up
 * (iface_consumer, iface_too_old, iface_undeclared).  Each .c file sets:
 *   IFACE_NAME      the plugin's name
 *   IFACE_MIN       the minimum version it asks for
 *   IFACE_DEPENDS   define to list iface_provider in depends
 * iface_consumer also says `before` iface_provider: its hooks run first,
 * yet its init() must still come after the provider's.
 */
#include <stdio.h>

#include "iface_common.h"

static const tn_api *api;
static const demo_math *math;

static tn_status sum(tn_plugin *self, tn_request *req, void *ud)
{
    char body[128];
    (void)self;
    (void)ud;
    snprintf(body, sizeof body, "{\"sum\":%d,\"owner\":\"%s\"}", math->add(2, 3), math->owner());
    return api->resp_json(req, 200, body) == TN_OK ? TN_DONE : TN_ERROR;
}

static int init(tn_plugin *self, const tn_api *a)
{
    api = a;
    api->log(self, TN_LOG_INFO, IFACE_NAME " init");
    math = api->iface_get(self, DEMO_MATH, IFACE_MIN);
    if (!math)
        return -1; /* the host reports why: api->last_error() */
    /* The table may be of a newer version than we know: read only what
     * we know, and only if it is there. */
    if (math->size < sizeof *math)
        return -1;
    return api->route_add(self, "GET", "/" IFACE_NAME "/sum", TN_ACCESS_PUBLIC, NULL, sum, NULL);
}

static void fini(tn_plugin *self)
{
    api->log(self, TN_LOG_INFO, IFACE_NAME " fini");
}

#ifdef IFACE_DEPENDS
static const char *const depends[] = {"iface_provider", NULL};
static const char *const before[] = {"iface_provider", NULL};
#endif

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = IFACE_NAME,
    .version = "0.1.0-test",
    .description = "Test-only: uses demo.math",
#ifdef IFACE_DEPENDS
    .depends = depends,
    .before = before,
#endif
    .init = init,
    .fini = fini,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
