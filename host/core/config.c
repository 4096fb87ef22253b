/*
 * config.c - reading tanomu.conf and the tenant files into host_config.
 *
 * Every key the host accepts is listed in this file; anything else is an
 * error with its file and line, so a misspelt setting is never silently
 * ignored.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "schema.h"

#define MAX_CONFIG_FILE (1024 * 1024)
#define MAX_TENANT_FILES 10000

char *host_path_join(const char *dir, const char *path)
{
    size_t dl, pl;
    char *out;

    if (path[0] == '/' || !dir || !dir[0])
        return strdup(path);
    dl = strlen(dir);
    pl = strlen(path);
    out = malloc(dl + pl + 2);
    if (!out)
        return NULL;
    memcpy(out, dir, dl);
    out[dl] = '/';
    memcpy(out + dl + 1, path, pl + 1);
    return out;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;

    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    d = strndup(path, (size_t)(slash - path));
    return d;
}

static char *read_file(const char *path, host_errors *errs)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long n;

    if (!f) {
        host_errors_add(errs, path, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        host_errors_add(errs, path, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (n > MAX_CONFIG_FILE) {
        host_errors_add(errs, path, 0, "file larger than %d bytes", MAX_CONFIG_FILE);
        goto out;
    }
    text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
        host_errors_add(errs, path, 0, "cannot read: %s", strerror(errno));
        free(text);
        text = NULL;
        goto out;
    }
    text[n] = '\0';
    if (memchr(text, '\0', (size_t)n)) {
        host_errors_add(errs, path, 0, "file contains a NUL byte");
        free(text);
        text = NULL;
    }
out:
    fclose(f);
    return text;
}

static int add_source(host_snapshot *snap, char *path, char *text)
{
    host_source *files = realloc(snap->files, (size_t)(snap->count + 1) * sizeof *files);

    if (!files)
        return -1;
    snap->files = files;
    files[snap->count].path = path;
    files[snap->count].text = text;
    snap->count++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists DIR/NAME.conf for plain names, sorted, so the order of tenants
 * (and of their errors) does not depend on the file system. */
static int list_tenant_files(const char *dir, host_strlist *out, host_errors *errs)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!d) {
        host_errors_add(errs, dir, 0, "cannot open tenants directory: %s", strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char **v;
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
            continue;
        if (out->n >= MAX_TENANT_FILES) {
            host_errors_add(errs, dir, 0, "more than %d tenant files", MAX_TENANT_FILES);
            goto fail;
        }
        v = realloc(out->v, (size_t)(out->n + 1) * sizeof *v);
        if (!v)
            goto fail;
        out->v = v;
        if (!(out->v[out->n] = host_path_join(dir, de->d_name)))
            goto fail;
        out->n++;
    }
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    rc = 0;
fail:
    closedir(d);
    return rc;
}

static void strlist_free(host_strlist *l)
{
    int i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void report_parse_error(config_t *cfg, const char *path, host_errors *errs)
{
    host_errors_add(errs, path, config_error_line(cfg), "%s", config_error_text(cfg));
}

int host_config_snapshot(const char *path, host_snapshot *snap, host_errors *errs)
{
    config_t cfg;
    const char *tdir = "tenants";
    char *text, *base = NULL, *tenants = NULL, *p;
    host_strlist files = {NULL, 0};
    int i, rc = -1;

    memset(snap, 0, sizeof *snap);
    config_init(&cfg);
    if (!(text = read_file(path, errs)))
        goto fail;
    if (!(p = strdup(path)) || add_source(snap, p, text) != 0) {
        free(p);
        free(text);
        goto fail;
    }
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        report_parse_error(&cfg, path, errs);
        goto fail;
    }
    config_lookup_string(&cfg, "tenants_dir", &tdir);
    if (!(base = dir_of(path)) || !(tenants = host_path_join(base, tdir)))
        goto fail;
    if (list_tenant_files(tenants, &files, errs) != 0)
        goto fail;
    for (i = 0; i < files.n; i++) {
        if (!(text = read_file(files.v[i], errs)))
            goto fail;
        if (add_source(snap, files.v[i], text) != 0) {
            free(text);
            goto fail;
        }
        files.v[i] = NULL; /* now owned by the snapshot */
    }
    if (host_secrets_snapshot(&cfg, path, base, &snap->keyring, errs) != 0)
        goto fail;
    rc = 0;
fail:
    strlist_free(&files);
    free(base);
    free(tenants);
    config_destroy(&cfg);
    if (rc != 0)
        host_snapshot_free(snap);
    return rc;
}

