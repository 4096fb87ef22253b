/*
 * schema_needs.h - the host refuses to start a plugin whose migration is not
 * applied (tn_plugin_desc.schema_needs, ABI 1.2), so a plugin deployed
 * before `tanomu migrate` ran is refused with a clear line instead of
 * answering 500s.
 */
#ifndef HOST_SCHEMA_NEEDS_H
#define HOST_SCHEMA_NEEDS_H

#include "config.h"
#include "errors.h"
#include "plugin_loader.h"

/*
 * Checks every plugin of ps that declares schema_needs against the
 * database at conninfo (database.url; NULL: none configured).  A need that
 * is not a migration name, or not applied, or with no database configured,
 * is an error naming the plugin; in strict mode the call fails, else the
 * plugin (and what depends on it) is dropped.  A database that cannot be
 * reached is not a refusal: a warning is logged and the plugins start (the
 * pool answers 503 until it is back).  Touches no database when no plugin
 * declares a need.  Returns 0 or -1.
 */
int host_plugins_require_schema(host_plugins *ps, const char *conninfo, const char *conf_file,
                                int line, int strict, host_errors *errs);

#endif
