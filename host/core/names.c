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

int host_command_name_valid(const char *name)
{
    return name_matches(name, "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz0123456789-",
                        HOST_COMMAND_NAME_MAX);
}

/* The tanomu command's own commands: names that might become one stay
 * free as well. */
static const char *const command_builtins[] = {"serve",   "check",  "reload", "plugins", "plugin",
                                               "migrate", "events", "audit",  "jobs",    "secret",
                                               "version", "help",   NULL};

int host_command_name_builtin(const char *name)
{
    size_t i;

    for (i = 0; name && command_builtins[i]; i++)
        if (strcmp(command_builtins[i], name) == 0)
            return 1;
    return 0;
}
