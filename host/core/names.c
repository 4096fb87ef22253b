/*
 * names.c - the name rules of names.h, each a plain character-class check
 * so it reads like the regular expression it documents.
 */
#include "names.h"

#include <string.h>

#include <tanomu/tanomu.h>

static const char lower_digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* first ∈ first_set, the rest ∈ rest_set, 1..max characters in all. */
static int name_matches(const char *s, const char *first_set, const char *rest_set, size_t max)
{
    size_t n;

    if (!s || !s[0] || !strchr(first_set, s[0]))
        return 0;
    n = 1 + strspn(s + 1, rest_set);
    return s[n] == '\0' && n <= max;
}

int host_plugin_name_valid(const char *name)
{
    return name_matches(name, "abcdefghijklmnopqrstuvwxyz0123456789_",
                        "abcdefghijklmnopqrstuvwxyz0123456789_", TN_PLUGIN_NAME_MAX);
}

int host_event_name_valid(const char *name)
{
    return name_matches(name, "abcdefghijklmnopqrstuvwxyz",
                        "abcdefghijklmnopqrstuvwxyz0123456789_.", HOST_EVENT_NAME_MAX);
}

int host_metric_name_valid(const char *name)
{
    return name_matches(name, "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz0123456789_",
                        HOST_METRIC_NAME_MAX);
}

int host_tenant_id_valid(const char *id)
{
    return name_matches(id, lower_digits, "abcdefghijklmnopqrstuvwxyz0123456789_-",
                        HOST_TENANT_ID_MAX);
}

int host_iface_name_valid(const char *name)
{
    return name_matches(name, "abcdefghijklmnopqrstuvwxyz",
                        "abcdefghijklmnopqrstuvwxyz0123456789_.", HOST_IFACE_NAME_MAX);
}
