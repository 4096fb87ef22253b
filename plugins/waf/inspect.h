/*
 * inspect.h - one request's run through libmodsecurity, in the thread pool.
 *
 * The loop thread fills a waf_job with pointers into the suspended request
 * (they live until the request finishes, which cannot happen before it is
 * resumed); waf_inspect() runs in the thread pool and touches nothing but
 * the job, the shared read-only rule set and the ModSecurity instance.
 */
#ifndef WAF_INSPECT_H
#define WAF_INSPECT_H

#include <stddef.h>

#define WAF_MAX_HITS 32
#define WAF_VAR_MAX 64

/* A rule that matched: its ID and the NAME of the variable it matched
 * (ARGS:q, REQUEST_COOKIES:sid, ...), never the value. */
typedef struct waf_hit {
    unsigned id;
    char var[WAF_VAR_MAX];
} waf_hit;

typedef struct waf_header {
    const char *name, *value;
} waf_header;

typedef struct waf_job {
    /* in */
    void *msc;   /* ModSecurity * */
    void *rules; /* RulesSet * */
    const char *method, *uri, *client;
    waf_header *headers;
    size_t nheaders;
    const unsigned char *body;
    size_t body_len;
    /* out */
    int intervened; /* 1: the rules asked to stop the request */
    int status;     /* the status they asked for */
    int failed;     /* 1: libmodsecurity could not run */
    waf_hit hits[WAF_MAX_HITS];
    size_t nhits;
    size_t dropped; /* hits past WAF_MAX_HITS */
    /* the host's */
    void *req;
    int mode_block;
    char *tenant;
} waf_job;

/* Runs the rules on the job's request; thread pool only. */
void waf_inspect(waf_job *job);

/* The ModSecurity log callback: data is the waf_job, msg one rule
 * message; keeps only its rule ID and variable name. */
void waf_on_rule_message(void *data, const void *msg);

/* Exposed for the tests: fills hit from one libmodsecurity message;
 * 0 when an ID was found. */
int waf_parse_message(const char *msg, waf_hit *hit);

#endif
