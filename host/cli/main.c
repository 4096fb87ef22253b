/*
 * main.c - the tanomu command: serve, check, reload, plugins, version.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "cli_command.h"
#include "cli_db.h"
#include "cli_jobs.h"
#include "cli_secret.h"
#include "cli_lint.h"
#include "cli_plugin_new.h"
#include "commands.h"
#include "config.h"
#include "errors.h"
#include "generation.h"
#include "log.h"
#include "master.h"
#include "names.h"
#include "outbox.h"
#include "plugin_settings.h"
#include "reload_status.h"
#include "settings.h"
#include "tls.h"

#define DEFAULT_CONF "config/tanomu.conf"

static const char usage_main[] =
    "usage: tanomu COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  serve -c FILE            run the server (master + workers) in the foreground\n"
    "  check -c FILE            validate the configuration, tenants and plugins\n"
    "  reload -c FILE           reload the running server; waits for the result\n"
    "  plugins -c FILE          list the plugins the configuration loads\n"
    "  plugins -c FILE --schema NAME   print a plugin's settings\n"
    "  migrate -c FILE [--status]      apply (or list) database migrations\n"
    "  events -c FILE --dead | --retry ID   dead durable events\n"
    "  audit -c FILE --tenant ID [--from TIME] [--to TIME]   operation log as CSV\n"
    "  jobs -c FILE [--tenant ID] [--failed] | --run NAME   scheduled job runs\n"
    "  secret seal|rotate|check -c FILE ...   sealed secrets and the keyring\n"
    "  version                  print the host version and SDK ABI\n"
    "  plugin new NAME [DIR]    write a new out-of-tree plugin from the SDK template\n"
    "  NAME [-c FILE] ...       a command a loaded plugin registers (listed below)\n"
    "\n"
    "Run 'tanomu COMMAND --help' for more.\n";

static const char *const usage_cmd[][2] = {
    {"serve", "usage: tanomu serve -c FILE\n\n"
              "Runs the master and its workers in the foreground, logging JSON lines to\n"
              "stdout.  SIGHUP reloads; SIGTERM or SIGINT drains in-flight requests (up to\n"
              "server.drain_timeout_ms) and exits 0.\n"},
    {"check", "usage: tanomu check -c FILE\n\n"
              "Validates tanomu.conf, every tenant file and every plugin's settings the\n"
              "way a reload would.  Prints FILE:LINE: message for each error and exits 1,\n"
              "or prints 'configuration ok' and exits 0.\n"
              "Warns (FILE:LINE: warning: ...) about a plugin migration that creates a\n"
              "table with tenant_id without enabling and forcing row-level security.\n"},
    {"reload", "usage: tanomu reload -c FILE\n\n"
               "Signals the server whose pid is in server.pid_file and waits.  Exits 0 once\n"
               "the new generation serves; exits 1 with the errors if it was rejected (the\n"
               "running configuration then stays).\n"},
    {"plugins", "usage: tanomu plugins -c FILE [--schema NAME]\n\n"
                "Lists the loaded plugins with version and ABI, or prints one plugin's\n"
                "settings (type, default, bounds, required, secret, description).\n"},
    {"version", "usage: tanomu version\n\nPrints the host version and the SDK ABI version.\n"},
    {"migrate", "usage: tanomu migrate -c FILE [--status]\n\n"
                "Applies pending migrations (migrations/, then each loaded plugin's\n"
                "plugins/NAME/migrations, in depends order) as database.owner_url, each\n"
                "file in its own transaction under an advisory lock, recording name and\n"
                "checksum; refuses if an applied file was edited, and fails a file after\n"
                "which a table with tenant_id lacks forced row-level security; then\n"
                "registers the configured tenants.\n"
                "--status lists applied and pending migrations and changes nothing.\n"},
    {"events", "usage: tanomu events -c FILE --dead\n"
               "       tanomu events -c FILE --retry ID\n\n"
               "Lists durable events that exhausted their attempts, or sends one back\n"
               "to be delivered again.\n"},
    {"audit", "usage: tanomu audit -c FILE --tenant ID [--from TIME] [--to TIME]\n\n"
              "Prints the tenant's operation log for [from, to) as CSV (RFC 4180,\n"
              "UTC times).  TIME is anything PostgreSQL reads as a timestamptz.\n"},
};

static void print_cmd_usage(const char *cmd, FILE *out)
{
    size_t i;

    for (i = 0; i < sizeof usage_cmd / sizeof usage_cmd[0]; i++)
        if (strcmp(usage_cmd[i][0], cmd) == 0) {
            fputs(usage_cmd[i][1], out);
            return;
        }
    fputs(usage_main, out);
}

typedef struct cli {
    const char *cmd;
    const char *conf;
    const char *schema;
    const char *tenant;
    const char *from;
    const char *to;
    const char *retry;
    int status;
    int dead;
    int help;
} cli;

static int parse_args(int argc, char **argv, cli *c)
{
    int i;

    memset(c, 0, sizeof *c);
    c->conf = DEFAULT_CONF;
    if (argc < 2)
        return -1;
    c->cmd = argv[1];
    if (strcmp(c->cmd, "--help") == 0 || strcmp(c->cmd, "-h") == 0 || strcmp(c->cmd, "help") == 0) {
        c->help = 1;
        c->cmd = "";
        if (argc >= 4 && (strcmp(argv[2], "-c") == 0 || strcmp(argv[2], "--config") == 0))
            c->conf = argv[3]; /* whose plugins' commands to list */
        return 0;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            c->help = 1;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            c->conf = argv[++i];
        } else if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc) {
            c->schema = argv[++i];
        } else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            c->tenant = argv[++i];
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            c->from = argv[++i];
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            c->to = argv[++i];
        } else if (strcmp(argv[i], "--retry") == 0 && i + 1 < argc) {
            c->retry = argv[++i];
        } else if (strcmp(argv[i], "--status") == 0) {
            c->status = 1;
        } else if (strcmp(argv[i], "--dead") == 0) {
            c->dead = 1;
        } else {
            fprintf(stderr, "tanomu %s: unexpected argument '%s'\n", c->cmd, argv[i]);
            return -1;
        }
    }
    return 0;
}

