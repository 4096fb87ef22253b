/*
 * util.c - small helpers the testkit's files share: a pointer list,
 * string copies and formatting, and the check of metric names.  (HTTP
 * tokens, header values and percent-encoding are the host's rules, in
 * host/core/http_util.c.)
 */
#include <stdarg.h>
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
    host_buf b;
    host_buf_init(&b);
    host_buf_vprintf(&b, fmt, ap);
    return host_buf_steal(&b, NULL); /* NULL if out of memory */
}

char *tk_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = tk_vformat(fmt, ap);
    va_end(ap);
    return s;
}
