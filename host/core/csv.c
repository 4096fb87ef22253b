/*
 * csv.c - CSV field encoding.  See csv.h.
 */
#include "csv.h"

#include <string.h>

void host_csv_field(host_buf *out, const char *v, int first)
{
    int formula = v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' ||
                  v[0] == '\r';
    const char *p;

    if (!first)
        host_buf_append(out, ",", 1);
    if (!formula && !strpbrk(v, ",\"\r\n")) {
        host_buf_puts(out, v);
        return;
    }
    host_buf_append(out, "\"", 1);
    if (formula)
        host_buf_append(out, "'", 1);
    for (p = v; *p; p++) {
        if (*p == '"')
            host_buf_append(out, "\"", 1);
        host_buf_append(out, p, 1);
    }
    host_buf_append(out, "\"", 1);
}
