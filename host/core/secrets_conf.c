/*
 * secrets_conf.c - the `secrets` section of tanomu.conf and the values of
 * secret settings.  See secrets_conf.h.
 */
#include "secrets_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tanomu/api.h>

#include "buf.h"
#include "keyring.h"

#define FILE_PREFIX "file:"

/* dir/path, or path when it is absolute (malloc'd). */
static char *join(const char *dir, const char *path)
{
    host_buf b;

    if (path[0] == '/' || !dir || !dir[0])
        return strdup(path);
    host_buf_init(&b);
    host_buf_printf(&b, "%s/%s", dir, path);
    return host_buf_steal(&b, NULL);
}

static char *dir_of(const char *file)
{
    const char *slash = file ? strrchr(file, '/') : NULL;

    if (!slash)
        return strdup(".");
    return slash == file ? strdup("/") : strndup(file, (size_t)(slash - file));
}

int host_secrets_snapshot(config_t *cfg, const char *conf_path, const char *base,
                          host_keyring **out, host_errors *errs)
{
    const char *dir = NULL;
    char err[512], *path;
    int rc;

    *out = NULL;
    /* A mistyped key is host_secrets_parse's to report, with its line. */
    if (config_lookup_string(cfg, "secrets.keyring_dir", &dir) != CONFIG_TRUE || !dir[0])
        return 0;
    if (!(path = join(base, dir))) {
        host_errors_add(errs, conf_path, 0, "out of memory");
        return -1;
    }
    rc = host_keyring_load(path, out, err, sizeof err);
    if (rc != 0)
        host_errors_add(errs, conf_path, 0, "secrets.keyring_dir: %s", err);
    free(path);
    return rc;
}

int host_secrets_parse(config_setting_t *root, const char *file, const char *base,
                       const host_keyring *loaded, host_secrets_conf *out, host_errors *errs)
{
    config_setting_t *g = config_setting_get_member(root, "secrets"), *m;
    int i, bad = 0;

    memset(out, 0, sizeof *out);
    host_errors_init(&out->warnings);
    if (!g)
        return 0;
    if (!config_setting_is_group(g)) {
        host_errors_add(errs, file, config_setting_source_line(g),
                        "'secrets' must be a group { ... }");
        return -1;
    }
    for (i = 0; i < config_setting_length(g); i++) {
        const char *name;
        m = config_setting_get_elem(g, (unsigned)i);
        name = config_setting_name(m);
        if (name && strcmp(name, "keyring_dir") == 0 &&
            config_setting_type(m) == CONFIG_TYPE_STRING) {
            free(out->keyring_dir);
            out->keyring_dir = config_setting_get_string(m)[0]
                                   ? join(base, config_setting_get_string(m))
                                   : NULL;
        } else if (name && strcmp(name, "require_sealed") == 0 &&
                   config_setting_type(m) == CONFIG_TYPE_BOOL) {
            out->require_sealed = config_setting_get_bool(m);
        } else {
            host_errors_add(errs, file, config_setting_source_line(m),
                            name && (strcmp(name, "keyring_dir") == 0 ||
                                     strcmp(name, "require_sealed") == 0)
                                ? "'secrets.%s' has the wrong type (keyring_dir: a string, "
                                  "require_sealed: true or false)"
                                : "unknown setting 'secrets.%s'",
                            name ? name : "?");
            bad = 1;
        }
    }
    if (out->keyring_dir && loaded && !(out->keyring = host_keyring_dup(loaded))) {
        host_errors_add(errs, file, config_setting_source_line(g), "secrets: out of memory");
        bad = 1;
    }
    return bad ? -1 : 0;
}

void host_secrets_conf_free(host_secrets_conf *sc)
{
    free(sc->keyring_dir);
    host_keyring_free(sc->keyring);
    host_errors_free(&sc->warnings);
    memset(sc, 0, sizeof *sc);
}

static int open_sealed(host_secrets_conf *sc, const char *tenant, const char *plugin,
                       const char *key, const char *text, const char *file, int line,
                       host_errors *errs, char **out)
{
    char why[256], *purpose;
    size_t len;
    int stale, rc;

    if (!sc->keyring) {
        host_errors_add(errs, file, line,
                        "%s.%s is sealed, but no keyring is configured (secrets.keyring_dir "
                        "in tanomu.conf)",
                        plugin, key);
        return -1;
    }
    if (!(purpose = malloc(strlen(HOST_SEALED_SETTING_PURPOSE) + strlen(key) + 1)))
        return -1;
    strcpy(purpose, HOST_SEALED_SETTING_PURPOSE);
    strcat(purpose, key);
    rc = host_unseal(sc->keyring, tenant, plugin, purpose, text, out, &len, &stale, why,
                     sizeof why);
    free(purpose);
    if (rc != TN_OK) {
        host_errors_add(errs, file, line, "%s.%s: %s", plugin, key, why);
        return -1;
    }
    if (strlen(*out) != len) {
        host_errors_add(errs, file, line, "%s.%s: the sealed value holds a NUL byte", plugin, key);
        host_secret_free(*out);
        *out = NULL;
        return -1;
    }
    if (stale)
        host_errors_add(&sc->warnings, file, line,
                        "warning: %s.%s is sealed under a key that is no longer the active "
                        "one: seal it again (tanomu secret seal)",
                        plugin, key);
    return 0;
}

int host_secret_setting(host_secrets_conf *sc, const char *tenant, const char *plugin,
                        const char *key, int is_secret, const char *text, const char *file,
                        int line, host_errors *errs, char **out)
{
    char err[512], *dir, *path;
    int rc;

    *out = NULL;
    if (!is_secret) {
        if (!host_sealed_is(text))
            return 0;
        host_errors_add(errs, file, line,
                        "%s.%s is not a secret setting: a sealed value is accepted only for "
                        "secrets (tanomu plugins --schema %s)",
                        plugin, key, plugin);
        return -1;
    }
    if (host_sealed_is(text))
        return open_sealed(sc, tenant, plugin, key, text, file, line, errs, out);
    if (strncmp(text, FILE_PREFIX, strlen(FILE_PREFIX)) == 0) {
        const char *p = text + strlen(FILE_PREFIX);
        if (!p[0]) {
            host_errors_add(errs, file, line, "%s.%s: file: needs a path", plugin, key);
            return -1;
        }
        dir = dir_of(file);
        path = dir ? join(dir, p) : NULL;
        free(dir);
        if (!path)
            return -1;
        rc = host_secret_file_read(path, out, err, sizeof err);
        free(path);
        if (rc != 0)
            host_errors_add(errs, file, line, "%s.%s: %s", plugin, key, err);
        return rc;
    }
    if (!text[0])
        return 0;
    if (sc->require_sealed) {
        host_errors_add(errs, file, line,
                        "%s.%s is a secret written in plain text, and secrets.require_sealed is "
                        "true: write it sealed (tanomu secret seal) or as file:PATH",
                        plugin, key);
        return -1;
    }
    host_errors_add(&sc->warnings, file, line,
                    "warning: %s.%s is a secret written in plain text: write it sealed "
                    "(tanomu secret seal) or as file:PATH",
                    plugin, key);
    return 0;
}
