/*
 * commands.c - plugins' CLI commands: the registry filled by command_add()
 * from init(), and a run.
 *
 * `tanomu NAME ...` (cli/cli_command.c) loads the configuration's plugins
 * the way `tanomu check` does, opens a database pool, and calls
 * host_command_run(), which calls the plugin's fn and turns the loop until
 * the run ends: fn returned TN_CONTINUE or TN_ERROR, or command_done() was
 * called (from fn or later, for a fn that returned TN_SUSPEND), or the
 * time bound passed (a run that forgot command_done must not hang the
 * shell that called it).  The message goes to stdout when ok, to stderr
 * when not; the exit status is 0 or 1.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "context.h"
#include "names.h"
#include "tx.h"

#define COMMAND_USAGE_MAX 200

struct tn_command {
    host_worker *w;
    tn_plugin *plugin;
    const char *name;
    int ended;
    int timed_out;
    int ok;
    char *message;
};

static int usage_valid(const char *s)
{
    size_t i;

    if (!s)
        return 1;
    for (i = 0; s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || i >= COMMAND_USAGE_MAX)
            return 0;
    return 1;
}

const host_command *host_command_find(const host_worker *w, const char *name)
{
    int i;

    for (i = 0; w && w->commands && name && i < w->commands->n; i++)
        if (strcmp(w->commands->v[i].name, name) == 0)
            return &w->commands->v[i];
    return NULL;
}

int host_api_command_add(tn_plugin *p, const char *name, const char *usage, unsigned flags,
                         tn_command_fn fn, void *ud)
{
    host_worker *w = p ? p->worker : NULL;
    host_commands *cs;
    host_command *v, *c;
    const host_command *other;

    if (!p)
        return TN_EINVAL;
    if (!w || !w->initializing)
        return host_plugin_fail(p, TN_ESTATE, "command_add: only from init()");
    if (!fn || !host_command_name_valid(name))
        return host_plugin_fail(p, TN_EINVAL,
                                "command_add: name must match [a-z][a-z0-9-]{0,31}"
                                " and fn be set");
    if (!usage_valid(usage) || (flags & ~TN_COMMAND_STDIN) != 0)
        return host_plugin_fail(p, TN_EINVAL,
                                "command_add: usage is one printable line (at most %d bytes) "
                                "and flags TN_COMMAND_STDIN or 0",
                                COMMAND_USAGE_MAX);
    if (host_command_name_builtin(name))
        return host_plugin_fail(p, TN_EEXIST, "command_add: '%s' is a built-in command", name);
    if ((other = host_command_find(w, name)) != NULL)
        return host_plugin_fail(p, TN_EEXIST, "command_add: '%s' is taken by plugin %s", name,
                                other->plugin->name);
    if (!w->commands && !(w->commands = calloc(1, sizeof *w->commands)))
        return host_plugin_fail(p, TN_ENOMEM, "command_add: out of memory");
    cs = w->commands;
    if (!(v = realloc(cs->v, (size_t)(cs->n + 1) * sizeof *v)))
        return host_plugin_fail(p, TN_ENOMEM, "command_add: out of memory");
    cs->v = v;
    c = &v[cs->n];
    memset(c, 0, sizeof *c);
    c->name = strdup(name);
    c->usage = strdup(usage ? usage : "");
    if (!c->name || !c->usage) {
        free(c->name);
        free(c->usage);
        return host_plugin_fail(p, TN_ENOMEM, "command_add: out of memory");
    }
    c->flags = flags;
    c->plugin = p;
    c->fn = fn;
    c->ud = ud;
    cs->n++;
    return TN_OK;
}

void host_api_command_done(tn_command *cmd, int ok, const char *message)
{
    if (!cmd || cmd->ended)
        return;
    cmd->ended = 1;
    cmd->ok = ok != 0;
    cmd->message = message ? strdup(message) : NULL;
}

static void on_timeout(uv_timer_t *t)
{
    tn_command *cmd = t->data;

    cmd->timed_out = 1;
    if (!cmd->ended) {
        cmd->ended = 1;
        cmd->ok = 0;
        cmd->message = strdup("the command did not end in time");
    }
}

static void on_close_noop(uv_handle_t *h)
{
    (void)h;
}

int host_command_run(host_worker *w, const host_command *c, int argc, const char *const *argv,
                     const char *stdin_data, size_t stdin_len, uint64_t timeout_ms)
{
    tn_command cmd;
    tn_command_args args;
    uv_timer_t timer;
    tn_status st;

    memset(&cmd, 0, sizeof cmd);
    memset(&args, 0, sizeof args);
    cmd.w = w;
    cmd.plugin = c->plugin;
    cmd.name = c->name;
    args.size = sizeof args;
    args.argc = argc;
    args.argv = argv;
    args.stdin_data = (c->flags & TN_COMMAND_STDIN) ? stdin_data : NULL;
    args.stdin_len = (c->flags & TN_COMMAND_STDIN) ? stdin_len : 0;
    c->plugin->last_error[0] = '\0';
    host_worker_running(w, c->plugin, "command");
    st = c->fn(c->plugin, &cmd, &args, c->ud);
    if (!cmd.ended && st != TN_SUSPEND) {
        cmd.ended = 1;
        cmd.ok = st == TN_CONTINUE;
        if (!cmd.ok)
            cmd.message = strdup(c->plugin->last_error[0] ? c->plugin->last_error : "failed");
    }
    uv_timer_init(w->loop, &timer);
    timer.data = &cmd;
    uv_timer_start(&timer, on_timeout, timeout_ms, 0);
    while (!cmd.ended && uv_run(w->loop, UV_RUN_ONCE) != 0)
        ;
    if (!cmd.ended) {
        cmd.ok = 0;
        cmd.message = strdup("the command suspended but nothing is left to end it");
    }
    /* A commit or rollback asked before the end still gets its answer
     * (and its handle freed) before the process goes; bounded too. */
    while (host_tx_ending(w) && !cmd.timed_out && uv_run(w->loop, UV_RUN_ONCE) != 0)
        ;
    uv_close((uv_handle_t *)&timer, on_close_noop);
    uv_run(w->loop, UV_RUN_NOWAIT);
    host_worker_running(w, NULL, NULL);
    if (cmd.message && cmd.message[0]) {
        if (cmd.ok)
            printf("%s\n", cmd.message);
        else
            fprintf(stderr, "tanomu %s: %s\n", cmd.name, cmd.message);
    }
    free(cmd.message);
    return cmd.ok ? 0 : 1;
}

void host_commands_free(host_worker *w)
{
    int i;

    if (!w->commands)
        return;
    for (i = 0; i < w->commands->n; i++) {
        free(w->commands->v[i].name);
        free(w->commands->v[i].usage);
    }
    free(w->commands->v);
    free(w->commands);
    w->commands = NULL;
}
