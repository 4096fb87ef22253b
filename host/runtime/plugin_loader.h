/*
 * plugin_loader.h - finding, opening and vetting plugins.
 *
 * A plugin is loaded by plain name from the configured directory only
 * (S3): the name is checked against [a-z0-9_]{1,32} before it is joined to
 * the directory, and nothing from a request or a tenant file reaches
 * dlopen().  The host copies at most desc->size bytes of the descriptor
 * into its own zeroed struct, so members a plugin's older SDK did not have
 * read as zero.
 */
#ifndef HOST_PLUGIN_LOADER_H
#define HOST_PLUGIN_LOADER_H

#include <tanomu/tanomu.h>

#include "config.h"
#include "errors.h"

struct host_worker;

struct tn_plugin {
    char name[TN_PLUGIN_NAME_MAX + 1];
    int index; /* position in the ordered set */
    void *dl;
    tn_plugin_desc desc; /* the host's copy, zero beyond desc_size */
    uint32_t desc_size;
    char *path;
    tn_config_key *settings_copy; /* a 1.0 plugin's settings, widened */
    struct host_worker *worker;   /* set while serving */
    int initialized;
    char last_error[256]; /* the message of the plugin's last failed 1.2 call */
    /* iface.c: the interfaces it exported */
    struct host_iface *ifaces;
    /* plugins.NAME in tanomu.conf, bound by plugin_settings.c */
    struct tn_config *global_cfg;
};

typedef struct host_plugins {
    tn_plugin **v; /* in run order (before/after resolved) */
    int n;
    host_strlist failed; /* names refused in lenient mode */
    int nrefused;        /* every refusal, duplicates included */
    tn_plugin **init;    /* init order: a plugin after those it depends on
                            (else run order); fini runs it backwards */
} host_plugins;

/* The size of a v1.0 descriptor: everything before the reserved slots. */
#define HOST_DESC_MIN_SIZE offsetof(tn_plugin_desc, global_settings) /* the 1.0 part */

/*
 * Loads the listed plugins.  strict (check, reload): any problem is an
 * error and the call fails.  Lenient (first start): a bad plugin is logged
 * in one line, counted, skipped, and so are plugins that depend on it.
 * Then orders the set by before/after, and the init order by depends; a
 * cycle in either is always an error.
 */
int host_plugins_load(host_plugins *ps, const char *dir, const host_strlist *names,
                      const char *conf_file, int line, int strict, host_errors *errs);
void host_plugins_unload(host_plugins *ps);

/* Refuses loaded plugin i after the fact (lenient mode): it is counted and
 * listed as failed, and so is every plugin that depends on it; the run and
 * init orders are made again.  The caller has reported why.  0 or -1. */
int host_plugins_drop(host_plugins *ps, int i, const char *conf_file, int line, host_errors *errs);

/* Records why a 1.2 call of plugin p failed (api->last_error() reads it),
 * and returns rc so a call can end with `return host_plugin_fail(p, rc, ...)`. */
int host_plugin_fail(tn_plugin *p, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
tn_plugin *host_plugins_find(const host_plugins *ps, const char *name);
int host_plugins_was_refused(const host_plugins *ps, const char *name);

#endif
