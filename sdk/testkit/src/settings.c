/*
 * settings.c - per-tenant plugin settings as the host treats them.
 *
 * A test writes a section (plugin x tenant) as text, the way a tenant file
 * reads.  tk_check() then does what the host does at start and at reload:
 * applies the plugin's schema (types, defaults, bounds, required keys,
 * unknown keys rejected; see tanomu/plugin.h), checks dependencies, runs
 * the plugin's check() and, if nothing is wrong, makes the result the live
 * generation.  Error messages never quote a value, so a secret cannot leak
 * through them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tk_internal.h"

#define TK_ENABLED_KEY "enabled"

/* -- parsing one value against its key ------------------------------- */

static int has_bounds(const tn_config_key *k)
{
    return !(k->min == 0 && k->max == 0);
}

static void free_value(tk_value *v)
{
    free(v->text);
    v->text = NULL;
}

static int parse_bool(const char *text, int *out)
{
    if (strcasecmp(text, "true") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(text, "false") == 0) {
        *out = 0;
        return 0;
    }
    return -1;
}

/*
 * Parses `text` as key k's type into v and checks the bounds.  Returns 0,
 * -1 with a message in err, or TN_ENOMEM.
 */
static int parse_value(const tn_config_key *k, const char *text, tk_value *v,
                       char *err, size_t errlen)
{
    char *end = NULL;
    switch (k->type) {
    case TN_TYPE_STRING: {
        size_t len = strlen(text);
        if (has_bounds(k) && ((double)len < k->min || (double)len > k->max)) {
            snprintf(err, errlen, "length must be %.0f to %.0f bytes", k->min, k->max);
            return -1;
        }
        v->text = tk_strdup(text);
        return v->text ? 0 : TN_ENOMEM;
    }
    case TN_TYPE_INT: {
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (text[0] == '\0' || text[0] == ' ' || text[0] == '\t' || *end != '\0' ||
            errno == ERANGE) {
            snprintf(err, errlen, "must be an integer");
            return -1;
        }
        if (has_bounds(k) && ((double)n < k->min || (double)n > k->max)) {
            snprintf(err, errlen, "must be %.0f to %.0f", k->min, k->max);
            return -1;
        }
        v->i = (int64_t)n;
        return 0;
    }
    case TN_TYPE_BOOL:
        if (parse_bool(text, &v->b) != 0) {
            snprintf(err, errlen, "must be true or false");
            return -1;
        }
        return 0;
    case TN_TYPE_FLOAT: {
        errno = 0;
        double f = strtod(text, &end);
        if (text[0] == '\0' || text[0] == ' ' || text[0] == '\t' || *end != '\0' ||
            errno == ERANGE || !isfinite(f)) {
            snprintf(err, errlen, "must be a number");
            return -1;
        }
        if (has_bounds(k) && (f < k->min || f > k->max)) {
            snprintf(err, errlen, "must be %g to %g", k->min, k->max);
            return -1;
        }
        v->f = f;
        return 0;
    }
    }
    snprintf(err, errlen, "has an unknown type");
    return -1;
}

/* The schema must make sense before any tenant is checked against it. */
int tk_schema_validate(tk_kit *tk, const tn_plugin_desc *d)
{
    const char *pn = d->name;
    for (const tn_config_key *k = d->settings; k != NULL && k->name != NULL; k++) {
        char err[160];
        if (!tk_name_ok(k->name, 63, NULL) || strcmp(k->name, TK_ENABLED_KEY) == 0) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: bad setting name \"%s\"",
                       pn, k->name);
            return TN_EINVAL;
        }
        for (const tn_config_key *o = d->settings; o != k; o++) {
            if (strcmp(o->name, k->name) == 0) {
                tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: setting %s twice",
                           pn, k->name);
                return TN_EINVAL;
            }
        }
        if (k->type < TN_TYPE_STRING || k->type > TN_TYPE_FLOAT ||
            (k->flags & ~(TN_KEY_REQUIRED | TN_KEY_SECRET)) != 0 ||
            (has_bounds(k) && (k->type == TN_TYPE_BOOL || k->min > k->max)) ||
            ((k->flags & TN_KEY_REQUIRED) && k->default_value != NULL)) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: setting %s has a bad "
                       "type, flags, bounds, or a default though required", pn, k->name);
            return TN_EINVAL;
        }
        if (k->default_value != NULL) {
            tk_value v = {0};
            int rc = parse_value(k, k->default_value, &v, err, sizeof err);
            free_value(&v);
            if (rc == TN_ENOMEM)
                return rc;
            if (rc != 0) {
                tk_log_kit(tk, TN_LOG_ERROR, "plugin %s refused: default of %s %s",
                           pn, k->name, err);
                return TN_EINVAL;
            }
        }
    }
    return TN_OK;
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

int tk_set_for(tk_kit *tk, const char *plugin, const char *tenant,
               const char *key, const char *value)
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
    return tk_set(tk, tenant, TK_ENABLED_KEY, on ? "true" : "false");
}

