/*
 * log.c - JSON lines on stdout.  See log.h.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The process's logging context: set once at start, then only the pending
 * buffer changes. */
static struct {
    int level;
    int buffered;
    const char *process;
    int fd;
    host_buf pending;
} log_ctx = {TN_LOG_INFO, 0, "tanomu", STDOUT_FILENO, {NULL, 0, 0, 0}};

static const char *level_names[] = {"debug", "info", "warn", "error"};

void host_log_setup(int level, int buffered, const char *process_name)
{
    host_log_flush();
    log_ctx.level = level;
    log_ctx.buffered = buffered;
    log_ctx.process = process_name;
}

void host_log_to_stderr(void)
{
    host_log_flush();
    log_ctx.fd = STDERR_FILENO;
}

void host_log_set_level(int level)
{
    log_ctx.level = level;
}

int host_log_level_parse(const char *name)
{
    int i;

    for (i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int host_log_enabled(int level)
{
    return level >= log_ctx.level;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(log_ctx.fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing log */
        }
        p += w;
        n -= (size_t)w;
    }
}

void host_log_flush(void)
{
    if (log_ctx.pending.len == 0)
        return;
    write_all(log_ctx.pending.data, log_ctx.pending.len);
    host_buf_reset(&log_ctx.pending);
}

void host_log_begin(host_buf *b, int level)
{
    struct timeval tv;
    struct tm tm;
    char ts[40];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    host_buf_printf(b, "{\"time\":\"%s.%06ldZ\",\"level\":\"%s\",\"process\":\"%s\",\"pid\":%ld",
                    ts, (long)tv.tv_usec, level_names[level & 3], log_ctx.process, (long)getpid());
}

void host_log_end(host_buf *b)
{
    host_buf_append(b, "}\n", 2);
    if (host_buf_failed(b))
        return;
    if (log_ctx.buffered) {
        host_buf_append(&log_ctx.pending, b->data, b->len);
        if (log_ctx.pending.len > 64 * 1024)
            host_log_flush();
    } else {
        write_all(b->data, b->len);
    }
}

void host_logv(int level, const char *plugin, const char *request_id, const char *fmt, va_list ap)
{
    host_buf line, msg;

    if (!host_log_enabled(level))
        return;
    host_buf_init(&line);
    host_buf_init(&msg);
    host_buf_vprintf(&msg, fmt, ap);
    host_log_begin(&line, level);
    if (plugin) {
        host_buf_puts(&line, ",\"plugin\":");
        host_buf_json_str(&line, plugin);
    }
    if (request_id) {
        host_buf_puts(&line, ",\"request_id\":");
        host_buf_json_str(&line, request_id);
    }
    host_buf_puts(&line, ",\"msg\":");
    host_buf_json_str(&line, msg.data ? msg.data : "");
    host_log_end(&line);
    /* Warnings and errors go out at once: the next thing may be a crash. */
    if (level >= TN_LOG_WARN)
        host_log_flush();
    host_buf_free(&line);
    host_buf_free(&msg);
}

void host_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_logv(level, NULL, NULL, fmt, ap);
    va_end(ap);
}

void host_log_for(int level, const char *plugin, const char *request_id, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_logv(level, plugin, request_id, fmt, ap);
    va_end(ap);
}
