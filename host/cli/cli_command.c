/*
 * cli_command.c - `tanomu NAME [-c FILE] ARGS...` for a command a plugin
 * registered with command_add(), and the list of them for `tanomu help`.
 *
 * The plugins load as for `tanomu check` (leniently, as a worker's first
 * start does), the database pool opens as a worker's does, and the
 * command runs on this process's loop (runtime/commands.c).  `-c FILE` and
 * `--config FILE` are the host's wherever they stand and are taken out of
 * the arguments; the rest go to the command.  Standard input is read, all
 * of it and at most TN_COMMAND_STDIN_MAX bytes, only for a command that
 * asked (TN_COMMAND_STDIN): a password comes that way, never in argv,
 * where `ps` and shell history show it.
 */
#include "cli_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "commands.h"
#include "context.h"
#include "database.h"
#include "generation.h"
#include "log.h"
#include "outbox.h"

#define DB_READY_WAIT_MS 10000
#define RUN_TIMEOUT_MS 120000

/* Reads fd 0 to its end into a NUL-terminated buffer; -1 if it holds more
 * than TN_COMMAND_STDIN_MAX bytes or cannot be read. */
static int read_stdin(char **out, size_t *len)
{
    size_t cap = TN_COMMAND_STDIN_MAX + 1, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;

    if (!buf)
        return -1;
    while (n < cap && (r = read(0, buf + n, cap - n)) != 0) {
        if (r < 0)
            goto fail;
        n += (size_t)r;
    }
    if (n > TN_COMMAND_STDIN_MAX)
        goto fail;
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
fail:
    memset(buf, 0, n); /* it may be a secret */
    free(buf);
    return -1;
}

/* need_db 0 (help): the database URL files are not read, as for check. */
static int load(host_worker *w, uv_loop_t *loop, host_snapshot *snap, const char *conf, int need_db,
                host_errors *errs)
{
    memset(w, 0, sizeof *w);
    memset(snap, 0, sizeof *snap);
    if (uv_loop_init(loop) != 0)
        return -1;
    if (host_config_snapshot(conf, snap, errs) != 0)
        return -1;
    snap->url_files_unchecked = !need_db;
    return host_generation_load(w, loop, snap, 0, errs) == 0 && w->loaded ? 0 : -1;
}

static void unload(host_worker *w, uv_loop_t *loop, host_snapshot *snap)
{
    host_generation_unload(w);
    host_outbox_stop(w);
    host_database_close(w);
    uv_run(loop, UV_RUN_DEFAULT); /* the pool's handles close */
    host_outbox_free(w);
    uv_loop_close(loop);
    host_snapshot_free(snap);
}

static void on_ready_tick(uv_timer_t *t)
{
    host_worker *w = t->data;

    if (host_database_ready(w))
        uv_timer_stop(t);
}

/* Turns the loop until the pool has a connection, or the bound passes: the
 * command's first statement then need not wait in the pool's queue. */
static void wait_database(host_worker *w)
{
    uv_timer_t t;
    uint64_t deadline = uv_now(w->loop) + DB_READY_WAIT_MS;

    uv_timer_init(w->loop, &t);
    t.data = w;
    uv_timer_start(&t, on_ready_tick, 20, 20);
    while (!host_database_ready(w) && uv_now(w->loop) < deadline)
        uv_run(w->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(w->loop, UV_RUN_NOWAIT);
}

int host_cli_command(int argc, char **argv, const char *default_conf)
{
    const char *conf = default_conf, *name = argv[1];
    const char **args = calloc((size_t)argc, sizeof *args);
    const host_command *c;
    host_worker w;
    uv_loop_t loop;
    host_snapshot snap;
    host_errors errs;
    char *in = NULL;
    size_t inlen = 0;
    int i, n = 0, rc = 1;

    if (!args)
        return 1;
    for (i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            conf = argv[++i];
        else
            args[n++] = argv[i];
    }
    args[n] = NULL;
    host_log_to_stderr();
    host_log_setup(HOST_LOG_ERROR, 0, name);
    host_errors_init(&errs);
    if (load(&w, &loop, &snap, conf, 1, &errs) != 0) {
        fprintf(stderr,
                "tanomu: unknown command '%s', or a plugin's that %s cannot load to "
                "tell:\n",
                name, conf);
        host_errors_print(&errs, stderr);
        rc = 2;
        goto out;
    }
    if (!(c = host_command_find(&w, name))) {
        fprintf(stderr,
                "tanomu: unknown command '%s' (not built in, and no plugin loaded by %s "
                "registers it); see 'tanomu help'\n",
                name, conf);
        rc = 2;
        goto out;
    }
    if (n == 1 && (strcmp(args[0], "--help") == 0 || strcmp(args[0], "-h") == 0)) {
        printf("usage: tanomu %s [-c FILE] %s\n(plugin %s)\n", name, c->usage, c->plugin->name);
        rc = 0;
        goto out;
    }
    if ((c->flags & TN_COMMAND_STDIN) && read_stdin(&in, &inlen) != 0) {
        fprintf(stderr, "tanomu %s: cannot read standard input (at most %d bytes)\n", name,
                TN_COMMAND_STDIN_MAX);
        goto out;
    }
    if (host_database_open(&w) != 0) {
        fprintf(stderr, "tanomu %s: database: bad pool options\n", name);
        goto out;
    }
    if (w.db)
        wait_database(&w);
    rc = host_command_run(&w, c, n, args, in, inlen, RUN_TIMEOUT_MS);
out:
    if (in) {
        memset(in, 0, inlen);
        free(in);
    }
    unload(&w, &loop, &snap);
    host_errors_free(&errs);
    free(args);
    return rc;
}

void host_cli_commands_usage(const char *conf, FILE *out)
{
    host_worker w;
    uv_loop_t loop;
    host_snapshot snap;
    host_errors errs;
    int i;

    host_errors_init(&errs);
    fflush(out);
    host_log_to_stderr(); /* the plugins' init() lines stay off the usage */
    host_log_setup(HOST_LOG_ERROR, 0, "help");
    if (load(&w, &loop, &snap, conf, 0, &errs) == 0 && w.commands && w.commands->n > 0) {
        fprintf(out, "\nplugin commands (%s):\n", conf);
        for (i = 0; i < w.commands->n; i++)
            fprintf(out, "  %-24s %s (plugin %s)\n", w.commands->v[i].name, w.commands->v[i].usage,
                    w.commands->v[i].plugin->name);
    }
    unload(&w, &loop, &snap);
    host_errors_free(&errs);
}