void host_snapshot_free(host_snapshot *snap)
{
    int i;

    for (i = 0; i < snap->count; i++) {
        free(snap->files[i].path);
        free(snap->files[i].text);
    }
    free(snap->files);
    host_keyring_free(snap->keyring);
    memset(snap, 0, sizeof *snap);
}

/* ---- typed reads with file:line errors ---------------------------------- */

typedef struct reader {
    const char *file;
    host_errors *errs;
    int failed;
    int url_files_unchecked; /* see host_snapshot */
} reader;

static int line_of(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

static void bad(reader *r, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bad(reader *r, const config_setting_t *s, const char *fmt, ...)
{
    host_buf msg;
    va_list ap;

    host_buf_init(&msg);
    va_start(ap, fmt);
    host_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    host_errors_add(r->errs, r->file, line_of(s), "%s", msg.data ? msg.data : "?");
    host_buf_free(&msg);
    r->failed = 1;
}

/* Every member of group g must be one of the NULL-terminated names. */
static void only_keys(reader *r, const config_setting_t *g, const char *const *names)
{
    int i, j, n = g ? config_setting_length(g) : 0;

    for (i = 0; i < n; i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        for (j = 0; names[j]; j++)
            if (name && strcmp(name, names[j]) == 0)
                break;
        if (!names[j]) {
            host_errors_add(r->errs, r->file, line_of(m), "unknown setting '%s%s%s'",
                            config_setting_name(g) ? config_setting_name(g) : "",
                            config_setting_name(g) ? "." : "", name ? name : "?");
            r->failed = 1;
        }
    }
}

/* As only_keys, but any group may be there too: the plugin-wide settings
 * (plugins.NAME { ... }) that runtime/plugin_settings.c checks against the
 * loaded plugins' schemas. */
static void only_keys_or_groups(reader *r, const config_setting_t *g, const char *const *names)
{
    int i, j, n = g ? config_setting_length(g) : 0;

    for (i = 0; i < n; i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        if (config_setting_is_group(m))
            continue;
        for (j = 0; names[j]; j++)
            if (name && strcmp(name, names[j]) == 0)
                break;
        if (!names[j])
            bad(r, m, "unknown setting '%s.%s' (a plugin's own settings are a group: %s { ... })",
                config_setting_name(g), name ? name : "?", name ? name : "NAME");
    }
}

static config_setting_t *group(reader *r, config_setting_t *parent, const char *key)
{
    config_setting_t *s = parent ? config_setting_get_member(parent, key) : NULL;

    if (s && !config_setting_is_group(s)) {
        bad(r, s, "'%s' must be a group { ... }", key);
        return NULL;
    }
    return s;
}

static char *get_str(reader *r, config_setting_t *g, const char *key, const char *def)
{
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    const char *v;

    if (!s)
        return def ? strdup(def) : NULL;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        bad(r, s, "'%s' must be a string", key);
        return def ? strdup(def) : NULL;
    }
    v = config_setting_get_string(s);
    if (strpbrk(v, "\r\n")) {
        bad(r, s, "'%s' must not contain line breaks", key);
        return def ? strdup(def) : NULL;
    }
    return strdup(v);
}

static long long get_int(reader *r, config_setting_t *g, const char *key, long long def,
                         long long min, long long max)
{
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    long long v;

    if (!s)
        return def;
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        bad(r, s, "'%s' must be an integer", key);
        return def;
    }
    v = config_setting_get_int64(s);
    if (v < min || v > max) {
        host_errors_add(r->errs, r->file, line_of(s), "'%s' must be between %lld and %lld", key,
                        min, max);
        r->failed = 1;
        return def;
    }
    return v;
}

