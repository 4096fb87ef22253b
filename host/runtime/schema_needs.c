/*
 * schema_needs.c - refusing plugins whose migration is not applied.  See
 * schema_needs.h.
 */
#include "schema_needs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"
#include "schema_applied.h"

#define NEED_FILE_MAX 128

/* needs + ".sql" into file; 0 if that is a valid migration file name. */
static int need_file(const char *needs, char file[NEED_FILE_MAX + 1])
{
    if ((size_t)snprintf(file, NEED_FILE_MAX + 1, "%s.sql", needs) > NEED_FILE_MAX)
        return -1;
    return host_migrate_name_valid(file) ? 0 : -1;
}

int host_plugins_require_schema(host_plugins *ps, const char *conninfo, const char *conf_file,
                                int line, int strict, host_errors *errs)
{
    const char **scopes = NULL, **names = NULL;
    char(*files)[NEED_FILE_MAX + 1] = NULL;
    char(*gone)[TN_PLUGIN_NAME_MAX + 1] = NULL;
    int *applied = NULL;
    tn_plugin **who = NULL;
    char err[512];
    int i, n = 0, ngone = 0, rc = -1;

    scopes = calloc((size_t)ps->n + 1, sizeof *scopes);
    names = calloc((size_t)ps->n + 1, sizeof *names);
    files = calloc((size_t)ps->n + 1, sizeof *files);
    applied = calloc((size_t)ps->n + 1, sizeof *applied);
    who = calloc((size_t)ps->n + 1, sizeof *who);
    gone = calloc((size_t)ps->n + 1, sizeof *gone);
    if (!scopes || !names || !files || !applied || !who || !gone)
        goto out;
    for (i = 0; i < ps->n; i++) {
        tn_plugin *p = ps->v[i];
        if (!p->desc.schema_needs)
            continue;
        if (need_file(p->desc.schema_needs, files[n]) != 0) {
            host_errors_add(errs, conf_file, line,
                            "plugin %s: schema_needs '%s' is not a migration name (NNNN_name)",
                            p->name, p->desc.schema_needs);
            files[n][0] = '\0';
        } else if (!conninfo) {
            host_errors_add(errs, conf_file, line,
                            "plugin %s: needs migration %s/%s but database.url is not set", p->name,
                            p->name, files[n]);
            files[n][0] = '\0';
        }
        scopes[n] = p->name;
        names[n] = files[n];
        who[n++] = p;
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    if (conninfo &&
        host_schema_applied(conninfo, scopes, names, n, applied, err, sizeof err) != 0) {
        host_log(HOST_LOG_WARN, "plugins' migrations not checked (%s): starting them anyway", err);
        for (i = 0; i < n; i++)
            applied[i] = names[i][0] != '\0';
    }
    /* Names, not pointers: dropping a plugin frees it, and its dependents. */
    for (i = 0; i < n; i++) {
        if (applied[i])
            continue;
        if (names[i][0])
            host_errors_add(errs, conf_file, line,
                            "plugin %s: needs migration %s/%s, which is not applied: run "
                            "`tanomu migrate`",
                            who[i]->name, who[i]->name, names[i]);
        snprintf(gone[ngone++], sizeof gone[0], "%s", who[i]->name);
    }
    if (ngone && strict)
        goto out;
    for (i = 0; i < ngone; i++) {
        tn_plugin *p = host_plugins_find(ps, gone[i]); /* NULL: dropped with another */
        if (p && host_plugins_drop(ps, p->index, conf_file, line, errs) != 0)
            goto out;
    }
    rc = 0;
out:
    free(scopes);
    free(names);
    free(files);
    free(applied);
    free(who);
    free(gone);
    return rc;
}
