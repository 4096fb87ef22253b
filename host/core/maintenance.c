/*
 * maintenance.c - parsing the maintenance group and deciding which routes
 * it closes.  See maintenance.h.
 *
 *     maintenance {
 *         enabled = true;
 *         retry_after_s = 900;                      # Retry-After, 1..86400
 *         message = "Scheduled maintenance.";       # at most 1000 bytes
 *         until = "2026-12-09T14:15:00+09:00";      # planned end, optional
 *     }
 *
 * The 503 body is built here once per reload, so a refused request costs
 * no allocation.
 */
#include "maintenance.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : d[m - 1];
}

static int valid_offset(const char *s)
{
    int h = 0, m = 0;

    if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0)
        return 1;
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return 0;
    return digits(s + 1, 2, &h) && digits(s + 4, 2, &m) && h <= 23 && m <= 59;
}

int host_rfc3339_valid(const char *s)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    const char *p;

    if (!s || strlen(s) < 20)
        return 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        return 0;
    p = s + 19;
    if (*p == '.') {
        if (!isdigit((unsigned char)p[1]))
            return 0;
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    }
    return valid_offset(p);
}

static int build_body(host_maint_conf *m)
{
    json_t *err = json_pack("{s:s, s:s}", "code", "maintenance", "message", m->message);
    json_t *root = NULL;

    if (!err)
        return -1; /* message not UTF-8 */
    if (m->until && json_object_set_new(err, "until", json_string(m->until)) != 0)
        goto fail;
    if (json_object_set_new(err, "retry_after_s", json_integer((json_int_t)m->retry_after_s)))
        goto fail;
    if (!(root = json_pack("{s:o}", "error", err)))
        return -1;
    m->body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return m->body ? 0 : -1;
fail:
    json_decref(err);
    return -1;
}

static int line(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

/* One member of the group into out; 0, or -1 with an error added. */
static int read_member(const config_setting_t *s, const char *file, const char *where,
                       host_maint_conf *out, host_errors *errs)
{
    const char *name = config_setting_name(s);
    int type = config_setting_type(s);
    const char *str;
    long long v;

    if (strcmp(name, "enabled") == 0) {
        if (type != CONFIG_TYPE_BOOL)
            goto wrong;
        out->enabled = config_setting_get_bool(s);
    } else if (strcmp(name, "retry_after_s") == 0) {
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            goto wrong;
        v = config_setting_get_int64(s);
        if (v < 1 || v > HOST_MAINT_MAX_RETRY_S) {
            host_errors_add(errs, file, line(s), "'%s.retry_after_s' must be between 1 and %d",
                            where, HOST_MAINT_MAX_RETRY_S);
            return -1;
        }
        out->retry_after_s = (uint64_t)v;
    } else if (strcmp(name, "message") == 0 || strcmp(name, "until") == 0) {
        char **dst = name[0] == 'm' ? &out->message : &out->until;
        if (type != CONFIG_TYPE_STRING)
            goto wrong;
        str = config_setting_get_string(s);
        if (name[0] == 'm' && (!str[0] || strlen(str) > HOST_MAINT_MAX_MESSAGE)) {
            host_errors_add(errs, file, line(s), "'%s.message' must be 1 to %d bytes", where,
                            HOST_MAINT_MAX_MESSAGE);
            return -1;
        }
        if (name[0] == 'u' && !host_rfc3339_valid(str)) {
            host_errors_add(errs, file, line(s),
                            "'%s.until' must be an RFC 3339 time such as "
                            "\"2026-12-09T14:15:00+09:00\"",
                            where);
            return -1;
        }
        free(*dst);
        if (!(*dst = strdup(str))) {
            host_errors_add(errs, file, line(s), "out of memory reading '%s.%s'", where, name);
            return -1;
        }
    } else {
        host_errors_add(errs, file, line(s), "unknown setting '%s.%s'", where, name);
        return -1;
    }
    return 0;
wrong:
    host_errors_add(errs, file, line(s), "'%s.%s' has the wrong type (%s)", where, name,
                    strcmp(name, "enabled") == 0         ? "true or false"
                    : strcmp(name, "retry_after_s") == 0 ? "an integer, seconds"
                                                         : "a string");
    return -1;
}

int host_maint_parse(const config_setting_t *parent, const char *file, const char *where,
                     host_maint_conf *out, host_errors *errs)
{
    config_setting_t *g = parent ? config_setting_get_member(parent, "maintenance") : NULL;
    int i, n, failed = 0;

    memset(out, 0, sizeof *out);
    out->retry_after_s = HOST_MAINT_DEFAULT_RETRY_S;
    if (g && !config_setting_is_group(g)) {
        host_errors_add(errs, file, line(g), "'%s' must be a group { ... }", where);
        return -1;
    }
    n = g ? config_setting_length(g) : 0;
    for (i = 0; i < n; i++)
        if (read_member(config_setting_get_elem(g, (unsigned)i), file, where, out, errs) != 0)
            failed = 1;
    if (!out->message && !(out->message = strdup(HOST_MAINT_DEFAULT_MESSAGE))) {
        host_errors_add(errs, file, 0, "out of memory reading '%s'", where);
        failed = 1;
    }
    snprintf(out->retry_after, sizeof out->retry_after, "%llu",
             (unsigned long long)out->retry_after_s);
    if (!failed && build_body(out) != 0) {
        host_errors_add(errs, file, g ? line(g) : 0, "'%s.message' must be valid UTF-8", where);
        failed = 1;
    }
    return failed ? -1 : 0;
}

void host_maint_free(host_maint_conf *m)
{
    free(m->message);
    free(m->until);
    free(m->body);
    memset(m, 0, sizeof *m);
}

const host_maint_conf *host_maint_effective(const host_maint_conf *global,
                                            const host_maint_conf *tenant)
{
    if (tenant && tenant->enabled && tenant->body)
        return tenant;
    if (global && global->enabled && global->body)
        return global;
    return NULL;
}

int host_maint_route_exempt(tn_access access, const char *roles)
{
    const char *p = roles, *end;
    int seen = 0;

    if (access != TN_ACCESS_ROLES || !roles)
        return 0;
    /* Every item of the list must be platform_admin (spaces trimmed, as
     * access.c does): a route a tenant admin may also call is a tenant
     * route and closes. */
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        end = p;
        while (*end && *end != ',')
            end++;
        size_t n = (size_t)(end - p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n != strlen("platform_admin") || strncmp(p, "platform_admin", n) != 0)
            return 0;
        seen = 1;
        p = end;
    }
    return seen;
}
