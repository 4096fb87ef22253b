/*
 * errors.h - a list of configuration errors, each "file:line: message",
 * collected so `tanomu check` and a rejected reload can print all of them
 * at once instead of stopping at the first.
 */
#ifndef HOST_ERRORS_H
#define HOST_ERRORS_H

#include <stdio.h>

typedef struct host_errors {
    char **items;
    int count;
    int cap;
} host_errors;

void host_errors_init(host_errors *e);
void host_errors_free(host_errors *e);
/* file may be NULL; line 0 means "no line". */
void host_errors_add(host_errors *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void host_errors_print(const host_errors *e, FILE *out);
/* All messages joined by newlines (malloc'd), for a status file. */
char *host_errors_join(const host_errors *e);

#endif
