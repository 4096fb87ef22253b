/*
 * cli_lint.c - reads the plugins' migration files for the RLS lint.  See
 * cli_lint.h.  Files are opened by checked names under the configured
 * directory only, never through a symbolic link (S3).
 */
#include "cli_lint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "migrate.h"
#include "names.h"
#include "rls_lint.h"

#define LINT_MAX_FILE (4u << 20)

typedef struct lint_ctx {
    FILE *out;
    const char *dir;
    const char *plugin;
} lint_ctx;

static void report(void *ctx, const char *file, int line, const char *table, unsigned missing)
{
    const lint_ctx *c = ctx;

    fprintf(c->out,
            "%s/%s:%d: warning: plugin %s: table %s has a tenant_id column but its "
            "migrations do not %s row-level security (ALTER TABLE %s ENABLE ROW LEVEL "
            "SECURITY; ALTER TABLE %s FORCE ROW LEVEL SECURITY): `tanomu migrate` will refuse it\n",
            c->dir, file, line, c->plugin, table,
            missing == (HOST_RLS_NOT_ENABLED | HOST_RLS_NOT_FORCED) ? "enable and force"
            : (missing & HOST_RLS_NOT_ENABLED)                      ? "enable"
                                                                    : "force",
            table, table);
}

static char *read_sql(int dfd, const char *name)
{
    host_buf b;
    char chunk[8192];
    ssize_t n;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    host_buf_init(&b);
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || b.len + (size_t)n > LINT_MAX_FILE)
            break;
        host_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    if (n != 0 || host_buf_failed(&b)) {
        host_buf_free(&b);
        return NULL;
    }
    host_buf_puts(&b, ""); /* data is never NULL, even for an empty file */
    return host_buf_steal(&b, NULL);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const host_sql_file *)a)->name, ((const host_sql_file *)b)->name);
}

/* One plugin's directory: -1 when it cannot be read (skipped). */
static int lint_dir(const char *dir, const char *plugin, FILE *out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    host_sql_file *files = NULL;
    int n = 0, cap = 0, i, found = 0;
    lint_ctx c = {out, dir, plugin};

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char *text;
        if (!host_migrate_name_valid(de->d_name) || !(text = read_sql(dirfd(d), de->d_name)))
            continue;
        if (n == cap) {
            int nc = cap ? cap * 2 : 8;
            host_sql_file *nf = realloc(files, (size_t)nc * sizeof *nf);
            if (!nf) {
                free(text);
                break;
            }
            files = nf;
            cap = nc;
        }
        files[n].text = text;
        if (!(files[n].name = strdup(de->d_name))) {
            free(text);
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 0) {
        qsort(files, (size_t)n, sizeof *files, cmp_file);
        found = host_rls_lint(files, n, report, &c);
    }
    for (i = 0; i < n; i++) {
        free((char *)files[i].name);
        free((char *)files[i].text);
    }
    free(files);
    return found < 0 ? 0 : found;
}

int host_cli_lint_migrations(const host_config *conf, FILE *out)
{
    const char *base = conf->server.db.plugin_migrations_dir;
    int i, found = 0, r;

    for (i = 0; base && i < conf->server.plugin_load.n; i++) {
        const char *name = conf->server.plugin_load.v[i];
        host_buf dir;
        if (!host_plugin_name_valid(name))
            continue;
        host_buf_init(&dir);
        host_buf_printf(&dir, "%s/%s/migrations", base, name);
        if (!host_buf_failed(&dir) && (r = lint_dir(dir.data, name, out)) > 0)
            found += r;
        host_buf_free(&dir);
    }
    return found;
}