static int get_bool(reader *r, config_setting_t *g, const char *key, int def)
{
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;

    if (!s)
        return def;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        bad(r, s, "'%s' must be true or false", key);
        return def;
    }
    return config_setting_get_bool(s);
}

/* A string or a list/array of strings. */
static void get_strlist(reader *r, config_setting_t *g, const char *key, const char *def,
                        host_strlist *out)
{
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    int i, n;

    memset(out, 0, sizeof *out);
    if (!s) {
        if (def && (out->v = calloc(1, sizeof *out->v)) && (out->v[0] = strdup(def)))
            out->n = 1;
        return;
    }
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        if ((out->v = calloc(1, sizeof *out->v)) &&
            (out->v[0] = strdup(config_setting_get_string(s))))
            out->n = 1;
        return;
    }
    if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
        bad(r, s, "'%s' must be a string or a list of strings", key);
        return;
    }
    n = config_setting_length(s);
    out->v = calloc((size_t)n + 1, sizeof *out->v);
    if (!out->v)
        return;
    for (i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            bad(r, e, "'%s' must contain only strings", key);
            continue;
        }
        if (!(out->v[out->n] = strdup(config_setting_get_string(e))))
            return;
        out->n++;
    }
}

/* ---- tanomu.conf ---------------------------------------------------------- */

static int valid_listen(const char *s)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long port;

    if (!colon || colon == s || colon - s > 63)
        return 0;
    port = strtol(colon + 1, &end, 10);
    return *end == '\0' && port > 0 && port < 65536;
}

static void check_listens(reader *r, config_setting_t *g, const char *key, host_strlist *l)
{
    int i;

    for (i = 0; i < l->n; i++)
        if (!valid_listen(l->v[i]))
            bad(r, config_setting_get_member(g, key), "'%s' entries must be \"address:port\"", key);
}

static char *get_path(reader *r, config_setting_t *g, const char *key, const char *def,
                      const char *base)
{
    char *v = get_str(r, g, key, def), *p;

    if (!v)
        return NULL;
    p = host_path_join(base, v);
    free(v);
    return p;
}

/* A connection URL given inline or, so that no password sits in the
 * configuration, in a file (mode 0600) written by whoever made the role.
 * For `tanomu check` the file is not read: its path goes to *unchecked. */
static char *get_url(reader *r, config_setting_t *g, const char *key, const char *file_key,
                     const char *base, char **unchecked)
{
    config_setting_t *fs = g ? config_setting_get_member(g, file_key) : NULL;
    char *url = get_str(r, g, key, NULL), *path, *text;
    host_errors tmp;
    size_t n;

    if (url && fs) {
        bad(r, fs, "give either '%s' or '%s', not both", key, file_key);
        return url;
    }
    if (url || !fs)
        return url;
    if (!(path = get_path(r, g, file_key, NULL, base)))
        return NULL;
    if (r->url_files_unchecked) {
        *unchecked = path;
        return NULL;
    }
    host_errors_init(&tmp);
    text = read_file(path, &tmp);
    if (!text) {
        bad(r, fs, "'%s': cannot read %s", file_key, path);
    } else {
        n = strcspn(text, "\r\n");
        text[n] = '\0';
    }
    host_errors_free(&tmp);
    free(path);
    return text;
}

