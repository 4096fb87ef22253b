/*
 * cli_db.h - `tanomu migrate`, `tanomu events`, `tanomu audit`.
 */
#ifndef HOST_CLI_DB_H
#define HOST_CLI_DB_H

#include "config.h"

int host_cli_migrate(const host_config *conf, int status_only);
int host_cli_events_dead(const host_config *conf);
int host_cli_events_retry(const host_config *conf, const char *id);
/* A tenant's operation log for [from, to) as CSV on stdout (S20, A10). */
int host_cli_audit(const host_config *conf, const char *tenant, const char *from, const char *to);

#endif
