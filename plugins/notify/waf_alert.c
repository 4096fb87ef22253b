/*
 * waf_alert.c - the summary of a waf.alert event (plugins/waf, docs/waf.md)
 * for the tenant's security contacts.  Only the payload's integers are
 * read (rule IDs, counts, the interval): the WAF never puts matched
 * values in it, and whatever else a payload holds is never copied into a
 * message.  The tenant is the event's, never the payload's "tenant".
 */
#include <stdio.h>
#include <string.h>

#include "mail.h"
#include "waf_alert.h"

#define MAX_RULES 16 /* as many as the WAF lists */

/* The CRS family of a rule ID (the WAF's metric names, docs/waf.md). */
static const char *family(json_int_t id)
{
    static const struct {
        int prefix;
        const char *name;
    } fam[] = {{911, "method"}, {913, "scanner"}, {920, "protocol"}, {921, "protocol_attack"},
               {930, "lfi"},    {931, "rfi"},     {932, "rce"},      {933, "php"},
               {934, "nodejs"}, {941, "xss"},     {942, "sqli"},     {943, "session_fixation"},
               {944, "java"}};

    if (id >= 900000 && id < 1000000)
        for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++)
            if (id / 1000 == fam[i].prefix)
                return fam[i].name;
    return "other";
}

/* A non-negative integer of the payload, else 0. */
static json_int_t count(json_t *o, const char *key)
{
    json_int_t n = json_integer_value(json_object_get(o, key));
    return n > 0 ? n : 0;
}

static int set_int(json_t *vars, const char *name, json_int_t n)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)n);
    return json_object_set_new(vars, name, json_string(s));
}

/* "942100 (sqli): 9" lines, and the counts summed per family. */
static int rule_lines(json_t *payload, json_t *vars)
{
    json_t *rules = json_object_get(payload, "rules"), *r;
    const char *names[MAX_RULES];
    json_int_t sums[MAX_RULES];
    size_t i, nfam = 0, k;
    mail_buf lines = {0}, fams = {0};
    char line[96];
    int rc = -1;

    mail_buf_add(&lines, "", 0);
    mail_buf_add(&fams, "", 0);
    json_array_foreach(rules, i, r)
    {
        json_int_t id = json_integer_value(json_object_get(r, "id"));
        json_int_t n = count(r, "count");
        if (i >= MAX_RULES || !json_is_integer(json_object_get(r, "id")) || id <= 0 ||
            id > 999999999)
            continue;
        const char *f = family(id);
        snprintf(line, sizeof line, "%s%lld (%s): %lld", lines.len ? "\n" : "", (long long)id, f,
                 (long long)n);
        mail_buf_str(&lines, line);
        for (k = 0; k < nfam && strcmp(names[k], f) != 0; k++)
            ;
        if (k == nfam) {
            names[nfam] = f;
            sums[nfam++] = 0;
        }
        sums[k] += n;
    }
    for (k = 0; k < nfam; k++) {
        snprintf(line, sizeof line, "%s%s: %lld", k ? "\n" : "", names[k], (long long)sums[k]);
        mail_buf_str(&fams, line);
    }
    if (lines.failed || fams.failed ||
        json_object_set_new(vars, "rules", json_string(lines.len ? lines.p : "-")) != 0 ||
        json_object_set_new(vars, "families", json_string(fams.len ? fams.p : "-")) != 0)
        goto done;
    rc = 0;
done:
    mail_buf_free(&lines);
    mail_buf_free(&fams);
    return rc;
}

int notify_waf_vars(json_t *payload, json_t *vars, char *interval_s, size_t cap)
{
    json_int_t iv = count(payload, "interval_s");

    if (iv > 86400)
        iv = 86400;
    snprintf(interval_s, cap, "%lld", (long long)iv);
    if (set_int(vars, "blocked", count(payload, "blocked")) != 0 ||
        set_int(vars, "detected", count(payload, "detected")) != 0 ||
        set_int(vars, "interval_s", iv) != 0 ||
        set_int(vars, "other_rule_hits", count(payload, "other_rule_hits")) != 0)
        return -1;
    return rule_lines(payload, vars);
}