static void parse_database(reader *r, config_setting_t *root, host_config *conf)
{
    static const char *const db_keys[] = {"url",
                                          "url_file",
                                          "owner_url",
                                          "owner_url_file",
                                          "pool_size",
                                          "queue_max",
                                          "queue_timeout_ms",
                                          "statement_timeout_ms",
                                          "migrations_dir",
                                          "plugin_migrations_dir",
                                          NULL};
    static const char *const outbox_keys[] = {"batch",          "max_attempts", "backoff_ms",
                                              "max_backoff_ms", "sweep_ms",     NULL};
    config_setting_t *db = group(r, root, "database"), *ob = group(r, root, "outbox");
    host_db_conf *d = &conf->server.db;

    only_keys(r, db, db_keys);
    d->url = get_url(r, db, "url", "url_file", conf->dir, &d->url_file_unchecked);
    if (d->url && !d->url[0]) {
        free(d->url);
        d->url = NULL;
    }
    d->owner_url = get_url(r, db, "owner_url", "owner_url_file", conf->dir,
                           &d->owner_url_file_unchecked);
    d->pool_size = (int)get_int(r, db, "pool_size", 4, 1, 256);
    d->queue_max = (int)get_int(r, db, "queue_max", 256, 0, 100000);
    d->queue_timeout_ms = (uint64_t)get_int(r, db, "queue_timeout_ms", 1000, 1, 600000);
    d->statement_timeout_ms = (uint64_t)get_int(r, db, "statement_timeout_ms", 5000, 0, 3600000);
    d->migrations_dir = get_path(r, db, "migrations_dir", "../migrations", conf->dir);
    d->plugin_migrations_dir = get_path(r, db, "plugin_migrations_dir", "../plugins", conf->dir);
    only_keys(r, ob, outbox_keys);
    d->outbox_batch = (int)get_int(r, ob, "batch", 32, 1, 1000);
    d->outbox_max_attempts = (int)get_int(r, ob, "max_attempts", 10, 1, 1000);
    d->outbox_backoff_ms = (uint64_t)get_int(r, ob, "backoff_ms", 1000, 10, 3600000);
    d->outbox_max_backoff_ms = (uint64_t)get_int(r, ob, "max_backoff_ms", 600000, 10, 86400000);
    d->outbox_sweep_ms = (uint64_t)get_int(r, ob, "sweep_ms", 5000, 50, 3600000);
}

/* "host:port", "[v6]:port": an outbound.allow entry (net/egress.c matches it). */
static int valid_allow_entry(const char *s)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long port;

    if (!colon || colon == s || colon - s > 255)
        return 0;
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return 0;
    if (s[0] == '[')
        return colon[-1] == ']' && colon - s > 2;
    return memchr(s, ':', (size_t)(colon - s)) == NULL;
}

static void parse_outbound(reader *r, config_setting_t *root, host_config *conf)
{
    static const char *const keys[] = {
        "allow", "ca_file", "max_timeout_ms", "max_response", "max_per_plugin", "queue_max", NULL};
    config_setting_t *g = group(r, root, "outbound");
    host_outbound_conf *o = &conf->outbound;
    int i;

    only_keys(r, g, keys);
    get_strlist(r, g, "allow", NULL, &o->allow);
    for (i = 0; i < o->allow.n; i++)
        if (!valid_allow_entry(o->allow.v[i]))
            bad(r, config_setting_get_member(g, "allow"),
                "'%s' entries must be \"host:port\" or \"[v6]:port\"", "allow");
    o->ca_file = get_path(r, g, "ca_file", NULL, conf->dir);
    o->max_timeout_ms = (uint64_t)get_int(r, g, "max_timeout_ms", 60000, 100, 3600000);
    o->max_response = (size_t)get_int(r, g, "max_response", 4 << 20, 1, 1LL << 30);
    o->max_per_plugin = (int)get_int(r, g, "max_per_plugin", 64, 1, 100000);
    o->queue_max = (int)get_int(r, g, "queue_max", 1024, 0, 1000000);
}