/* Loads a generation the way a reload does (strict), without serving. */
static int load_for_cli(host_worker *w, uv_loop_t *loop, host_snapshot *snap, const char *path,
                        int strict, host_errors *errs)
{
    if (uv_loop_init(loop) != 0)
        return -1;
    if (host_config_snapshot(path, snap, errs) != 0)
        return -1;
    return host_generation_load(w, loop, snap, strict, errs);
}

/* As load_for_cli, for `tanomu check`: the database URL files are not read
 * (check reports them "not checked"), so a build step without the
 * database's secrets can check a configuration; serve and migrate read them. */
static int load_for_check(host_worker *w, uv_loop_t *loop, host_snapshot *snap, const char *path,
                          host_errors *errs)
{
    if (uv_loop_init(loop) != 0)
        return -1;
    if (host_config_snapshot(path, snap, errs) != 0)
        return -1;
    snap->url_files_unchecked = 1;
    return host_generation_load(w, loop, snap, 1, errs);
}

static void unload_for_cli(host_worker *w, uv_loop_t *loop, host_snapshot *snap)
{
    host_generation_unload(w);
    host_outbox_stop(w); /* a durable subscriber's init() made one */
    uv_run(loop, UV_RUN_NOWAIT);
    host_outbox_free(w);
    uv_loop_close(loop);
    host_snapshot_free(snap);
}

