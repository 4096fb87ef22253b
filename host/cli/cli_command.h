/*
 * cli_command.h - `tanomu NAME ...` for a command a plugin registered
 * (ABI 1.2 command_add), and the list of them for `tanomu help`.
 */
#ifndef HOST_CLI_COMMAND_H
#define HOST_CLI_COMMAND_H

#include <stdio.h>

/* argv[1] is the command's name; the status to exit with. */
int host_cli_command(int argc, char **argv, const char *default_conf);
/* Lists the commands the plugins of conf register; nothing if it does not
 * load. */
void host_cli_commands_usage(const char *conf, FILE *out);

#endif
