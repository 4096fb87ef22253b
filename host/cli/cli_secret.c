/*
 * cli_secret.c - `tanomu secret`: seal a value, rotate and check the
 * keyring.  See cli_secret.h and docs/operations.md ("Secrets").
 *
 * The plaintext to seal is read from stdin, never from the command line,
 * where other users see it (ps) and shells keep it (history).  It is held
 * in locked memory and wiped before exit.
 */
#include "cli_secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libconfig.h>
#include <sodium.h>

#include <tanomu/api.h>

#include "config.h"
#include "errors.h"
#include "keyring.h"
#include "names.h"
#include "plugin_loader.h"
#include "schema.h"
#include "sealed.h"

#define DEFAULT_CONF "config/tanomu.conf"

static const char usage[] =
    "usage: tanomu secret seal -c FILE --plugin P [--tenant T] [--key K]  < plaintext\n"
    "       tanomu secret rotate -c FILE\n"
    "       tanomu secret check -c FILE\n\n"
    "seal    prints the sealed form of the text on stdin (one trailing newline is\n"
    "        dropped), sealed under the active key for tenant T (none: a plugin-wide\n"
    "        value) and plugin P.  With --key K it is the value of the secret setting\n"
    "        K, to write in the tenant file (or plugins.P in tanomu.conf); without,\n"
    "        it is data the plugin opens with api->secret_unseal.  P must be loaded\n"
    "        and K one of its secret settings.\n"
    "rotate  adds a fresh key to secrets.keyring_dir (creating it, 0700) and makes it\n"
    "        the active one (the keyring's `active` file); run `tanomu reload` after.\n"
    "        Values sealed under older keys still open; keep the old key files.\n"
    "check   loads the keyring as the server does and lists its keys.\n";

typedef struct secret_args {
    const char *sub;
    const char *conf;
    const char *plugin;
    const char *tenant;
    const char *key;
} secret_args;

static int parse(int argc, char **argv, secret_args *a)
{
    int i;

    memset(a, 0, sizeof *a);
    a->conf = DEFAULT_CONF;
    if (argc < 1)
        return -1;
    a->sub = argv[0];
    for (i = 1; i < argc; i++) {
        const char **dst = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            a->sub = "--help";
            return 0;
        }
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
            dst = &a->conf;
        else if (strcmp(argv[i], "--plugin") == 0)
            dst = &a->plugin;
        else if (strcmp(argv[i], "--tenant") == 0)
            dst = &a->tenant;
        else if (strcmp(argv[i], "--key") == 0)
            dst = &a->key;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "tanomu secret: unexpected argument '%s'\n", argv[i]);
            return -1;
        }
        *dst = argv[++i];
    }
    return 0;
}

/* secrets.keyring_dir of the configuration file, joined to its directory,
 * without loading the keyring (rotate makes the first one). */
static char *keyring_dir(const char *conf_path)
{
    config_t cfg;
    const char *dir = NULL, *slash;
    char *base = NULL, *out = NULL;

    config_init(&cfg);
    if (config_read_file(&cfg, conf_path) != CONFIG_TRUE) {
        fprintf(stderr, "%s:%d: %s\n", conf_path, config_error_line(&cfg),
                config_error_text(&cfg) ? config_error_text(&cfg) : "cannot read");
        goto out;
    }
    if (config_lookup_string(&cfg, "secrets.keyring_dir", &dir) != CONFIG_TRUE || !dir[0]) {
        fprintf(stderr, "%s: secrets.keyring_dir is not set: there is no keyring\n", conf_path);
        goto out;
    }
    slash = strrchr(conf_path, '/');
    base = slash ? strndup(conf_path, (size_t)(slash - conf_path + (slash == conf_path))) : NULL;
    out = host_path_join(base ? base : ".", dir);
out:
    free(base);
    config_destroy(&cfg);
    return out;
}

static int cmd_rotate(const secret_args *a)
{
    char id[HOST_KEY_ID_MAX + 1], err[512], *dir = keyring_dir(a->conf);
    int rc = 1;

    if (!dir)
        return 1;
    if (host_keyring_rotate(dir, id, err, sizeof err) != 0) {
        fprintf(stderr, "tanomu secret rotate: %s\n", err);
    } else {
        printf("key %s added to %s and made active\n"
               "run `tanomu reload -c %s` so the server seals with it; keep the older key "
               "files: what they sealed still opens with them\n",
               id, dir, a->conf);
        rc = 0;
    }
    free(dir);
    return rc;
}

static int cmd_check(const secret_args *a)
{
    char err[512], *dir = keyring_dir(a->conf);
    host_keyring *kr = NULL;
    int i, rc = 1;

    if (!dir)
        return 1;
    if (host_keyring_load(dir, &kr, err, sizeof err) != 0) {
        fprintf(stderr, "tanomu secret check: %s\n", err);
    } else {
        printf("keyring %s: %d key(s), active %s\n", dir, host_keyring_count(kr),
               host_keyring_active(kr));
        for (i = 0; i < host_keyring_count(kr); i++)
            printf("  %s%s\n", host_keyring_id_at(kr, i),
                   strcmp(host_keyring_id_at(kr, i), host_keyring_active(kr)) == 0 ? " (active)"
                                                                                   : "");
        rc = 0;
    }
    host_keyring_free(kr);
    free(dir);
    return rc;
}

/* Reads stdin into locked memory: the length, or -1 (too long, error).
 * From a terminal, what is typed is not echoed. */