static void parse_server(reader *r, config_t *cfg, host_config *conf)
{
    static const char *const top_keys[] = {"server",   "logging",     "plugins",     "tenants_dir",
                                           "database", "outbox",      "rate_limits", "secrets",
                                           "outbound", "maintenance", NULL};
    static const char *const server_keys[] = {"listen",           "admin_listen",
                                              "workers",          "pid_file",
                                              "drain_timeout_ms", "reload_timeout_ms",
                                              "limits",           "tls",
                                              "breaker",          NULL};
    static const char *const limit_keys[] = {
        "header_bytes",         "headers",         "body_bytes", "header_timeout_ms",
        "keepalive_timeout_ms", "send_timeout_ms", NULL};
    static const char *const tls_keys[] = {"enabled", "listen", "cert", "key", NULL};
    static const char *const breaker_keys[] = {"crashes", "window_ms", "cooldown_ms", NULL};
    static const char *const log_keys[] = {"level", "access", NULL};
    static const char *const plugin_keys[] = {"dir", "load", NULL};
    config_setting_t *root = config_root_setting(cfg);
    config_setting_t *srv, *lim, *tls, *lg, *pl, *brk;
    host_server_conf *s = &conf->server;
    char *level;
    int i;

    only_keys(r, root, top_keys);
    srv = group(r, root, "server");
    only_keys(r, srv, server_keys);
    get_strlist(r, srv, "listen", "127.0.0.1:8080", &s->listen);
    check_listens(r, srv, "listen", &s->listen);
    s->admin_listen = get_str(r, srv, "admin_listen", "127.0.0.1:9100");
    if (s->admin_listen && s->admin_listen[0] && !valid_listen(s->admin_listen))
        bad(r, config_setting_get_member(srv, "admin_listen"),
            "'%s' must be \"address:port\" (or \"\" for none)", "admin_listen");
    s->workers = (int)get_int(r, srv, "workers", 0, 0, 256);
    s->pid_file = get_path(r, srv, "pid_file", "tanomu.pid", conf->dir);
    s->drain_timeout_ms = (uint64_t)get_int(r, srv, "drain_timeout_ms", 10000, 0, 3600000);
    s->reload_timeout_ms = (uint64_t)get_int(r, srv, "reload_timeout_ms", 10000, 100, 3600000);

    lim = group(r, srv, "limits");
    only_keys(r, lim, limit_keys);
    s->limits.header_bytes = (size_t)get_int(r, lim, "header_bytes", 16384, 1024, 1 << 20);
    s->limits.headers = (int)get_int(r, lim, "headers", 100, 8, 1000);
    s->limits.body_bytes = (size_t)get_int(r, lim, "body_bytes", 1 << 20, 0, 1LL << 32);
    s->limits.header_timeout_ms = (uint64_t)get_int(r, lim, "header_timeout_ms", 10000, 100,
                                                    600000);
    s->limits.keepalive_timeout_ms = (uint64_t)get_int(r, lim, "keepalive_timeout_ms", 5000, 100,
                                                       600000);
    s->limits.send_timeout_ms = (uint64_t)get_int(r, lim, "send_timeout_ms", 60000, 100, 3600000);

    /* A route that kills its worker this often for one tenant is answered
     * 503 for that tenant until the cool-down or a reload (breaker.h). */
    brk = group(r, srv, "breaker");
    only_keys(r, brk, breaker_keys);
    s->breaker.crashes = (int)get_int(r, brk, "crashes", 3, 0, HOST_BREAKER_MAX_CRASHES);
    s->breaker.window_ms = (uint64_t)get_int(r, brk, "window_ms", 60000, 100, 86400000);
    s->breaker.cooldown_ms = (uint64_t)get_int(r, brk, "cooldown_ms", 60000, 100, 86400000);

    tls = group(r, srv, "tls");
    only_keys(r, tls, tls_keys);
    s->tls_enabled = get_bool(r, tls, "enabled", 0);
    get_strlist(r, tls, "listen", "127.0.0.1:8443", &s->tls_listen);
    check_listens(r, tls, "listen", &s->tls_listen);
    s->tls_cert = get_path(r, tls, "cert", "tls/server.crt", conf->dir);
    s->tls_key = get_path(r, tls, "key", "tls/server.key", conf->dir);

    lg = group(r, root, "logging");
    only_keys(r, lg, log_keys);
    level = get_str(r, lg, "level", "info");
    s->log_level = level ? host_log_level_parse(level) : TN_LOG_INFO;
    if (s->log_level < 0) {
        bad(r, config_setting_get_member(lg, "level"),
            "'%s' must be one of debug, info, warn, error", "level");
        s->log_level = TN_LOG_INFO;
    }
    free(level);
    s->log_access = get_bool(r, lg, "access", 1);

    pl = group(r, root, "plugins");
    only_keys_or_groups(r, pl, plugin_keys); /* groups: plugins.NAME, bound in settings.c */
    s->plugin_dir = get_path(r, pl, "dir", "plugins", conf->dir);
    get_strlist(r, pl, "load", NULL, &s->plugin_load);
    s->plugin_load_line = line_of(pl ? config_setting_get_member(pl, "load") : NULL);
    for (i = 0; i < s->plugin_load.n; i++)
        if (!host_plugin_name_valid(s->plugin_load.v[i]))
            bad(r, config_setting_get_member(pl, "load"),
                "'%s' entries must be plugin names matching [a-z0-9_]{1,32}", "load");
    s->tenants_dir = get_path(r, root, "tenants_dir", "tenants", conf->dir);
    parse_database(r, root, conf);
    if (host_config_rate_limits(root, r->file, &s->rate_limits, r->errs) != 0)
        r->failed = 1;
    parse_outbound(r, root, conf);
    if (host_maint_parse(root, r->file, "maintenance", &conf->maint, r->errs) != 0)
        r->failed = 1;
}

