/*
 * settings.c - schema checks, per-tenant values and the settings part of
 * the plugin API.  See settings.h.
 */
#include "settings.h"

#include <errno.h>
#include <math.h>
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

static const char *type_name(tn_type t)
{
    switch (t) {
    case TN_TYPE_STRING: return "string";
    case TN_TYPE_INT: return "int";
    case TN_TYPE_BOOL: return "bool";
    case TN_TYPE_FLOAT: return "float";
    }
    return "?";
}

static int count_keys(const tn_config_key *k)
{
    int n = 0;

    while (k && k[n].name)
        n++;
    return n;
}

static int bounded(const tn_config_key *k)
{
    return k->min != 0 || k->max != 0;
}

/* Parses a value written as text (a default) into v. */
static int parse_text(const tn_config_key *k, const char *text, host_value *v)
{
    char *end;

    switch (k->type) {
    case TN_TYPE_STRING:
        v->s = strdup(text);
        return v->s ? 0 : -1;
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

/* NULL if v is within k's bounds, else what is wrong. */
static const char *out_of_bounds(const tn_config_key *k, const host_value *v)
{
    double x;

    if (!bounded(k))
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

int host_schema_validate(const tn_plugin *p, const char *conf_file, host_errors *errs)
{
    const tn_config_key *keys = p->desc.settings;
    int i, j, n = count_keys(keys), bad = 0;

    for (i = 0; i < n; i++) {
        const tn_config_key *k = &keys[i];
        host_value v = {0, NULL, 0, 0};
        if (!host_plugin_name_valid(k->name) || strcmp(k->name, "enabled") == 0) {
            host_errors_add(errs, conf_file, 0, "plugin %s: setting name '%s' is not allowed",
                            p->name, k->name);
            bad = 1;
            continue;
        }
        for (j = 0; j < i; j++)
            if (strcmp(keys[j].name, k->name) == 0) {
                host_errors_add(errs, conf_file, 0, "plugin %s: setting '%s' declared twice",
                                p->name, k->name);
                bad = 1;
            }
        if (k->type < TN_TYPE_STRING || k->type > TN_TYPE_FLOAT || k->min > k->max) {
            host_errors_add(errs, conf_file, 0, "plugin %s: setting '%s' has a bad type or bounds",
                            p->name, k->name);
            bad = 1;
            continue;
        }
        if (k->default_value && (parse_text(k, k->default_value, &v) != 0 ||
                                 out_of_bounds(k, &v))) {
            host_errors_add(errs, conf_file, 0,
                            "plugin %s: default of setting '%s' is not a valid %s", p->name,
                            k->name, type_name(k->type));
            bad = 1;
        }
        free(v.s);
    }
    return bad ? -1 : 0;
}

static int line_of(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

/* Reads one value from the file into v; reports type and bound errors. */
static int read_value(const tn_config_key *k, config_setting_t *s, host_value *v,
                      const char *file, const char *plugin, host_errors *errs)
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
    if ((why = out_of_bounds(k, v)) != NULL) {
        host_errors_add(errs, file, line_of(s), "%s.%s: %s (%g..%g)", plugin, k->name, why,
                        k->min, k->max);
        return -1;
    }
    return 0;
type:
    host_errors_add(errs, file, line_of(s), "%s.%s must be a %s", plugin, k->name,
                    type_name(k->type));
    return -1;
}

static void config_free(tn_config *cfg)
{
    int i;

    if (!cfg)
        return;
    for (i = 0; i < cfg->nkeys; i++)
        free(cfg->values[i].s);
    free(cfg->values);
    free(cfg);
}

/* Builds a plugin's tn_config for one tenant from its section (or NULL). */
static tn_config *section_parse(const host_tenant *t, const tn_plugin *p, config_setting_t *sec,
                                int enabled, host_errors *errs)
{
    const tn_config_key *keys = p->desc.settings;
    tn_config *cfg = calloc(1, sizeof *cfg);
    int i, j, n = count_keys(keys), bad = 0;

    if (!cfg)
        return NULL;
    cfg->tenant_id = t->id;
    cfg->plugin = p;
    cfg->keys = keys;
    cfg->nkeys = n;
    if (!(cfg->values = calloc((size_t)n + 1, sizeof *cfg->values)))
        goto fail;
    /* Unknown keys first, so a typo is reported even with other errors. */
    for (j = 0; sec && j < config_setting_length(sec); j++) {
        config_setting_t *m = config_setting_get_elem(sec, (unsigned)j);
        const char *name = config_setting_name(m);
        if (name && strcmp(name, "enabled") == 0)
            continue;
        for (i = 0; i < n; i++)
            if (name && strcmp(name, keys[i].name) == 0)
                break;
        if (i == n) {
            host_errors_add(errs, t->file, line_of(m),
                            "unknown setting '%s' for plugin %s (see tanomu plugins --schema %s)",
                            name ? name : "?", p->name, p->name);
            bad = 1;
        }
    }
    for (i = 0; i < n; i++) {
        config_setting_t *s = sec ? config_setting_get_member(sec, keys[i].name) : NULL;
        if (s) {
            if (read_value(&keys[i], s, &cfg->values[i], t->file, p->name, errs) != 0)
                bad = 1;
        } else if (keys[i].default_value) {
            parse_text(&keys[i], keys[i].default_value, &cfg->values[i]);
        } else if (enabled && (keys[i].flags & TN_KEY_REQUIRED)) {
            host_errors_add(errs, t->file, line_of(sec), "%s.%s is required", p->name,
                            keys[i].name);
            bad = 1;
        }
    }
    if (bad)
        goto fail;
    return cfg;
fail:
    config_free(cfg);
    return NULL;
}

static int bind_tenant(host_tenant *t, const host_plugins *ps, const tn_api *api, int strict,
                       host_errors *errs)
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
        f->cfg = section_parse(t, p, sec, f->enabled, errs);
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
                                "%s needs %s enabled for this tenant too", ps->v[i]->name,
                                dep[j]);
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
        if (bind_tenant(&conf->tenants[i], ps, api, strict, errs) != 0)
            bad = 1;
    }
    return bad ? -1 : 0;
}

