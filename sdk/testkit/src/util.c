/*
 * util.c - small helpers the testkit's files share: a pointer list,
 * string copies and formatting, and the checks of HTTP tokens, header
 * values, names and percent-encoding.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

int tk_list_push(tk_list *l, void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        void **items = realloc(l->items, cap * sizeof *items);
        if (items == NULL)
            return TN_ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return TN_OK;
}

void tk_list_remove_at(tk_list *l, size_t i)
{
    if (i >= l->n)
        return;
    memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof *l->items);
    l->n--;
}

void tk_list_clear(tk_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
    l->cap = 0;
}

char *tk_strdup(const char *s)
{
    return s ? tk_strndup(s, strlen(s)) : NULL;
}

char *tk_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *tk_vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *tk_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = tk_vformat(fmt, ap);
    va_end(ap);
    return s;
}

/* tchar from RFC 9110 section 5.6.2. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int tk_is_token(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* A field value carries no control character but HTAB: this rules out CR,
 * LF and NUL (S7) and the rest of what RFC 9110 forbids. */
int tk_is_field_value(const char *s)
{
    if (s == NULL)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *tk_percent_decode(const char *src, size_t n, int plus_is_space)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                goto fail;  /* truncated escape */
            int hi = hex_value(src[i + 1]);
            int lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                goto fail;  /* a bad escape, or %00 */
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else if (c == '\0') {
            goto fail;
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;

fail:
    free(out);
    return NULL;
}

int tk_name_ok(const char *s, size_t max, const char *more)
{
    if (s == NULL || !(*s >= 'a' && *s <= 'z'))
        return 0;
    size_t n = 0;
    for (; *s; s++, n++) {
        char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
            continue;
        if (more != NULL && strchr(more, c) != NULL)
            continue;
        return 0;
    }
    return n <= max;
}
