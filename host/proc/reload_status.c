/*
 * reload_status.c - writing and reading the reload status file
 * (reload_status.h):
 *
 *     begun 1764950000123456789
 *     state failed
 *     generation 3
 *     ERROR LINES...
 */
#include "reload_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERRORS_MAX 65536

uint64_t host_realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int host_reload_status_path(const char *pid_file, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.reload", pid_file);

    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int host_reload_status_write(const char *path, const host_reload_status *st)
{
    char tmp[4096];
    FILE *f;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);

    if (n < 0 || (size_t)n >= sizeof tmp || !(f = fopen(tmp, "w")))
        return -1;
    fprintf(f, "begun %llu\nstate %s\ngeneration %lld\n", (unsigned long long)st->begun_ns,
            st->state, (long long)st->generation);
    if (st->errors)
        fputs(st->errors, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

int host_reload_status_read(const char *path, host_reload_status *st)
{
    FILE *f = fopen(path, "r");
    char line[256];
    unsigned long long begun;
    long long gen;
    size_t n = 0, r;

    memset(st, 0, sizeof *st);
    if (!f)
        return -1;
    if (!fgets(line, sizeof line, f) || sscanf(line, "begun %llu", &begun) != 1 ||
        !fgets(line, sizeof line, f) || strncmp(line, "state ", 6) != 0)
        goto fail;
    snprintf(st->state, sizeof st->state, "%.*s", (int)strcspn(line + 6, "\n"), line + 6);
    if (!fgets(line, sizeof line, f) || sscanf(line, "generation %lld", &gen) != 1)
        goto fail;
    st->begun_ns = begun;
    st->generation = gen;
    if (!(st->errors = malloc(ERRORS_MAX)))
        goto fail;
    while (n < ERRORS_MAX - 1 && (r = fread(st->errors + n, 1, ERRORS_MAX - 1 - n, f)) > 0)
        n += r;
    st->errors[n] = '\0';
    fclose(f);
    return 0;
fail:
    fclose(f);
    return -1;
}