void host_features_free(host_tenant *t)
{
    int i;

    for (i = 0; i < t->nfeatures; i++)
        config_free(t->features[i].cfg);
    free(t->features);
    t->features = NULL;
    t->nfeatures = 0;
}

void host_schema_print(const tn_plugin *p, FILE *out)
{
    const tn_config_key *keys = p->desc.settings;
    int i, n = count_keys(keys);

    fprintf(out, "%s %s (SDK ABI %u.%u)\n", p->name, p->desc.version ? p->desc.version : "?",
            p->desc.abi_major, p->desc.abi_minor);
    if (p->desc.description)
        fprintf(out, "  %s\n", p->desc.description);
    fprintf(out, "\nSettings (tenant file: tenant.features.%s { ... }):\n", p->name);
    fprintf(out, "  enabled  bool  default false\n      Turns the feature on for the tenant.\n");
    for (i = 0; i < n; i++) {
        const tn_config_key *k = &keys[i];
        fprintf(out, "  %s  %s", k->name, type_name(k->type));
        if (k->flags & TN_KEY_REQUIRED)
            fprintf(out, "  required");
        if (k->default_value)
            fprintf(out, "  default %s",
                    (k->flags & TN_KEY_SECRET) ? "(secret)" : k->default_value);
        if (bounded(k))
            fprintf(out, "  %s %g..%g", k->type == TN_TYPE_STRING ? "length" : "range", k->min,
                    k->max);
        if (k->flags & TN_KEY_SECRET)
            fprintf(out, "  secret (never printed or logged)");
        fprintf(out, "\n      %s\n", k->description ? k->description : "");
    }
}

/* ---- the API ------------------------------------------------------------ */

static const host_value *lookup(const tn_config *cfg, const char *key)
{
    int i;

    if (!cfg || !key)
        return NULL;
    for (i = 0; i < cfg->nkeys; i++)
        if (strcmp(cfg->keys[i].name, key) == 0)
            return &cfg->values[i];
    return NULL;
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
