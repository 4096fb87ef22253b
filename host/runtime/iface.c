/*
 * iface.c - the registry behind iface_export() and iface_get().  See
 * iface.h.
 *
 * Each failure is recorded with host_plugin_fail(), so the consumer's
 * init() that gives up on a missing or too-old interface is reported by
 * the generation in one line that carries the reason.  Nothing is logged
 * here: a plugin may probe an optional interface.
 */
#include "iface.h"

#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "iface_rules.h"
#include "names.h"

struct host_iface {
    struct host_iface *next;
    char name[HOST_IFACE_NAME_MAX + 1];
    uint32_t version;
    const void *table;
};

static const struct host_iface *find_in(const tn_plugin *p, const char *name)
{
    const struct host_iface *f;

    for (f = p->ifaces; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* The plugin of the generation that exports name, or NULL. */
static const tn_plugin *provider_of(const host_worker *w, const char *name,
                                    const struct host_iface **out)
{
    int i;

    for (i = 0; i < w->plugins.n; i++)
        if ((*out = find_in(w->plugins.v[i], name)) != NULL)
            return w->plugins.v[i];
    return NULL;
}

int host_api_iface_export(tn_plugin *self, const char *name, uint32_t version, const void *table)
{
    const struct host_iface *old;
    struct host_iface *f;
    host_worker *w = self ? self->worker : NULL;
    char why[256];
    int rc;

    if (!w)
        return TN_EINVAL;
    if (!w->initializing)
        return host_plugin_fail(self, TN_ESTATE, "iface_export outside init()");
    if ((rc = host_iface_export_check(name, version, table, why, sizeof why)) != TN_OK)
        return host_plugin_fail(self, rc, "%s", why);
    if (provider_of(w, name, &old))
        return host_plugin_fail(self, TN_EEXIST, "iface_export %s: already exported", name);
    if (!(f = calloc(1, sizeof *f)))
        return host_plugin_fail(self, TN_ENOMEM, "iface_export %s: out of memory", name);
    memcpy(f->name, name, strlen(name) + 1);
    f->version = version;
    f->table = table;
    f->next = self->ifaces;
    self->ifaces = f;
    return TN_OK;
}

const void *host_api_iface_get(tn_plugin *self, const char *name, uint32_t min_version)
{
    const struct host_iface *f = NULL;
    const tn_plugin *prov;
    host_worker *w = self ? self->worker : NULL;
    char why[256];
    int rc;

    if (!w)
        return NULL;
    if (!host_iface_name_valid(name)) {
        host_plugin_fail(self, TN_EINVAL, "iface_get: bad interface name");
        return NULL;
    }
    prov = provider_of(w, name, &f);
    rc = host_iface_reach(name, min_version, self->name, self->desc.depends,
                          prov ? prov->name : NULL, prov == self, f ? f->version : 0, why,
                          sizeof why);
    if (rc != TN_OK) {
        host_plugin_fail(self, rc, "%s", why);
        return NULL;
    }
    return f->table;
}

void host_iface_free_all(tn_plugin *p)
{
    struct host_iface *f, *next;

    for (f = p->ifaces; f; f = next) {
        next = f->next;
        free(f);
    }
    p->ifaces = NULL;
}
