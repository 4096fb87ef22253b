/*
 * cli_migrate_order.c - plugin migrations in `depends` order.  See
 * cli_migrate_order.h.
 *
 * The order comes from the descriptors, so the plugins are opened (never
 * initialized) the way `tanomu check` opens them: a plugin's tables may
 * reference a table of a plugin it depends on, which must exist first.
 */
#include "cli_migrate_order.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "plugin_loader.h"

static int placed(const char *const *names, int n, const char *name)
{
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

int host_cli_migrate_order(const host_config *conf, const char **names, FILE *err)
{
    const host_strlist *load = &conf->server.plugin_load;
    host_plugins ps;
    host_errors errs;
    int i, j, n = 0;

    host_errors_init(&errs);
    /* Lenient: a plugin that cannot be opened is left out, not fatal. */
    host_plugins_load(&ps, conf->server.plugin_dir, load, conf->path, conf->server.plugin_load_line,
                      0, &errs);
    for (i = 0; ps.init && i < ps.n; i++)
        for (j = 0; j < load->n; j++)
            if (strcmp(load->v[j], ps.init[i]->name) == 0 && !placed(names, n, load->v[j])) {
                names[n++] = load->v[j];
                break;
            }
    for (j = 0; j < load->n; j++) {
        if (placed(names, n, load->v[j]))
            continue;
        fprintf(err,
                "migrate: warning: plugin %s cannot be loaded from %s (see tanomu check): its "
                "migrations run after the others, in plugins.load order\n",
                load->v[j], conf->server.plugin_dir);
        names[n++] = load->v[j];
    }
    host_plugins_unload(&ps);
    host_errors_free(&errs);
    return n;
}
