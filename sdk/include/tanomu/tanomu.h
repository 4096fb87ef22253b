/*
 * tanomu/tanomu.h - the one header a plugin includes.
 *
 * A minimal plugin:
 *
 *     #include <tanomu/tanomu.h>
 *     static const tn_api *api;
 *     static tn_status hi(tn_plugin *p, tn_request *r, void *ud) {
 *         (void)p; (void)ud;
 *         api->resp_json(r, 200, "{\"hi\":true}");
 *         return TN_DONE;
 *     }
 *     static int init(tn_plugin *self, const tn_api *a) {
 *         api = a;
 *         return api->route_add(self, "GET", "/hi", TN_ACCESS_PUBLIC, NULL, hi, NULL);
 *     }
 *     static const tn_plugin_desc desc = {
 *         .size = sizeof desc, .abi_major = TN_SDK_ABI_MAJOR,
 *         .abi_minor = TN_SDK_ABI_MINOR, .name = "hi", .version = "1.0",
 *         .init = init };
 *     TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void) { return &desc; }
 *
 * See docs/sdk.md for building out of tree and for the ABI rules.
 */
#ifndef TANOMU_TANOMU_H
#define TANOMU_TANOMU_H

#include "abi.h"
#include "plugin.h"
#include "api.h"

#endif
