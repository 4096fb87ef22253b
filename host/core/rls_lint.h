/*
 * rls_lint.h - a textual lint of a plugin's migrations for `tanomu check`:
 * a table created with a tenant_id column must have row-level security
 * enabled and forced in the same plugin's migrations (S21).
 *
 * The rule, simple on purpose (the real guard is `tanomu migrate`, which
 * asks the database after every file, migrate.c):
 *   - comments (-- and / * * /), quoted strings ('...', "..." kept as
 *     names) and dollar-quoted bodies ($$...$$, $tag$...$tag$) are skipped;
 *   - CREATE [UNLOGGED] TABLE [IF NOT EXISTS] name ( ... ) whose
 *     parenthesised body has the word tenant_id makes `name` a tenant table
 *     (a schema prefix and double quotes are dropped; case is folded);
 *   - the plugin's files together must then contain
 *     ALTER TABLE [IF EXISTS] [ONLY] name ENABLE ROW LEVEL SECURITY and
 *     ALTER TABLE [IF EXISTS] [ONLY] name FORCE ROW LEVEL SECURITY,
 *     in any file, in any order.
 * No database, no configuration: it runs in a build step.
 */
#ifndef HOST_RLS_LINT_H
#define HOST_RLS_LINT_H

#include <stddef.h>

typedef struct host_sql_file {
    const char *name; /* for the report, e.g. "0001_notes.sql" */
    const char *text; /* NUL-terminated */
} host_sql_file;

/* What a tenant table lacks: a bit set. */
#define HOST_RLS_NOT_ENABLED 0x1
#define HOST_RLS_NOT_FORCED 0x2

typedef void (*host_rls_report_fn)(void *ctx, const char *file, int line, const char *table,
                                   unsigned missing);

/* Reports each tenant table of files[0..n) that lacks ENABLE or FORCE, at
 * the file and line of its CREATE TABLE.  Returns how many were reported,
 * or -1 when out of memory. */
int host_rls_lint(const host_sql_file *files, int n, host_rls_report_fn report, void *ctx);

#endif
