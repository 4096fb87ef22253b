/*
 * iface.c - iface_export() and iface_get() in the testkit, with the
 * host's rules (host/core/iface_rules.c, compiled in): exported from init() only, a name
 * in [a-z][a-z0-9_.]{0,63} (names.c, shared with the host), a table that starts with its size, one
 * exporter per name; a lookup reaches only the plugins the caller lists
 * in depends, and refuses an older version.  Each refusal is recorded for
 * api->last_error().  tk_load() already inits a plugin after those it
 * depends on, and tk_free() finis in reverse: the host's order.
 */
#include <stdlib.h>
#include <string.h>

#include "iface_rules.h"
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

int tk_api_iface_export(tn_plugin *self, const char *name, uint32_t version, const void *table)
{
    const struct tk_iface *old;
    struct tk_iface *f;
    char why[256];
    int rc;

    if (self == NULL)
        return TN_EINVAL;
    if (self->tk->registering != self)
        return tk_plugin_fail(self, TN_ESTATE, "iface_export outside init()");
    if ((rc = host_iface_export_check(name, version, table, why, sizeof why)) != TN_OK)
        return tk_plugin_fail(self, rc, "%s", why);
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
    char why[256];
    int rc;

    if (self == NULL)
        return NULL;
    if (!host_iface_name_valid(name)) {
        tk_plugin_fail(self, TN_EINVAL, "iface_get: bad interface name");
        return NULL;
    }
    prov = provider_of(self->tk, name, &f);
    rc = host_iface_reach(name, min_version, self->desc.name, self->desc.depends,
                          prov != NULL ? prov->desc.name : NULL, prov == self,
                          f != NULL ? f->version : 0, why, sizeof why);
    if (rc != TN_OK) {
        tk_plugin_fail(self, rc, "%s", why);
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
