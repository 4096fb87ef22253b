/*
 * migprobe.c - TEST-ONLY plugins for plugin migrations (issue 7 §6, ABI
 * 1.2), built three times (tests/integration_db/CMakeLists.txt) as:
 *   mig_base   schema_needs "0001_base_items" (its table mig_base_items)
 *   mig_child  depends on mig_base; its migration references mig_base_items,
 *              so it only applies after mig_base's (depends order)
 *   mig_norls  a table with tenant_id, RLS enabled but not forced: the
 *              migrate guard refuses it, `tanomu check` warns
 * Each logs "NAME init" from init(), so a test sees whether it started.
 * Its migrations are in ../NAME/migrations.  See test_plugin_migrations.py.
 *
 *   MIG_NAME     the plugin's name
 *   MIG_NEEDS    schema_needs (optional)
 *   MIG_DEPENDS  the one plugin it depends on (optional)
 */
#include <tanomu/tanomu.h>

static int init(tn_plugin *self, const tn_api *api)
{
    api->log(self, TN_LOG_INFO, MIG_NAME " init");
    return 0;
}

#ifdef MIG_DEPENDS
static const char *const depends[] = {MIG_DEPENDS, NULL};
#endif

static const tn_plugin_desc desc = {
    .size = sizeof desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = MIG_NAME,
    .version = "0.1.0-test",
    .description = "Test-only: plugin migrations",
#ifdef MIG_DEPENDS
    .depends = depends,
#endif
    .init = init,
#ifdef MIG_NEEDS
    .schema_needs = MIG_NEEDS,
#endif
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &desc;
}