/* ---- tenant files ------------------------------------------------------- */

static int valid_hostname(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!(islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) || s[n] == '-' ||
              s[n] == '.'))
            return 0;
    return n >= 1 && n <= 253;
}

static void parse_tenant(reader *r, host_tenant *t, const host_config *conf, int index)
{
    static const char *const top_keys[] = {"tenant", NULL};
    static const char *const tenant_keys[] = {"id",       "hosts",       "headers",
                                              "features", "maintenance", NULL};
    static const char *const header_keys[] = {"content_security_policy", "referrer_policy", "hsts",
                                              NULL};
    config_setting_t *root = config_root_setting(&t->cfg), *tg, *hg, *idset;
    int i, j, k;

    only_keys(r, root, top_keys);
    tg = group(r, root, "tenant");
    if (!tg) {
        host_errors_add(r->errs, r->file, 0, "missing 'tenant' group");
        r->failed = 1;
        return;
    }
    only_keys(r, tg, tenant_keys);
    t->id = get_str(r, tg, "id", NULL);
    idset = config_setting_get_member(tg, "id");
    if (!t->id) {
        bad(r, tg, "missing '%s'", "tenant.id");
    } else if (!host_tenant_id_valid(t->id)) {
        bad(r, idset, "'%s' must match [a-z0-9][a-z0-9_-]{0,62}", "tenant.id");
    }
    get_strlist(r, tg, "hosts", NULL, &t->hosts);
    if (t->hosts.n == 0)
        bad(r, tg, "'%s' must list at least one host name", "tenant.hosts");
    for (i = 0; i < t->hosts.n; i++) {
        for (k = 0; t->hosts.v[i][k]; k++)
            t->hosts.v[i][k] = (char)tolower((unsigned char)t->hosts.v[i][k]);
        if (!valid_hostname(t->hosts.v[i]))
            bad(r, config_setting_get_member(tg, "hosts"),
                "'%s' entries must be host names (letters, digits, '-', '.')", "tenant.hosts");
    }
    hg = group(r, tg, "headers");
    only_keys(r, hg, header_keys);
    t->csp = get_str(r, hg, "content_security_policy",
                     "default-src 'self'; frame-ancestors 'none'");
    t->referrer_policy = get_str(r, hg, "referrer_policy", "strict-origin-when-cross-origin");
    t->hsts = get_str(r, hg, "hsts", "max-age=31536000; includeSubDomains");
    group(r, tg, "features");
    if (host_maint_parse(tg, r->file, "tenant.maintenance", &t->maint, r->errs) != 0)
        r->failed = 1;

    /* Host names and IDs are unique across tenants. */
    for (j = 0; j < index; j++) {
        const host_tenant *o = &conf->tenants[j];
        if (t->id && o->id && strcmp(t->id, o->id) == 0)
            host_errors_add(r->errs, r->file, line_of(idset), "tenant id '%s' is also used by %s",
                            t->id, o->file);
        for (i = 0; i < t->hosts.n; i++)
            for (k = 0; k < o->hosts.n; k++)
                if (strcmp(t->hosts.v[i], o->hosts.v[k]) == 0) {
                    host_errors_add(r->errs, r->file,
                                    line_of(config_setting_get_member(tg, "hosts")),
                                    "host '%s' is also used by tenant '%s'", t->hosts.v[i],
                                    o->id ? o->id : "?");
                    r->failed = 1;
                }
    }
}

