/*
 * cli_jobs.h - `tanomu jobs`: scheduled job history, and a run now.
 */
#ifndef HOST_CLI_JOBS_H
#define HOST_CLI_JOBS_H

/* The whole command: its own options after argv[1] == "jobs". */
int host_cli_jobs(int argc, char **argv);

#endif