static int cmd_check(const cli *c)
{
    host_worker w;
    uv_loop_t loop;
    host_snapshot snap;
    host_errors errs;
    int rc;

    memset(&w, 0, sizeof w);
    memset(&snap, 0, sizeof snap);
    host_errors_init(&errs);
    host_log_setup(HOST_LOG_ERROR, 0, "check");
    rc = load_for_check(&w, &loop, &snap, c->conf, &errs);
    if (rc == 0 && w.conf.server.tls_enabled) {
        char err[256];
        host_tls_ctx *tls = host_tls_ctx_new(w.conf.server.tls_cert, w.conf.server.tls_key, err,
                                             sizeof err);
        if (!tls) {
            host_errors_add(&errs, w.conf.path, 0, "server.tls: %s", err);
            rc = -1;
        }
        host_tls_ctx_free(tls);
    }
    host_errors_print(&w.conf.server.secrets.warnings, stderr);
    if (w.conf.path)
        host_cli_lint_migrations(&w.conf, stderr); /* warnings: migrate is the guard */
    if (rc != 0 || errs.count > 0) {
        host_errors_print(&errs, stderr);
        rc = 1;
    } else {
        printf("configuration ok: %d tenant(s), %d plugin(s)\n", w.conf.ntenants, w.plugins.n);
        if (w.conf.server.db.url_file_unchecked)
            printf("not checked: database.url_file %s (read by serve)\n",
                   w.conf.server.db.url_file_unchecked);
        if (w.conf.server.db.owner_url_file_unchecked)
            printf("not checked: database.owner_url_file %s (read by migrate)\n",
                   w.conf.server.db.owner_url_file_unchecked);
    }
    unload_for_cli(&w, &loop, &snap);
    host_errors_free(&errs);
    return rc;
}

static int cmd_plugins(const cli *c)
{
    host_worker w;
    uv_loop_t loop;
    host_snapshot snap;
    host_errors errs;
    int i, rc = 0;

    memset(&w, 0, sizeof w);
    memset(&snap, 0, sizeof snap);
    host_errors_init(&errs);
    host_log_setup(HOST_LOG_ERROR, 0, "plugins");
    load_for_cli(&w, &loop, &snap, c->conf, 0, &errs);
    if (!w.loaded) {
        host_errors_print(&errs, stderr);
        rc = 1;
    } else if (c->schema) {
        tn_plugin *p = host_plugins_find(&w.plugins, c->schema);
        if (p) {
            host_schema_print(p, stdout);
            host_plugin_settings_print(p, stdout);
        } else {
            fprintf(stderr, "tanomu plugins: '%s' is not loaded by %s\n", c->schema, c->conf);
            rc = 1;
        }
    } else {
        printf("%-20s %-10s %-6s %s\n", "NAME", "VERSION", "ABI", "DESCRIPTION");
        for (i = 0; i < w.plugins.n; i++) {
            const tn_plugin *p = w.plugins.v[i];
            printf("%-20s %-10s %u.%-4u %s\n", p->name, p->desc.version ? p->desc.version : "?",
                   p->desc.abi_major, p->desc.abi_minor,
                   p->desc.description ? p->desc.description : "");
        }
        for (i = 0; i < w.plugins.failed.n; i++)
            printf("%-20s %-10s %-6s %s\n", w.plugins.failed.v[i], "-", "-", "(refused)");
        if (errs.count)
            host_errors_print(&errs, stderr);
    }
    unload_for_cli(&w, &loop, &snap);
    host_errors_free(&errs);
    return rc;
}

static int cmd_reload(const cli *c)
{
    host_snapshot snap;
    host_config conf;
    host_errors errs;
    char status_path[4096];
    FILE *f = NULL;
    long pid = 0;
    uint64_t t0, deadline;
    int rc = 1;

    host_errors_init(&errs);
    if (host_config_snapshot(c->conf, &snap, &errs) != 0 ||
        host_config_parse(&snap, &conf, &errs) != 0) {
        host_errors_print(&errs, stderr);
        host_errors_free(&errs);
        return 1;
    }
    if (host_reload_status_path(conf.server.pid_file, status_path, sizeof status_path) != 0) {
        fprintf(stderr, "tanomu reload: pid file path too long\n");
        goto out;
    }
    f = fopen(conf.server.pid_file, "r");
    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1 || kill((pid_t)pid, 0) != 0) {
        fprintf(stderr, "tanomu reload: no running server (pid file %s)\n", conf.server.pid_file);
        goto out;
    }
    t0 = host_realtime_ns();
    if (kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr, "tanomu reload: cannot signal pid %ld: %s\n", pid, strerror(errno));
        goto out;
    }
    deadline = t0 + (conf.server.reload_timeout_ms + 10000) * 1000000ull;
    while (host_realtime_ns() < deadline) {
        host_reload_status st;
        if (host_reload_status_read(status_path, &st) == 0 && st.begun_ns >= t0 &&
            strcmp(st.state, HOST_RELOAD_RUNNING) != 0) {
            if (strcmp(st.state, HOST_RELOAD_OK) == 0) {
                printf("reload ok\n");
                rc = 0;
            } else {
                fprintf(stderr, "reload rejected; the running configuration stays:\n%s",
                        st.errors ? st.errors : "");
            }
            free(st.errors);
            goto out;
        }
        free(st.errors);
        usleep(20000);
    }
    fprintf(stderr, "tanomu reload: no result within %llu ms\n",
            (unsigned long long)(conf.server.reload_timeout_ms + 10000));
