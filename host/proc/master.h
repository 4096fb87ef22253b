/*
 * master.h - `tanomu serve`: the master process.  See master.c.
 */
#ifndef HOST_MASTER_H
#define HOST_MASTER_H

/* Runs until SIGTERM/SIGINT; returns the process exit status. */
int host_master_run(const char *conf_path);

#endif
