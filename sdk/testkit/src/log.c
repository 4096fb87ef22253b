/*
 * log.c - the captured log.  The host writes plugin log lines to its log;
 * the testkit keeps them in memory so a test can read them back, for
 * instance to prove a secret never reaches the log (S16).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

static const char *level_name(tn_log_level level)
{
    switch (level) {
    case TN_LOG_DEBUG: return "debug";
    case TN_LOG_INFO: return "info";
    case TN_LOG_WARN: return "warn";
    case TN_LOG_ERROR: return "error";
    }
    return "error";
}

static void log_add(tk_kit *tk, tn_log_level level, const char *who, const char *req_id,
                    const char *fmt, va_list ap)
{
    char *msg = tk_vformat(fmt, ap);
    char *line = NULL;
    if (msg == NULL)
        return;
    if (req_id != NULL)
        line = tk_format("%s %s %s: %s", level_name(level), who, req_id, msg);
    else
        line = tk_format("%s %s: %s", level_name(level), who, msg);
    free(msg);
    if (line == NULL)
        return;
    if (tk->log_echo)
        fprintf(stderr, "%s\n", line);
    if (tk_list_push(&tk->logs, line) != TN_OK)
        free(line);
}

void tk_log_kit(tk_kit *tk, tn_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_add(tk, level, "testkit", NULL, fmt, ap);
    va_end(ap);
}

void tk_log_req(tn_request *r, tn_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_add(r->tk, level, "testkit", r->id, fmt, ap);
    va_end(ap);
}

void tk_api_log(tn_plugin *self, tn_log_level level, const char *fmt, ...)
{
    if (self == NULL || fmt == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_add(self->tk, level, self->desc.name, NULL, fmt, ap);
    va_end(ap);
}

void tk_api_req_log(tn_request *req, tn_log_level level, const char *fmt, ...)
{
    if (req == NULL || fmt == NULL)
        return;
    tk_kit *tk = req->tk;
    const char *who = tk->current ? tk->current->desc.name : "testkit";
    va_list ap;
    va_start(ap, fmt);
    log_add(tk, level, who, req->id, fmt, ap);
    va_end(ap);
}

void tk_logs_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->logs.n; i++)
        free(tk->logs.items[i]);
    tk_list_clear(&tk->logs);
}

size_t tk_log_count(const tk_kit *tk)
{
    return tk->logs.n;
}

const char *tk_log_line(const tk_kit *tk, size_t i)
{
    return i < tk->logs.n ? tk->logs.items[i] : NULL;
}

int tk_log_contains(const tk_kit *tk, const char *needle)
{
    if (needle == NULL)
        return 0;
    for (size_t i = 0; i < tk->logs.n; i++)
        if (strstr(tk->logs.items[i], needle) != NULL)
            return 1;
    return 0;
}

void tk_log_echo(tk_kit *tk, int on)
{
    tk->log_echo = on;
}

/* The secret values are those tenants wrote, found through each section's
 * plugin schema. */
size_t tk_log_secret_leaks(const tk_kit *tk)
{
    size_t leaks = 0;
    for (size_t s = 0; s < tk->sections.n; s++) {
        const tk_section *sec = tk->sections.items[s];
        const tn_config_key *keys = sec->plugin->desc.settings;
        for (size_t k = 0; keys != NULL && k < sec->keys.n; k++) {
            const char *name = sec->keys.items[k];
            const char *value = sec->values.items[k];
            for (const tn_config_key *c = keys; c->name != NULL; c++) {
                if (strcmp(c->name, name) == 0 && (c->flags & TN_KEY_SECRET) && value[0] != '\0' &&
                    tk_log_contains(tk, value))
                    leaks++;
            }
        }
    }
    return leaks + tk_plugin_settings_leaks(tk); /* plugins.NAME secrets too */
}
