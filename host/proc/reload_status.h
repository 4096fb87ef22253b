/*
 * reload_status.h - the file through which `tanomu reload` learns how the
 * reload it asked for ended.  The master writes it (begun, state,
 * generation, then the error lines); the CLI polls it.  One definition of
 * the format for both sides.
 */
#ifndef HOST_RELOAD_STATUS_H
#define HOST_RELOAD_STATUS_H

#include <stddef.h>
#include <stdint.h>

#define HOST_RELOAD_RUNNING "running"
#define HOST_RELOAD_OK "ok"
#define HOST_RELOAD_FAILED "failed"

typedef struct host_reload_status {
    uint64_t begun_ns; /* CLOCK_REALTIME when the master began it */
    char state[32];    /* one of the HOST_RELOAD_ states */
    int64_t generation;
    char *errors; /* the error lines (failed), malloc'd or NULL */
} host_reload_status;

/* PID_FILE.reload, in buf; -1 if it does not fit. */
int host_reload_status_path(const char *pid_file, char *buf, size_t cap);

/* Writes to a temporary name and renames, so a reader never sees half of
 * it; 0 or -1. */
int host_reload_status_write(const char *path, const host_reload_status *st);

/* 0 and *st filled (free st->errors), or -1 if absent or malformed. */
int host_reload_status_read(const char *path, host_reload_status *st);

uint64_t host_realtime_ns(void);

#endif
