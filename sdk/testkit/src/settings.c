/*
 * settings.c - per-tenant plugin settings as the host binds them.
 *
 * A test writes a section (plugin x tenant) as text.  tk_check() then does
 * what the host does with tenant files at start and at reload, in the same
 * order: for every tenant some section names and every plugin, "enabled"
 * must be a bool; unknown keys are refused; each key is parsed, bounded,
 * or defaulted, and required when the feature is enabled; the plugin's
 * check() runs on an enabled section that passed; then dependencies.  The
 * rules are the host's own code (host/core/schema.c): values parse as a
 * default_value does, and struct tn_config and its readers are the host's.
 * Error messages never quote a value, so a secret cannot leak through
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

/* "enabled", typed as the host reads it. */
static const tn_config_key enabled_key = {
    .name = HOST_KEY_ENABLED,
    .type = TN_TYPE_BOOL,
    .default_value = "false",
};

/* -- the schema itself ----------------------------------------------- */

typedef struct schema_report_ctx {
    tk_kit *tk;
    const char *plugin;
} schema_report_ctx;

static void schema_report(void *ctx, const tn_config_key *k, host_schema_fault fault)
{
    const schema_report_ctx *c = ctx;
    const char *why = "has a bad type or bounds";
    switch (fault) {
    case HOST_SCHEMA_BAD_NAME: why = "has a name that is not allowed"; break;
    case HOST_SCHEMA_TWICE: why = "is declared twice"; break;
    case HOST_SCHEMA_BAD_TYPE: break;
    case HOST_SCHEMA_BAD_DEFAULT: why = "has a default that is not a valid value"; break;
    }
    tk_log_kit(c->tk, TN_LOG_ERROR, "plugin %s refused: setting \"%s\" %s", c->plugin,
               k->name ? k->name : "?", why);
}

int tk_schema_validate(tk_kit *tk, const tn_plugin_desc *d)
{
    schema_report_ctx c = {tk, d->name};
    return host_schema_check(d->settings, schema_report, &c) == 0 ? TN_OK : TN_EINVAL;
}

/* -- sections as the test writes them -------------------------------- */

static tk_section *find_section(tk_kit *tk, const tn_plugin *p, const char *tenant)
{
    for (size_t i = 0; i < tk->sections.n; i++) {
        tk_section *s = tk->sections.items[i];
        if (s->plugin == p && strcmp(s->tenant, tenant) == 0)
            return s;
    }
    return NULL;
}

static const char *section_value(const tk_section *s, const char *key)
{
    for (size_t i = 0; s != NULL && i < s->keys.n; i++)
        if (strcmp(s->keys.items[i], key) == 0)
            return s->values.items[i];
    return NULL;
}

static void section_free(tk_section *s)
{
    for (size_t i = 0; i < s->keys.n; i++) {
        free(s->keys.items[i]);
        free(s->values.items[i]);
    }
    tk_list_clear(&s->keys);
    tk_list_clear(&s->values);
    free(s->tenant);
    free(s);
}

int tk_set_for(tk_kit *tk, const char *plugin, const char *tenant, const char *key,
               const char *value)
{
    tn_plugin *p = tk_find_plugin(tk, plugin);
    tk_section *s = NULL;
    char *k = NULL, *v = NULL;
    int rc = TN_ENOMEM;
    if (p == NULL)
        return TN_ENOTFOUND;
    if (tenant == NULL || tenant[0] == '\0' || key == NULL || key[0] == '\0')
        return TN_EINVAL;
    tk->dirty = 1;
    s = find_section(tk, p, tenant);
    if (s != NULL) {
        for (size_t i = 0; i < s->keys.n; i++) {
            if (strcmp(s->keys.items[i], key) != 0)
                continue;
            if (value == NULL) {
                free(s->keys.items[i]);
                free(s->values.items[i]);
                tk_list_remove_at(&s->keys, i);
                tk_list_remove_at(&s->values, i);
                return TN_OK;
            }
            v = tk_strdup(value);
            if (v == NULL)
                return TN_ENOMEM;
            free(s->values.items[i]);
            s->values.items[i] = v;
            return TN_OK;
        }
    }
    if (value == NULL)
        return TN_OK;
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            goto fail;
        s->plugin = p;
        s->tenant = tk_strdup(tenant);
        if (s->tenant == NULL || tk_list_push(&tk->sections, s) != TN_OK) {
            free(s->tenant);
            free(s);
            goto fail;
        }
    }
    k = tk_strdup(key);
    v = tk_strdup(value);
    if (k == NULL || v == NULL || tk_list_push(&s->keys, k) != TN_OK)
        goto fail;
    if (tk_list_push(&s->values, v) != TN_OK) {
        s->keys.n--;
        goto fail;
    }
    return TN_OK;

