/*
 * iface.c - iface_export() and iface_get() in the testkit, with the
 * host's rules (host/runtime/iface.c): exported from init() only, a name
 * in [a-z][a-z0-9_.]{0,63} (names.c, shared with the host), a table that starts with its size, one
 * exporter per name; a lookup reaches only the plugins the caller lists
 * in depends, and refuses an older version.  Each refusal is recorded for
 * api->last_error().  tk_load() already inits a plugin after those it
 * depends on, and tk_free() finis in reverse: the host's order.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

struct tk_iface {
    struct tk_iface *next;
    char name[HOST_IFACE_NAME_MAX + 1];
    uint32_t version;
    const void *table;
};

/* The live plugin exporting name (a plugin whose init() failed exports
 * nothing), or NULL. */
static tn_plugin *provider_of(tk_kit *tk, const char *name, const struct tk_iface **out)
{
    for (size_t i = 0; i < tk->plugins.n; i++) {
        tn_plugin *p = tk->plugins.items[i];
        if (p->failed)
            continue;
        for (const struct tk_iface *f = p->ifaces; f != NULL; f = f->next) {
            if (strcmp(f->name, name) == 0) {
                *out = f;
                return p;
            }
        }
    }
    return NULL;
}

static int depends_on(const tn_plugin *p, const char *name)
{
    for (const char *const *d = p->desc.depends; d != NULL && *d != NULL; d++)
        if (strcmp(*d, name) == 0)
            return 1;
    return 0;
}

int tk_api_iface_export(tn_plugin *self, const char *name, uint32_t version, const void *table)
{
    const struct tk_iface *old;
    struct tk_iface *f;

    if (self == NULL)
        return TN_EINVAL;
    if (self->tk->registering != self)
        return tk_plugin_fail(self, TN_ESTATE, "iface_export outside init()");
    if (!host_iface_name_valid(name))
        return tk_plugin_fail(self, TN_EINVAL,
                              "iface_export: bad interface name (want [a-z][a-z0-9_.]{0,63})");
    if (version == 0 || table == NULL || *(const uint32_t *)table < sizeof(uint32_t))
        return tk_plugin_fail(self, TN_EINVAL,
                              "iface_export %s: version must be >= 1 and the table must start "
                              "with its size",
                              name);
    if (provider_of(self->tk, name, &old) != NULL)
        return tk_plugin_fail(self, TN_EEXIST, "iface_export %s: already exported", name);
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return tk_plugin_fail(self, TN_ENOMEM, "iface_export %s: out of memory", name);
    memcpy(f->name, name, strlen(name) + 1);
    f->version = version;
    f->table = table;
    f->next = self->ifaces;
    self->ifaces = f;
    return TN_OK;
}

const void *tk_api_iface_get(tn_plugin *self, const char *name, uint32_t min_version)
{
    const struct tk_iface *f = NULL;
    const tn_plugin *prov;

    if (self == NULL)
        return NULL;
    if (!host_iface_name_valid(name)) {
        tk_plugin_fail(self, TN_EINVAL, "iface_get: bad interface name");
        return NULL;
    }
    prov = provider_of(self->tk, name, &f);
    if (prov == NULL) {
        tk_plugin_fail(self, TN_ENOTFOUND,
                       "interface %s (version >= %u) is not exported by any loaded plugin", name,
                       min_version);
        return NULL;
    }
    if (prov != self && !depends_on(self, prov->desc.name)) {
        tk_plugin_fail(self, TN_ESTATE,
                       "interface %s is exported by plugin %s, which %s does not list in depends",
                       name, prov->desc.name, self->desc.name);
        return NULL;
    }
    if (f->version < min_version) {
        tk_plugin_fail(self, TN_ENOTFOUND,
                       "interface %s of plugin %s is version %u, %s needs version >= %u", name,
                       prov->desc.name, f->version, self->desc.name, min_version);
        return NULL;
    }
    return f->table;
}

void tk_ifaces_free(tn_plugin *p)
{
    struct tk_iface *f = p->ifaces, *next;

    for (; f != NULL; f = next) {
        next = f->next;
        free(f);
    }
    p->ifaces = NULL;
}