/* -- errors ---------------------------------------------------------- */

static void add_error(tk_kit *tk, const tn_plugin *p, const char *tenant,
                      const char *key, const char *message)
{
    tk_cfg_error *e = calloc(1, sizeof *e);
    if (e == NULL)
        return;
    e->plugin = tk_strdup(p->desc.name);
    e->tenant = tk_strdup(tenant);
    e->key = key ? tk_strdup(key) : NULL;
    e->message = tk_strdup(message);
    if (e->plugin == NULL || e->tenant == NULL || (key && e->key == NULL) ||
        e->message == NULL || tk_list_push(&tk->errors, e) != TN_OK) {
        free(e->plugin);
        free(e->tenant);
        free(e->key);
        free(e->message);
        free(e);
        return;
    }
    /* The host reports these in its log and in `tanomu check`. */
    tk_log_kit(tk, TN_LOG_ERROR, "tenant %s, %s.%s: %s", tenant, p->desc.name,
               key ? key : "*", message);
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

static void config_free(tn_config *c)
{
    for (size_t i = 0; i < c->nvals; i++)
        free_value(&c->vals[i]);
    free(c->vals);
    free(c->tenant);
    free(c);
}

static void generation_free(tk_generation *g)
{
    for (size_t i = 0; i < g->configs.n; i++)
        config_free(g->configs.items[i]);
    tk_list_clear(&g->configs);
    free(g);
}

static size_t count_keys(const tn_config_key *keys)
{
    size_t n = 0;
    for (; keys != NULL && keys[n].name != NULL; n++)
        ;
    return n;
}

static const char *section_value(const tk_section *s, const char *key)
{
    for (size_t i = 0; i < s->keys.n; i++)
        if (strcmp(s->keys.items[i], key) == 0)
            return s->values.items[i];
    return NULL;
}

/* Applies the schema to one section.  *errors counts what was wrong. */
static int build_config(tk_kit *tk, const tk_section *s, tn_config **out,
                        size_t *errors)
{
    const tn_config_key *keys = s->plugin->desc.settings;
    size_t nkeys = count_keys(keys);
    char err[160];
    int rc = TN_ENOMEM;
    tn_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return TN_ENOMEM;
    c->tk = tk;
    c->plugin = s->plugin;
    c->nvals = nkeys;
    c->tenant = tk_strdup(s->tenant);
    c->vals = calloc(nkeys ? nkeys : 1, sizeof *c->vals);
    if (c->tenant == NULL || c->vals == NULL)
        goto fail;

    /* Unknown keys first, "enabled" being the host's own key. */
    for (size_t i = 0; i < s->keys.n; i++) {
        const char *name = s->keys.items[i];
        int known = strcmp(name, TK_ENABLED_KEY) == 0;
        for (size_t j = 0; j < nkeys && !known; j++)
            known = strcmp(keys[j].name, name) == 0;
        if (!known) {
            add_error(tk, s->plugin, s->tenant, name, "unknown setting");
            (*errors)++;
        }
    }
    const char *en = section_value(s, TK_ENABLED_KEY);
    if (en != NULL && parse_bool(en, &c->enabled) != 0) {
        add_error(tk, s->plugin, s->tenant, TK_ENABLED_KEY, "must be true or false");
        (*errors)++;
    }

    for (size_t j = 0; j < nkeys; j++) {
        const tn_config_key *k = &keys[j];
        const char *text = section_value(s, k->name);
        c->vals[j].is_set = text != NULL;
        if (text == NULL && (k->flags & TN_KEY_REQUIRED)) {
            /* A section that is off may be incomplete. */
            if (c->enabled) {
                add_error(tk, s->plugin, s->tenant, k->name, "required setting is missing");
                (*errors)++;
            }
        }
        if (text == NULL)
            text = k->default_value;
        if (text == NULL) {
            /* No value and no default: empty, 0 or false. */
            if (k->type == TN_TYPE_STRING && (c->vals[j].text = tk_strdup("")) == NULL)
                goto fail;
            continue;
        }
        rc = parse_value(k, text, &c->vals[j], err, sizeof err);
        if (rc == TN_ENOMEM)
            goto fail;
        if (rc != 0) {
            add_error(tk, s->plugin, s->tenant, k->name, err);
            (*errors)++;
        }
    }
    *out = c;
    return TN_OK;

fail:
    config_free(c);
    return TN_ENOMEM;
}

const tn_config *tk_gen_config(const tk_generation *gen, const tn_plugin *p,
                               const char *tenant)
{
    if (gen == NULL || tenant == NULL)
        return NULL;
    for (size_t i = 0; i < gen->configs.n; i++) {
        const tn_config *c = gen->configs.items[i];
        if (c->plugin == p && strcmp(c->tenant, tenant) == 0)
            return c;
    }
    return NULL;
}

int tk_enabled(const tk_generation *gen, const tn_plugin *p, const char *tenant)
{
    const tn_config *c = tk_gen_config(gen, p, tenant);
    return c != NULL && c->enabled && !p->failed;
}

size_t tk_check(tk_kit *tk)
{
    tk_generation *gen = calloc(1, sizeof *gen);
    size_t *bad = NULL;
    errors_clear(tk);
    if (gen == NULL)
        goto oom;
    bad = calloc(tk->sections.n ? tk->sections.n : 1, sizeof *bad);
    if (bad == NULL)
        goto oom;

    for (size_t i = 0; i < tk->sections.n; i++) {
        tn_config *c = NULL;
        if (build_config(tk, tk->sections.items[i], &c, &bad[i]) != TN_OK)
            goto oom;
        if (tk_list_push(&gen->configs, c) != TN_OK) {
            config_free(c);
            goto oom;
        }
    }
    /* A plugin enabled for a tenant needs its dependencies enabled too. */
    for (size_t i = 0; i < gen->configs.n; i++) {
        tn_config *c = gen->configs.items[i];
        if (!c->enabled)
            continue;
        for (const char *const *d = c->plugin->desc.depends; d && *d; d++) {
            tn_plugin *dep = tk_find_plugin(tk, *d);
            if (dep == NULL || !tk_enabled(gen, dep, c->tenant)) {
                char msg[96];
                snprintf(msg, sizeof msg, "needs plugin %s enabled for this tenant", *d);
                add_error(tk, c->plugin, c->tenant, NULL, msg);
                bad[i]++;
            }
        }
    }
    /* The plugin's cross-field rules, on sections that passed the schema. */
    for (size_t i = 0; i < gen->configs.n; i++) {
        tn_config *c = gen->configs.items[i];
        if (!c->enabled || bad[i] || c->plugin->failed || c->plugin->desc.check == NULL)
            continue;
        tn_check chk = { tk, c->plugin, c->tenant, 0 };
        tn_plugin *saved;
        tk_enter(tk, c->plugin, &saved);
        int rc = c->plugin->desc.check(&tk->api, c, &chk);
        tk_leave(tk, saved);
        if (rc != 0 && chk.reported == 0)
            add_error(tk, c->plugin, c->tenant, NULL, "check() failed without saying why");
    }
    free(bad);
    if (tk->errors.n > 0) {
        generation_free(gen);
        return tk->errors.n;
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
    free(bad);
    if (gen != NULL)
        generation_free(gen);
    tk_log_kit(tk, TN_LOG_ERROR, "out of memory applying settings");
    return tk->errors.n ? tk->errors.n : 1;
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

/* The value of `key`, or NULL (and a warning in the log, since it is a bug
 * in the plugin) when there is no such key or it has another type. */
static const tk_value *lookup(const tn_config *cfg, const char *key, tn_type want,
                              const char *fn)
{
    if (cfg == NULL || key == NULL)
        return NULL;
    const tn_config_key *keys = cfg->plugin->desc.settings;
    for (size_t i = 0; i < cfg->nvals; i++) {
        if (strcmp(keys[i].name, key) != 0)
            continue;
        if (keys[i].type != want) {
            tk_log_kit(cfg->tk, TN_LOG_WARN, "plugin %s: %s(\"%s\") on a %s setting",
                       cfg->plugin->desc.name, fn, key, type_name(keys[i].type));
            return NULL;
        }
        return &cfg->vals[i];
    }
    tk_log_kit(cfg->tk, TN_LOG_WARN, "plugin %s: %s(\"%s\"): no such setting",
               cfg->plugin->desc.name, fn, key);
    return NULL;
}

const char *tk_api_config_tenant(const tn_config *cfg)
{
    return cfg ? cfg->tenant : NULL;
}

const char *tk_api_config_str(const tn_config *cfg, const char *key)
{
    const tk_value *v = lookup(cfg, key, TN_TYPE_STRING, "config_str");
    return v ? v->text : NULL;
}

int64_t tk_api_config_int(const tn_config *cfg, const char *key)
{
    const tk_value *v = lookup(cfg, key, TN_TYPE_INT, "config_int");
    return v ? v->i : 0;
}

int tk_api_config_bool(const tn_config *cfg, const char *key)
{
    const tk_value *v = lookup(cfg, key, TN_TYPE_BOOL, "config_bool");
    return v ? v->b : 0;
}

double tk_api_config_float(const tn_config *cfg, const char *key)
{
    const tk_value *v = lookup(cfg, key, TN_TYPE_FLOAT, "config_float");
    return v ? v->f : 0.0;
}

int tk_api_config_is_set(const tn_config *cfg, const char *key)
{
    if (cfg == NULL || key == NULL)
        return 0;
    const tn_config_key *keys = cfg->plugin->desc.settings;
    for (size_t i = 0; i < cfg->nvals; i++)
        if (strcmp(keys[i].name, key) == 0)
            return cfg->vals[i].is_set;
    return 0;
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

const tn_config *tk_api_req_config(tn_request *req, const tn_plugin *self)
{
    if (req == NULL || self == NULL || !tk_enabled(req->gen, self, req->tenant))
        return NULL;
    return tk_gen_config(req->gen, self, req->tenant);
}
