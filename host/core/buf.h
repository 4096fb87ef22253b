/*
 * buf.h - a growable byte buffer, the one way the host builds text
 * (response heads, log lines, metrics pages).  Appends never fail silently:
 * on allocation failure the buffer is marked and every later append is a
 * no-op, so callers check once, at the end, with host_buf_failed().
 */
#ifndef HOST_BUF_H
#define HOST_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct host_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} host_buf;

void host_buf_init(host_buf *b);
void host_buf_free(host_buf *b);
void host_buf_reset(host_buf *b);
int host_buf_reserve(host_buf *b, size_t extra);
void host_buf_append(host_buf *b, const void *data, size_t len);
void host_buf_puts(host_buf *b, const char *s);
void host_buf_printf(host_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void host_buf_vprintf(host_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
void host_buf_json_str(host_buf *b, const char *s);
/* Hands the data to the caller (NUL-terminated); the buffer is left empty. */
char *host_buf_steal(host_buf *b, size_t *len);
int host_buf_failed(const host_buf *b);

#endif
