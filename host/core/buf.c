/*
 * buf.c - growable byte buffer.  See buf.h.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void host_buf_init(host_buf *b)
{
    memset(b, 0, sizeof *b);
}

void host_buf_free(host_buf *b)
{
    free(b->data);
    host_buf_init(b);
}

void host_buf_reset(host_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

int host_buf_reserve(host_buf *b, size_t extra)
{
    size_t want, cap;
    char *p;

    if (b->failed)
        return -1;
    if (extra > ((size_t)-1) / 2 - b->len)
        goto fail;
    want = b->len + extra + 1; /* room for the terminating NUL */
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p)
        goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->failed = 1;
    return -1;
}

void host_buf_append(host_buf *b, const void *data, size_t len)
{
    if (host_buf_reserve(b, len) != 0)
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void host_buf_puts(host_buf *b, const char *s)
{
    host_buf_append(b, s, strlen(s));
}

void host_buf_vprintf(host_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    if (host_buf_reserve(b, 64) != 0)
        return;
    va_copy(ap2, ap);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (host_buf_reserve(b, (size_t)n) != 0)
            return;
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

void host_buf_printf(host_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n, i;
    unsigned cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* A small escaper rather than jansson objects: access log lines are built
 * on every request and must not allocate per field.  Invalid UTF-8 (paths
 * are bytes from the network) becomes U+FFFD so every line stays JSON. */
void host_buf_json_str(host_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    char esc[6] = {'\\', 'u', '0', '0', 0, 0};
    size_t n;

    host_buf_append(b, "\"", 1);
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            p++;
        host_buf_append(b, run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p >= 0x80) {
            n = utf8_len(p);
            if (n)
                host_buf_append(b, p, n);
            else
                host_buf_append(b, "\\ufffd", 6);
            p += n ? n : 1;
            continue;
        }
        switch (*p) {
        case '"': host_buf_append(b, "\\\"", 2); break;
        case '\\': host_buf_append(b, "\\\\", 2); break;
        case '\n': host_buf_append(b, "\\n", 2); break;
        case '\r': host_buf_append(b, "\\r", 2); break;
        case '\t': host_buf_append(b, "\\t", 2); break;
        default:
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            host_buf_append(b, esc, 6);
        }
        p++;
    }
    host_buf_append(b, "\"", 1);
}

char *host_buf_steal(host_buf *b, size_t *len)
{
    char *p;

    if (b->failed) {
        host_buf_free(b);
        return NULL;
    }
    if (!b->data && host_buf_reserve(b, 0) != 0)
        return NULL;
    p = b->data;
    if (len)
        *len = b->len;
    host_buf_init(b);
    return p;
}

int host_buf_failed(const host_buf *b)
{
    return b->failed;
}
