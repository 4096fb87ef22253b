/*
 * plugin_loader.c - dlopen, descriptor checks, dependency and order
 * resolution.  See plugin_loader.h.
 */
#include "plugin_loader.h"

#include <stdarg.h>
#include <stdio.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "names.h"
#include "schema.h"

/* Where host_schema_check() reports, and what it reports about. */
typedef struct schema_report_ctx {
    const tn_plugin *p;
    const char *conf_file;
    host_errors *errs;
} schema_report_ctx;

static void schema_report(void *ctx, const tn_config_key *k, host_schema_fault fault)
{
    const schema_report_ctx *c = ctx;

    switch (fault) {
    case HOST_SCHEMA_BAD_NAME:
        host_errors_add(c->errs, c->conf_file, 0, "plugin %s: setting name '%s' is not allowed",
                        c->p->name, k->name);
        break;
    case HOST_SCHEMA_TWICE:
        host_errors_add(c->errs, c->conf_file, 0, "plugin %s: setting '%s' declared twice",
                        c->p->name, k->name);
        break;
    case HOST_SCHEMA_BAD_TYPE:
        host_errors_add(c->errs, c->conf_file, 0,
                        "plugin %s: setting '%s' has a bad type or bounds", c->p->name, k->name);
        break;
    case HOST_SCHEMA_BAD_DEFAULT:
        host_errors_add(c->errs, c->conf_file, 0,
                        "plugin %s: default of setting '%s' is not a valid %s", c->p->name, k->name,
                        host_type_name(k->type));
        break;
    }
}

static int schema_validate(const tn_plugin *p, const char *conf_file, host_errors *errs)
{
    schema_report_ctx c = {p, conf_file, errs};
    int rc = host_schema_check(p->desc.settings, schema_report, &c);

    /* ABI 1.2: the plugin-wide keys (plugins.NAME) follow the same rules. */
    if (host_schema_check(p->desc.global_settings, schema_report, &c) != 0)
        rc = -1;
    return rc;
}

static void plugin_free(tn_plugin *p)
{
    if (!p)
        return;
    host_tn_config_free(p->global_cfg); /* its keys are the plugin's: before dlclose */
    if (p->dl)
        dlclose(p->dl);
    free(p->settings_copy);
    free(p->path);
    free(p);
}

/* Every problem goes to errs as one line that names the plugin. */
/* ABI 1.0 setting entries end before the reserved members 1.1 appended:
 * read them with their own stride into entries of today's size, so the
 * rest of the host sees one layout. */
#define KEY_V1_0_SIZE offsetof(tn_config_key, reserved)

static int widen_settings(tn_plugin *p)
{
    const char *raw = (const char *)p->desc.settings;
    size_t n = 0, i;

    if (!raw || p->desc.abi_minor >= 1)
        return 0;
    while (((const tn_config_key *)(const void *)(raw + n * KEY_V1_0_SIZE))->name)
        n++;
    if (!(p->settings_copy = calloc(n + 1, sizeof *p->settings_copy)))
        return -1;
    for (i = 0; i < n; i++)
        memcpy(&p->settings_copy[i], raw + i * KEY_V1_0_SIZE, KEY_V1_0_SIZE);
    p->desc.settings = p->settings_copy;
    return 0;
}

