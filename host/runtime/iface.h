/*
 * iface.h - interfaces one plugin serves to others (ABI 1.2).
 *
 * A provider exports, from init(), a named and versioned table of function
 * pointers that starts with a uint32_t size, as tn_api does; a consumer
 * looks it up by name and minimum version.  Lookups only reach plugins the
 * consumer lists in `depends`: the loader inits those first and finis them
 * last, so the table outlives every consumer that holds it.  The registry
 * is a list per providing plugin, freed with the generation.
 */
#ifndef HOST_IFACE_H
#define HOST_IFACE_H

#include <tanomu/tanomu.h>

/* The api slots (see tanomu/api.h). */
int host_api_iface_export(tn_plugin *self, const char *name, uint32_t version, const void *table);
const void *host_api_iface_get(tn_plugin *self, const char *name, uint32_t min_version);

/* Frees what p exported (the tables themselves are the plugin's). */
void host_iface_free_all(tn_plugin *p);

#endif
