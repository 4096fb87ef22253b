/*
 * cli_migrate_order.h - the order `tanomu migrate` runs plugins' migrations
 * in: a plugin's after those of the plugins it depends on.
 */
#ifndef HOST_CLI_MIGRATE_ORDER_H
#define HOST_CLI_MIGRATE_ORDER_H

#include "config.h"

/*
 * Fills names (room for plugin_load.n entries; the strings are the
 * configuration's own) with plugins.load in `depends` order, read from the
 * plugins' descriptors (the loader's init order).  A plugin that cannot be
 * loaded keeps its place at the end, in list order, with a warning on err.
 * Returns how many names were written.
 */
int host_cli_migrate_order(const host_config *conf, const char **names, FILE *err);

#endif
