/*
 * commands.c - plugins' CLI commands (ABI 1.2 command_add, command_done)
 * in the kit, as host/runtime/commands.c keeps and runs them: the same
 * name rules and built-in names, and tk_command_run() runs one as
 * `tanomu NAME ARGS...` would, then the kit's pending work and database
 * answers until it ends.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

typedef struct tk_command {
    tn_plugin *plugin;
    char *name;
    char *usage;
    unsigned flags;
    tn_command_fn fn;
    void *ud;
} tk_command;

struct tn_command {
    int ended;
    int ok;
    char *message;
};

static int usage_valid(const char *s)
{
    size_t i;

    for (i = 0; s && s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || i >= 200)
            return 0;
    return 1;
}

static tk_command *find(tk_kit *tk, const char *name)
{
    for (size_t i = 0; name && i < tk->commands.n; i++) {
        tk_command *c = tk->commands.items[i];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

int tk_api_command_add(tn_plugin *self, const char *name, const char *usage, unsigned flags,
                       tn_command_fn fn, void *ud)
{
    tk_kit *tk = self ? self->tk : NULL;
    tk_command *c, *other;

    if (tk == NULL)
        return TN_EINVAL;
    if (tk->registering != self)
        return tk_plugin_fail(self, TN_ESTATE, "command_add: only from init()");
    if (fn == NULL || !host_command_name_valid(name))
        return tk_plugin_fail(self, TN_EINVAL,
                              "command_add: name must match [a-z][a-z0-9-]{0,31} and fn be set");
    if (!usage_valid(usage) || (flags & ~TN_COMMAND_STDIN) != 0)
        return tk_plugin_fail(self, TN_EINVAL,
                              "command_add: usage is one printable line (at most 200 bytes) "
                              "and flags TN_COMMAND_STDIN or 0");
    if (host_command_name_builtin(name))
        return tk_plugin_fail(self, TN_EEXIST, "command_add: '%s' is a built-in command", name);
    if ((other = find(tk, name)) != NULL)
        return tk_plugin_fail(self, TN_EEXIST, "command_add: '%s' is taken by plugin %s", name,
                              other->plugin->desc.name);
    if ((c = calloc(1, sizeof *c)) == NULL)
        return tk_plugin_fail(self, TN_ENOMEM, "command_add: out of memory");
    c->plugin = self;
    c->name = strdup(name);
    c->usage = strdup(usage ? usage : "");
    c->flags = flags;
    c->fn = fn;
    c->ud = ud;
    if (c->name == NULL || c->usage == NULL || tk_list_push(&tk->commands, c) != TN_OK) {
        free(c->name);
        free(c->usage);
        free(c);
        return tk_plugin_fail(self, TN_ENOMEM, "command_add: out of memory");
    }
    return TN_OK;
}

void tk_api_command_done(tn_command *cmd, int ok, const char *message)
{
    if (cmd == NULL || cmd->ended)
        return;
    cmd->ended = 1;
    cmd->ok = ok != 0;
    cmd->message = message ? strdup(message) : NULL;
}

int tk_command_run(tk_kit *tk, const char *plugin, const char *name, int argc,
                   const char *const *argv, const char *stdin_data)
{
    tk_command *c = find(tk, name);
    tn_command *cmd;
    tn_command_args args;
    const char **copy;
    tn_plugin *saved;
    tn_status st;

    free(tk->command_message);
    tk->command_message = NULL;
    if (c == NULL || (plugin && strcmp(plugin, c->plugin->desc.name) != 0))
        return TN_ENOTFOUND;
    if (argc < 0 || (argc > 0 && argv == NULL))
        return TN_EINVAL;
    /* On the heap, kept by the kit if it never ends: a late command_done
     * then writes to live memory. */
    if ((cmd = calloc(1, sizeof *cmd)) == NULL)
        return TN_ENOMEM;
    /* As the host's: argv[argc] is NULL, whatever the test passed. */
    if ((copy = calloc((size_t)argc + 1, sizeof *copy)) == NULL) {
        free(cmd);
        return TN_ENOMEM;
    }
    for (int i = 0; i < argc; i++)
        copy[i] = argv[i];
    memset(&args, 0, sizeof args);
    args.size = sizeof args;
    args.argc = argc;
    args.argv = copy;
    if ((c->flags & TN_COMMAND_STDIN) && stdin_data) {
        args.stdin_data = stdin_data;
        args.stdin_len = strlen(stdin_data);
    } else if (c->flags & TN_COMMAND_STDIN) {
        args.stdin_data = "";
    }
    tk_settings_apply(tk);
    c->plugin->last_error[0] = '\0';
    tk_enter(tk, c->plugin, &saved);
    st = c->fn(c->plugin, cmd, &args, c->ud);
    tk_leave(tk, saved);
    if (!cmd->ended && st != TN_SUSPEND) {
        cmd->ended = 1;
        cmd->ok = st == TN_CONTINUE;
        if (!cmd->ok)
            cmd->message = strdup(c->plugin->last_error[0] ? c->plugin->last_error : "failed");
    }
    while (!cmd->ended && tk_run_pending(tk) > 0)
        ;
    free(copy);
    if (!cmd->ended) {
        if (tk_list_push(&tk->command_runs, cmd) != TN_OK)
            free(cmd); /* out of memory in a test: a late done would crash it */
        return TN_ESTATE;
    }
    tk->command_message = cmd->message;
    st = cmd->ok ? 0 : 1;
    free(cmd);
    return (int)st;
}

const char *tk_command_message(const tk_kit *tk)
{
    return tk->command_message;
}

void tk_commands_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->commands.n; i++) {
        tk_command *c = tk->commands.items[i];
        free(c->name);
        free(c->usage);
        free(c);
    }
    tk_list_clear(&tk->commands);
    for (size_t i = 0; i < tk->command_runs.n; i++) {
        tn_command *cmd = tk->command_runs.items[i];
        free(cmd->message);
        free(cmd);
    }
    tk_list_clear(&tk->command_runs);
    free(tk->command_message);
    tk->command_message = NULL;
}
