/*
 * last_error.c - api->last_error and api->free in the testkit.
 *
 * Every 1.2 call that fails records why in its plugin, as the host does,
 * so a plugin's unit test sees the same message its code would log in
 * production.  Memory the testkit hands a plugin (sealed values, ...) is
 * plain malloc, freed with api->free, which wipes it first as the host's
 * does (it may hold an opened secret).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tk_internal.h"

int tk_plugin_fail(tn_plugin *p, int rc, const char *fmt, ...)
{
    va_list ap;

    if (p == NULL)
        return rc;
    va_start(ap, fmt);
    vsnprintf(p->last_error, sizeof p->last_error, fmt, ap);
    va_end(ap);
    return rc;
}

const char *tk_api_last_error(const tn_plugin *p)
{
    return p != NULL ? p->last_error : "";
}

void tk_api_free(void *ptr)
{
    host_secret_free(ptr);
}
