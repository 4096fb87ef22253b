/*
 * access.c - role lists and the route access decision (access.h).
 */
#include "access.h"

#include <string.h>

int host_roles_contain(const char *roles, const char *role, size_t len)
{
    const char *p = roles;

    while (len && (*role == ' ' || role[len - 1] == ' ')) {
        if (*role == ' ')
            role++, len--;
        else
            len--;
    }
    while (len && p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        while (n && *q == ' ')
            q++, n--;
        while (n && q[n - 1] == ' ')
            n--;
        if (n == len && memcmp(q, role, len) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int host_access_check(tn_access access, const char *route_roles, const char *user_id,
                      const char *user_roles)
{
    const char *p;

    if (access == TN_ACCESS_PUBLIC)
        return 0;
    if (!user_id)
        return 401;
    if (access == TN_ACCESS_AUTHENTICATED)
        return 0;
    for (p = route_roles; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (host_roles_contain(user_roles, p, n))
            return 0;
        p = end ? end + 1 : NULL;
    }
    return 403;
}
