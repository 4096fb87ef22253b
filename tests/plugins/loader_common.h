/*
 * loader_common.h - shared body of the TEST-ONLY plugins that the loader must
 * refuse (bad_major, newer_minor, no_entry, wrong_name, needs_missing) or
 * order (cycle_a, cycle_b).  Each .c file sets the macros below and includes
 * this once, so the files differ exactly in the one property under test.
 *
 *   LOADER_NAME       file name of the plugin (also the route: GET /NAME)
 *   LOADER_DESC_NAME  descriptor name (default LOADER_NAME)
 *   LOADER_MAJOR      abi_major (default TN_SDK_ABI_MAJOR)
 *   LOADER_MINOR      abi_minor (default TN_SDK_ABI_MINOR)
 *   LOADER_DEPENDS / LOADER_BEFORE / LOADER_AFTER   NULL-terminated lists
 *   LOADER_NO_ENTRY   export a differently named symbol instead of the entry
 *
 * A refused plugin still registers a route, so that a loader that wrongly
 * accepted it would visibly serve GET /NAME.
 */
#ifndef LOADER_COMMON_H
#define LOADER_COMMON_H

#include <tanomu/tanomu.h>

#ifndef LOADER_DESC_NAME
#define LOADER_DESC_NAME LOADER_NAME
#endif
#ifndef LOADER_MAJOR
#define LOADER_MAJOR TN_SDK_ABI_MAJOR
#endif
#ifndef LOADER_MINOR
#define LOADER_MINOR TN_SDK_ABI_MINOR
#endif

static const tn_api *api;

static tn_status loader_handle(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    api->resp_json(req, 200, "{\"plugin\":\"" LOADER_NAME "\"}");
    return TN_DONE;
}

static int loader_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    return api->route_add(self, "GET", "/" LOADER_NAME, TN_ACCESS_PUBLIC, NULL, loader_handle,
                          NULL);
}

#ifdef LOADER_DEPENDS
static const char *const loader_depends[] = LOADER_DEPENDS;
#endif
#ifdef LOADER_BEFORE
static const char *const loader_before[] = LOADER_BEFORE;
#endif
#ifdef LOADER_AFTER
static const char *const loader_after[] = LOADER_AFTER;
#endif

static const tn_plugin_desc loader_desc = {
    .size = sizeof loader_desc,
    .abi_major = LOADER_MAJOR,
    .abi_minor = LOADER_MINOR,
    .name = LOADER_DESC_NAME,
    .version = "0.1.0-test",
    .description = "Test-only loader case " LOADER_NAME,
#ifdef LOADER_DEPENDS
    .depends = loader_depends,
#endif
#ifdef LOADER_BEFORE
    .before = loader_before,
#endif
#ifdef LOADER_AFTER
    .after = loader_after,
#endif
    .init = loader_init,
};

#ifdef LOADER_NO_ENTRY
/* Deliberately not TN_PLUGIN_ENTRY_SYMBOL: the host must refuse the file
 * because the one symbol it looks up is missing. */
TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry_missing(void);
TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry_missing(void)
{
    return &loader_desc;
}
#else
TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);
TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &loader_desc;
}
#endif

#endif
