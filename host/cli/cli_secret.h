/*
 * cli_secret.h - `tanomu secret seal|rotate|check`: sealed secrets and the
 * keyring (S18).
 */
#ifndef HOST_CLI_SECRET_H
#define HOST_CLI_SECRET_H

/* argv holds what follows "secret"; returns the exit status. */
int host_cli_secret(int argc, char **argv);

#endif
