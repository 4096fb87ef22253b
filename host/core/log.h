/*
 * log.h - the host's log: one JSON object per line on stdout.
 *
 * Workers buffer lines and flush once per loop iteration (host_log_flush
 * from a prepare handle), so an access log line costs no system call of its
 * own; the master and the CLI write each line at once.  Never pass
 * secrets here (S16): callers log IDs, not tokens.
 */
#ifndef HOST_LOG_H
#define HOST_LOG_H

#include <stddef.h>

#include <tanomu/api.h>

#include "buf.h"

void host_log_setup(int level, int buffered, const char *process_name);
int host_log_level_parse(const char *name);
/* The CLI's stdout is its answer: its log lines go to stderr. */
void host_log_to_stderr(void);
/* Changes only the level (a worker learns it from its configuration). */
void host_log_set_level(int level);
int host_log_enabled(int level);
void host_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void host_logv(int level, const char *plugin, const char *request_id, const char *fmt, va_list ap);
void host_log_for(int level, const char *plugin, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Starts a line with time, level and process; the caller adds fields with
 * host_buf_* and finishes with host_log_end(). */
void host_log_begin(host_buf *b, int level);
void host_log_end(host_buf *b);
void host_log_flush(void);

#define HOST_LOG_DEBUG TN_LOG_DEBUG
#define HOST_LOG_INFO TN_LOG_INFO
#define HOST_LOG_WARN TN_LOG_WARN
#define HOST_LOG_ERROR TN_LOG_ERROR

#endif
