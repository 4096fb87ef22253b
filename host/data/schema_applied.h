/*
 * schema_applied.h - is a migration applied?  For plugins that declare the
 * migration they need (tn_plugin_desc.schema_needs, ABI 1.2): the worker
 * asks before it inits them.
 *
 * Blocking libpq, once per generation and only when some plugin declares
 * a need, before the worker serves.  It connects as the app role
 * (database.url), which reads the bookkeeping only through
 * schema_applied(scope, name) (core migration 0005, SECURITY DEFINER):
 * schema_migrations itself stays the owner's.
 */
#ifndef HOST_SCHEMA_APPLIED_H
#define HOST_SCHEMA_APPLIED_H

#include <stddef.h>

/* Seconds a worker waits for the database before giving up the check. */
#define HOST_SCHEMA_CONNECT_TIMEOUT "5"

/*
 * For each i < n: applied[i] = 1 if migration names[i] (a file name,
 * "0002_x.sql") of scopes[i] is recorded as applied, else 0.  A database
 * without 0005_schema_applied has none applied (run `tanomu migrate`).
 * Returns 0, or -1 when it could not ask (err says why, never the URL).
 */
int host_schema_applied(const char *conninfo, const char *const *scopes, const char *const *names,
                        int n, int *applied, char *err, size_t errcap);

#endif
