/*
 * errors.c - configuration error list.  See errors.h.
 */
#include "errors.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void host_errors_init(host_errors *e)
{
    memset(e, 0, sizeof *e);
}

void host_errors_free(host_errors *e)
{
    int i;

    for (i = 0; i < e->count; i++)
        free(e->items[i]);
    free(e->items);
    host_errors_init(e);
}

void host_errors_add(host_errors *e, const char *file, int line, const char *fmt, ...)
{
    host_buf b;
    va_list ap;
    char *msg;

    host_buf_init(&b);
    if (file && line > 0)
        host_buf_printf(&b, "%s:%d: ", file, line);
    else if (file)
        host_buf_printf(&b, "%s: ", file);
    va_start(ap, fmt);
    host_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    msg = host_buf_steal(&b, NULL);
    if (!msg)
        return;
    if (e->count == e->cap) {
        int cap = e->cap ? e->cap * 2 : 8;
        char **items = realloc(e->items, (size_t)cap * sizeof *items);
        if (!items) {
            free(msg);
            return;
        }
        e->items = items;
        e->cap = cap;
    }
    e->items[e->count++] = msg;
}

void host_errors_print(const host_errors *e, FILE *out)
{
    int i;

    for (i = 0; i < e->count; i++)
        fprintf(out, "%s\n", e->items[i]);
}

char *host_errors_join(const host_errors *e)
{
    host_buf b;
    int i;

    host_buf_init(&b);
    for (i = 0; i < e->count; i++) {
        host_buf_puts(&b, e->items[i]);
        host_buf_puts(&b, "\n");
    }
    return host_buf_steal(&b, NULL);
}
