/*
 * settings.c - binding tenant files to plugin schemas, and the settings
 * part of the plugin API that needs them.  See settings.h.  The rules on
 * keys and values themselves are in schema.c, shared with the testkit.
 */
#include "settings.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "plugin_loader.h"

struct tn_check {
    host_errors *errs;
    const char *file;
    config_setting_t *section;
    const char *plugin;
    int count;
};

static int line_of(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

/* Reads one value from the file into v; reports type and bound errors. */
static int read_value(const tn_config_key *k, config_setting_t *s, host_value *v, const char *file,
                      const char *plugin, host_errors *errs)
{
    int t = config_setting_type(s);
    const char *why;

    switch (k->type) {
    case TN_TYPE_STRING:
        if (t != CONFIG_TYPE_STRING)
            goto type;
        if (!(v->s = strdup(config_setting_get_string(s))))
            return -1;
        break;
    case TN_TYPE_BOOL:
        if (t != CONFIG_TYPE_BOOL)
            goto type;
        v->i = config_setting_get_bool(s);
        break;
    case TN_TYPE_INT:
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            goto type;
        v->i = config_setting_get_int64(s);
        break;
    case TN_TYPE_FLOAT:
        if (t == CONFIG_TYPE_FLOAT)
            v->f = config_setting_get_float(s);
        else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
            v->f = (double)config_setting_get_int64(s);
        else
            goto type;
        break;
    }
    v->set = 1;
    /* A secret string's bounds hold for what it opens to (secret_value). */
    if (!(k->type == TN_TYPE_STRING && (k->flags & TN_KEY_SECRET)) &&
        (why = host_value_out_of_bounds(k, v)) != NULL) {
        host_errors_add(errs, file, line_of(s), "%s.%s: %s (%g..%g)", plugin, k->name, why, k->min,
                        k->max);
        return -1;
    }
    return 0;
type:
    host_errors_add(errs, file, line_of(s), "%s.%s must be a %s", plugin, k->name,
                    host_type_name(k->type));
    return -1;
}

/* A string setting as written: sealed, file:PATH or plain (secrets_conf.h),
 * replaced by what the plugin reads, then bounded.  tenant NULL: a
 * plugin-wide setting (tanomu.conf's plugins.NAME). */
static int secret_value(host_secrets_conf *sc, const char *tenant, const char *file,
                        const tn_plugin *p, const tn_config_key *k, config_setting_t *s,
                        host_value *v, host_errors *errs)
{
    char *plain;
    const char *why;

    if (k->type != TN_TYPE_STRING || !v->s)
        return 0;
    if (host_secret_setting(sc, tenant, p->name, k->name, (k->flags & TN_KEY_SECRET) != 0, v->s,
                            file, line_of(s), errs, &plain) != 0)
        return -1;
    if (plain) {
        host_secret_free(v->s);
        v->s = plain;
    }
    if ((k->flags & TN_KEY_SECRET) && (why = host_value_out_of_bounds(k, v)) != NULL) {
        host_errors_add(errs, file, line_of(s), "%s.%s: %s (%g..%g)", p->name, k->name, why, k->min,
                        k->max);
        return -1;
    }
    return 0;
}

/* Builds a plugin's tn_config for one tenant from its section (or NULL). */
static tn_config *section_parse(host_secrets_conf *sc, const host_tenant *t, const tn_plugin *p,
                                config_setting_t *sec, int enabled, host_errors *errs)
{
    return host_section_parse(sc, t->file, t->id, p, p->desc.settings, sec, enabled, errs);
}

tn_config *host_section_parse(host_secrets_conf *sc, const char *file, const char *tenant_id,
                              const tn_plugin *p, const tn_config_key *keys, config_setting_t *sec,
                              int enabled, host_errors *errs)
{
    tn_config *cfg = host_tn_config_new(tenant_id, p, keys);
    int i, j, n = host_keys_count(keys), bad = 0;

    if (!cfg)
        return NULL;
    /* Unknown keys first, so a typo is reported even with other errors. */
    for (j = 0; sec && j < config_setting_length(sec); j++) {
        config_setting_t *m = config_setting_get_elem(sec, (unsigned)j);
        const char *name = config_setting_name(m);
        if (name && strcmp(name, HOST_KEY_ENABLED) == 0)
            continue;
        if (host_key_index(keys, n, name) < 0) {
            host_errors_add(errs, file, line_of(m),
                            "unknown setting '%s' for plugin %s (see tanomu plugins --schema %s)",
                            name ? name : "?", p->name, p->name);
            bad = 1;
        }
    }
    for (i = 0; i < n; i++) {
        config_setting_t *s = sec ? config_setting_get_member(sec, keys[i].name) : NULL;
        if (s) {
            if (read_value(&keys[i], s, &cfg->values[i], file, p->name, errs) != 0 ||
                secret_value(sc, tenant_id, file, p, &keys[i], s, &cfg->values[i], errs) != 0)
                bad = 1;
        } else if (host_value_unset(&keys[i], enabled, &cfg->values[i]) != 0) {
            host_errors_add(errs, file, line_of(sec), "%s.%s is required", p->name, keys[i].name);
            bad = 1;
        }
    }
    if (bad)
        goto fail;
    return cfg;
fail:
    host_tn_config_free(cfg);
    return NULL;
}

static int bind_tenant(host_secrets_conf *sc, host_tenant *t, const host_plugins *ps,
                       const tn_api *api, int strict, host_errors *errs)
{
    config_setting_t *feats = config_lookup(&t->cfg, "tenant.features");
    int i, j, bad = 0;

    t->nfeatures = ps->n;
    t->features = calloc((size_t)ps->n + 1, sizeof *t->features);
    if (!t->features)
        return -1;
    for (j = 0; feats && j < config_setting_length(feats); j++) {
        config_setting_t *sec = config_setting_get_elem(feats, (unsigned)j);
        const char *name = config_setting_name(sec);
        if (!name || !config_setting_is_group(sec)) {
            host_errors_add(errs, t->file, line_of(sec), "features.%s must be a group { ... }",
                            name ? name : "?");
            bad = 1;
        } else if (!host_plugins_find(ps, name)) {
            if (!strict && host_plugins_was_refused(ps, name))
                continue; /* already reported; the feature stays off */
            host_errors_add(errs, t->file, line_of(sec),
                            "feature '%s': no such plugin is loaded (plugins.load)", name);
            bad = 1;
        }
    }
    for (i = 0; i < ps->n; i++) {
        const tn_plugin *p = ps->v[i];
        config_setting_t *sec = feats ? config_setting_get_member(feats, p->name) : NULL;
        config_setting_t *en = sec ? config_setting_get_member(sec, "enabled") : NULL;
        host_feature *f = &t->features[i];
        if (sec && !config_setting_is_group(sec))
            continue;
        if (en && config_setting_type(en) != CONFIG_TYPE_BOOL) {
            host_errors_add(errs, t->file, line_of(en), "%s.enabled must be true or false",
                            p->name);
            bad = 1;
            continue;
        }
        f->enabled = en ? config_setting_get_bool(en) : 0;
        f->cfg = section_parse(sc, t, p, sec, f->enabled, errs);
        if (!f->cfg) {
            bad = 1;
            f->enabled = 0;
            continue;
        }
        if (f->enabled && p->desc.check) {
            tn_check chk = {errs, t->file, sec, p->name, 0};
            if (p->desc.check(api, f->cfg, &chk) != 0 || chk.count > 0) {
                if (chk.count == 0)
                    host_errors_add(errs, t->file, line_of(sec), "%s: settings refused by plugin",
                                    p->name);
                bad = 1;
            }
        }
    }
    /* A tenant that enables a plugin enables what it depends on. */
    for (i = 0; i < ps->n; i++) {
        const char *const *dep = ps->v[i]->desc.depends;
        if (!t->features[i].enabled)
            continue;
        for (j = 0; dep && dep[j]; j++) {
            const tn_plugin *d = host_plugins_find(ps, dep[j]);
            if (d && !t->features[d->index].enabled) {
                host_errors_add(errs, t->file,
                                line_of(feats ? config_setting_get_member(feats, ps->v[i]->name)
                                              : NULL),
                                "%s needs %s enabled for this tenant too", ps->v[i]->name, dep[j]);
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

int host_config_bind(host_config *conf, const host_plugins *ps, const tn_api *api, int strict,
                     host_errors *errs)
{
    int i, bad = 0;

    for (i = 0; i < conf->ntenants; i++) {
        if (!conf->tenants[i].id)
            continue; /* the tenant file already failed */
        if (bind_tenant(&conf->server.secrets, &conf->tenants[i], ps, api, strict, errs) != 0)
            bad = 1;
    }
    return bad ? -1 : 0;
}

void host_schema_print(const tn_plugin *p, FILE *out)
{
    const tn_config_key *keys = p->desc.settings;

    fprintf(out, "%s %s (SDK ABI %u.%u)\n", p->name, p->desc.version ? p->desc.version : "?",
            p->desc.abi_major, p->desc.abi_minor);
    if (p->desc.description)
        fprintf(out, "  %s\n", p->desc.description);
    fprintf(out, "\nSettings (tenant file: tenant.features.%s { ... }):\n", p->name);
    fprintf(out, "  enabled  bool  default false\n      Turns the feature on for the tenant.\n");
    host_schema_print_keys(keys, out);
}

void host_schema_print_keys(const tn_config_key *keys, FILE *out)
{
    int i, n = host_keys_count(keys);

    for (i = 0; i < n; i++) {
        const tn_config_key *k = &keys[i];
        fprintf(out, "  %s  %s", k->name, host_type_name(k->type));
        if (k->flags & TN_KEY_REQUIRED)
            fprintf(out, "  required");
        if (k->default_value)
            fprintf(out, "  default %s", (k->flags & TN_KEY_SECRET) ? "***" : k->default_value);
        if (host_key_bounded(k))
            fprintf(out, "  %s %g..%g", k->type == TN_TYPE_STRING ? "length" : "range", k->min,
                    k->max);
        if (k->flags & TN_KEY_SECRET)
            fprintf(out, "  secret (never printed or logged; write it sealed or as file:PATH)");
        fprintf(out, "\n      %s\n", k->description ? k->description : "");
    }
}

/* ---- the API ------------------------------------------------------------ */

void host_check_error(tn_check *chk, const char *key, const char *fmt, ...)
{
    config_setting_t *s = NULL;
    host_buf msg;
    va_list ap;

    if (!chk)
        return;
    if (key && chk->section)
        s = config_setting_get_member(chk->section, key);
    if (!s)
        s = chk->section;
    host_buf_init(&msg);
    va_start(ap, fmt);
    host_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    host_errors_add(chk->errs, chk->file, line_of(s), "%s%s%s: %s", chk->plugin, key ? "." : "",
                    key ? key : "", msg.data ? msg.data : "");
    host_buf_free(&msg);
    chk->count++;
}
