/*
 * config_limits.c - the rate_limits { } group of tanomu.conf.  See
 * config_limits.h.
 *
 *     rate_limits {
 *         max_memory = 8388608;   # bytes, at most 1 GiB; 0 turns zones off
 *     }
 *
 * The region is mapped when the master starts: a reload that changes the
 * figure is logged and takes effect at the next restart.
 */
#include "config_limits.h"

#include <string.h>

int host_config_rate_limits(const config_setting_t *root, const char *file,
                            host_rate_limits_conf *out, host_errors *errs)
{
    config_setting_t *g = config_setting_get_member(root, "rate_limits"), *m;
    int i, n, failed = 0;
    long long v;

    out->max_memory = HOST_RATE_LIMITS_DEFAULT_MEMORY;
    if (!g)
        return 0;
    if (!config_setting_is_group(g)) {
        host_errors_add(errs, file, (int)config_setting_source_line(g),
                        "'rate_limits' must be a group { ... }");
        return -1;
    }
    n = config_setting_length(g);
    for (i = 0; i < n; i++) {
        m = config_setting_get_elem(g, (unsigned)i);
        if (strcmp(config_setting_name(m), "max_memory") != 0) {
            host_errors_add(errs, file, (int)config_setting_source_line(m),
                            "unknown setting 'rate_limits.%s'", config_setting_name(m));
            failed = 1;
            continue;
        }
        if (config_setting_type(m) != CONFIG_TYPE_INT &&
            config_setting_type(m) != CONFIG_TYPE_INT64) {
            host_errors_add(errs, file, (int)config_setting_source_line(m),
                            "'max_memory' must be an integer (bytes)");
            failed = 1;
            continue;
        }
        v = config_setting_get_int64(m);
        if (v < 0 || (unsigned long long)v > HOST_RATE_LIMITS_MAX_MEMORY) {
            host_errors_add(errs, file, (int)config_setting_source_line(m),
                            "'max_memory' must be between 0 and %zu", HOST_RATE_LIMITS_MAX_MEMORY);
            failed = 1;
            continue;
        }
        out->max_memory = (size_t)v;
    }
    return failed ? -1 : 0;
}