static tn_plugin *plugin_open(const char *dir, const char *name, const char *conf_file, int line,
                              host_errors *errs)
{
    tn_plugin *p = calloc(1, sizeof *p);
    tn_plugin_entry_fn entry;
    const tn_plugin_desc *d;
    struct stat st;
    size_t dl = strlen(dir), nl = strlen(name);

    if (!p)
        goto fail;
    memcpy(p->name, name, nl + 1);
    if (!(p->path = malloc(dl + nl + 5)))
        goto fail;
    memcpy(p->path, dir, dl);
    p->path[dl] = '/';
    memcpy(p->path + dl + 1, name, nl);
    memcpy(p->path + dl + 1 + nl, ".so", 4);
    if (stat(p->path, &st) != 0 || !S_ISREG(st.st_mode)) {
        host_errors_add(errs, conf_file, line, "plugin %s: no file %s", name, p->path);
        goto fail;
    }
    /* RTLD_LOCAL keeps plugins from seeing each other's symbols; NOW finds
     * unresolved symbols here, not in the middle of a request. */
    p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        host_errors_add(errs, conf_file, line, "plugin %s: cannot load: %s", name, dlerror());
        goto fail;
    }
    *(void **)&entry = dlsym(p->dl, TN_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        host_errors_add(errs, conf_file, line, "plugin %s: no %s symbol: not a tanomu plugin", name,
                        TN_PLUGIN_ENTRY_SYMBOL);
        goto fail;
    }
    d = entry();
    if (!d) {
        host_errors_add(errs, conf_file, line, "plugin %s: %s returned no descriptor", name,
                        TN_PLUGIN_ENTRY_SYMBOL);
        goto fail;
    }
    /* The version fields come first in every ABI; read them before size. */
    if (d->abi_major != TN_SDK_ABI_MAJOR || d->abi_minor > TN_SDK_ABI_MINOR) {
        host_errors_add(errs, conf_file, line, "plugin %s: built for SDK ABI %u.%u, host has %d.%d",
                        name, d->abi_major, d->abi_minor, TN_SDK_ABI_MAJOR, TN_SDK_ABI_MINOR);
        goto fail;
    }
    if (d->size < HOST_DESC_MIN_SIZE) {
        host_errors_add(errs, conf_file, line,
                        "plugin %s: descriptor of %u bytes is smaller than an ABI %d.0 one (%zu)",
                        name, d->size, TN_SDK_ABI_MAJOR, (size_t)HOST_DESC_MIN_SIZE);
        goto fail;
    }
    p->desc_size = d->size < sizeof p->desc ? d->size : (uint32_t)sizeof p->desc;
    memcpy(&p->desc, d, p->desc_size);
    if (!p->desc.name || strcmp(p->desc.name, name) != 0) {
        host_errors_add(errs, conf_file, line, "plugin %s: descriptor names it '%s'", name,
                        p->desc.name ? p->desc.name : "(null)");
        goto fail;
    }
    if (!p->desc.init) {
        host_errors_add(errs, conf_file, line, "plugin %s: descriptor has no init()", name);
        goto fail;
    }
    if (widen_settings(p) != 0) {
        host_errors_add(errs, conf_file, line, "plugin %s: out of memory", name);
        goto fail;
    }
    if (schema_validate(p, conf_file, errs) != 0)
        goto fail;
    return p;
fail:
    plugin_free(p);
    return NULL;
}

tn_plugin *host_plugins_find(const host_plugins *ps, const char *name)
{
    int i;

    for (i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i]->name, name) == 0)
            return ps->v[i];
    return NULL;
}

int host_plugins_was_refused(const host_plugins *ps, const char *name)
{
    int i;

    for (i = 0; i < ps->failed.n; i++)
        if (strcmp(ps->failed.v[i], name) == 0)
            return 1;
    return 0;
}

