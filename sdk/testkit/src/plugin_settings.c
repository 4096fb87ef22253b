/*
 * plugin_settings.c - plugin-wide settings in the fake host (ABI 1.2):
 * what tanomu.conf's plugins.NAME section is to the host.  A test writes
 * values as text with tk_plugin_set() before tk_load(); tk_load() checks
 * them with the host's schema code (schema.c: keys, types, bounds,
 * defaults, required), opens a sealed secret (tk_seal_setting with tenant
 * NULL) as the host does, and refuses the plugin as the host refuses to
 * start; api->plugin_config() gives them from init() on.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

typedef struct tk_global_value {
    char *plugin;
    char *key;
    char *value;
} tk_global_value;

static void value_free(tk_global_value *g)
{
    free(g->plugin);
    free(g->key);
    free(g->value);
    free(g);
}

int tk_plugin_set(tk_kit *tk, const char *plugin, const char *key, const char *value)
{
    tk_global_value *g;

    if (tk == NULL || plugin == NULL || key == NULL || key[0] == '\0')
        return TN_EINVAL;
    if (tk_find_plugin(tk, plugin) != NULL) {
        tk_log_kit(tk, TN_LOG_ERROR,
                   "tk_plugin_set(%s, %s): plugin-wide settings are read at load: set them "
                   "before tk_load()",
                   plugin, key);
        return TN_ESTATE;
    }
    for (size_t i = 0; i < tk->plugin_settings.n; i++) {
        g = tk->plugin_settings.items[i];
        if (strcmp(g->plugin, plugin) != 0 || strcmp(g->key, key) != 0)
            continue;
        if (value == NULL) {
            value_free(g);
            tk_list_remove_at(&tk->plugin_settings, i);
            return TN_OK;
        }
        char *v = tk_strdup(value);
        if (v == NULL)
            return TN_ENOMEM;
        free(g->value);
        g->value = v;
        return TN_OK;
    }
    if (value == NULL)
        return TN_OK;
    g = calloc(1, sizeof *g);
    if (g == NULL)
        return TN_ENOMEM;
    g->plugin = tk_strdup(plugin);
    g->key = tk_strdup(key);
    g->value = tk_strdup(value);
    if (g->plugin == NULL || g->key == NULL || g->value == NULL ||
        tk_list_push(&tk->plugin_settings, g) != TN_OK) {
        value_free(g);
        return TN_ENOMEM;
    }
    return TN_OK;
}

static const char *value_of(const tk_kit *tk, const char *plugin, const char *key)
{
    for (size_t i = 0; i < tk->plugin_settings.n; i++) {
        const tk_global_value *g = tk->plugin_settings.items[i];
        if (strcmp(g->plugin, plugin) == 0 && strcmp(g->key, key) == 0)
            return g->value;
    }
    return NULL;
}

static void schema_report(void *ctx, const tn_config_key *k, host_schema_fault fault)
{
    tn_plugin *p = ctx;
    tk_log_kit(p->tk, TN_LOG_ERROR, "plugin %s refused: plugin-wide setting \"%s\" %s",
               p->desc.name, k->name ? k->name : "?",
               fault == HOST_SCHEMA_BAD_NAME      ? "has a name that is not allowed"
               : fault == HOST_SCHEMA_TWICE       ? "is declared twice"
               : fault == HOST_SCHEMA_BAD_DEFAULT ? "has a default that is not a valid value"
                                                  : "has a bad type or bounds");
}

/* As the host's bind_one(): unknown keys first, then each key's value
 * parsed and bounded, or its default; a loaded plugin is in use, so a
 * required key must be there.  The messages are the host's, without the
 * file and line, and never quote a value. */
int tk_plugin_settings_bind(tk_kit *tk, tn_plugin *p)
{
    const tn_config_key *keys = p->desc.global_settings;
    const char *name = p->desc.name;
    int bad = 0;
    tn_config *cfg;

    if (host_schema_check(keys, schema_report, p) != 0)
        return TN_EINVAL;
    if ((cfg = host_tn_config_new(NULL, p, keys)) == NULL)
        return TN_ENOMEM;
    for (size_t i = 0; i < tk->plugin_settings.n; i++) {
        const tk_global_value *g = tk->plugin_settings.items[i];
        if (strcmp(g->plugin, name) == 0 && host_key_index(keys, cfg->nkeys, g->key) < 0) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugins.%s.%s: unknown setting", name, g->key);
            bad = 1;
        }
    }
    for (int i = 0; i < cfg->nkeys; i++) {
        const tn_config_key *k = &cfg->keys[i];
        host_value *v = &cfg->values[i];
        const char *text = value_of(tk, name, k->name), *why;
        if (text == NULL) {
            if (host_value_unset(k, 1, v) != 0) {
                tk_log_kit(tk, TN_LOG_ERROR, "plugins.%s.%s: is required", name, k->name);
                bad = 1;
            }
            continue;
        }
        if (host_value_parse(k, text, v) != 0) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugins.%s.%s: must be a %s", name, k->name,
                       host_type_name(k->type));
            bad = 1;
            continue;
        }
        v->set = 1;
        char *sealed_why = NULL; /* a sealed secret opens as on the host: no tenant */
        if (tk_secret_setting(tk, NULL, p, k, v, &sealed_why) != 0) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugins.%s.%s: %s", name, k->name,
                       sealed_why ? sealed_why : "out of memory");
            free(sealed_why);
            bad = 1;
            continue;
        }
        if ((why = host_value_out_of_bounds(k, v)) != NULL) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugins.%s.%s: %s (%g..%g)", name, k->name, why, k->min,
                       k->max);
            bad = 1;
        }
    }
    if (bad) {
        tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: its plugin-wide settings are not valid",
                   name);
        host_tn_config_free(cfg);
        return TN_EINVAL;
    }
    p->global_cfg = cfg;
    return TN_OK;
}

void tk_plugin_settings_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->plugin_settings.n; i++)
        value_free(tk->plugin_settings.items[i]);
    tk_list_clear(&tk->plugin_settings);
    for (size_t i = 0; i < tk->plugins.n; i++) {
        tn_plugin *p = tk->plugins.items[i];
        host_tn_config_free(p->global_cfg);
        p->global_cfg = NULL;
    }
}

/* A secret counts once if its text as set, or what it opened to (a sealed
 * value), is in the log. */
size_t tk_plugin_settings_leaks(const tk_kit *tk)
{
    size_t leaks = 0;

    for (size_t i = 0; i < tk->plugin_settings.n; i++) {
        const tk_global_value *g = tk->plugin_settings.items[i];
        const tn_plugin *p = tk_find_plugin((tk_kit *)tk, g->plugin);
        const tn_config_key *keys = p ? p->desc.global_settings : NULL;
        int k = host_key_index(keys, host_keys_count(keys), g->key);
        const char *opened = NULL;
        if (k < 0 || !(keys[k].flags & TN_KEY_SECRET))
            continue;
        if (p->global_cfg != NULL && keys[k].type == TN_TYPE_STRING)
            opened = p->global_cfg->values[k].s;
        if ((g->value[0] != '\0' && tk_log_contains(tk, g->value)) ||
            (opened != NULL && opened[0] != '\0' && tk_log_contains(tk, opened)))
            leaks++;
    }
    return leaks;
}

const tn_config *tk_api_plugin_config(const tn_plugin *p)
{
    return p != NULL ? p->global_cfg : NULL;
}
