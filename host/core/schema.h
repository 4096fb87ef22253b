/*
 * schema.h - typed plugin settings: the check of a plugin's declared keys,
 * one key's value parsed from text, bounded and defaulted, and struct
 * tn_config (one plugin's values for one tenant) with the tn_api members
 * that read it.
 *
 * Pure logic on the SDK's types: no libconfig, no I/O, no host state.  The
 * host (settings.c, which reads tenant files) and the SDK testkit (which
 * takes values as text from a test) are both built on it, so a settings
 * rule lives in one place and both follow it.
 */
#ifndef HOST_SCHEMA_H
#define HOST_SCHEMA_H

#include <stdint.h>

#include <tanomu/tanomu.h>

/* The host's own key in every feature section: a bool, default false. */
#define HOST_KEY_ENABLED "enabled"

typedef struct host_value {
    int set;   /* given in the file (not a default) */
    char *s;   /* strings */
    int64_t i; /* ints and bools */
    double f;  /* floats */
} host_value;

struct tn_config {
    const char *tenant_id;
    const tn_plugin *plugin;
    const tn_config_key *keys;
    int nkeys;
    host_value *values;
};

/* What host_schema_check() finds wrong with a declared key. */
typedef enum host_schema_fault {
    HOST_SCHEMA_BAD_NAME = 1, /* not [a-z0-9_]{1,32}, or "enabled" */
    HOST_SCHEMA_TWICE,        /* declared before (once per earlier one) */
    HOST_SCHEMA_BAD_TYPE,     /* no such type, or min > max */
    HOST_SCHEMA_BAD_DEFAULT   /* default not of the type, or out of bounds */
} host_schema_fault;

typedef void (*host_schema_report_fn)(void *ctx, const tn_config_key *key, host_schema_fault fault);

const char *host_type_name(tn_type t);
/* Keys before the terminating entry (whose name is NULL); 0 for NULL. */
int host_keys_count(const tn_config_key *keys);
int host_key_bounded(const tn_config_key *k);
/* The index of key `name` among the first n, or -1 (also for NULL). */
int host_key_index(const tn_config_key *keys, int n, const char *name);

/*
 * Checks a plugin's declared keys; report() is called for every fault, in
 * key order (a key with a bad name or type is not checked further).
 * Returns 0, or -1 if anything was reported.
 */
int host_schema_check(const tn_config_key *keys, host_schema_report_fn report, void *ctx);

/* Parses text, written as a default is ("42", "true", "text"), as k's
 * type into v (a string is copied).  0, or -1 if it is not one. */
int host_value_parse(const tn_config_key *k, const char *text, host_value *v);
/* NULL if v is within k's bounds, else what is wrong. */
const char *host_value_out_of_bounds(const tn_config_key *k, const host_value *v);
/* A key the tenant did not write: its default, else empty/0/false.  -1 if
 * it is required and the feature enabled (a section that is off may be
 * incomplete). */
int host_value_unset(const tn_config_key *k, int enabled, host_value *v);

/* A tn_config for tenant_id (not copied: it must outlive the config) with
 * every value unset; NULL if out of memory. */
tn_config *host_tn_config_new(const char *tenant_id, const tn_plugin *plugin,
                              const tn_config_key *keys);
void host_tn_config_free(tn_config *cfg);

/* The tn_api members about settings (check_error aside, which reports
 * where the host's files are). */
const char *host_config_tenant(const tn_config *cfg);
const char *host_config_str(const tn_config *cfg, const char *key);
int64_t host_config_int(const tn_config *cfg, const char *key);
int host_config_bool(const tn_config *cfg, const char *key);
double host_config_float(const tn_config *cfg, const char *key);
int host_config_is_set(const tn_config *cfg, const char *key);

#endif
