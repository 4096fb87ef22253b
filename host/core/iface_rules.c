/*
 * iface_rules.c - the decisions of iface_export() and iface_get().  See
 * iface_rules.h.  The order of the checks is part of the contract: a
 * caller sees the first rule its call breaks.
 */
#include "iface_rules.h"

#include <stdio.h>
#include <string.h>

#include <tanomu/api.h>

#include "names.h"

int host_iface_export_check(const char *name, uint32_t version, const void *table, char *why,
                            size_t whylen)
{
    if (!host_iface_name_valid(name)) {
        snprintf(why, whylen, "iface_export: bad interface name (want [a-z][a-z0-9_.]{0,63})");
        return TN_EINVAL;
    }
    /* The table's first member is its size: a consumer built against an
     * older header reads only what it knows. */
    if (version == 0 || !table || *(const uint32_t *)table < sizeof(uint32_t)) {
        snprintf(why, whylen,
                 "iface_export %s: version must be >= 1 and the table must start with its size",
                 name);
        return TN_EINVAL;
    }
    return TN_OK;
}

/* Does the depends list (NULL-terminated, or NULL) name the plugin? */
static int depends_on(const char *const *depends, const char *name)
{
    for (const char *const *d = depends; d && *d; d++)
        if (strcmp(*d, name) == 0)
            return 1;
    return 0;
}

int host_iface_reach(const char *name, uint32_t min_version, const char *self_name,
                     const char *const *self_depends, const char *prov_name, int own,
                     uint32_t prov_version, char *why, size_t whylen)
{
    if (!prov_name) {
        snprintf(why, whylen, "interface %s (version >= %u) is not exported by any loaded plugin",
                 name, min_version);
        return TN_ENOTFOUND;
    }
    if (!own && !depends_on(self_depends, prov_name)) {
        snprintf(why, whylen,
                 "interface %s is exported by plugin %s, which %s does not list in depends", name,
                 prov_name, self_name);
        return TN_ESTATE;
    }
    if (prov_version < min_version) {
        snprintf(why, whylen, "interface %s of plugin %s is version %u, %s needs version >= %u",
                 name, prov_name, prov_version, self_name, min_version);
        return TN_ENOTFOUND;
    }
    return TN_OK;
}
