/*
 * inspect.c - runs one request through a rule set, in the thread pool.
 *
 * libmodsecurity calls the log callback (waf_on_rule_message) for each
 * rule that matched, with a text line holding the matched value too; only
 * the rule ID and the variable's name are kept, so no value of a cookie,
 * a secret or a body ever leaves this file.
 */
#include "inspect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

/* The first `[id "NNN"]` that follows `[line "NNN"] ` after a `[file "`:
 * the shape libmodsecurity writes after the match description. */
static unsigned find_id(const char *msg)
{
    const char *p = msg;

    while ((p = strstr(p, "[file \"")) != NULL) {
        const char *q = strstr(p, "\"] [line \"");
        const char *r;
        unsigned long id;
        char *end;
        p += 7;
        if (!q || strchr(p, '"') != q)
            continue;
        q += 10;
        while (isdigit((unsigned char)*q))
            q++;
        if (strncmp(q, "\"] [id \"", 8) != 0)
            continue;
        r = q + 8;
        id = strtoul(r, &end, 10);
        if (end != r && *end == '"' && id > 0 && id < 100000000ul)
            return (unsigned)id;
    }
    return 0;
}

/* The variable's name: "against variable `ARGS:q' (Value: ..." or, from
 * the operators that say no more (libinjection), "[data \"Matched Data:
 * ... found within ARGS:q: ...".  Cut at the quote (or ": ") and limited
 * to printable ASCII without quotes; the value after it is never read. */
static void find_var(const char *msg, char *out, size_t len)
{
    const char *p = strstr(msg, "against variable `"), *end;
    size_t i = 0;

    out[0] = '\0';
    if (p) {
        p += 18;
        end = strchr(p, '\'');
    } else if ((p = strstr(msg, "[data \"Matched Data: ")) != NULL &&
               (p = strstr(p, " found within ")) != NULL) {
        p += 14;
        end = strstr(p, ": ");
    } else {
        return;
    }
    while (*p && p != end && i + 1 < len) {
        unsigned char c = (unsigned char)*p++;
        out[i++] = (c >= 0x21 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '_';
    }
    out[i] = '\0';
}

int waf_parse_message(const char *msg, waf_hit *hit)
{
    hit->id = find_id(msg);
    find_var(msg, hit->var, sizeof hit->var);
    return hit->id ? 0 : -1;
}

void waf_on_rule_message(void *data, const void *msg)
{
    waf_job *job = data;
    waf_hit hit;
    size_t i;

    if (!job || !msg || waf_parse_message(msg, &hit) != 0)
        return;
    for (i = 0; i < job->nhits; i++) /* one entry per rule and variable */
        if (job->hits[i].id == hit.id && strcmp(job->hits[i].var, hit.var) == 0)
            return;
    if (job->nhits == WAF_MAX_HITS) {
        job->dropped++;
        return;
    }
    job->hits[job->nhits++] = hit;
}

/* 1 when the rules asked for a disruptive action.  The struct must start
 * initialised, and its url and log are ours to free. */
static int intervened(Transaction *t, waf_job *job)
{
    ModSecurityIntervention it;

    memset(&it, 0, sizeof it);
    it.status = 200;
    msc_intervention(t, &it);
    if (it.log) /* a disruptive rule's own message comes only here */
        waf_on_rule_message(job, it.log);
    free(it.url);
    free(it.log);
    if (!it.disruptive)
        return 0;
    job->intervened = 1;
    job->status = it.status;
    return 1;
}

void waf_inspect(waf_job *job)
{
    Transaction *t = msc_new_transaction(job->msc, job->rules, job);
    size_t i;

    if (!t) {
        job->failed = 1;
        return;
    }
    msc_process_connection(t, job->client, 0, "0.0.0.0", 0);
    msc_process_uri(t, job->uri, job->method, "1.1");
    for (i = 0; i < job->nheaders; i++)
        msc_add_n_request_header(t, (const unsigned char *)job->headers[i].name,
                                 strlen(job->headers[i].name),
                                 (const unsigned char *)job->headers[i].value,
                                 strlen(job->headers[i].value));
    msc_process_request_headers(t);
    if (intervened(t, job))
        goto done;
    if (job->body_len > 0)
        msc_append_request_body(t, job->body, job->body_len);
    msc_process_request_body(t); /* phase 2 runs for a request without body too */
    intervened(t, job);
done:
    msc_transaction_cleanup(t);
}