int host_config_parse(const host_snapshot *snap, host_config *conf, host_errors *errs)
{
    config_t *main_cfg;
    reader r = {NULL, errs, 0, snap->url_files_unchecked};
    int i, before = errs->count;

    memset(conf, 0, sizeof *conf);
    if (!(main_cfg = conf->main_cfg = malloc(sizeof *main_cfg)))
        goto fail;
    config_init(main_cfg); /* kept for plugins.NAME sections (line numbers) */
    if (snap->count < 1)
        goto fail;
    conf->path = strdup(snap->files[0].path);
    conf->dir = dir_of(snap->files[0].path);
    if (!conf->path || !conf->dir)
        goto fail;
    r.file = conf->path;
    if (config_read_string(main_cfg, snap->files[0].text) != CONFIG_TRUE) {
        report_parse_error(main_cfg, conf->path, errs);
        goto fail;
    }
    parse_server(&r, main_cfg, conf);
    host_secrets_parse(config_root_setting(main_cfg), conf->path, conf->dir, snap->keyring,
                       &conf->server.secrets, errs);

    conf->tenants = calloc((size_t)snap->count, sizeof *conf->tenants);
    if (!conf->tenants)
        goto fail;
    for (i = 1; i < snap->count; i++) {
        host_tenant *t = &conf->tenants[conf->ntenants];
        reader tr = {snap->files[i].path, errs, 0, snap->url_files_unchecked};
        t->file = strdup(snap->files[i].path);
        config_init(&t->cfg);
        t->cfg_live = 1;
        conf->ntenants++;
        if (!t->file)
            goto fail;
        if (config_read_string(&t->cfg, snap->files[i].text) != CONFIG_TRUE) {
            report_parse_error(&t->cfg, t->file, errs);
            continue;
        }
        parse_tenant(&tr, t, conf, conf->ntenants - 1);
    }
    return errs->count > before ? -1 : 0;
fail:
    if (errs->count == before)
        host_errors_add(errs, snap->count ? snap->files[0].path : NULL, 0,
                        "out of memory reading configuration");
    return -1;
}

/* The settings bound to a tenant (runtime/settings.c binds them). */
void host_features_free(host_tenant *t)
{
    int i;

    for (i = 0; i < t->nfeatures; i++)
        host_tn_config_free(t->features[i].cfg);
    free(t->features);
    t->features = NULL;
    t->nfeatures = 0;
}

void host_config_free(host_config *conf)
{
    host_server_conf *s = &conf->server;
    int i;

    if (conf->main_cfg)
        config_destroy(conf->main_cfg);
    free(conf->main_cfg);
    conf->main_cfg = NULL;
    for (i = 0; i < conf->ntenants; i++) {
        host_tenant *t = &conf->tenants[i];
        host_features_free(t);
        free(t->id);
        free(t->file);
        strlist_free(&t->hosts);
        free(t->csp);
        free(t->referrer_policy);
        free(t->hsts);
        host_maint_free(&t->maint);
        if (t->cfg_live)
            config_destroy(&t->cfg);
    }
    free(conf->tenants);
    strlist_free(&s->listen);
    free(s->admin_listen);
    free(s->pid_file);
    strlist_free(&s->tls_listen);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->plugin_dir);
    strlist_free(&s->plugin_load);
    free(s->tenants_dir);
    free(s->db.url);
    free(s->db.owner_url);
    free(s->db.url_file_unchecked);
    free(s->db.owner_url_file_unchecked);
    free(s->db.migrations_dir);
    free(s->db.plugin_migrations_dir);
    host_secrets_conf_free(&s->secrets);
    strlist_free(&conf->outbound.allow);
    free(conf->outbound.ca_file);
    host_maint_free(&conf->maint);
    free(conf->path);
    free(conf->dir);
    memset(conf, 0, sizeof *conf);
}

const host_tenant *host_config_tenant_by_host(const host_config *conf, const char *host, size_t len)
{
    int i, j;

    for (i = 0; i < conf->ntenants; i++)
        for (j = 0; j < conf->tenants[i].hosts.n; j++) {
            const char *h = conf->tenants[i].hosts.v[j];
            if (strlen(h) == len && strncasecmp(h, host, len) == 0)
                return &conf->tenants[i];
        }
    return NULL;
}
