/*
 * schema.c - typed plugin settings: schema checks, values from text,
 * bounds, defaults and the tn_config readers.  See schema.h.
 */
#include "schema.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "names.h"

const char *host_type_name(tn_type t)
{
    switch (t) {
    case TN_TYPE_STRING: return "string";
    case TN_TYPE_INT: return "int";
    case TN_TYPE_BOOL: return "bool";
    case TN_TYPE_FLOAT: return "float";
    }
    return "?";
}

int host_keys_count(const tn_config_key *keys)
{
    int n = 0;

    while (keys && keys[n].name)
        n++;
    return n;
}

int host_key_bounded(const tn_config_key *k)
{
    return k->min != 0 || k->max != 0;
}

int host_key_index(const tn_config_key *keys, int n, const char *name)
{
    int i;

    for (i = 0; name && i < n; i++)
        if (strcmp(keys[i].name, name) == 0)
            return i;
    return -1;
}

int host_value_parse(const tn_config_key *k, const char *text, host_value *v)
{
    char *end;

    switch (k->type) {
    case TN_TYPE_STRING: v->s = strdup(text); return v->s ? 0 : -1;
    case TN_TYPE_BOOL:
        if (strcmp(text, "true") == 0)
            v->i = 1;
        else if (strcmp(text, "false") == 0)
            v->i = 0;
        else
            return -1;
        return 0;
    case TN_TYPE_INT:
        errno = 0;
        v->i = strtoll(text, &end, 10);
        return errno || !*text || *end ? -1 : 0;
    case TN_TYPE_FLOAT:
        errno = 0;
        v->f = strtod(text, &end);
        return errno || !*text || *end || !isfinite(v->f) ? -1 : 0;
    }
    return -1;
}

const char *host_value_out_of_bounds(const tn_config_key *k, const host_value *v)
{
    double x;

    if (!host_key_bounded(k))
        return NULL;
    switch (k->type) {
    case TN_TYPE_STRING: x = (double)strlen(v->s ? v->s : ""); break;
    case TN_TYPE_INT: x = (double)v->i; break;
    case TN_TYPE_FLOAT: x = v->f; break;
    default: return NULL;
    }
    if (x < k->min || x > k->max)
        return k->type == TN_TYPE_STRING ? "length out of bounds" : "out of bounds";
    return NULL;
}

int host_value_unset(const tn_config_key *k, int enabled, host_value *v)
{
    /* A default was checked when the plugin loaded: it parses. */
    if (k->default_value) {
        host_value_parse(k, k->default_value, v);
        return 0;
    }
    return enabled && (k->flags & TN_KEY_REQUIRED) ? -1 : 0;
}

int host_schema_check(const tn_config_key *keys, host_schema_report_fn report, void *ctx)
{
    int i, j, n = host_keys_count(keys), bad = 0;

    for (i = 0; i < n; i++) {
        const tn_config_key *k = &keys[i];
        host_value v = {0, NULL, 0, 0};
        if (!host_plugin_name_valid(k->name) || strcmp(k->name, HOST_KEY_ENABLED) == 0) {
            report(ctx, k, HOST_SCHEMA_BAD_NAME);
            bad = 1;
            continue;
        }
        for (j = 0; j < i; j++)
            if (strcmp(keys[j].name, k->name) == 0) {
                report(ctx, k, HOST_SCHEMA_TWICE);
                bad = 1;
            }
        if (k->type < TN_TYPE_STRING || k->type > TN_TYPE_FLOAT || k->min > k->max) {
            report(ctx, k, HOST_SCHEMA_BAD_TYPE);
            bad = 1;
            continue;
        }
        if (k->default_value &&
            (host_value_parse(k, k->default_value, &v) != 0 || host_value_out_of_bounds(k, &v))) {
            report(ctx, k, HOST_SCHEMA_BAD_DEFAULT);
            bad = 1;
        }
        free(v.s);
    }
    return bad ? -1 : 0;
}

tn_config *host_tn_config_new(const char *tenant_id, const tn_plugin *plugin,
                              const tn_config_key *keys)
{
    tn_config *cfg = calloc(1, sizeof *cfg);

    if (!cfg)
        return NULL;
    cfg->tenant_id = tenant_id;
    cfg->plugin = plugin;
    cfg->keys = keys;
    cfg->nkeys = host_keys_count(keys);
    /* One more than needed, so a plugin without settings still gets an
     * array. */
    if (!(cfg->values = calloc((size_t)cfg->nkeys + 1, sizeof *cfg->values))) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

void host_tn_config_free(tn_config *cfg)
{
    int i;

    if (!cfg)
        return;
    for (i = 0; i < cfg->nkeys; i++) {
        /* Any string may be an opened secret (S18); keys[] may be gone
         * already (the plugin unloaded first), so wipe them all. */
        if (cfg->values[i].s)
            sodium_memzero(cfg->values[i].s, strlen(cfg->values[i].s));
        free(cfg->values[i].s);
    }
    free(cfg->values);
    free(cfg);
}

/* ---- the API ------------------------------------------------------------ */

static const host_value *lookup(const tn_config *cfg, const char *key)
{
    int i;

    if (!cfg || !key)
        return NULL;
    i = host_key_index(cfg->keys, cfg->nkeys, key);
    return i >= 0 ? &cfg->values[i] : NULL;
}

const char *host_config_tenant(const tn_config *cfg)
{
    return cfg ? cfg->tenant_id : NULL;
}

const char *host_config_str(const tn_config *cfg, const char *key)
{
    const host_value *v = lookup(cfg, key);

    return v && v->s ? v->s : "";
}

int64_t host_config_int(const tn_config *cfg, const char *key)
{
    const host_value *v = lookup(cfg, key);

    return v ? v->i : 0;
}

int host_config_bool(const tn_config *cfg, const char *key)
{
    const host_value *v = lookup(cfg, key);

    return v ? v->i != 0 : 0;
}

double host_config_float(const tn_config *cfg, const char *key)
{
    const host_value *v = lookup(cfg, key);

    return v ? v->f : 0.0;
}

int host_config_is_set(const tn_config *cfg, const char *key)
{
    const host_value *v = lookup(cfg, key);

    return v ? v->set : 0;
}