static int strlist_push(host_strlist *l, const char *s)
{
    char **v = realloc(l->v, (size_t)(l->n + 1) * sizeof *v);

    if (!v)
        return -1;
    l->v = v;
    if (!(v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

/* Removes plugins whose dependencies are missing, repeatedly, since a
 * removal can strand another plugin. */
static int check_depends(host_plugins *ps, const char *conf_file, int line, int strict,
                         host_errors *errs)
{
    int i, j, changed = 1, bad = 0;

    while (changed) {
        changed = 0;
        for (i = 0; i < ps->n; i++) {
            const char *const *dep = ps->v[i]->desc.depends;
            for (j = 0; dep && dep[j]; j++) {
                if (host_plugins_find(ps, dep[j]))
                    continue;
                host_errors_add(errs, conf_file, line, "plugin %s: depends on '%s', which is %s",
                                ps->v[i]->name, dep[j],
                                host_plugins_was_refused(ps, dep[j]) ? "refused" : "not loaded");
                bad = 1;
                ps->nrefused++;
                if (!strict) {
                    strlist_push(&ps->failed, ps->v[i]->name);
                    plugin_free(ps->v[i]);
                    memmove(&ps->v[i], &ps->v[i + 1], (size_t)(ps->n - i - 1) * sizeof *ps->v);
                    ps->n--;
                    changed = 1;
                    i--;
                }
                break;
            }
        }
    }
    return bad ? -1 : 0;
}

static int listed(const char *const *names, const char *name)
{
    int i;

    for (i = 0; names && names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* Must a run before b?  Either a says before b, or b says after a. */
static int must_precede(const tn_plugin *a, const tn_plugin *b)
{
    return listed(a->desc.before, b->name) || listed(b->desc.after, a->name);
}

/* Must a initialize before b?  b depends on a (so a's interfaces exist
 * when b looks them up in its init()). */
static int inits_before(const tn_plugin *a, const tn_plugin *b)
{
    return listed(b->desc.depends, a->name);
}

/* Kahn's algorithm over ps->v by `precedes`, into out (ps->n entries),
 * taking the earliest-listed ready plugin each time so the order is
 * stable: unconstrained plugins keep their place.  A cycle is reported as
 * a `what` cycle among the plugins left. */
static int sort_plugins(const host_plugins *ps,
                        int (*precedes)(const tn_plugin *, const tn_plugin *), const char *what,
                        tn_plugin **out, const char *conf_file, int line, host_errors *errs)
{
    char *done = calloc((size_t)ps->n + 1, 1);
    int i, j, k, rc = -1;

    if (!done)
        goto fail;
    for (k = 0; k < ps->n; k++) {
        int pick = -1;
        for (i = 0; i < ps->n && pick < 0; i++) {
            int ready = !done[i];
            for (j = 0; j < ps->n && ready; j++)
                if (j != i && !done[j] && precedes(ps->v[j], ps->v[i]))
                    ready = 0;
            if (ready)
                pick = i;
        }
        if (pick < 0) {
            host_buf b;
            host_buf_init(&b);
            for (i = 0; i < ps->n; i++)
                if (!done[i])
                    host_buf_printf(&b, "%s%s", b.len ? ", " : "", ps->v[i]->name);
            host_errors_add(errs, conf_file, line, "plugin order: %s cycle among %s", what,
                            b.data ? b.data : "?");
            host_buf_free(&b);
            goto fail;
        }
        done[pick] = 1;
        out[k] = ps->v[pick];
    }
    rc = 0;
fail:
    free(done);
    return rc;
}

/* The run order (hooks) by before/after, then from it the init order by
 * depends (fini is its reverse).  On failure ps->init is NULL: unload
 * then walks ps->v. */
static int order(host_plugins *ps, const char *conf_file, int line, host_errors *errs)
{
    tn_plugin **out = calloc((size_t)ps->n + 1, sizeof *out);
    int k, rc = -1;

    free(ps->init);
    ps->init = calloc((size_t)ps->n + 1, sizeof *ps->init);
    if (!out || !ps->init ||
        sort_plugins(ps, must_precede, "before/after", out, conf_file, line, errs) != 0)
        goto fail;
    for (k = 0; k < ps->n; k++) {
        ps->v[k] = out[k];
        ps->v[k]->index = k;
    }
    if (sort_plugins(ps, inits_before, "depends", ps->init, conf_file, line, errs) != 0)
        goto fail;
    rc = 0;
fail:
    if (rc != 0) {
        free(ps->init);
        ps->init = NULL;
    }
    free(out);
    return rc;
}

int host_plugins_load(host_plugins *ps, const char *dir, const host_strlist *names,
                      const char *conf_file, int line, int strict, host_errors *errs)
{
    int i, bad = 0;

    memset(ps, 0, sizeof *ps);
    ps->v = calloc((size_t)names->n + 1, sizeof *ps->v);
    if (!ps->v)
        return -1;
    for (i = 0; i < names->n; i++) {
        const char *name = names->v[i];
        tn_plugin *p;
        if (!host_plugin_name_valid(name)) {
            host_errors_add(errs, conf_file, line, "plugin name '%s' is not [a-z0-9_]{1,32}", name);
            bad = 1;
            ps->nrefused++;
            continue;
        }
        if (host_plugins_find(ps, name) || host_plugins_was_refused(ps, name)) {
            host_errors_add(errs, conf_file, line, "plugin %s: listed twice in plugins.load", name);
            bad = 1;
            ps->nrefused++;
            continue;
        }
        p = plugin_open(dir, name, conf_file, line, errs);
        if (!p) {
            bad = 1;
            ps->nrefused++;
            strlist_push(&ps->failed, name);
            continue;
        }
        ps->v[ps->n++] = p;
    }
    if (check_depends(ps, conf_file, line, strict, errs) != 0)
        bad = 1;
    if (order(ps, conf_file, line, errs) != 0)
        return -1;
    return strict && bad ? -1 : 0;
}

int host_plugins_drop(host_plugins *ps, int i, const char *conf_file, int line, host_errors *errs)
{
    if (i < 0 || i >= ps->n)
        return -1;
    strlist_push(&ps->failed, ps->v[i]->name);
    ps->nrefused++;
    plugin_free(ps->v[i]);
    memmove(&ps->v[i], &ps->v[i + 1], (size_t)(ps->n - i - 1) * sizeof *ps->v);
    ps->n--;
    check_depends(ps, conf_file, line, 0, errs); /* drops what depended on it */
    return order(ps, conf_file, line, errs);
}

void host_plugins_unload(host_plugins *ps)
{
    int i;

    for (i = 0; i < ps->n; i++)
        plugin_free(ps->v[i]);
    free(ps->v);
    free(ps->init);
    for (i = 0; i < ps->failed.n; i++)
        free(ps->failed.v[i]);
    free(ps->failed.v);
    memset(ps, 0, sizeof *ps);
}

int host_plugin_fail(tn_plugin *p, int rc, const char *fmt, ...)
{
    va_list ap;

    if (!p)
        return rc;
    va_start(ap, fmt);
    vsnprintf(p->last_error, sizeof p->last_error, fmt, ap);
    va_end(ap);
    return rc;
}
