/*
 * plugin_settings.c - plugin-wide settings: tanomu.conf's plugins.NAME
 * sections bound to each loaded plugin's desc->global_settings.  See
 * plugin_settings.h.
 *
 * The section is parsed by host_section_parse(), the code that parses a
 * tenant's features.NAME section, so types, bounds, defaults, required and
 * unknown keys follow one set of rules, and a TN_KEY_SECRET value may be
 * sealed (`tanomu secret seal --plugin NAME --key KEY`, no --tenant: the
 * AEAD binds an empty tenant) or file:PATH, opened there as a tenant's is
 * (S18).  The values live as long as the generation (they are freed with
 * the plugin), so a pointer from config_str() of plugin_config() stays
 * valid until fini() returns.
 */
#include "plugin_settings.h"

#include <string.h>

#include "plugin_loader.h"
#include "settings.h"

static int line_of(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

static int bind_one(host_config *conf, tn_plugin *p, config_setting_t *plugins, host_errors *errs)
{
    const char *file = conf->path;
    config_setting_t *sec = plugins ? config_setting_get_member(plugins, p->name) : NULL;
    config_setting_t *en = sec ? config_setting_get_member(sec, "enabled") : NULL;
    tn_config *cfg;

    host_tn_config_free(p->global_cfg);
    p->global_cfg = NULL;
    if (en) {
        /* host_section_parse() passes over "enabled" (the host's key in a
         * tenant's section); here it means nothing, so it is a mistake. */
        host_errors_add(errs, file, line_of(en),
                        "plugins.%s.enabled: a plugin is enabled per tenant "
                        "(tenant.features.%s.enabled), not in tanomu.conf",
                        p->name, p->name);
        return -1;
    }
    /* Loaded means in use: a required key must be given.  Secrets are
     * opened in there (secret_value in settings.c), with no tenant. */
    cfg = host_section_parse(&conf->server.secrets, file, NULL, p, p->desc.global_settings, sec, 1,
                             errs);
    if (!cfg)
        return -1;
    p->global_cfg = cfg;
    return 0;
}

int host_plugin_settings_bind(host_config *conf, const struct host_plugins *ps, int strict,
                              host_errors *errs)
{
    config_setting_t *plugins = conf->main_cfg ? config_lookup(conf->main_cfg, "plugins") : NULL;
    int i, bad = 0;

    if (plugins && !config_setting_is_group(plugins))
        plugins = NULL; /* config.c reported it */
    /* A section for no loaded plugin is a typo or a forgotten plugins.load. */
    for (i = 0; plugins && i < config_setting_length(plugins); i++) {
        config_setting_t *sec = config_setting_get_elem(plugins, (unsigned)i);
        const char *name = config_setting_name(sec);
        if (!config_setting_is_group(sec) || !name || host_plugins_find(ps, name))
            continue;
        if (!strict && host_plugins_was_refused(ps, name))
            continue; /* already reported */
        host_errors_add(errs, conf->path, line_of(sec),
                        "plugins.%s: no such plugin is loaded (plugins.load)", name);
        bad = 1;
    }
    for (i = 0; i < ps->n; i++)
        if (bind_one(conf, ps->v[i], plugins, errs) != 0)
            bad = 1;
    return bad ? -1 : 0;
}

const tn_config *host_api_plugin_config(const tn_plugin *p)
{
    return p ? p->global_cfg : NULL;
}

void host_plugin_settings_print(const tn_plugin *p, FILE *out)
{
    if (host_keys_count(p->desc.global_settings) == 0)
        return;
    fprintf(out, "\nPlugin-wide settings (tanomu.conf: plugins.%s { ... }):\n", p->name);
    host_schema_print_keys(p->desc.global_settings, out);
}