fail:
    free(k);
    free(v);
    return rc;
}

int tk_set(tk_kit *tk, const char *tenant, const char *key, const char *value)
{
    if (tk->plugins.n == 0)
        return TN_ENOTFOUND;
    tn_plugin *primary = tk->plugins.items[0];
    return tk_set_for(tk, primary->desc.name, tenant, key, value);
}

int tk_enable(tk_kit *tk, const char *tenant, int on)
{
    return tk_set(tk, tenant, HOST_KEY_ENABLED, on ? "true" : "false");
}

/* -- errors ---------------------------------------------------------- */

static void add_error(tk_kit *tk, const tn_plugin *p, const char *tenant, const char *key,
                      const char *message)
{
    tk_cfg_error *e = calloc(1, sizeof *e);
    if (e == NULL)
        return;
    e->plugin = tk_strdup(p->desc.name);
    e->tenant = tk_strdup(tenant);
    e->key = key ? tk_strdup(key) : NULL;
    e->message = tk_strdup(message);
    if (e->plugin == NULL || e->tenant == NULL || (key && e->key == NULL) || e->message == NULL ||
        tk_list_push(&tk->errors, e) != TN_OK) {
        free(e->plugin);
        free(e->tenant);
        free(e->key);
        free(e->message);
        free(e);
        return;
    }
    /* The host reports these in its log and in `tanomu check`. */
    tk_log_kit(tk, TN_LOG_ERROR, "tenant %s, %s.%s: %s", tenant, p->desc.name, key ? key : "*",
               message);
}