static long read_plain(unsigned char *buf, size_t cap)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    size_t n = 0;

    if (tty) {
        fprintf(stderr, "type the secret (not shown), then Enter and Ctrl-D:\n");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    while (n < cap) {
        size_t r = fread(buf + n, 1, cap - n, stdin);
        if (r == 0)
            break;
        n += r;
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (ferror(stdin) || n >= cap)
        return -1;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    return (long)n;
}

static int check_names(const secret_args *a, const host_config *conf)
{
    int i;

    if (!a->plugin || !host_plugin_name_valid(a->plugin)) {
        fprintf(stderr, "tanomu secret seal: --plugin NAME is required ([a-z0-9_]{1,32})\n");
        return -1;
    }
    if (a->key && !host_plugin_name_valid(a->key)) {
        fprintf(stderr, "tanomu secret seal: --key must be a setting name ([a-z0-9_]{1,32})\n");
        return -1;
    }
    if (!a->tenant)
        return 0;
    if (!host_tenant_id_valid(a->tenant)) {
        fprintf(stderr, "tanomu secret seal: --tenant must be a tenant ID\n");
        return -1;
    }
    for (i = 0; i < conf->ntenants; i++)
        if (conf->tenants[i].id && strcmp(conf->tenants[i].id, a->tenant) == 0)
            return 0;
    fprintf(stderr, "tanomu secret seal: note: no tenant '%s' in %s yet\n", a->tenant, conf->path);
    return 0;
}

/* The plugin must be loaded and, with --key, declare KEY a secret (a
 * per-tenant setting, or with no --tenant a plugin-wide one): a typo is
 * caught here, not when the value does not open at the next check. */
static int check_plugin(const secret_args *a, const host_config *conf)
{
    host_plugins ps;
    host_errors errs;
    const tn_plugin *p;
    const tn_config_key *keys;
    int i, n, rc = -1;

    host_errors_init(&errs);
    host_plugins_load(&ps, conf->server.plugin_dir, &conf->server.plugin_load, conf->path,
                      conf->server.plugin_load_line, 0, &errs);
    if (!(p = host_plugins_find(&ps, a->plugin))) {
        fprintf(stderr, "tanomu secret seal: plugin %s is not loaded by %s (plugins.load)\n",
                a->plugin, conf->path);
        goto out;
    }
    keys = a->tenant ? p->desc.settings : p->desc.global_settings;
    n = host_keys_count(keys);
    i = a->key ? host_key_index(keys, n, a->key) : -1;
    if (a->key && (i < 0 || !(keys[i].flags & TN_KEY_SECRET) || keys[i].type != TN_TYPE_STRING)) {
        fprintf(stderr,
                "tanomu secret seal: %s is not a secret string %ssetting of %s "
                "(tanomu plugins --schema %s)\n",
                a->key, a->tenant ? "" : "plugin-wide ", a->plugin, a->plugin);
        goto out;
    }
    rc = 0;
out:
    host_plugins_unload(&ps);
    host_errors_free(&errs);
    return rc;
}

static int cmd_seal(const secret_args *a)
{
    host_snapshot snap;
    host_config conf;
    host_errors errs;
    unsigned char *plain = NULL;
    char why[256], *purpose = NULL, *sealed = NULL;
    long n;
    int rc = 1;

    memset(&conf, 0, sizeof conf);
    host_errors_init(&errs);
    if (host_config_snapshot(a->conf, &snap, &errs) != 0 ||
        host_config_parse(&snap, &conf, &errs) != 0) {
        host_errors_print(&errs, stderr);
        goto out;
    }
    if (check_names(a, &conf) != 0 || check_plugin(a, &conf) != 0)
        goto out;
    if (!conf.server.secrets.keyring) {
        fprintf(stderr, "tanomu secret seal: %s has no keyring (secrets.keyring_dir)\n", conf.path);
        goto out;
    }
    if (!(plain = sodium_malloc(HOST_SEALED_MAX_PLAIN + 1)))
        goto out;
    if ((n = read_plain(plain, HOST_SEALED_MAX_PLAIN + 1)) < 0) {
        fprintf(stderr, "tanomu secret seal: cannot read stdin, or more than %d bytes\n",
                HOST_SEALED_MAX_PLAIN);
        goto out;
    }
    if (n == 0 || (a->key && memchr(plain, '\0', (size_t)n))) {
        fprintf(stderr, "tanomu secret seal: %s\n",
                n == 0 ? "nothing to seal on stdin" : "a setting cannot hold a NUL byte");
        goto out;
    }
    if (!(purpose = malloc(strlen(HOST_SEALED_SETTING_PURPOSE) + (a->key ? strlen(a->key) : 0) +
                           1)))
        goto out;
    strcpy(purpose, a->key ? HOST_SEALED_SETTING_PURPOSE : "");
    if (a->key)
        strcat(purpose, a->key);
    if (host_seal(conf.server.secrets.keyring, a->tenant, a->plugin, purpose, plain, (size_t)n,
                  &sealed, why, sizeof why) != TN_OK) {
        fprintf(stderr, "tanomu secret seal: %s\n", why);
        goto out;
    }
    printf("%s\n", sealed);
    rc = 0;
out:
    sodium_free(plain); /* wipes */
    free(sealed);
    free(purpose);
    host_config_free(&conf);
    host_snapshot_free(&snap);
    host_errors_free(&errs);
    return rc;
}

int host_cli_secret(int argc, char **argv)
{
    secret_args a;

    if (parse(argc, argv, &a) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(a.sub, "--help") == 0 || strcmp(a.sub, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(a.sub, "seal") == 0)
        return cmd_seal(&a);
    if (strcmp(a.sub, "rotate") == 0)
        return cmd_rotate(&a);
    if (strcmp(a.sub, "check") == 0)
        return cmd_check(&a);
    fprintf(stderr, "tanomu secret: unknown command '%s'\n\n%s", a.sub, usage);
    return 2;
}
