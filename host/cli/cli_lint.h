/*
 * cli_lint.h - `tanomu check`'s lint of the loaded plugins' migrations:
 * a tenant table without row-level security enabled and forced (see
 * rls_lint.h for the textual rule; `tanomu migrate` is the real guard).
 */
#ifndef HOST_CLI_LINT_H
#define HOST_CLI_LINT_H

#include <stdio.h>

#include "config.h"

/* Reads PLUGIN_MIGRATIONS_DIR/NAME/migrations/NNNN_*.sql of every plugin in
 * plugins.load (a missing directory is skipped) and prints one
 * "FILE:LINE: warning: ..." line per finding to out.  No database.
 * Returns the number of findings. */
int host_cli_lint_migrations(const host_config *conf, FILE *out);

#endif