out:
    if (f)
        fclose(f);
    host_config_free(&conf);
    host_snapshot_free(&snap);
    host_errors_free(&errs);
    return rc;
}

/* The database commands need the configuration, not the plugins. */
static int cmd_db(const cli *c)
{
    host_snapshot snap;
    host_config conf;
    host_errors errs;
    int rc = 2;

    host_errors_init(&errs);
    if (host_config_snapshot(c->conf, &snap, &errs) != 0 ||
        host_config_parse(&snap, &conf, &errs) != 0) {
        host_errors_print(&errs, stderr);
        host_errors_free(&errs);
        host_snapshot_free(&snap);
        return 1;
    }
    if (strcmp(c->cmd, "migrate") == 0) {
        rc = host_cli_migrate(&conf, c->status);
    } else if (strcmp(c->cmd, "events") == 0) {
        if (c->dead && !c->retry)
            rc = host_cli_events_dead(&conf);
        else if (c->retry && !c->dead)
            rc = host_cli_events_retry(&conf, c->retry);
        else
            print_cmd_usage("events", stderr);
    } else if (c->tenant) {
        rc = host_cli_audit(&conf, c->tenant, c->from, c->to);
    } else {
        print_cmd_usage("audit", stderr);
    }
    host_config_free(&conf);
    host_snapshot_free(&snap);
    host_errors_free(&errs);
    return rc;
}

int main(int argc, char **argv)
{
    cli c;

    if (argc >= 2 && strcmp(argv[1], "jobs") == 0)
        return host_cli_jobs(argc, argv); /* its own options: cli_jobs.c */
    if (argc >= 2 && strcmp(argv[1], "secret") == 0)
        return host_cli_secret(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "plugin") == 0)
        return host_cli_plugin(argc, argv);
    if (argc >= 2 && argv[1][0] != '-' && !host_command_name_builtin(argv[1]))
        return host_cli_command(argc, argv, DEFAULT_CONF); /* a plugin's: cli_command.c */
    if (parse_args(argc, argv, &c) != 0) {
        host_log_to_stderr();
        fputs(usage_main, stderr);
        return 2;
    }
    if (c.help) {
        print_cmd_usage(c.cmd, stdout);
        if (!c.cmd[0])
            host_cli_commands_usage(c.conf, stdout);
        return 0;
    }
    if (strcmp(c.cmd, "version") == 0) {
        printf("tanomu %s\nSDK ABI %d.%d\n", TANOMU_VERSION, TN_SDK_ABI_MAJOR, TN_SDK_ABI_MINOR);
        return 0;
    }
    if (strcmp(c.cmd, "serve") == 0)
        return host_master_run(c.conf);
    host_log_to_stderr();
    if (strcmp(c.cmd, "check") == 0)
        return cmd_check(&c);
    if (strcmp(c.cmd, "reload") == 0)
        return cmd_reload(&c);
    if (strcmp(c.cmd, "plugins") == 0)
        return cmd_plugins(&c);
    if (strcmp(c.cmd, "migrate") == 0 || strcmp(c.cmd, "events") == 0 ||
        strcmp(c.cmd, "audit") == 0)
        return cmd_db(&c);
    fprintf(stderr, "tanomu: unknown command '%s'\n\n%s", c.cmd, usage_main);
    return 2;
}
