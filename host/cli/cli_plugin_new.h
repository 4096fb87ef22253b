/*
 * cli_plugin_new.h - `tanomu plugin new NAME [DIR]`: a new out-of-tree
 * plugin from the SDK's template (see cli_plugin_new.c for where the
 * template is found).
 */
#ifndef HOST_CLI_PLUGIN_NEW_H
#define HOST_CLI_PLUGIN_NEW_H

/* argv as main() got it: argv[1] is "plugin".  Returns the exit status. */
int host_cli_plugin(int argc, char **argv);

#endif
