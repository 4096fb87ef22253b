/*
 * tanomu/plugin.h - what a plugin declares: its descriptor and its settings.
 *
 * A plugin is a shared object NAME.so in the host's plugin directory that
 * exports one function, tn_plugin_entry(), returning a pointer to a static
 * tn_plugin_desc.  Everything else the plugin does goes through the tn_api
 * function table the host hands to init() (see tanomu/api.h); a plugin never
 * links against host symbols.
 */
#ifndef TANOMU_PLUGIN_H
#define TANOMU_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_api tn_api;
typedef struct tn_plugin tn_plugin; /* the host's handle for one loaded plugin */
typedef struct tn_config tn_config; /* one plugin's validated settings for one tenant */
typedef struct tn_check tn_check;   /* where check() reports configuration errors */

/* Types of a setting.  Values arrive already parsed, bounded and defaulted. */
typedef enum tn_type {
    TN_TYPE_STRING = 1,
    TN_TYPE_INT = 2,
    TN_TYPE_BOOL = 3,
    TN_TYPE_FLOAT = 4
} tn_type;

/* Setting flags. */
#define TN_KEY_REQUIRED 0x1u /* no default: the tenant must set it */
#define TN_KEY_SECRET 0x2u   /* never printed, never logged */

/*
 * One setting in a plugin's per-tenant section.  The host rejects unknown
 * keys, values of the wrong type and values out of bounds before the
 * plugin's own check() sees the section.  Bounds: for INT and FLOAT, the
 * value; for STRING, its length in bytes.  min == max == 0 means unbounded.
 * default_value is written as it would be in the config file ("42", "true",
 * "text"); NULL means no default (the key must be REQUIRED, or reads as
 * empty/0/false).  A list ends with an entry whose name is NULL.
 */
typedef struct tn_config_key {
    const char *name;
    tn_type type;
    const char *default_value;
    double min;
    double max;
    unsigned flags;
    const char *description;
    const void *reserved[2]; /* later minors add members here: keep zero */
} tn_config_key;

/*
 * The descriptor.  The host reads only the first `size` bytes of it, so a
 * plugin built against an older SDK (a shorter struct) is served, and a
 * newer plugin is refused by its abi_minor before any unknown member is
 * read.  Lists of names end with NULL.
 */
typedef struct tn_plugin_desc {
    uint32_t size;       /* sizeof(tn_plugin_desc) */
    uint16_t abi_major;  /* TN_SDK_ABI_MAJOR */
    uint16_t abi_minor;  /* TN_SDK_ABI_MINOR */
    const char *name;    /* must equal the file name without .so */
    const char *version; /* the plugin's own version, free text */
    const char *description;
    const char *const *depends; /* plugins that must be loaded, and enabled
                                   for every tenant that enables this one */
    const char *const *before;  /* in every phase, run my hooks before these */
    const char *const *after;   /* ... and after these */
    const tn_config_key *settings;

    /* Cross-field rules on one tenant's section, after the host has applied
     * the schema.  Report each problem with api->check_error() and return
     * non-zero.  Called in `tanomu check`, at start and at every reload. */
    int (*check)(const tn_api *api, const tn_config *cfg, tn_check *chk);

    /* Called once per worker process: keep `api`, register routes, hooks,
     * events, timers and metrics.  Non-zero refuses the whole generation. */
    int (*init)(tn_plugin *self, const tn_api *api);

    /* Called when the worker's generation ends, after the last request. */
    void (*fini)(tn_plugin *self);

    /* ABI 1.2 */
    /* Plugin-wide settings, in tanomu.conf's plugins.NAME section; read with
     * api->plugin_config().  NULL: none. */
    const tn_config_key *global_settings;
    /* The newest of the plugin's own migrations it needs (its file name
     * without .sql, e.g. "0002_orders_index"); the host refuses to start it
     * until `tanomu migrate` applied it.  NULL: no tables of its own. */
    const char *schema_needs;

    void *reserved[6]; /* must be zero */
} tn_plugin_desc;

typedef const tn_plugin_desc *(*tn_plugin_entry_fn)(void);

/* Declare a plugin's entry point (the only exported symbol it needs). */
#if defined(__GNUC__)
#define TN_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TN_PLUGIN_EXPORT
#endif

/* The entry point every plugin defines (declared here so plugins build
 * with -Wmissing-prototypes). */
TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void);

#ifdef __cplusplus
}
#endif
#endif
