/*
 * migrate.h - applies the SQL migrations of the core and of each enabled
 * plugin, for `tanomu migrate -c FILE` (blocking libpq: a CLI, not a loop).
 *
 * A source is a scope and a directory: the core's migrations/ is scope
 * "core", a plugin's plugins/NAME/migrations is scope NAME.  Files are
 * named NNNN_name.sql ([0-9]{4}_[a-z0-9_]+\.sql); other names ending in .sql
 * are refused, files not ending in .sql (a README) are ignored.  Files are
 * opened only inside the given directories, by checked name, never through
 * a symbolic link (S3).
 *
 * Every pending file runs in its own transaction, as the connecting role
 * (tanomu_owner), and is recorded in schema_migrations (scope, name, sha256
 * checksum, applied_at) in that same transaction.  A session advisory lock
 * makes concurrent runs take turns: the second finds the work done.  The run
 * refuses, before applying anything, when an applied file's checksum has
 * changed (edit history by adding a migration, never by editing one) or a
 * pending file sorts before an applied one of its scope.
 *
 * Row-level security guard (S21): inside each file's transaction, before it
 * is recorded, and once more at the end of the run, every table with a
 * tenant_id column must have row-level security enabled and forced; else
 * the file is rolled back and the run fails naming the table.
 */
#ifndef HOST_MIGRATE_H
#define HOST_MIGRATE_H

#include <stdio.h>

typedef struct host_migrate_src {
    const char *scope; /* "core" or a plugin name: [a-z0-9_]{1,63} */
    const char *dir;   /* an existing directory of NNNN_name.sql files */
} host_migrate_src;

/*
 * Applies what is pending, in order: sources in the order given (core
 * first), files by name within a source.  With status_only, changes nothing
 * and lists every migration as applied or pending (and any checksum that
 * changed).  Progress goes to out, errors to err; a failure names the file.
 * Returns 0 on success, -1 on any error or refusal.
 */
int host_migrate(const char *owner_conninfo, const host_migrate_src *srcs, int nsrcs,
                 int status_only, FILE *out, FILE *err);

/*
 * Makes sure each configured tenant ID has its row in `tenants` (rows of
 * tenant-owned tables reference it).  Idempotent; never deletes.  Returns 0
 * or -1.
 */
int host_migrate_tenants(const char *owner_conninfo, const char *const *ids, int nids, FILE *out,
                         FILE *err);

/* 1 if name is a valid migration file name, else 0 (exposed for tests). */
int host_migrate_name_valid(const char *name);

#endif
