/*
 * names.h - the one home of every name rule the host and the testkit share:
 * plugin and setting names, event names, metric names, tenant IDs.
 *
 * A name a plugin's unit tests accept must be one production accepts, and
 * a tenant ID `tanomu check` accepts must be one the database's CHECK
 * constraints accept, so each rule exists once, here.
 */
#ifndef HOST_NAMES_H
#define HOST_NAMES_H

#include <stddef.h>

/* Plugin and setting names: [a-z0-9_]{1,32}. */
int host_plugin_name_valid(const char *name);

/* Event names, in-process and durable alike: [a-z][a-z0-9_.]{0,127}, the
 * outbox table's CHECK constraint. */
#define HOST_EVENT_NAME_MAX 128
int host_event_name_valid(const char *name);

/* A plugin's metric name (before the tanomu_NAME_ prefix): [a-z][a-z0-9_]{0,47}. */
#define HOST_METRIC_NAME_MAX 48
int host_metric_name_valid(const char *name);

/* Tenant IDs: [a-z0-9][a-z0-9_-]{0,62}, the tenants table's CHECK. */
#define HOST_TENANT_ID_MAX 63
int host_tenant_id_valid(const char *id);

/* Interface names (iface_export/iface_get, ABI 1.2): [a-z][a-z0-9_.]{0,63}. */
#define HOST_IFACE_NAME_MAX 64
int host_iface_name_valid(const char *name);

/* Plugin CLI commands (command_add, ABI 1.2): [a-z][a-z0-9-]{0,31}. */
#define HOST_COMMAND_NAME_MAX 32
int host_command_name_valid(const char *name);

/* Is name one of the tanomu command's own (host/cli/main.c)?  Those always
 * win, so a plugin cannot take one (host and testkit alike). */
int host_command_name_builtin(const char *name);

#endif
