/*
 * plugin_settings.h - settings for a plugin as a whole (ABI 1.2): an SMTP
 * relay, a provider's base URL.  Declared by desc->global_settings, written
 * in tanomu.conf as plugins.NAME { key = value; }, checked by the same
 * schema code as a tenant's features.NAME section, and read by the plugin
 * with api->plugin_config(self).
 */
#ifndef HOST_PLUGIN_SETTINGS_H
#define HOST_PLUGIN_SETTINGS_H

#include <stdio.h>

#include <tanomu/tanomu.h>

#include "config.h"
#include "errors.h"

struct host_plugins;

/* Checks each loaded plugin's global_settings schema and binds its
 * plugins.NAME section (none: every key at its default) to p->global_cfg.
 * A section for a plugin that is not loaded is an error (strict), or
 * skipped if that plugin was refused (lenient, already reported).  0, or
 * -1 with errs filled: check, start and reload refuse the configuration. */
int host_plugin_settings_bind(host_config *conf, const struct host_plugins *ps, int strict,
                              host_errors *errs);

/* The tn_api member plugin_config: never NULL for a bound plugin. */
const tn_config *host_api_plugin_config(const tn_plugin *p);

/* The plugin-wide part of `tanomu plugins --schema NAME` (nothing if none). */
void host_plugin_settings_print(const tn_plugin *p, FILE *out);

#endif
