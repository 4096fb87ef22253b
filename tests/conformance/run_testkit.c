/*
 * run_testkit.c - the testkit side of the conformance test: loads the
 * conform plugin by its descriptor, gives the tenants of scenarios.json
 * their settings, runs every scenario in order as a request, drives what
 * a host's loop would run meanwhile (work, timers, events; the database
 * is one that is not there, as on the host under test), and prints one
 * JSON document: for each scenario its status, every response header and
 * the body.  test_conformance.py compares it with what the real host
 * answers over HTTP.
 *
 *     run_testkit scenarios.json > testkit.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <tanomu/testkit.h>

/* A request that still waits after this much virtual time is reported as
 * unanswered (the host test would time out on it too). */
#define RUN_STEP_MS 1
#define RUN_MAX_MS 60000

/* The host under test runs without a database: every statement it is
 * asked answers TN_EDB_UNAVAILABLE.  This handler plays that server. */
static void no_database(const char *tenant, const char *sql, int nparams, const char *const *params,
                        tn_db_result *res, void *ud)
{
    (void)tenant;
    (void)sql;
    (void)nparams;
    (void)params;
    (void)ud;
    tk_db_fail(res, TN_EDB_UNAVAILABLE, NULL, NULL);
}

/* Text as a settings value is written in a tenant file. */
static int set_value(tk_kit *tk, const char *tenant, const char *key, json_t *v)
{
    char buf[64];
    const char *text = buf;

    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_boolean(v))
        text = json_is_true(v) ? "true" : "false";
    else if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    else
        return TN_EINVAL;
    return tk_set(tk, tenant, key, text);
}

static int configure(tk_kit *tk, json_t *tenants)
{
    const char *tenant, *key;
    json_t *section, *v;

    json_object_foreach(tenants, tenant, section)
    {
        json_t *conf = json_object_get(section, "conform");
        json_object_foreach(conf, key, v)
        {
            if (set_value(tk, tenant, key, v) != TN_OK) {
                fprintf(stderr, "run_testkit: cannot set %s.%s\n", tenant, key);
                return -1;
            }
        }
    }
    if (tk_check(tk) != 0) {
        for (size_t i = 0; i < tk_error_count(tk); i++)
            fprintf(stderr, "run_testkit: %s %s: %s\n", tk_error_tenant(tk, i),
                    tk_error_key(tk, i) ? tk_error_key(tk, i) : "-", tk_error_message(tk, i));
        return -1;
    }
    return 0;
}

/* What a host's loop does while a request waits: run queued work and
 * events, then let time pass, one step at a time. */
static void drive(tk_kit *tk, tn_request *r)
{
    uint64_t waited = 0;

    while (tk_req_pending(r) && waited < RUN_MAX_MS) {
        if (tk_run_pending(tk) > 0 || tk_run_events(tk) > 0)
            continue;
        tk_advance_ms(tk, RUN_STEP_MS);
        waited += RUN_STEP_MS;
    }
    /* What the request left behind runs before the next one arrives. */
    tk_run_pending(tk);
    tk_run_events(tk);
}

/* The body as a string, or {"hex": ...} if it is not UTF-8. */
static json_t *body_json(const char *body, size_t len)
{
    json_t *s = json_stringn(body, len);
    char *hex;

    if (s != NULL)
        return s;
    if ((hex = malloc(len * 2 + 1)) == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)body[i]);
    hex[2 * len] = '\0';
    s = json_pack("{s:s}", "hex", hex);
    free(hex);
    return s;
}

static json_t *headers_json(const tn_request *r)
{
    json_t *list = json_array();
    const char *name, *value;

    for (size_t i = 0; list && (name = tk_resp_header_at(r, i, &value)) != NULL; i++)
        json_array_append_new(list, json_pack("[s,o]", name, body_json(value, strlen(value))));
    return list;
}

static json_t *run_one(tk_kit *tk, json_t *sc)
{
    const char *name = json_string_value(json_object_get(sc, "name"));
    const char *tenant = json_string_value(json_object_get(sc, "tenant"));
    const char *method = json_string_value(json_object_get(sc, "method"));
    const char *target = json_string_value(json_object_get(sc, "target"));
    json_t *headers = json_object_get(sc, "headers");
    json_t *body = json_object_get(sc, "body");
    json_t *out = NULL;
    tn_request *r = tk_req_new(tk, tenant ? tenant : "", method ? method : "",
                               target ? target : "");
    size_t i, blen;
    json_t *h;

    if (r == NULL)
        return json_pack("{s:s?,s:s}", "name", name, "error", "tk_req_new refused it");
    json_array_foreach(headers, i, h)
    {
        if (tk_req_set_header(r, json_string_value(json_array_get(h, 0)),
                              json_string_value(json_array_get(h, 1))) != TN_OK) {
            out = json_pack("{s:s?,s:s}", "name", name, "error", "tk_req_set_header refused");
            goto done;
        }
    }
    if (json_is_string(body))
        tk_req_set_body(r, json_string_value(body), json_string_length(body));
    if (tk_req_run(r) != TN_OK) {
        out = json_pack("{s:s?,s:s}", "name", name, "error", "tk_req_run refused it");
        goto done;
    }
    drive(tk, r);
    const char *b = tk_resp_body(r, &blen);
    out = json_pack("{s:s?,s:i,s:o,s:o,s:b}", "name", name, "status", tk_resp_status(r), "headers",
                    headers_json(r), "body", body_json(b, blen), "finished", tk_req_finished(r));
done:
    tk_req_free(r);
    return out;
}

int main(int argc, char **argv)
{
    json_error_t err;
    json_t *doc = NULL, *results = NULL, *sc;
    tk_kit *tk = NULL;
    size_t i;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s scenarios.json\n", argv[0]);
        return 2;
    }
    if ((doc = json_load_file(argv[1], 0, &err)) == NULL) {
        fprintf(stderr, "run_testkit: %s:%d: %s\n", argv[1], err.line, err.text);
        goto done;
    }
    if ((tk = tk_new()) == NULL || tk_load(tk, tn_plugin_entry()) != TN_OK) {
        fprintf(stderr, "run_testkit: cannot load the conform plugin\n");
        goto done;
    }
    if (configure(tk, json_object_get(doc, "tenants")) != 0)
        goto done;
    tk_db_handler(tk, no_database, NULL);
    results = json_array();
    json_array_foreach(json_object_get(doc, "scenarios"), i, sc)
    {
        /* The kit's wall clock reads the real time at each scenario, as
         * the host's does (route options compare it with auth_time). */
        tk_set_unix_time(tk, (int64_t)time(NULL));
        json_array_append_new(results, run_one(tk, sc));
    }
    if (json_dumpf(results, stdout, JSON_INDENT(1) | JSON_ENSURE_ASCII) != 0)
        goto done;
    putchar('\n');
    rc = 0;
done:
    json_decref(results);
    json_decref(doc);
    tk_free(tk);
    return rc;
}
