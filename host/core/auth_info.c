/*
 * auth_info.c - checking and copying tn_auth_info, reading tn_route_opts,
 * and the route option decision (auth_info.h).
 */
#include "auth_info.h"

#include <string.h>

#include "http_util.h"
#include "names.h"

/* The smallest sizes a caller may pass: every 1.2 member but reserved. */
#define AUTH_MIN_SIZE (offsetof(tn_auth_info, nattrs) + sizeof(size_t))
#define OPTS_MIN_SIZE (offsetof(tn_route_opts, max_auth_age_s) + sizeof(uint32_t))

static int hex_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
              (s[n] >= 'A' && s[n] <= 'F')))
            return 0;
    return n > 0 && n <= HOST_AUTH_HASH_MAX;
}

static int value_valid(const char *v)
{
    return v && strlen(v) <= HOST_AUTH_VALUE_MAX && host_header_value_valid(v);
}

static int attrs_valid(const tn_attr *attrs, size_t n)
{
    size_t i, j;

    if (n > TN_AUTH_MAX_ATTRS || (n && !attrs))
        return 0;
    for (i = 0; i < n; i++) {
        if (!attrs[i].name || !host_metric_name_valid(attrs[i].name) ||
            !value_valid(attrs[i].value))
            return 0;
        for (j = 0; j < i; j++)
            if (strcmp(attrs[i].name, attrs[j].name) == 0)
                return 0;
    }
    return 1;
}

static char *dup_with(host_auth_alloc_fn alloc, void *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = alloc(ctx, n);

    if (d)
        memcpy(d, s, n);
    return d;
}

int host_auth_info_copy(const tn_auth_info *in, host_auth_alloc_fn alloc, void *ctx,
                        const tn_auth_info **out)
{
    tn_auth_info *a;
    tn_attr *attrs = NULL;
    size_t i;

    if (!in || in->size < AUTH_MIN_SIZE || !in->method || !host_plugin_name_valid(in->method) ||
        in->auth_time < 0 || (in->session_hash && !hex_valid(in->session_hash)) ||
        !attrs_valid(in->attrs, in->nattrs))
        return TN_EINVAL;
    if (!(a = alloc(ctx, sizeof *a)))
        return TN_ENOMEM;
    memset(a, 0, sizeof *a);
    a->size = sizeof *a;
    a->auth_time = in->auth_time;
    a->mfa_passed = in->mfa_passed != 0;
    a->nattrs = in->nattrs;
    if (in->nattrs && !(attrs = alloc(ctx, in->nattrs * sizeof *attrs)))
        return TN_ENOMEM;
    for (i = 0; i < in->nattrs; i++) {
        attrs[i].name = dup_with(alloc, ctx, in->attrs[i].name);
        attrs[i].value = dup_with(alloc, ctx, in->attrs[i].value);
        if (!attrs[i].name || !attrs[i].value)
            return TN_ENOMEM;
    }
    a->attrs = attrs;
    if (!(a->method = dup_with(alloc, ctx, in->method)) ||
        (in->session_hash && !(a->session_hash = dup_with(alloc, ctx, in->session_hash))))
        return TN_ENOMEM;
    *out = a;
    return TN_OK;
}

/* Are the n bytes at p all zero? */
static int zero_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;

    while (n--)
        if (*b++)
            return 0;
    return 1;
}

int host_route_opts_read(const tn_route_opts *opts, tn_access access, host_route_opts *out)
{
    size_t known = sizeof *opts, i;

    memset(out, 0, sizeof *out);
    if (!opts)
        return TN_OK;
    if (opts->size < OPTS_MIN_SIZE)
        return TN_EINVAL;
    for (i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
        if (offsetof(tn_route_opts, reserved) + (i + 1) * sizeof(void *) <= opts->size &&
            opts->reserved[i])
            return TN_EINVAL;
    if (opts->size > known && !zero_bytes((const char *)opts + known, opts->size - known))
        return TN_EINVAL;
    out->need_mfa = opts->need_mfa != 0;
    out->max_auth_age_s = opts->max_auth_age_s;
    if ((out->need_mfa || out->max_auth_age_s) && access == TN_ACCESS_PUBLIC)
        return TN_EINVAL;
    return TN_OK;
}

const char *host_route_opts_refusal(const host_route_opts *ro, const tn_auth_info *auth,
                                    int64_t now)
{
    if (!ro)
        return NULL;
    if (ro->need_mfa && (!auth || !auth->mfa_passed))
        return "mfa_required";
    /* Fails closed: an unknown (0) or far-future auth_time is too old. */
    if (ro->max_auth_age_s &&
        (!auth || auth->auth_time <= 0 || auth->auth_time > now + HOST_AUTH_CLOCK_SKEW_S ||
         now - auth->auth_time > (int64_t)ro->max_auth_age_s))
        return "reauth_required";
    return NULL;
}

const char *host_route_opts_message(const char *code)
{
    if (code && strcmp(code, "mfa_required") == 0)
        return "a second factor is required for this operation";
    return "authenticate again to continue";
}
