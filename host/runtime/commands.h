/*
 * commands.h - CLI commands plugins register (ABI 1.2 command_add), and
 * one run of one of them on a worker context the CLI built.
 */
#ifndef HOST_COMMANDS_H
#define HOST_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include <tanomu/tanomu.h>

struct host_worker;

typedef struct host_command {
    char *name;
    char *usage;
    unsigned flags;
    tn_plugin *plugin;
    tn_command_fn fn;
    void *ud;
} host_command;

typedef struct host_commands {
    host_command *v;
    int n;
} host_commands;

int host_api_command_add(tn_plugin *self, const char *name, const char *usage, unsigned flags,
                         tn_command_fn fn, void *ud);
void host_api_command_done(tn_command *cmd, int ok, const char *message);

/* The registered command called name, or NULL. */
const host_command *host_command_find(const struct host_worker *w, const char *name);

/* Runs c with argv (argc after the name) and stdin on w's loop until it
 * ends or timeout_ms passes; prints its message; the exit status, 0 or 1. */
int host_command_run(struct host_worker *w, const host_command *c, int argc,
                     const char *const *argv, const char *stdin_data, size_t stdin_len,
                     uint64_t timeout_ms);

void host_commands_free(struct host_worker *w);

#endif
