/*
 * iface_provider.c - TEST-ONLY: exports the "demo.math" interface, version
 * 2 (see iface_common.h and tests/integration/test_interfaces.py).
 */
#include "iface_common.h"

static const tn_api *api;

static int add(int a, int b)
{
    return a + b;
}

static const char *owner(void)
{
    return "iface_provider";
}

static const demo_math table = {.size = sizeof table, .add = add, .owner = owner};

static int init(tn_plugin *self, const tn_api *a)
{
    api = a;
    api->log(self, TN_LOG_INFO, "iface_provider init");
    return api->iface_export(self, DEMO_MATH, DEMO_MATH_VERSION, &table);
}

static void fini(tn_plugin *self)
{
    api->log(self, TN_LOG_INFO, "iface_provider fini");
}

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "iface_provider",
    .version = "2.0.0-test",
    .description = "Test-only: exports demo.math v2",
    .init = init,
    .fini = fini,
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
