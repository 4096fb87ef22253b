/*
 * fuzz_router.c - route patterns and request paths (S10): the input's
 * first line is a pattern a plugin might register, the rest paths to
 * match against it, each matched parameter percent-decoded as the
 * pipeline does.  Invalid patterns must be refused cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_util.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tn_status handler(tn_plugin *p, tn_request *r, void *ud)
{
    (void)p;
    (void)r;
    (void)ud;
    return TN_DONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    host_router r;
    host_match m;
    char *text, *line, *next, out[4096];
    int i;

    if (size > 8192 || memchr(data, '\0', size))
        return 0;
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    memset(&r, 0, sizeof r);
    next = strchr(text, '\n');
    if (next)
        *next++ = '\0';
    host_router_add(&r, NULL, "GET", text, TN_ACCESS_PUBLIC, NULL, handler, NULL);
    host_router_add(&r, NULL, "POST", "/fixed/:id", TN_ACCESS_PUBLIC, NULL, handler, NULL);
    for (line = next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] != '/')
            continue;
        if (host_router_match(&r, "GET", line, NULL, NULL, &m) == 0)
            for (i = 0; i < m.nparams; i++)
                if (m.len[i] < sizeof out)
                    host_percent_decode_to(m.start[i], m.len[i], 0, out);
        host_router_allow(&r, line, NULL, NULL, out, sizeof out);
    }
    host_router_free(&r);
    free(text);
    return 0;
}
