/*
 * access.h - the host's route access rule and role lists, shared with the
 * testkit so a plugin's unit tests see the decisions production makes.
 *
 * A route declares TN_ACCESS_PUBLIC, _AUTHENTICATED or _ROLES with a
 * comma-separated list; a principal carries its own comma-separated roles.
 * Spaces around items are ignored on both sides ("admin, buyer" is two).
 */
#ifndef HOST_ACCESS_H
#define HOST_ACCESS_H

#include <stddef.h>

#include <tanomu/tanomu.h>

/* Is `role` (len bytes) one of the comma-separated `roles`? */
int host_roles_contain(const char *roles, const char *role, size_t len);

/* Fails closed: 0 to go on, 401 without a principal, 403 when the
 * principal holds none of the route's roles. */
int host_access_check(tn_access access, const char *route_roles, const char *user_id,
                      const char *user_roles);

#endif