static void add_errorf(tk_kit *tk, const tn_plugin *p, const char *tenant, const char *key,
                       const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void add_errorf(tk_kit *tk, const tn_plugin *p, const char *tenant, const char *key,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = tk_vformat(fmt, ap);
    va_end(ap);
    add_error(tk, p, tenant, key, msg ? msg : "(out of memory)");
    free(msg);
}

static void errors_clear(tk_kit *tk)
{
    for (size_t i = 0; i < tk->errors.n; i++) {
        tk_cfg_error *e = tk->errors.items[i];
        free(e->plugin);
        free(e->tenant);
        free(e->key);
        free(e->message);
        free(e);
    }
    tk_list_clear(&tk->errors);
}

size_t tk_error_count(const tk_kit *tk)
{
    return tk->errors.n;
}

static const tk_cfg_error *error_at(const tk_kit *tk, size_t i)
{
    return i < tk->errors.n ? tk->errors.items[i] : NULL;
}

const char *tk_error_plugin(const tk_kit *tk, size_t i)
{
    const tk_cfg_error *e = error_at(tk, i);
    return e ? e->plugin : NULL;
}

const char *tk_error_tenant(const tk_kit *tk, size_t i)
{
    const tk_cfg_error *e = error_at(tk, i);
    return e ? e->tenant : NULL;
}

const char *tk_error_key(const tk_kit *tk, size_t i)
{
    const tk_cfg_error *e = error_at(tk, i);
    return e ? e->key : NULL;
}

const char *tk_error_message(const tk_kit *tk, size_t i)
{
    const tk_cfg_error *e = error_at(tk, i);
    return e ? e->message : NULL;
}

int tk_has_error(const tk_kit *tk, const char *tenant, const char *key)
{
    for (size_t i = 0; i < tk->errors.n; i++) {
        const tk_cfg_error *e = tk->errors.items[i];
        if (tenant != NULL && strcmp(e->tenant, tenant) != 0)
            continue;
        if ((key == NULL && e->key == NULL) ||
            (key != NULL && e->key != NULL && strcmp(e->key, key) == 0))
            return 1;
    }
    return 0;
}

/* -- generations ----------------------------------------------------- */

static void feature_free(tk_feature *f)
{
    host_tn_config_free(f->cfg);
    free(f->tenant);
    free(f);
}

static void generation_free(tk_generation *g)
{
    for (size_t i = 0; i < g->features.n; i++)
        feature_free(g->features.items[i]);
    tk_list_clear(&g->features);
    free(g);
}

static tk_feature *find_feature(const tk_generation *gen, const tn_plugin *p, const char *tenant)
{
    for (size_t i = 0; gen != NULL && tenant != NULL && i < gen->features.n; i++) {
        tk_feature *f = gen->features.items[i];
        if (f->plugin == p && strcmp(f->tenant, tenant) == 0)
            return f;
    }
    return NULL;
}

int tk_enabled(const tk_generation *gen, const tn_plugin *p, const char *tenant)
{
    const tk_feature *f = find_feature(gen, p, tenant);
    return f != NULL && f->enabled && !p->failed;
}

int tk_tenant_known(const tk_generation *gen, const char *tenant)
{
    for (size_t i = 0; gen != NULL && i < gen->features.n; i++) {
        const tk_feature *f = gen->features.items[i];
        if (strcmp(f->tenant, tenant) == 0)
            return 1;
    }
    return 0;
}

/*
 * Applies one section (NULL: the tenant wrote none) to f's plugin schema,
 * as the host's section_parse() does.  *bad counts the problems; TN_ENOMEM
 * if the config could not be built at all.
 */
static int section_config(tk_kit *tk, tk_feature *f, const tk_section *s, size_t *bad)
{
    const tn_plugin *p = f->plugin;
    tn_config *cfg = host_tn_config_new(f->tenant, p, p->desc.settings);
    if (cfg == NULL)
        return TN_ENOMEM;
    /* Unknown keys first, so a typo is reported even with other errors. */
    for (size_t i = 0; s != NULL && i < s->keys.n; i++) {
        const char *name = s->keys.items[i];
        if (strcmp(name, HOST_KEY_ENABLED) != 0 &&
            host_key_index(cfg->keys, cfg->nkeys, name) < 0) {
            add_error(tk, p, f->tenant, name, "unknown setting");
            (*bad)++;
        }
    }
    for (int i = 0; i < cfg->nkeys; i++) {
        const tn_config_key *k = &cfg->keys[i];
        host_value *v = &cfg->values[i];
        const char *text = section_value(s, k->name);
        if (text == NULL) {
            if (host_value_unset(k, f->enabled, v) != 0) {
                add_error(tk, p, f->tenant, k->name, "is required");
                (*bad)++;
            }
            continue;
        }
        if (host_value_parse(k, text, v) != 0) {
            add_errorf(tk, p, f->tenant, k->name, "must be a %s", host_type_name(k->type));
            (*bad)++;
            continue;
        }
        v->set = 1;
        char *sealed_why = NULL;
        if (tk_secret_setting(tk, f->tenant, p, k, v, &sealed_why) != 0) {
            add_errorf(tk, p, f->tenant, k->name, "%s", sealed_why ? sealed_why : "out of memory");
            free(sealed_why);
            (*bad)++;
            continue;
        }
        const char *why = host_value_out_of_bounds(k, v);
        if (why != NULL) {
            add_errorf(tk, p, f->tenant, k->name, "%s (%g..%g)", why, k->min, k->max);
            (*bad)++;
        }
    }
    f->cfg = cfg;
    return TN_OK;
}

/* The plugin's cross-field rules, on an enabled section that passed. */
static void run_check(tk_kit *tk, tk_feature *f, size_t *bad)
{
    tn_plugin *p = f->plugin;
    tn_check chk = {tk, p, f->tenant, 0};
    tn_plugin *saved;
    tk_enter(tk, p, &saved);
    int rc = p->desc.check(&tk->api, f->cfg, &chk);
    tk_leave(tk, saved);
    if (rc != 0 || chk.reported > 0) {
        if (chk.reported == 0)
            add_error(tk, p, f->tenant, NULL, "settings refused by plugin");
        (*bad)++;
    }
}

/* Builds plugin p's feature for one tenant into gen. */
static int bind_feature(tk_kit *tk, tk_generation *gen, tn_plugin *p, const char *tenant,
                        size_t *bad)
{
    const tk_section *s = find_section(tk, p, tenant);
    const char *en = section_value(s, HOST_KEY_ENABLED);
    host_value v = {0, NULL, 0, 0};
    size_t before = *bad;
    tk_feature *f = calloc(1, sizeof *f);
    if (f == NULL)
        return TN_ENOMEM;
    f->plugin = p;
    f->tenant = tk_strdup(tenant);
    if (f->tenant == NULL || tk_list_push(&gen->features, f) != TN_OK) {
        feature_free(f);
        return TN_ENOMEM;
    }
    if (en != NULL && host_value_parse(&enabled_key, en, &v) != 0) {
        add_error(tk, p, tenant, HOST_KEY_ENABLED, "must be true or false");
        (*bad)++;
        return TN_OK;
    }
    f->enabled = v.i != 0;
    if (section_config(tk, f, s, bad) != TN_OK)
        return TN_ENOMEM;
    if (*bad > before) {
        /* The host drops a section with errors and leaves the plugin off. */
        host_tn_config_free(f->cfg);
        f->cfg = NULL;
        f->enabled = 0;
    } else if (f->enabled && !p->failed && p->desc.check != NULL) {
        run_check(tk, f, bad);
    }
    return TN_OK;
}

/* A tenant that enables a plugin enables what it depends on. */
static void check_depends(tk_kit *tk, const tk_generation *gen, const char *tenant, size_t *bad)
{
    for (size_t i = 0; i < gen->features.n; i++) {
        const tk_feature *f = gen->features.items[i];
        if (!f->enabled || strcmp(f->tenant, tenant) != 0)
            continue;
        for (const char *const *d = f->plugin->desc.depends; d && *d; d++) {
            const tk_feature *dep = find_feature(gen, tk_find_plugin(tk, *d), tenant);
            if (dep != NULL && !dep->enabled) {
                add_errorf(tk, f->plugin, tenant, NULL, "needs %s enabled for this tenant too", *d);
                (*bad)++;
            }
        }
    }
}

/* The tenants, in the order sections first name them. */
static int collect_tenants(const tk_kit *tk, tk_list *tenants)
{
    for (size_t i = 0; i < tk->sections.n; i++) {
        const tk_section *s = tk->sections.items[i];
        int seen = 0;
        for (size_t j = 0; j < tenants->n && !seen; j++)
            seen = strcmp(tenants->items[j], s->tenant) == 0;
        if (!seen && tk_list_push(tenants, s->tenant) != TN_OK)
            return TN_ENOMEM;
    }
    return TN_OK;
}

size_t tk_check(tk_kit *tk)
{
    tk_generation *gen = calloc(1, sizeof *gen);
    tk_list tenants = {0};
    size_t bad = 0;
    errors_clear(tk);
    if (gen == NULL || collect_tenants(tk, &tenants) != TN_OK)
        goto oom;
    for (size_t t = 0; t < tenants.n; t++) {
        for (size_t i = 0; i < tk->plugins.n; i++)
            if (bind_feature(tk, gen, tk->plugins.items[i], tenants.items[t], &bad) != TN_OK)
                goto oom;
        check_depends(tk, gen, tenants.items[t], &bad);
    }
    tk_list_clear(&tenants);
    if (bad > 0) {
        generation_free(gen);
        return tk->errors.n ? tk->errors.n : bad;
    }
    if (tk_list_push(&tk->generations, gen) != TN_OK) {
        generation_free(gen);
        tk_log_kit(tk, TN_LOG_ERROR, "out of memory applying settings");
        return 1;
    }
    /* Requests already running keep the generation they started with. */
    tk->live = gen;
    tk->dirty = 0;
    return 0;

oom:
    tk_list_clear(&tenants);
    if (gen != NULL)
        generation_free(gen);
    tk_log_kit(tk, TN_LOG_ERROR, "out of memory applying settings");
    return tk->errors.n ? tk->errors.n : 1;
}

void tk_settings_apply(tk_kit *tk)
{
    if (tk->dirty)
        tk_check(tk);
}

void tk_settings_free(tk_kit *tk)
{
    errors_clear(tk);
    for (size_t i = 0; i < tk->generations.n; i++)
        generation_free(tk->generations.items[i]);
    tk_list_clear(&tk->generations);
    tk->live = NULL;
    for (size_t i = 0; i < tk->sections.n; i++)
        section_free(tk->sections.items[i]);
    tk_list_clear(&tk->sections);
}

/* -- the API a plugin reads its settings with ------------------------ */

/* The readers are the host's (schema.c).  Reading a key the schema does
 * not have, or with the reader of another type, quietly gives ""/0/false
 * there; here it also warns, since it is a bug in the plugin. */
static void warn_misuse(const tn_config *cfg, const char *key, tn_type want, const char *fn)
{
    if (cfg == NULL || key == NULL)
        return;
    tk_kit *tk = cfg->plugin->tk;
    const char *plugin = cfg->plugin->desc.name;
    int i = host_key_index(cfg->keys, cfg->nkeys, key);
    if (i < 0)
        tk_log_kit(tk, TN_LOG_WARN, "plugin %s: %s(\"%s\"): no such setting", plugin, fn, key);
    else if (cfg->keys[i].type != want)
        tk_log_kit(tk, TN_LOG_WARN, "plugin %s: %s(\"%s\") on a %s setting", plugin, fn, key,
                   host_type_name(cfg->keys[i].type));
}

const char *tk_api_config_str(const tn_config *cfg, const char *key)
{
    warn_misuse(cfg, key, TN_TYPE_STRING, "config_str");
    return host_config_str(cfg, key);
}

int64_t tk_api_config_int(const tn_config *cfg, const char *key)
{
    warn_misuse(cfg, key, TN_TYPE_INT, "config_int");
    return host_config_int(cfg, key);
}

int tk_api_config_bool(const tn_config *cfg, const char *key)
{
    warn_misuse(cfg, key, TN_TYPE_BOOL, "config_bool");
    return host_config_bool(cfg, key);
}

double tk_api_config_float(const tn_config *cfg, const char *key)
{
    warn_misuse(cfg, key, TN_TYPE_FLOAT, "config_float");
    return host_config_float(cfg, key);
}

void tk_api_check_error(tn_check *chk, const char *key, const char *fmt, ...)
{
    if (chk == NULL || fmt == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = tk_vformat(fmt, ap);
    va_end(ap);
    chk->reported++;
    add_error(chk->tk, chk->plugin, chk->tenant, key, msg ? msg : "(out of memory)");
    free(msg);
}

/* As on the host: the tenant's values for the plugin, enabled or not. */
const tn_config *tk_api_req_config(tn_request *req, const tn_plugin *self)
{
    const tk_feature *f = req ? find_feature(req->gen, self, req->tenant) : NULL;
    return f ? f->cfg : NULL;
}

const tn_config *tk_api_tenant_config(const tn_plugin *self, const char *tenant_id)
{
    const tk_feature *f = self ? find_feature(self->tk->live, self, tenant_id) : NULL;
    return f ? f->cfg : NULL;
}
