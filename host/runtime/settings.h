/*
 * settings.h - plugin settings: the declarative schema a plugin lists, and
 * the per-tenant values parsed against it (struct tn_config).
 *
 * The host does the generic work (types, bounds, defaults, required keys,
 * unknown keys), so a plugin's own check() only sees well-formed values
 * and deals with rules between fields.
 */
#ifndef HOST_SETTINGS_H
#define HOST_SETTINGS_H

#include <stdio.h>

#include <tanomu/tanomu.h>

#include "config.h"
#include "errors.h"
#include "schema.h" /* host_value, struct tn_config and its readers */

struct host_plugins;

/* Parses every tenant's features section against the loaded plugins and
 * runs each enabled plugin's check(); strict as for host_plugins_load. */
int host_config_bind(host_config *conf, const struct host_plugins *ps, const tn_api *api,
                     int strict, host_errors *errs);

/* Builds a tn_config of `keys` from a libconfig group sec (NULL: none given)
 * with the schema's rules: unknown keys, types, bounds, defaults, required
 * keys (when enabled); string values sealed or file:PATH are opened with
 * sc (AEAD bound to tenant_id, "" when NULL: plugin-wide); errors name file
 * and line.  NULL if any was wrong.  tenant_id (may be NULL) is not copied. */
tn_config *host_section_parse(host_secrets_conf *sc, const char *file, const char *tenant_id,
                              const tn_plugin *p, const tn_config_key *keys, config_setting_t *sec,
                              int enabled, host_errors *errs);

/* Prints each key: name, type, required, default (not a secret's), bounds. */
void host_schema_print_keys(const tn_config_key *keys, FILE *out);

/* Prints a plugin's settings as documentation (tanomu plugins --schema). */
void host_schema_print(const tn_plugin *p, FILE *out);

/* The tn_api member check_error (the readers are in schema.h). */
void host_check_error(tn_check *chk, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
