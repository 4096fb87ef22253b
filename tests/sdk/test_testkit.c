/*
 * test_testkit.c - the testkit must behave as the host does, or plugin
 * tests prove nothing.  Small plugins defined here drive each rule: the
 * descriptor and ABI checks, route matching, phase order with before and
 * after, the access check (S11, fail closed), suspend and resume, the
 * settings schema (P3), header rules (S7), query and cookie parsing,
 * events, timers, work, metrics, streaming and the log (S16), and ABI 1.1:
 * tenant_config, the database (S1, S21), durable events and the audit log
 * (S20).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>
#include <tanomu/testkit.h>

/* What the plugins below share with the tests. */
static struct probe_ctx {
    const tn_api *api;
    char trace[1024];
    tn_status ret[2][TN_PHASE_COUNT]; /* alpha's and beta's hook results */
    tn_status handler_ret;
    int header_rc[16];
    tn_request *parked;
    tn_timer *timer;
    int work_ran;
    int writes_done;
    int events_seen[3];
    int has_stream;
    int ticks;
    int done_status;
} probe;

static void trace(const char *s)
{
    size_t n = strlen(probe.trace);
    snprintf(probe.trace + n, sizeof probe.trace - n, "%s%s", n ? " " : "", s);
}

static void probe_reset(void)
{
    memset(&probe, 0, sizeof probe);
}

/* -- alpha and beta: a hook in every phase, tracing ------------------ */

static tn_status hook_trace(tn_plugin *self, tn_request *req, void *ud)
{
    int phase = (int)(intptr_t)ud;
    const char *name = probe.api->plugin_name(self);
    char buf[32];
    snprintf(buf, sizeof buf, "%s:%d", name, phase);
    trace(buf);
    tn_status st = probe.ret[name[0] == 'a' ? 0 : 1][phase];
    if (st == TN_DONE)
        probe.api->resp_error(req, 429, "slow_down", "too many");
    return st;
}

static tn_status handler_trace(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    trace("H");
    if (probe.handler_ret == TN_CONTINUE || probe.handler_ret == TN_DONE)
        probe.api->resp_json(req, 200, "{}");
    return probe.handler_ret;
}

static int init_traced(tn_plugin *self, const tn_api *api)
{
    probe.api = api;
    for (int ph = 0; ph < TN_PHASE_COUNT; ph++)
        if (api->hook_add(self, (tn_phase)ph, hook_trace, (void *)(intptr_t)ph) != TN_OK)
            return -1;
    if (strcmp(api->plugin_name(self), "alpha") == 0)
        return api->route_add(self, "GET", "/t", TN_ACCESS_PUBLIC, NULL, handler_trace, NULL);
    return 0;
}

static const char *const alpha_after[] = {"beta", NULL};
static const tn_plugin_desc alpha_desc = {.size = sizeof(tn_plugin_desc),
                                          .abi_major = TN_SDK_ABI_MAJOR,
                                          .abi_minor = TN_SDK_ABI_MINOR,
                                          .name = "alpha",
                                          .version = "0.1",
                                          .after = alpha_after,
                                          .init = init_traced};
static const tn_plugin_desc beta_desc = {.size = sizeof(tn_plugin_desc),
                                         .abi_major = TN_SDK_ABI_MAJOR,
                                         .abi_minor = TN_SDK_ABI_MINOR,
                                         .name = "beta",
                                         .version = "0.1",
                                         .init = init_traced};

static tk_kit *kit_alpha_beta(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &alpha_desc) == TN_OK);
    CU_ASSERT_FATAL(tk_load(tk, &beta_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    tk_set_for(tk, "beta", "t1", "enabled", "true");
    return tk;
}

static void test_api_table_is_complete(void)
{
    tk_kit *tk = tk_new();
    const tn_api *a = tk_api(tk);
    CU_ASSERT_EQUAL(a->size, sizeof(tn_api));
    CU_ASSERT_EQUAL(a->abi_major, TN_SDK_ABI_MAJOR);
    CU_ASSERT_EQUAL(a->abi_minor, TN_SDK_ABI_MINOR);
    CU_ASSERT(TN_API_HAS(a, host_version) && TN_API_HAS(a, plugin_name) && TN_API_HAS(a, log));
    CU_ASSERT(TN_API_HAS(a, route_add) && TN_API_HAS(a, hook_add) &&
              TN_API_HAS(a, event_subscribe) && TN_API_HAS(a, metric_counter) &&
              TN_API_HAS(a, metric_gauge));
    CU_ASSERT(TN_API_HAS(a, metric_add) && TN_API_HAS(a, metric_set) &&
              TN_API_HAS(a, event_publish) && TN_API_HAS(a, timer_start) &&
              TN_API_HAS(a, timer_stop) && TN_API_HAS(a, work_queue));
    CU_ASSERT(TN_API_HAS(a, req_config) && TN_API_HAS(a, config_tenant) &&
              TN_API_HAS(a, config_str) && TN_API_HAS(a, config_int) &&
              TN_API_HAS(a, config_bool) && TN_API_HAS(a, config_float) &&
              TN_API_HAS(a, config_is_set) && TN_API_HAS(a, check_error));
    CU_ASSERT(TN_API_HAS(a, req_method) && TN_API_HAS(a, req_path) && TN_API_HAS(a, req_query) &&
              TN_API_HAS(a, req_query_param) && TN_API_HAS(a, req_header) &&
              TN_API_HAS(a, req_cookie) && TN_API_HAS(a, req_param) && TN_API_HAS(a, req_body) &&
              TN_API_HAS(a, req_tenant) && TN_API_HAS(a, req_id) &&
              TN_API_HAS(a, req_client_addr) && TN_API_HAS(a, req_route) &&
              TN_API_HAS(a, req_is_tls) && TN_API_HAS(a, req_set_principal) &&
              TN_API_HAS(a, req_principal) && TN_API_HAS(a, req_has_role) &&
              TN_API_HAS(a, req_alloc) && TN_API_HAS(a, req_strdup) && TN_API_HAS(a, req_log) &&
              TN_API_HAS(a, req_resume) && TN_API_HAS(a, req_is_aborted));
    CU_ASSERT(TN_API_HAS(a, resp_status) && TN_API_HAS(a, resp_header) &&
              TN_API_HAS(a, resp_body) && TN_API_HAS(a, resp_json) && TN_API_HAS(a, resp_error) &&
              TN_API_HAS(a, resp_stream_begin) && TN_API_HAS(a, resp_write) &&
              TN_API_HAS(a, resp_end));
    /* ABI 1.1 */
    CU_ASSERT(TN_API_HAS(a, tenant_config) && TN_API_HAS(a, db_query) && TN_API_HAS(a, db_commit) &&
              TN_API_HAS(a, db_rollback) && TN_API_HAS(a, db_status) &&
              TN_API_HAS(a, db_sqlstate) && TN_API_HAS(a, db_message) && TN_API_HAS(a, db_rows) &&
              TN_API_HAS(a, db_cols) && TN_API_HAS(a, db_colname) && TN_API_HAS(a, db_value) &&
              TN_API_HAS(a, db_affected) && TN_API_HAS(a, resp_db_error) &&
              TN_API_HAS(a, db_publish) && TN_API_HAS(a, db_audit) &&
              TN_API_HAS(a, event_subscribe_durable) && TN_API_HAS(a, delivery_done));
    for (size_t i = 0; i < sizeof a->reserved / sizeof a->reserved[0]; i++)
        CU_ASSERT_PTR_NULL(a->reserved[i]);
    tk_free(tk);
}

/* -- descriptor checks ---------------------------------------------- */

static int init_fails(tn_plugin *self, const tn_api *api)
{
    api->route_add(self, "GET", "/x", TN_ACCESS_PUBLIC, NULL, handler_trace, NULL);
    return -1;
}

static const tn_config_key bad_default_keys[] = {
    {.name = "n", .type = TN_TYPE_INT, .default_value = "500", .min = 1, .max = 10},
    {.name = NULL},
};
static const tn_config_key required_default_keys[] = {
    {.name = "n", .type = TN_TYPE_INT, .default_value = "5", .flags = TN_KEY_REQUIRED},
    {.name = NULL},
};
static const tn_config_key enabled_keys[] = {
    {.name = "enabled", .type = TN_TYPE_BOOL},
    {.name = NULL},
};
static const char *const needs_ghost[] = {"ghost", NULL};
static const char *const before_c2[] = {"c2", NULL};
static const char *const before_c1[] = {"c1", NULL};

static int init_nothing(tn_plugin *self, const tn_api *api)
{
    (void)self;
    (void)api;
    return 0;
}

static void test_descriptor_is_checked_like_the_host(void)
{
    tk_kit *tk = tk_new();
    tn_plugin_desc d = {.size = sizeof d,
                        .abi_major = TN_SDK_ABI_MAJOR,
                        .abi_minor = TN_SDK_ABI_MINOR,
                        .name = "ok",
                        .version = "1",
                        .init = init_nothing};
    tn_plugin_desc t;

    CU_ASSERT_EQUAL(tk_load(tk, NULL), TN_EINVAL);
    t = d;
    t.abi_major = TN_SDK_ABI_MAJOR + 1;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.abi_minor = TN_SDK_ABI_MINOR + 1; /* built for a newer host */
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    CU_ASSERT(tk_log_contains(tk, "built for ABI"));
    t = d;
    t.size = (uint32_t)offsetof(tn_plugin_desc, reserved) - 1;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.size = 4;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.name = "Hello";
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.name = "a23456789012345678901234567890123"; /* 33 */
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.version = NULL;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.init = NULL;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.reserved[3] = &t;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.settings = bad_default_keys;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.settings = enabled_keys;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    t = d;
    t.depends = needs_ghost;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_ENOTFOUND);

    CU_ASSERT_EQUAL(tk_load(tk, &d), TN_OK);
    CU_ASSERT_EQUAL(tk_load(tk, &d), TN_EEXIST);
    CU_ASSERT_PTR_NOT_NULL(tk_plugin(tk, "ok"));
    /* The reserved slots are optional: a descriptor may end before them. */
    t = d;
    t.name = "short";
    t.size = (uint32_t)offsetof(tn_plugin_desc, reserved);
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_OK);
    /* The host accepts a default on a required key (it is never used). */
    t = d;
    t.name = "reqdef";
    t.settings = required_default_keys;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_OK);

    t = d;
    t.name = "c1";
    t.before = before_c2;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_OK);
    t = d;
    t.name = "c2";
    t.before = before_c1; /* a cycle */
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_EINVAL);
    CU_ASSERT_PTR_NULL(tk_plugin(tk, "c2"));

    /* A refused init() leaves the plugin off for every tenant. */
    t = d;
    t.name = "broken";
    t.init = init_fails;
    CU_ASSERT_EQUAL(tk_load(tk, &t), TN_ESTATE);
    tk_set_for(tk, "broken", "t1", "enabled", "true");
    tn_request *r = tk_request(tk, "t1", "GET", "/x");
    CU_ASSERT_EQUAL(tk_resp_status(r), 404);
    tk_free(tk);
}

/* A descriptor from a newer SDK of the same minor may be longer: only
 * the bytes this SDK knows are read. */
static void test_longer_descriptor_is_read_up_to_known_size(void)
{
    struct {
        tn_plugin_desc d;
        char more[64];
    } big;
    memset(&big, 0, sizeof big);
    big.d.size = sizeof big;
    big.d.abi_major = TN_SDK_ABI_MAJOR;
    big.d.abi_minor = TN_SDK_ABI_MINOR;
    big.d.name = "big";
    big.d.version = "1";
    big.d.init = init_nothing;
    memset(big.more, 0x5a, sizeof big.more);
    tk_kit *tk = tk_new();
    CU_ASSERT_EQUAL(tk_load(tk, &big.d), TN_OK);
    tk_free(tk);
}

/* -- phases ---------------------------------------------------------- */

static void test_phases_run_in_order_and_after_is_honoured(void)
{
    tk_kit *tk = kit_alpha_beta();
    tn_request *r = tk_request(tk, "t1", "GET", "/t");
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(probe.trace, "beta:0 alpha:0 beta:1 alpha:1 beta:2 alpha:2 "
                                        "beta:3 alpha:3 H beta:4 alpha:4");
    tk_free(tk);
}

static void test_done_skips_to_the_response_phase(void)
{
    tk_kit *tk = kit_alpha_beta();
    probe.ret[1][TN_PHASE_EARLY] = TN_DONE; /* beta answers 429 early */
    tn_request *r = tk_request(tk, "t1", "GET", "/t");
    CU_ASSERT_EQUAL(tk_resp_status(r), 429);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "slow_down");
    CU_ASSERT_STRING_EQUAL(probe.trace, "beta:0 beta:4 alpha:4");
    tk_free(tk);

    /* In the response phase, TN_DONE ends the phase. */
    tk = kit_alpha_beta();
    probe.ret[1][TN_PHASE_RESPONSE] = TN_DONE;
    r = tk_request(tk, "t1", "GET", "/t");
    CU_ASSERT_STRING_EQUAL(probe.trace, "beta:0 alpha:0 beta:1 alpha:1 beta:2 alpha:2 "
                                        "beta:3 alpha:3 H beta:4");
    tk_free(tk);
}

static void test_error_answers_500(void)
{
    tk_kit *tk = kit_alpha_beta();
    probe.handler_ret = TN_ERROR;
    tn_request *r = tk_request(tk, "t1", "GET", "/t");
    CU_ASSERT_EQUAL(tk_resp_status(r), 500);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "internal");
    CU_ASSERT(tk_log_contains(tk, "plugin alpha: request tk-1 failed"));
    tk_free(tk);

    tk = kit_alpha_beta();
    probe.ret[0][TN_PHASE_AUTHORIZE] = TN_ERROR;
    r = tk_request(tk, "t1", "GET", "/t");
    CU_ASSERT_EQUAL(tk_resp_status(r), 500);
    CU_ASSERT_STRING_EQUAL(probe.trace, "beta:0 alpha:0 beta:1 alpha:1 beta:2 alpha:2 "
                                        "beta:4 alpha:4");
    tk_free(tk);
}

static void test_disabled_plugin_hooks_do_not_run(void)
{
    tk_kit *tk = kit_alpha_beta();
    tk_set_for(tk, "beta", "t1", "enabled", "false");
    tk_request(tk, "t1", "GET", "/t");
    CU_ASSERT_STRING_EQUAL(probe.trace, "alpha:0 alpha:1 alpha:2 alpha:3 H alpha:4");
    /* Unknown tenant: nothing is enabled, so 404 and no hook. */
    probe.trace[0] = '\0';
    tn_request *r = tk_request(tk, "t2", "GET", "/t");
    CU_ASSERT_EQUAL(tk_resp_status(r), 404);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "unknown_tenant");
    CU_ASSERT_STRING_EQUAL(probe.trace, "");
    tk_free(tk);
}

/* -- routes ---------------------------------------------------------- */

static tn_status echo_route(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = probe.api;
    char buf[256];
    const char *id = a->req_param(req, "id"), *path = a->req_param(req, "path");
    (void)self;
    (void)ud;
    snprintf(buf, sizeof buf, "%s id=%s path=%s", a->req_route(req), id ? id : "-",
             path ? path : "-");
    a->resp_status(req, 200);
    a->resp_header(req, "Content-Type", "text/plain; charset=utf-8");
    a->resp_body(req, buf, strlen(buf));
    return TN_DONE;
}

static int init_routes(tn_plugin *self, const tn_api *api)
{
    probe.api = api;
    static const char *const pats[] = {
        "/orders/:id",  "/orders/new", "/files/*path", "/", "/orders/:id/lines/:line",
        "/files/:name", NULL};
    for (size_t i = 0; pats[i]; i++)
        if (api->route_add(self, "GET", pats[i], TN_ACCESS_PUBLIC, NULL, echo_route, NULL) != TN_OK)
            return -1;
    CU_ASSERT_EQUAL(api->route_add(self, "DELETE", "/orders/:id", TN_ACCESS_PUBLIC, NULL,
                                   echo_route, NULL),
                    TN_OK);
    /* As on the host, only the same method and pattern conflict; a route of
     * the same shape is taken, and the one registered first wins. */
    CU_ASSERT_EQUAL(api->route_add(self, "GET", "/orders/:id", TN_ACCESS_PUBLIC, NULL, echo_route,
                                   NULL),
                    TN_EEXIST);
    CU_ASSERT_EQUAL(api->route_add(self, "GET", "/orders/:other", TN_ACCESS_PUBLIC, NULL,
                                   echo_route, NULL),
                    TN_OK);
    CU_ASSERT_EQUAL(api->route_add(self, "GET", "/a/*rest/b", TN_ACCESS_PUBLIC, NULL, echo_route,
                                   NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(api->route_add(self, "GET", "no-slash", TN_ACCESS_PUBLIC, NULL, echo_route,
                                   NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(api->route_add(self, "get", "/x", TN_ACCESS_PUBLIC, NULL, echo_route, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(api->route_add(self, "GET", "/x", TN_ACCESS_ROLES, NULL, echo_route, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(api->route_add(self, "GET", "/x", TN_ACCESS_ROLES, "", echo_route, NULL),
                    TN_EINVAL);
    CU_ASSERT_EQUAL(api->route_add(self, "GET", "/x", TN_ACCESS_AUTHENTICATED, "admin", echo_route,
                                   NULL),
                    TN_EINVAL);
    return 0;
}

static const tn_plugin_desc routes_desc = {.size = sizeof(tn_plugin_desc),
                                           .abi_major = TN_SDK_ABI_MAJOR,
                                           .abi_minor = TN_SDK_ABI_MINOR,
                                           .name = "routes",
                                           .version = "0.1",
                                           .init = init_routes};

static const char *route_body(tk_kit *tk, const char *method, const char *target, int *status)
{
    tn_request *r = tk_request(tk, "t1", method, target);
    *status = tk_resp_status(r);
    return tk_resp_body(r, NULL);
}

static void test_routes_match_params_and_rest(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &routes_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    int st;
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/orders/42", &st), "/orders/:id id=42 path=-");
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/orders/new", &st), "/orders/new id=- path=-");
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/orders/a%2Fb?x=1", &st),
                           "/orders/:id id=a/b path=-");
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/orders/7/lines/3", &st),
                           "/orders/:id/lines/:line id=7 path=-");
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/files/a/b%20c", &st),
                           "/files/*path id=- path=a/b c");
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/", &st), "/ id=- path=-");
    /* The rest may be empty, as on the host. */
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/files/", &st), "/files/*path id=- path=");
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/files", &st), "/files/*path id=- path=");
    /* Most literals first, then a route without "*rest". */
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/files/a", &st), "/files/:name id=- path=-");
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/files/a/b", &st), "/files/*path id=- path=a/b");
    /* HEAD is served by GET routes, and no body goes out, as on the wire. */
    CU_ASSERT_STRING_EQUAL(route_body(tk, "HEAD", "/orders/9", &st), "");
    CU_ASSERT_EQUAL(st, 200);
    /* Literals are compared raw: an encoded literal is another path. */
    CU_ASSERT_STRING_EQUAL(route_body(tk, "GET", "/orders/ne%77", &st),
                           "/orders/:id id=new path=-");
    route_body(tk, "GET", "/orders/", &st);
    CU_ASSERT_EQUAL(st, 404);
    route_body(tk, "GET", "/orders/42/", &st);
    CU_ASSERT_EQUAL(st, 404);
    route_body(tk, "GET", "/orders/%00", &st);
    CU_ASSERT_EQUAL(st, 400);
    route_body(tk, "GET", "/orders/%zz", &st);
    CU_ASSERT_EQUAL(st, 400);
    tn_request *r = tk_request(tk, "t1", "POST", "/orders/42");
    CU_ASSERT_EQUAL(tk_resp_status(r), 405);
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Allow"), "GET, DELETE");
    /* Registration is for init() only. */
    CU_ASSERT_EQUAL(probe.api->route_add(tk_plugin(tk, "routes"), "GET", "/late", TN_ACCESS_PUBLIC,
                                         NULL, echo_route, NULL),
                    TN_ESTATE);
    tk_free(tk);
}

/* -- access (S11) ---------------------------------------------------- */

static tn_status gate_authenticate(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = probe.api;
    const char *user = a->req_header(req, "X-User");
    (void)self;
    (void)ud;
    if (user != NULL)
        CU_ASSERT_EQUAL(a->req_set_principal(req, user, a->req_header(req, "X-Roles")), TN_OK);
    return TN_CONTINUE;
}

static tn_status gate_authorize(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    trace("authorize");
    /* Only an authenticate hook sets the principal. */
    CU_ASSERT_EQUAL(probe.api->req_set_principal(req, "mallory", "admin"), TN_ESTATE);
    return TN_CONTINUE;
}

static tn_status gate_ok(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    probe.api->resp_json(req, 200, "{\"ok\":true}");
    return TN_DONE;
}

static int init_gate(tn_plugin *self, const tn_api *api)
{
    probe.api = api;
    if (api->hook_add(self, TN_PHASE_AUTHENTICATE, gate_authenticate, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_AUTHORIZE, gate_authorize, NULL) != TN_OK ||
        api->route_add(self, "GET", "/pub", TN_ACCESS_PUBLIC, NULL, gate_ok, NULL) != TN_OK ||
        api->route_add(self, "GET", "/auth", TN_ACCESS_AUTHENTICATED, NULL, gate_ok, NULL) !=
            TN_OK ||
        api->route_add(self, "GET", "/admin", TN_ACCESS_ROLES, "admin, buyer", gate_ok, NULL) !=
            TN_OK)
        return -1;
    return 0;
}

static const tn_plugin_desc gate_desc = {.size = sizeof(tn_plugin_desc),
                                         .abi_major = TN_SDK_ABI_MAJOR,
                                         .abi_minor = TN_SDK_ABI_MINOR,
                                         .name = "gate",
                                         .version = "0.1",
                                         .init = init_gate};

static int gate_status(tk_kit *tk, const char *path, const char *user, const char *roles)
{
    tn_request *r = tk_req_new(tk, "t1", "GET", path);
    if (user)
        tk_req_set_header(r, "X-User", user);
    if (roles)
        tk_req_set_header(r, "X-Roles", roles);
    tk_req_run(r);
    return tk_resp_status(r);
}

static void test_access_check_fails_closed(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &gate_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    CU_ASSERT_EQUAL(gate_status(tk, "/pub", NULL, NULL), 200);
    CU_ASSERT_EQUAL(gate_status(tk, "/auth", NULL, NULL), 401);
    CU_ASSERT_EQUAL(gate_status(tk, "/auth", "u1", NULL), 200);
    CU_ASSERT_EQUAL(gate_status(tk, "/admin", NULL, NULL), 401);
    CU_ASSERT_EQUAL(gate_status(tk, "/admin", "u1", NULL), 403);
    CU_ASSERT_EQUAL(gate_status(tk, "/admin", "u1", "viewer,administrator"), 403);
    CU_ASSERT_EQUAL(gate_status(tk, "/admin", "u1", "viewer, buyer"), 200);
    CU_ASSERT_EQUAL(gate_status(tk, "/admin", "u1", "admin"), 200);
    /* AUTHORIZE runs only after a passed access check: 4 passes above
     * (pub, auth, buyer, admin) and the first one. */
    CU_ASSERT_STRING_EQUAL(probe.trace, "authorize authorize authorize authorize");
    tn_request *r = tk_req_new(tk, "t1", "GET", "/auth");
    tk_req_run(r);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "unauthenticated");
    tk_free(tk);
}

/* -- suspend and resume ---------------------------------------------- */

static void resume_later(tn_plugin *self, void *ud)
{
    tn_request *req = ud;
    (void)self;
    probe.api->resp_json(req, 200, probe.api->req_is_aborted(req) ? "\"aborted\"" : "\"late\"");
    probe.api->req_resume(req, TN_DONE);
}

static tn_status park_timer(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    probe.timer = probe.api->timer_start(self, 100, 0, resume_later, req);
    return TN_SUSPEND;
}

static void work_fn(void *ud)
{
    (void)ud;
    probe.work_ran++;
}

static void work_done(void *ud, int status)
{
    tn_request *req = ud;
    CU_ASSERT_EQUAL(status, 0);
    probe.api->resp_json(req, 201, "{\"worked\":true}");
    probe.api->req_resume(req, TN_CONTINUE);
}

static tn_status park_work(tn_plugin *self, tn_request *req, void *ud)
{
    (void)ud;
    return probe.api->work_queue(self, work_fn, work_done, req) == TN_OK ? TN_SUSPEND : TN_ERROR;
}

/* Resumes before returning TN_SUSPEND: allowed, goes on at once. */
static tn_status park_early(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    probe.api->resp_json(req, 200, "\"early\"");
    probe.api->req_resume(req, TN_DONE);
    return TN_SUSPEND;
}

/* An EARLY hook that suspends requests carrying X-Park. */
static tn_status park_hook(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    if (probe.api->req_header(req, "X-Park") == NULL)
        return TN_CONTINUE;
    probe.parked = req;
    return TN_SUSPEND;
}

static void stream_written(tn_request *req, int status, void *ud)
{
    (void)req;
    (void)ud;
    CU_ASSERT_EQUAL(status, 0);
    probe.writes_done++;
}

static tn_status stream(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = probe.api;
    (void)self;
    (void)ud;
    a->resp_header(req, "Content-Type", "text/plain; charset=utf-8");
    CU_ASSERT_EQUAL(a->resp_stream_begin(req), TN_OK);
    CU_ASSERT_EQUAL(a->resp_header(req, "X-Late", "1"), TN_ESTATE);
    CU_ASSERT_EQUAL(a->resp_write(req, "one,", 4, stream_written, NULL), TN_OK);
    CU_ASSERT_EQUAL(a->resp_write(req, "two", 3, stream_written, NULL), TN_OK);
    CU_ASSERT_EQUAL(a->resp_end(req), TN_OK);
    CU_ASSERT_EQUAL(a->resp_write(req, "x", 1, NULL, NULL), TN_ESTATE);
    return TN_DONE;
}

static tn_status stamp(tn_plugin *self, tn_request *req, void *ud)
{
    (void)self;
    (void)ud;
    probe.api->resp_header(req, "X-Stamp", "yes");
    return TN_CONTINUE;
}

static int init_async(tn_plugin *self, const tn_api *api)
{
    probe.api = api;
    probe.has_stream = TN_API_HAS(api, resp_stream_begin);
    if (api->route_add(self, "GET", "/timer", TN_ACCESS_PUBLIC, NULL, park_timer, NULL) != TN_OK ||
        api->route_add(self, "GET", "/work", TN_ACCESS_PUBLIC, NULL, park_work, NULL) != TN_OK ||
        api->route_add(self, "GET", "/early", TN_ACCESS_PUBLIC, NULL, park_early, NULL) != TN_OK ||
        api->route_add(self, "GET", "/stream", TN_ACCESS_PUBLIC, NULL, stream, NULL) != TN_OK ||
        api->route_add(self, "GET", "/ok", TN_ACCESS_PUBLIC, NULL, gate_ok, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_EARLY, park_hook, NULL) != TN_OK ||
        api->hook_add(self, TN_PHASE_RESPONSE, stamp, NULL) != TN_OK)
        return -1;
    return 0;
}

static const tn_plugin_desc async_desc = {.size = sizeof(tn_plugin_desc),
                                          .abi_major = TN_SDK_ABI_MAJOR,
                                          .abi_minor = TN_SDK_ABI_MINOR,
                                          .name = "async",
                                          .version = "0.1",
                                          .init = init_async};

static tk_kit *kit_async(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &async_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    return tk;
}

static void test_suspend_waits_for_resume_from_a_timer(void)
{
    tk_kit *tk = kit_async();
    tn_request *r = tk_request(tk, "t1", "GET", "/timer");
    CU_ASSERT(tk_req_pending(r));
    CU_ASSERT_EQUAL(tk_resp_status(r), 0);
    CU_ASSERT_EQUAL(tk_advance_ms(tk, 99), 0);
    CU_ASSERT(tk_req_pending(r));
    CU_ASSERT_EQUAL(tk_advance_ms(tk, 1), 1);
    CU_ASSERT(tk_req_finished(r));
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "\"late\"");
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "X-Stamp"), "yes");
    /* Exactly once: a second resume is a logged bug, not a second run. */
    probe.api->req_resume(r, TN_DONE);
    CU_ASSERT(tk_log_contains(tk, "not suspended"));
    probe.api->timer_stop(probe.timer); /* a fired one-shot: harmless */
    tk_free(tk);
}

static void test_suspend_waits_for_work_and_sees_abort(void)
{
    tk_kit *tk = kit_async();
    tn_request *r = tk_request(tk, "t1", "GET", "/work");
    CU_ASSERT(tk_req_pending(r));
    CU_ASSERT_EQUAL(probe.work_ran, 0); /* never before work_queue() returns */
    CU_ASSERT_EQUAL(tk_run_pending(tk), 1);
    CU_ASSERT_EQUAL(probe.work_ran, 1);
    CU_ASSERT(tk_req_finished(r));
    CU_ASSERT_EQUAL(tk_resp_status(r), 201);

    r = tk_request(tk, "t1", "GET", "/timer");
    tk_req_abort(r);
    tk_advance_ms(tk, 100);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "\"aborted\"");
    tk_free(tk);
}

static void test_resume_before_returning_suspend_goes_on(void)
{
    tk_kit *tk = kit_async();
    tn_request *r = tk_request(tk, "t1", "GET", "/early");
    CU_ASSERT(tk_req_finished(r));
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "\"early\"");
    tk_free(tk);
}

static void test_suspended_hook_continues_where_it_stopped(void)
{
    tk_kit *tk = kit_async();
    tn_request *r = tk_req_new(tk, "t1", "GET", "/ok");
    tk_req_set_header(r, "X-Park", "1");
    CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
    CU_ASSERT(tk_req_pending(r));
    CU_ASSERT_PTR_EQUAL(probe.parked, r);
    /* The test resumes it, as a plugin's callback would. */
    probe.api->req_resume(r, TN_CONTINUE);
    CU_ASSERT(tk_req_finished(r));
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    /* A pending request freed by the test lives until the kit goes. */
    tn_request *r2 = tk_req_new(tk, "t1", "GET", "/ok");
    tk_req_set_header(r2, "X-Park", "1");
    tk_req_run(r2);
    tk_req_free(r2);
    probe.api->req_resume(r2, TN_ERROR);
    tk_free(tk);
}

static void test_stream_runs_response_hooks_before_its_head(void)
{
    tk_kit *tk = kit_async();
    CU_ASSERT(probe.has_stream);
    tn_request *r = tk_request(tk, "t1", "GET", "/stream");
    CU_ASSERT(tk_req_finished(r));
    CU_ASSERT(tk_resp_streamed(r));
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "one,two");
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "X-Stamp"), "yes");
    CU_ASSERT_EQUAL(tk_resp_header_count(r, "X-Stamp"), 1);
    CU_ASSERT_EQUAL(probe.writes_done, 0);
    CU_ASSERT_EQUAL(tk_run_pending(tk), 2);
    CU_ASSERT_EQUAL(probe.writes_done, 2);
    tk_free(tk);
}

/* A test can play an older host whose table ends earlier. */
static void test_older_host_lacks_later_functions(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    tk_api(tk)->size = (uint32_t)offsetof(tn_api, resp_stream_begin);
    CU_ASSERT_EQUAL(tk_load(tk, &async_desc), TN_OK);
    CU_ASSERT_FALSE(probe.has_stream);
    tk_free(tk);
}

/* -- settings (P3) --------------------------------------------------- */

static const tn_config_key cfg_keys[] = {
    {.name = "name",
     .type = TN_TYPE_STRING,
     .min = 1,
     .max = 20,
     .flags = TN_KEY_REQUIRED,
     .description = "Shop name."},
    {.name = "port",
     .type = TN_TYPE_INT,
     .default_value = "80",
     .min = 1,
     .max = 65535,
     .description = "Port."},
    {.name = "ratio",
     .type = TN_TYPE_FLOAT,
     .default_value = "0.5",
     .min = 0,
     .max = 1,
     .description = "Ratio."},
    {.name = "debug", .type = TN_TYPE_BOOL, .default_value = "false", .description = "Debug."},
    {.name = "token", .type = TN_TYPE_STRING, .flags = TN_KEY_SECRET, .description = "API token."},
    {.name = "note", .type = TN_TYPE_STRING, .description = "Free text."},
    {.name = NULL},
};

static int cfg_check(const tn_api *api, const tn_config *cfg, tn_check *chk)
{
    trace("check");
    if (api->config_bool(cfg, "debug") && api->config_int(cfg, "port") == 443) {
        api->check_error(chk, "debug", "not on port %d", 443);
        return -1;
    }
    return 0;
}

static tn_status cfg_show(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = probe.api;
    const tn_config *c = a->req_config(req, self);
    char buf[256];
    (void)ud;
    snprintf(buf, sizeof buf, "%s %s %lld %.2f %d [%s] set:%d%d", a->config_tenant(c),
             a->config_str(c, "name"), (long long)a->config_int(c, "port"),
             a->config_float(c, "ratio"), a->config_bool(c, "debug"), a->config_str(c, "note"),
             a->config_is_set(c, "name"), a->config_is_set(c, "port"));
    a->resp_status(req, 200);
    a->resp_body(req, buf, strlen(buf));
    /* A mistake plugins make: logging a secret (S16). */
    if (a->req_query_param(req, "leak") != NULL)
        a->req_log(req, TN_LOG_INFO, "token is %s", a->config_str(c, "token"));
    else
        a->req_log(req, TN_LOG_INFO, "token is set: %d", a->config_is_set(c, "token"));
    return TN_DONE;
}

static int init_cfg(tn_plugin *self, const tn_api *api)
{
    probe.api = api;
    return api->route_add(self, "GET", "/cfg", TN_ACCESS_PUBLIC, NULL, cfg_show, NULL);
}

static const tn_plugin_desc cfg_desc = {.size = sizeof(tn_plugin_desc),
                                        .abi_major = TN_SDK_ABI_MAJOR,
                                        .abi_minor = TN_SDK_ABI_MINOR,
                                        .name = "cfg",
                                        .version = "0.1",
                                        .settings = cfg_keys,
                                        .check = cfg_check,
                                        .init = init_cfg};

static void test_schema_types_bounds_defaults_required(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &cfg_desc) == TN_OK);
    tk_set(tk, "off", "port", "99"); /* not enabled: required not asked */
    tk_enable(tk, "t1", 1);
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT(tk_has_error(tk, "t1", "name"));
    CU_ASSERT_STRING_EQUAL(tk_error_message(tk, 0), "is required");
    CU_ASSERT_STRING_EQUAL(tk_error_plugin(tk, 0), "cfg");
    CU_ASSERT_STRING_EQUAL(tk_error_tenant(tk, 0), "t1");
    CU_ASSERT_STRING_EQUAL(probe.trace, ""); /* no check() on a bad section */

    tk_set(tk, "t1", "name", "Shop");
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    CU_ASSERT_STRING_EQUAL(probe.trace, "check");
    tn_request *r = tk_request(tk, "t1", "GET", "/cfg");
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "t1 Shop 80 0.50 0 [] set:10");

    tk_set(tk, "t1", "port", "8080");
    tk_set(tk, "t1", "ratio", "0.25");
    tk_set(tk, "t1", "debug", "true");
    r = tk_request(tk, "t1", "GET", "/cfg");
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "t1 Shop 8080 0.25 1 [] set:11");

    static const struct {
        const char *key, *value;
    } bad[] = {
        {"port", "abc"},
        {"port", "0"},
        {"port", "65536"},
        {"port", "80x"},
        {"port", "99999999999999999999"},
        {"ratio", "1.5"},
        {"ratio", "nan"},
        {"ratio", ""},
        {"debug", "yes"},
        {"debug", "True"},
        {"name", ""},
        {"name", "123456789012345678901"},
        {"enabled", "maybe"},
        {"colour", "red"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tk_set(tk, "t1", bad[i].key, bad[i].value);
        CU_ASSERT_EQUAL(tk_check(tk), 1);
        if (!tk_has_error(tk, "t1", bad[i].key))
            fprintf(stderr, "no error for %s=%s\n", bad[i].key, bad[i].value);
        CU_ASSERT(tk_has_error(tk, "t1", bad[i].key));
        tk_set(tk, "t1", bad[i].key, NULL);
        tk_enable(tk, "t1", 1);
        tk_set(tk, "t1", "name", "Shop");
    }
    /* The plugin's own rule, reported on its key. */
    tk_set(tk, "t1", "debug", "true");
    tk_set(tk, "t1", "port", "443");
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT(tk_has_error(tk, "t1", "debug"));
    CU_ASSERT_STRING_EQUAL(tk_error_message(tk, 0), "not on port 443");
    /* Requests refuse to run until the settings are fixed, so a test
     * cannot miss the error. */
    tn_request *refused = tk_req_new(tk, "t1", "GET", "/cfg");
    CU_ASSERT_EQUAL(tk_req_run(refused), TN_ESTATE);
    tk_set(tk, "t1", "port", NULL);
    r = tk_request(tk, "t1", "GET", "/cfg");
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    tk_free(tk);
}

static void test_secret_leak_in_log_is_detected(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &cfg_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    tk_set(tk, "t1", "name", "Shop");
    tk_set(tk, "t1", "token", "s3cr3t-t0k3n");
    tk_set(tk, "t1", "port", "70000"); /* the error message must not quote values */
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    tk_set(tk, "t1", "port", NULL);
    tn_request *r = tk_request(tk, "t1", "GET", "/cfg");
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT(tk_log_contains(tk, "info cfg tk-1: token is set: 1"));
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 0);
    tk_request(tk, "t1", "GET", "/cfg?leak=1");
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 1);
    tk_free(tk);
}

/* -- headers (S7), JSON (S5), query and cookies ------------------------ */

static tn_status headers(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = probe.api;
    int *rc = probe.header_rc;
    (void)self;
    (void)ud;
    rc[0] = a->resp_header(req, "X-Fine", "a\tb c");
    rc[1] = a->resp_header(req, "Bad Name", "v");
    rc[2] = a->resp_header(req, "X-Split", "v\r\nSet-Cookie: evil=1");
    rc[3] = a->resp_header(req, "X-Lf", "v\nx");
    rc[4] = a->resp_header(req, "X-Ctl", "v\x01");
    rc[5] = a->resp_header(req, "Content-Length", "1");
    rc[6] = a->resp_header(req, "transfer-encoding", "chunked");
    rc[7] = a->resp_header(req, "Connection", "close");
    rc[8] = a->resp_header(req, "Date", "today");
    rc[9] = a->resp_header(req, "", "v");
    rc[10] = a->resp_header(req, "Set-Cookie", "a=1");
    rc[11] = a->resp_header(req, "Set-Cookie", "b=2");
    rc[12] = a->resp_json(req, 200, "{not json");
    rc[13] = a->resp_status(req, 101);
    rc[14] = a->resp_header(req, "Content-Type", "text/plain");
    rc[15] = a->resp_header(req, "content-type", "text/html");
    a->resp_status(req, 200);
    a->resp_body(req, "ab", 2);
    a->resp_body(req, "cd", 2); /* appends */
    return TN_DONE;
}

static tn_status error(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = probe.api;
    (void)self;
    (void)ud;
    a->resp_header(req, "X-Before", "1");
    a->resp_header(req, "Content-Type", "text/plain");
    probe.header_rc[0] = a->resp_error(req, 422, "bad_input", "say \"no\" \\ <b>");
    probe.header_rc[1] = a->resp_error(req, 422, "bad", "not UTF-8 \xff");
    return TN_DONE;
}

static tn_status query(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = probe.api;
    char buf[512];
    /* Names are compared as sent, as the host does; values are decoded. */
    const char *names[] = {"a", "b", "c", "d", "e", "f+g", "missing"};
    size_t n = 0;
    (void)self;
    (void)ud;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = a->req_query_param(req, names[i]);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s=%s;", names[i], v ? v : "NULL");
    }
    const char *cookies[] = {"sid", "theme", "lang", "none"};
    for (size_t i = 0; i < sizeof cookies / sizeof cookies[0]; i++) {
        const char *v = a->req_cookie(req, cookies[i]);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s=%s;", cookies[i], v ? v : "NULL");
    }
    size_t blen;
    const char *body = a->req_body(req, &blen);
    snprintf(buf + n, sizeof buf - n, "q=%s body=%.*s tls=%d addr=%s", a->req_query(req), (int)blen,
             body, a->req_is_tls(req), a->req_client_addr(req));
    a->resp_status(req, 200);
    a->resp_body(req, buf, strlen(buf));
    return TN_DONE;
}

static int init_http(tn_plugin *self, const tn_api *api)
{
    probe.api = api;
    if (api->route_add(self, "GET", "/headers", TN_ACCESS_PUBLIC, NULL, headers, NULL) != TN_OK ||
        api->route_add(self, "POST", "/query", TN_ACCESS_PUBLIC, NULL, query, NULL) != TN_OK ||
        api->route_add(self, "GET", "/error", TN_ACCESS_PUBLIC, NULL, error, NULL) != TN_OK)
        return -1;
    return 0;
}

static const tn_plugin_desc http_desc = {.size = sizeof(tn_plugin_desc),
                                         .abi_major = TN_SDK_ABI_MAJOR,
                                         .abi_minor = TN_SDK_ABI_MINOR,
                                         .name = "http",
                                         .version = "0.1",
                                         .init = init_http};

static void test_resp_header_rejects_injection_and_host_headers(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &http_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    tn_request *r = tk_request(tk, "t1", "GET", "/headers");
    int *rc = probe.header_rc;
    CU_ASSERT_EQUAL(rc[0], TN_OK);
    for (int i = 1; i <= 9; i++)
        CU_ASSERT_EQUAL(rc[i], TN_EINVAL);
    CU_ASSERT_EQUAL(rc[10], TN_OK);
    CU_ASSERT_EQUAL(rc[11], TN_OK);
    CU_ASSERT_EQUAL(rc[12], TN_EINVAL);
    CU_ASSERT_EQUAL(rc[13], TN_EINVAL);
    CU_ASSERT_EQUAL(rc[14], TN_OK);
    CU_ASSERT_EQUAL(rc[15], TN_EEXIST); /* one Content-Type */
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "abcd");
    CU_ASSERT_EQUAL(tk_resp_header_count(r, "x-fine"), 1);
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "x-fine"), "a\tb c");
    CU_ASSERT_PTR_NULL(tk_resp_header(r, "X-Split"));
    CU_ASSERT_EQUAL(tk_resp_header_count(r, "Set-Cookie"), 2);
    /* S5: the charset is added when the plugin gives none. */
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Content-Type"), "text/plain; charset=utf-8");
    CU_ASSERT_EQUAL(tk_resp_header_count(r, "Content-Type"), 1);

    /* resp_error() replaces headers and body, escaping every byte; text
     * that is not UTF-8 fails as on the host, like out of memory. */
    r = tk_request(tk, "t1", "GET", "/error");
    CU_ASSERT_EQUAL(rc[0], TN_OK);
    CU_ASSERT_EQUAL(rc[1], TN_ENOMEM);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_PTR_NULL(tk_resp_header(r, "X-Before"));
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Content-Type"), "application/json; charset=utf-8");
    CU_ASSERT_STRING_EQUAL(
        tk_resp_body(r, NULL),
        "{\"error\":{\"code\":\"bad_input\",\"message\":\"say \\\"no\\\" \\\\ <b>\"}}");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.message"), "say \"no\" \\ <b>");
    tk_free(tk);
}

static void test_query_params_and_cookies_are_decoded(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &http_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    tn_request *r = tk_req_new(tk, "t1", "POST",
                               "/query?a=1&b=hello%20world&c=x%00y&d=%zz&e=&f+g=h+i&a=2");
    CU_ASSERT_EQUAL(tk_req_set_header(r, "Cookie", "sid=abc; theme=\"dark\""), TN_OK);
    CU_ASSERT_EQUAL(tk_req_set_header(r, "Cookie", "lang=ja"), TN_OK);
    CU_ASSERT_EQUAL(tk_req_set_header(r, "X-Bad", "a\r\nb"), TN_EINVAL);
    CU_ASSERT_EQUAL(tk_req_set_body(r, "{\"x\":1}", 7), TN_OK);
    CU_ASSERT_EQUAL(tk_req_set_tls(r, 1), TN_OK);
    CU_ASSERT_EQUAL(tk_req_set_client(r, "192.0.2.1"), TN_OK);
    CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
    CU_ASSERT_STRING_EQUAL(
        tk_resp_body(r, NULL),
        "a=1;b=hello world;c=NULL;d=NULL;e=;f+g=h i;missing=NULL;"
        "sid=abc;theme=dark;lang=ja;none=NULL;"
        "q=a=1&b=hello%20world&c=x%00y&d=%zz&e=&f+g=h+i&a=2 body={\"x\":1} tls=1 addr=192.0.2.1");
    CU_ASSERT_EQUAL(tk_req_run(r), TN_ESTATE);
    tk_free(tk);
}

/* -- events, timers, metrics ----------------------------------------- */

static void on_event(tn_plugin *self, const tn_event *ev, void *ud)
{
    const tn_api *a = probe.api;
    (void)ud;
    CU_ASSERT_EQUAL(ev->size, sizeof(tn_event));
    CU_ASSERT_EQUAL(ev->payload_len, strlen(ev->payload));
    probe.events_seen[a->plugin_name(self)[1] - '1']++;
    /* Published while delivering: delivered in the same run. */
    if (strcmp(ev->name, "ping") == 0 && a->plugin_name(self)[1] == '1')
        CU_ASSERT_EQUAL(a->event_publish(self, ev->tenant_id, "pong", "{}"), TN_OK);
}

static void tick(tn_plugin *self, void *ud)
{
    (void)self;
    (void)ud;
    if (++probe.ticks == 3)
        probe.api->timer_stop(probe.timer);
}

static int init_ev(tn_plugin *self, const tn_api *api)
{
    probe.api = api;
    if (api->event_subscribe(self, "ping", on_event, NULL) != TN_OK ||
        api->event_subscribe(self, "pong", on_event, NULL) != TN_OK)
        return -1;
    CU_ASSERT_EQUAL(api->event_subscribe(self, "Bad Name", on_event, NULL), TN_EINVAL);
    tn_metric *c = api->metric_counter(self, "hits_total", "Hits.");
    tn_metric *g = api->metric_gauge(self, "queue_depth", "Depth.");
    CU_ASSERT_PTR_NOT_NULL(c);
    CU_ASSERT_PTR_NOT_NULL(g);
    CU_ASSERT_PTR_NULL(api->metric_counter(self, "hits_total", "Again."));
    CU_ASSERT_PTR_NULL(api->metric_counter(self, "Bad-Name", "Bad."));
    api->metric_add(c, "t1", 2);
    api->metric_add(c, "t1", -1); /* a counter never goes down */
    api->metric_add(c, NULL, 5);
    api->metric_set(g, "t1", 7);
    api->metric_set(g, "t1", 3);
    api->metric_set(c, "t1", 100); /* not on a counter */
    return 0;
}

static const tn_plugin_desc e1_desc = {.size = sizeof(tn_plugin_desc),
                                       .abi_major = TN_SDK_ABI_MAJOR,
                                       .abi_minor = TN_SDK_ABI_MINOR,
                                       .name = "e1",
                                       .version = "0.1",
                                       .init = init_ev};
static const tn_plugin_desc e2_desc = {.size = sizeof(tn_plugin_desc),
                                       .abi_major = TN_SDK_ABI_MAJOR,
                                       .abi_minor = TN_SDK_ABI_MINOR,
                                       .name = "e2",
                                       .version = "0.1",
                                       .init = init_ev};

static void test_events_reach_enabled_subscribers_when_run(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &e1_desc) == TN_OK);
    CU_ASSERT_FATAL(tk_load(tk, &e2_desc) == TN_OK);
    tk_set_for(tk, "e1", "t1", "enabled", "true"); /* e2 is off for t1 */
    tn_plugin *e1 = tk_plugin(tk, "e1");
    CU_ASSERT_EQUAL(probe.api->event_publish(e1, "t1", "ping", "{\"n\":1}"), TN_OK);
    CU_ASSERT_EQUAL(probe.api->event_publish(e1, NULL, "ping", "[1,2]"), TN_OK);
    CU_ASSERT_EQUAL(probe.api->event_publish(e1, "t1", "ping", "{bad"), TN_EINVAL);
    CU_ASSERT_EQUAL(probe.events_seen[0] + probe.events_seen[1], 0);
    CU_ASSERT_EQUAL(tk_run_events(tk), 4); /* 2 pings, 2 pongs from e1 */
    CU_ASSERT_EQUAL(probe.events_seen[0], 4);
    CU_ASSERT_EQUAL(probe.events_seen[1], 2); /* the untenanted ping and pong */
    CU_ASSERT_EQUAL(tk_event_count(tk), 4);
    CU_ASSERT_STRING_EQUAL(tk_event_name(tk, 2), "pong");
    CU_ASSERT_PTR_NULL(tk_event_tenant(tk, 1));
    CU_ASSERT_STRING_EQUAL(tk_event_payload(tk, 0), "{\"n\":1}");
    tk_free(tk);
}

static void test_timers_fire_on_the_virtual_clock(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &e1_desc) == TN_OK);
    probe.timer = probe.api->timer_start(tk_plugin(tk, "e1"), 100, 100, tick, NULL);
    CU_ASSERT_EQUAL(tk_timer_count(tk), 1);
    CU_ASSERT_EQUAL(tk_advance_ms(tk, 250), 2);
    CU_ASSERT_EQUAL(tk_now_ms(tk), 250);
    CU_ASSERT_EQUAL(tk_advance_ms(tk, 1000), 1); /* stops itself at 3 */
    CU_ASSERT_EQUAL(probe.ticks, 3);
    CU_ASSERT_EQUAL(tk_timer_count(tk), 0);
    /* The host frees a stopped timer: stopping it again is a bug. */
    probe.api->timer_stop(probe.timer);
    CU_ASSERT(tk_log_contains(tk, "timer_stop() on a stopped timer"));
    tk_free(tk);
}

static void test_metrics_by_name_and_tenant(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &e1_desc) == TN_OK);
    int64_t v = -1;
    CU_ASSERT_EQUAL(tk_metric_get(tk, "tanomu_plugin_e1_hits_total", "t1", &v), TN_OK);
    CU_ASSERT_EQUAL(v, 2);
    CU_ASSERT_EQUAL(tk_metric(tk, "tanomu_plugin_e1_hits_total", NULL), 5);
    CU_ASSERT_EQUAL(tk_metric(tk, "tanomu_plugin_e1_hits_total", "t2"), 0);
    CU_ASSERT_EQUAL(tk_metric(tk, "tanomu_plugin_e1_queue_depth", "t1"), 3);
    CU_ASSERT_EQUAL(tk_metric_get(tk, "tanomu_plugin_e1_nothing", "t1", &v), TN_ENOTFOUND);
    CU_ASSERT(tk_log_contains(tk, "counter cannot go down"));
    tk_free(tk);
}

/* Work still queued when the kit goes is cancelled, as when a worker
 * stops: work() never runs, done() hears TN_ECANCELED. */
static void done_cancelled(void *ud, int status)
{
    (void)ud;
    probe.done_status = status;
}

static void test_queued_work_is_cancelled_when_the_kit_goes(void)
{
    tk_kit *tk = kit_async();
    probe.done_status = 1;
    CU_ASSERT_EQUAL(probe.api->work_queue(tk_plugin(tk, "async"), work_fn, done_cancelled, NULL),
                    TN_OK);
    tk_free(tk);
    CU_ASSERT_EQUAL(probe.work_ran, 0);
    CU_ASSERT_EQUAL(probe.done_status, TN_ECANCELED);
}

/* -- ABI 1.1: settings outside a request ------------------------------ */

static void test_tenant_config_reads_settings_outside_a_request(void)
{
    probe_reset();
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &cfg_desc) == TN_OK);
    const tn_plugin *p = tk_plugin(tk, "cfg");
    const tn_api *a = probe.api;
    tk_enable(tk, "t1", 1);
    tk_set(tk, "t1", "name", "Shop");
    tk_set(tk, "t1", "port", "8080");
    tk_set(tk, "off", "note", "x"); /* a tenant that leaves cfg off */
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    const tn_config *c = a->tenant_config(p, "t1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(a->config_tenant(c), "t1");
    CU_ASSERT_EQUAL(a->config_int(c, "port"), 8080);
    /* As on the host, a tenant has the plugin's values, defaults
     * included, whether or not it enables the plugin. */
    c = a->tenant_config(p, "off");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(a->config_int(c, "port"), 80);
    CU_ASSERT_STRING_EQUAL(a->config_str(c, "note"), "x");
    CU_ASSERT_PTR_NULL(a->tenant_config(p, "nobody"));
    /* The wrong reader gives what the host gives, and a warning. */
    CU_ASSERT_STRING_EQUAL(a->config_str(c, "port"), "");
    CU_ASSERT(tk_log_contains(tk, "config_str(\"port\") on a int setting"));
    tk_free(tk);
}

/* -- ABI 1.1: the database, durable events, the audit log ------------ */

static struct shop_ctx {
    const tn_api *api;
    int in_db_call; /* inside a db_* call: no callback may run now */
    int callbacks;
    int status[4]; /* what the callbacks of /chain and /late got */
    /* what /late's rollback after commit returned */
    int late_rollback;
    char sqlstate[4][8];
    tn_status durable_ret; /* what the durable subscriber answers */
    tn_delivery *parked;
    int delivered;
    int64_t last_id;
    int last_attempt;
} shop;

/* The test's database: answers by the SQL it gets. */
static struct fake_db {
    int calls;
    int unavailable;
    int fail_commit;
    int commit_unknown;
} db;

static void fake_db_answer(const char *tenant, const char *sql, int nparams,
                           const char *const *params, tn_db_result *res, void *ud)
{
    struct fake_db *d = ud;
    d->calls++;
    CU_ASSERT_STRING_EQUAL(tenant, "t1");
    if (d->unavailable) {
        tk_db_fail(res, TN_EDB_UNAVAILABLE, NULL, NULL);
    } else if (strcmp(sql, "COMMIT") == 0) {
        if (d->fail_commit)
            tk_db_fail(res, TN_EDB_QUERY, "40001", "could not serialize access");
        else if (d->commit_unknown)
            CU_ASSERT_EQUAL(tk_db_fail(res, TN_EDB_UNKNOWN, "57P01", NULL), TN_OK);
    } else if (strncmp(sql, "INSERT INTO orders", 18) == 0) {
        const char *item = nparams == 2 ? params[0] : NULL;
        if (item == NULL)
            tk_db_fail(res, TN_EDB_QUERY, "23502", "null value in column \"item\"");
        else if (strcmp(item, "dup") == 0)
            tk_db_fail(res, TN_EDB_QUERY, "23505", "duplicate key: Key (item)=(dup)");
        else if (strcmp(item, "nope") == 0)
            tk_db_fail(res, TN_EDB_QUERY, "42501", "permission denied for table orders");
        else if (strcmp(item, "long") == 0)
            tk_db_fail(res, TN_EDB_QUERY, "22001", "value too long: s3cr3t-value");
        else if (tk_db_columns(res, 1, "id") == TN_OK)
            tk_db_row(res, "7");
    } else if (strncmp(sql, "SELECT id, item, note", 21) == 0) {
        CU_ASSERT_EQUAL(tk_db_row(res, "7"), TN_ESTATE); /* columns first */
        tk_db_columns(res, 3, "id", "item", "note");
        if (nparams == 1 && params[0] != NULL && strcmp(params[0], "7") == 0)
            tk_db_row(res, "7", "tea", NULL);
    } else if (strcmp(sql, "SELECT missing") == 0) {
        tk_db_fail(res, TN_EDB_QUERY, "42P01", "relation \"missing\" does not exist");
    }
}

static void shop_answer_error(tn_request *req, const tn_db_result *res)
{
    shop.api->resp_db_error(req, res);
    shop.api->req_resume(req, TN_DONE);
}

static void shop_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    const tn_api *a = shop.api;
    char body[64];
    CU_ASSERT_FALSE(shop.in_db_call);
    if (a->db_status(res) != TN_OK) {
        shop_answer_error(req, res);
        return;
    }
    snprintf(body, sizeof body, "{\"id\":%s}", (const char *)ud);
    a->resp_json(req, 201, body);
    a->req_resume(req, TN_DONE);
}

static void shop_inserted(tn_request *req, const tn_db_result *res, void *ud)
{
    const tn_api *a = shop.api;
    char payload[64];
    (void)ud;
    CU_ASSERT_FALSE(shop.in_db_call);
    if (a->db_status(res) != TN_OK) {
        shop_answer_error(req, res);
        return;
    }
    CU_ASSERT_EQUAL(a->db_rows(res), 1);
    CU_ASSERT_EQUAL(a->db_cols(res), 1);
    CU_ASSERT_STRING_EQUAL(a->db_colname(res, 0), "id");
    CU_ASSERT_EQUAL(a->db_affected(res), 1);
    CU_ASSERT_STRING_EQUAL(a->db_sqlstate(res), "");
    char *id = a->req_strdup(req, a->db_value(res, 0, 0));
    snprintf(payload, sizeof payload, "{\"order\":%s}", id);
    shop.in_db_call = 1;
    CU_ASSERT_EQUAL(a->db_publish(req, "order.created", payload), TN_OK);
    CU_ASSERT_EQUAL(a->db_publish(req, "Order Created", payload), TN_EINVAL);
    CU_ASSERT_EQUAL(a->db_publish(req, "order.created", "{not json"), TN_EINVAL);
    CU_ASSERT_EQUAL(a->db_audit(req, "order.create", "order", id, "ok"), TN_OK);
    CU_ASSERT_EQUAL(a->db_audit(req, "order.create", "order", id, "maybe"), TN_EINVAL);
    CU_ASSERT_EQUAL(a->db_audit(req, "", NULL, NULL, "ok"), TN_EINVAL);
    CU_ASSERT_EQUAL(a->db_commit(req, shop_committed, id), TN_OK);
    shop.in_db_call = 0;
}

/* POST /orders?item=...: insert, publish, audit, commit; one transaction. */
static tn_status shop_create(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = shop.api;
    const char *params[2] = {a->req_query_param(req, "item"), "1"};
    (void)self;
    (void)ud;
    shop.in_db_call = 1;
    CU_ASSERT_EQUAL(a->db_query(req, "", 0, NULL, shop_inserted, NULL), TN_EINVAL);
    CU_ASSERT_EQUAL(a->db_query(req, "SELECT $1", 1, NULL, shop_inserted, NULL), TN_EINVAL);
    int rc = a->db_query(req, "INSERT INTO orders (item, qty) VALUES ($1, $2) RETURNING id", 2,
                         params, shop_inserted, NULL);
    shop.in_db_call = 0;
    return rc == TN_OK ? TN_SUSPEND : TN_ERROR;
}

static void shop_found(tn_request *req, const tn_db_result *res, void *ud)
{
    const tn_api *a = shop.api;
    (void)ud;
    if (a->db_status(res) != TN_OK) {
        shop_answer_error(req, res);
        return;
    }
    CU_ASSERT_PTR_NULL(a->db_value(res, 5, 0));
    CU_ASSERT_PTR_NULL(a->db_colname(res, 3));
    if (a->db_rows(res) == 0) {
        a->resp_error(req, 404, "not_found", "no such order");
    } else {
        json_t *doc = json_pack("{s:s,s:b}", "item", a->db_value(res, 0, 1), "note_is_null",
                                a->db_value(res, 0, 2) == NULL);
        char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        a->resp_json(req, 200, body);
        free(body);
        json_decref(doc);
    }
    a->db_rollback(req, NULL, NULL); /* read only */
    a->req_resume(req, TN_DONE);
}

static tn_status shop_get(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = shop.api;
    const char *params[1] = {a->req_param(req, "id")};
    (void)self;
    (void)ud;
    return a->db_query(req, "SELECT id, item, note FROM orders WHERE id = $1", 1, params,
                       shop_found, NULL) == TN_OK
               ? TN_SUSPEND
               : TN_ERROR;
}

static void shop_forget_first(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)res;
    (void)ud;
    shop.callbacks++;
    shop.api->resp_json(req, 200, "{}");
    shop.api->req_resume(req, TN_DONE); /* without committing */
}

static void shop_forget_second(tn_request *req, const tn_db_result *res, void *ud)
{
    (void)req;
    (void)res;
    (void)ud;
    shop.callbacks += 100; /* must not run: the request has ended */
}

/* POST /forget: answers after the first of two statements, uncommitted. */
static tn_status shop_forget(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = shop.api;
    const char *insert[2] = {"tea", "1"}, *select[1] = {"7"};
    (void)self;
    (void)ud;
    a->db_query(req, "INSERT INTO orders (item, qty) VALUES ($1, $2) RETURNING id", 2, insert,
                shop_forget_first, NULL);
    a->db_publish(req, "order.created", NULL);
    a->db_audit(req, "order.create", NULL, NULL, "ok");
    a->db_query(req, "SELECT id, item, note FROM orders WHERE id = $1", 1, select,
                shop_forget_second, NULL);
    return TN_SUSPEND;
}

static void shop_note(tn_request *req, const tn_db_result *res, void *ud)
{
    const tn_api *a = shop.api;
    int i = (int)(intptr_t)ud;
    shop.status[i] = a->db_status(res);
    snprintf(shop.sqlstate[i], sizeof shop.sqlstate[i], "%s", a->db_sqlstate(res));
    if (i == 2)
        shop_answer_error(req, res);
}

/* POST /chain: a failing statement, then more in the same transaction. */
static tn_status shop_chain(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = shop.api;
    (void)self;
    (void)ud;
    a->db_query(req, "SELECT missing", 0, NULL, shop_note, (void *)0);
    a->db_publish(req, "order.created", "{}");
    a->db_query(req, "SELECT 1", 0, NULL, shop_note, (void *)1);
    a->db_commit(req, shop_note, (void *)2);
    return TN_SUSPEND;
}

/* POST /late: commit with nothing begun, and a statement after commit. */
static tn_status shop_late(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_api *a = shop.api;
    (void)self;
    (void)ud;
    a->db_commit(req, shop_note, (void *)0);
    a->db_query(req, "SELECT 1", 0, NULL, shop_note, (void *)1);
    a->db_commit(req, shop_note, (void *)3);
    /* Asked after commit was: refused at once, as on the host; no callback. */
    shop.status[2] = a->db_query(req, "SELECT 2", 0, NULL, shop_note, (void *)2);
    shop.late_rollback = a->db_rollback(req, shop_note, (void *)2);
    return TN_SUSPEND;
}

static tn_status shop_on_created(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud)
{
    (void)self;
    (void)ud;
    CU_ASSERT_EQUAL(ev->size, sizeof(tn_event));
    CU_ASSERT_STRING_EQUAL(ev->tenant_id, "t1");
    shop.delivered++;
    shop.last_id = ev->id;
    shop.last_attempt = ev->attempt;
    if (shop.durable_ret == TN_SUSPEND)
        shop.parked = d;
    return shop.durable_ret;
}

static tn_status shop_authenticate(tn_plugin *self, tn_request *req, void *ud)
{
    const char *user = shop.api->req_header(req, "X-User");
    (void)self;
    (void)ud;
    if (user != NULL)
        shop.api->req_set_principal(req, user, "");
    return TN_CONTINUE;
}

static int shop_init(tn_plugin *self, const tn_api *api)
{
    shop.api = api;
    if (api->hook_add(self, TN_PHASE_AUTHENTICATE, shop_authenticate, NULL) != TN_OK ||
        api->route_add(self, "POST", "/orders", TN_ACCESS_PUBLIC, NULL, shop_create, NULL) !=
            TN_OK ||
        api->route_add(self, "GET", "/orders/:id", TN_ACCESS_PUBLIC, NULL, shop_get, NULL) !=
            TN_OK ||
        api->route_add(self, "POST", "/forget", TN_ACCESS_PUBLIC, NULL, shop_forget, NULL) !=
            TN_OK ||
        api->route_add(self, "POST", "/chain", TN_ACCESS_PUBLIC, NULL, shop_chain, NULL) != TN_OK ||
        api->route_add(self, "POST", "/late", TN_ACCESS_PUBLIC, NULL, shop_late, NULL) != TN_OK ||
        api->event_subscribe_durable(self, "order.created", shop_on_created, NULL) != TN_OK)
        return -1;
    CU_ASSERT_EQUAL(api->event_subscribe_durable(self, "", shop_on_created, NULL), TN_EINVAL);
    return 0;
}

static const tn_plugin_desc shop_desc = {.size = sizeof(tn_plugin_desc),
                                         .abi_major = TN_SDK_ABI_MAJOR,
                                         .abi_minor = TN_SDK_ABI_MINOR,
                                         .name = "shop",
                                         .version = "0.1",
                                         .init = shop_init};

static tk_kit *kit_shop(void)
{
    memset(&shop, 0, sizeof shop);
    memset(&db, 0, sizeof db);
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk_load(tk, &shop_desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    tk_db_handler(tk, fake_db_answer, &db);
    return tk;
}

/* A committed order, by "u1" from 192.0.2.7. */
static tn_request *create_order(tk_kit *tk, const char *target)
{
    tn_request *r = tk_req_new(tk, "t1", "POST", target);
    tk_req_set_header(r, "X-User", "u1");
    tk_req_set_client(r, "192.0.2.7");
    CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
    tk_run_pending(tk);
    return r;
}

/* S1, S21, S20: values as parameters, the tenant's transaction, and what
 * rode in it exists once it commits. */
static void test_db_statements_answer_later_in_one_transaction(void)
{
    tk_kit *tk = kit_shop();
    tn_request *idle = tk_req_new(tk, "t1", "GET", "/orders/7");
    CU_ASSERT_EQUAL(shop.api->db_query(idle, "SELECT 1", 0, NULL, NULL, NULL), TN_EINVAL);
    tn_request *r = tk_req_new(tk, "t1", "POST", "/orders?item=tea");
    tk_req_set_header(r, "X-User", "u1");
    tk_req_set_client(r, "192.0.2.7");
    CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
    /* Nothing answers inside db_query(): the request waits. */
    CU_ASSERT(tk_req_pending(r));
    CU_ASSERT_EQUAL(db.calls, 0);
    CU_ASSERT_EQUAL(tk_db_count(tk), 0);
    CU_ASSERT_EQUAL(tk_run_pending(tk), 4); /* INSERT, outbox, audit, COMMIT */
    CU_ASSERT(tk_req_finished(r));
    CU_ASSERT_EQUAL(tk_resp_status(r), 201);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "{\"id\":7}");

    CU_ASSERT_EQUAL_FATAL(tk_db_count(tk), 2);
    const tk_db_stmt *st = tk_db_at(tk, 0);
    CU_ASSERT_STRING_EQUAL(st->sql, "INSERT INTO orders (item, qty) VALUES ($1, $2) RETURNING id");
    CU_ASSERT_EQUAL_FATAL(st->nparams, 2);
    CU_ASSERT_STRING_EQUAL(st->params[0], "tea");
    CU_ASSERT_STRING_EQUAL(st->params[1], "1");
    CU_ASSERT_STRING_EQUAL(st->tenant, "t1");
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, 1)->sql, "COMMIT");
    CU_ASSERT_PTR_NULL(tk_db_at(tk, 2));
    CU_ASSERT_EQUAL(db.calls, 2);

    CU_ASSERT_EQUAL_FATAL(tk_outbox_count(tk), 1);
    const tk_outbox_event *ev = tk_outbox_at(tk, 0);
    CU_ASSERT_EQUAL(ev->id, 1);
    CU_ASSERT_STRING_EQUAL(ev->name, "order.created");
    CU_ASSERT_STRING_EQUAL(ev->tenant, "t1");
    CU_ASSERT_STRING_EQUAL(ev->payload, "{\"order\":7}");
    CU_ASSERT_STRING_EQUAL(ev->state, "pending");
    CU_ASSERT_EQUAL(ev->attempts, 0);
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 1);
    const tk_audit_entry *e = tk_audit_at(tk, 0);
    CU_ASSERT_STRING_EQUAL(e->tenant, "t1");
    CU_ASSERT_STRING_EQUAL(e->user, "u1");
    CU_ASSERT_STRING_EQUAL(e->action, "order.create");
    CU_ASSERT_STRING_EQUAL(e->target_type, "order");
    CU_ASSERT_STRING_EQUAL(e->target_id, "7");
    CU_ASSERT_STRING_EQUAL(e->client_addr, "192.0.2.7");
    CU_ASSERT_STRING_EQUAL(e->request_id, shop.api->req_id(r));
    CU_ASSERT_STRING_EQUAL(e->result, "ok");
    CU_ASSERT_PTR_NULL(tk_audit_at(tk, 1));

    /* Read only, rolled back by the plugin itself: no warning. */
    r = tk_request(tk, "t1", "GET", "/orders/7");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "{\"item\":\"tea\",\"note_is_null\":true}");
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, tk_db_count(tk) - 1)->sql, "ROLLBACK");
    r = tk_request(tk, "t1", "GET", "/orders/8");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_resp_status(r), 404);
    CU_ASSERT_FALSE(tk_log_contains(tk, "not committed"));
    tk_free(tk);
}

/* resp_db_error() answers as the host: 409 for a unique violation, 422
 * for a refused change, 400 for input the column cannot take (A6), 503 +
 * Retry-After when unavailable, else 500; it logs the SQLSTATE, never the
 * server's message (S16). */
static void test_db_errors_are_answered_as_the_host_does(void)
{
    tk_kit *tk = kit_shop();
    tn_request *r = create_order(tk, "/orders?item=dup");
    CU_ASSERT_EQUAL(tk_resp_status(r), 409);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "conflict");
    r = create_order(tk, "/orders?item=nope");
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "refused");
    r = create_order(tk, "/orders"); /* no item: SQL NULL, a NOT NULL column */
    CU_ASSERT_PTR_NULL(tk_db_at(tk, tk_db_count(tk) - 2)->params[0]);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    r = create_order(tk, "/orders?item=long"); /* 22001: value too long */
    CU_ASSERT_EQUAL(tk_resp_status(r), 400);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "invalid_input");
    CU_ASSERT_FALSE(tk_log_contains(tk, "s3cr3t"));
    CU_ASSERT_FALSE(tk_log_contains(tk, "(dup)"));
    /* A failed statement the plugin did not end is rolled back. */
    CU_ASSERT(tk_log_contains(tk, "transaction not committed when the request ended"));

    db.unavailable = 1;
    r = create_order(tk, "/orders?item=tea");
    CU_ASSERT_EQUAL(tk_resp_status(r), 503);
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Retry-After"), "1");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "database_unavailable");
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Content-Type"), "application/json; charset=utf-8");

    /* A commit the server refuses: nothing of the transaction remains. */
    db.unavailable = 0;
    db.fail_commit = 1;
    r = create_order(tk, "/orders?item=tea");
    CU_ASSERT_EQUAL(tk_resp_status(r), 500);
    CU_ASSERT_EQUAL(tk_outbox_count(tk), 0);
    CU_ASSERT_EQUAL(tk_audit_count(tk), 0);

    /* A3: the connection lost during COMMIT: outcome unknown, so 500
     * commit_unknown and no Retry-After, never 503 "retry". */
    db.fail_commit = 0;
    db.commit_unknown = 1;
    r = create_order(tk, "/orders?item=tea");
    CU_ASSERT_EQUAL(tk_resp_status(r), 500);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "commit_unknown");
    CU_ASSERT_PTR_NULL(tk_resp_header(r, "Retry-After"));
    db.commit_unknown = 0;
    tk_free(tk);
}

static void test_db_failed_statement_aborts_the_transaction(void)
{
    tk_kit *tk = kit_shop();
    tn_request *r = tk_request(tk, "t1", "POST", "/chain");
    CU_ASSERT_EQUAL(tk_run_pending(tk), 4);
    CU_ASSERT_EQUAL(shop.status[0], TN_EDB_QUERY);
    CU_ASSERT_STRING_EQUAL(shop.sqlstate[0], "42P01");
    /* As PostgreSQL: later statements are refused, commit rolls back. */
    CU_ASSERT_EQUAL(shop.status[1], TN_EDB_QUERY);
    CU_ASSERT_STRING_EQUAL(shop.sqlstate[1], "25P02");
    CU_ASSERT_EQUAL(shop.status[2], TN_EDB_ABORTED);
    CU_ASSERT_EQUAL(db.calls, 1); /* the handler saw the first only */
    CU_ASSERT_EQUAL(tk_db_count(tk), 3);
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, 2)->sql, "COMMIT");
    CU_ASSERT_EQUAL(tk_outbox_count(tk), 0);
    CU_ASSERT_EQUAL(tk_resp_status(r), 500);
    tk_free(tk);
}

static void test_db_open_transaction_is_rolled_back_when_the_request_ends(void)
{
    tk_kit *tk = kit_shop();
    tn_request *r = tk_request(tk, "t1", "POST", "/forget");
    CU_ASSERT(tk_req_pending(r));
    /* INSERT, outbox, audit, SELECT and the host's ROLLBACK */
    CU_ASSERT_EQUAL(tk_run_pending(tk), 5);
    CU_ASSERT(tk_req_finished(r));
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    /* The SELECT still ran, but its callback is dropped: the request has
     * ended. */
    CU_ASSERT_EQUAL(shop.callbacks, 1);
    CU_ASSERT_EQUAL_FATAL(tk_db_count(tk), 3);
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, 2)->sql, "ROLLBACK");
    CU_ASSERT(tk_log_contains(tk, "warn testkit tk-1: transaction not committed when the "
                                  "request ended: rolled back"));
    CU_ASSERT_EQUAL(tk_outbox_count(tk), 0);
    CU_ASSERT_EQUAL(tk_audit_count(tk), 0);
    tk_free(tk);
}

static void test_db_commit_of_nothing_and_statements_after_commit(void)
{
    tk_kit *tk = kit_shop();
    tk_request(tk, "t1", "POST", "/late");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(shop.status[0], TN_OK); /* nothing begun: nothing to end */
    CU_ASSERT_EQUAL(shop.status[1], TN_OK);
    CU_ASSERT_EQUAL(shop.status[3], TN_OK);
    CU_ASSERT_EQUAL(shop.status[2], TN_ESTATE); /* asked after commit was */
    CU_ASSERT_EQUAL(shop.late_rollback, TN_ESTATE);
    CU_ASSERT_EQUAL_FATAL(tk_db_count(tk), 2);
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, 0)->sql, "SELECT 1");
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, 1)->sql, "COMMIT");
    tk_free(tk);
}

static void test_durable_event_is_redelivered_until_accepted(void)
{
    tk_kit *tk = kit_shop();
    create_order(tk, "/orders?item=tea");
    CU_ASSERT_EQUAL_FATAL(tk_outbox_count(tk), 1);
    const tk_outbox_event *ev = tk_outbox_at(tk, 0);
    shop.durable_ret = TN_ERROR;
    CU_ASSERT_EQUAL(tk_run_events(tk), 1);
    CU_ASSERT_EQUAL(shop.delivered, 1);
    CU_ASSERT_EQUAL(shop.last_id, ev->id);
    CU_ASSERT_EQUAL(shop.last_attempt, 1);
    CU_ASSERT_STRING_EQUAL(ev->state, "pending");
    CU_ASSERT_EQUAL(ev->attempts, 1);
    CU_ASSERT_STRING_EQUAL(ev->error, "subscriber returned an error");
    /* Each run is a later sweep: the retry comes with the next one. */
    CU_ASSERT_EQUAL(tk_run_events(tk), 1);
    CU_ASSERT_EQUAL(shop.last_attempt, 2);
    shop.durable_ret = TN_SUSPEND;
    CU_ASSERT_EQUAL(tk_run_events(tk), 1);
    CU_ASSERT_EQUAL(shop.last_attempt, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(shop.parked);
    CU_ASSERT_EQUAL(tk_run_events(tk), 0); /* still with the subscriber */
    shop.api->delivery_done(shop.parked, 1, NULL);
    CU_ASSERT_STRING_EQUAL(ev->state, "delivered");
    CU_ASSERT_EQUAL(ev->attempts, 3);
    CU_ASSERT_PTR_NULL(ev->error);
    CU_ASSERT_EQUAL(tk_run_events(tk), 0);
    shop.api->delivery_done(shop.parked, 1, NULL);
    CU_ASSERT(tk_log_contains(tk, "whose delivery has ended"));
    CU_ASSERT_EQUAL(shop.delivered, 3);
    tk_free(tk);
}

static void test_durable_delivery_times_out_and_dies(void)
{
    tk_kit *tk = kit_shop();
    tk_outbox_max_attempts(tk, 2);
    create_order(tk, "/orders?item=tea");
    const tk_outbox_event *ev = tk_outbox_at(tk, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    shop.durable_ret = TN_SUSPEND;
    CU_ASSERT_EQUAL(tk_run_events(tk), 1);
    tn_delivery *late = shop.parked;
    CU_ASSERT_EQUAL(tk_advance_ms(tk, 29999), 0);
    CU_ASSERT_EQUAL(ev->attempts, 0);
    CU_ASSERT_EQUAL(tk_advance_ms(tk, 1), 0); /* the kit's own timer */
    CU_ASSERT_EQUAL(ev->attempts, 1);
    CU_ASSERT_STRING_EQUAL(ev->error, "delivery timed out");
    CU_ASSERT_EQUAL(tk_timer_count(tk), 0);
    shop.durable_ret = TN_ERROR;
    CU_ASSERT_EQUAL(tk_run_events(tk), 1);
    CU_ASSERT_STRING_EQUAL(ev->state, "dead");
    CU_ASSERT(tk_log_contains(tk, "is dead after 2 attempts"));
    CU_ASSERT_EQUAL(tk_run_events(tk), 0);
    shop.api->delivery_done(late, 1, NULL); /* too late */
    CU_ASSERT(tk_log_contains(tk, "whose delivery has ended"));
    CU_ASSERT_EQUAL(shop.delivered, 2);
    tk_free(tk);
}

int main(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"API table is complete", test_api_table_is_complete},
        {"descriptor is checked like the host", test_descriptor_is_checked_like_the_host},
        {"longer descriptor is read up to the known size",
         test_longer_descriptor_is_read_up_to_known_size},
        {"phases run in order, after is honoured", test_phases_run_in_order_and_after_is_honoured},
        {"TN_DONE skips to the response phase", test_done_skips_to_the_response_phase},
        {"TN_ERROR answers 500", test_error_answers_500},
        {"disabled plugin's hooks do not run (P3)", test_disabled_plugin_hooks_do_not_run},
        {"routes match params and rest", test_routes_match_params_and_rest},
        {"access check fails closed (S11)", test_access_check_fails_closed},
        {"suspend waits for resume from a timer", test_suspend_waits_for_resume_from_a_timer},
        {"suspend waits for work, sees abort", test_suspend_waits_for_work_and_sees_abort},
        {"resume before returning TN_SUSPEND goes on",
         test_resume_before_returning_suspend_goes_on},
        {"suspended hook continues where it stopped",
         test_suspended_hook_continues_where_it_stopped},
        {"stream runs response hooks before its head",
         test_stream_runs_response_hooks_before_its_head},
        {"older host lacks later functions", test_older_host_lacks_later_functions},
        {"schema: types, bounds, defaults, required (P3)",
         test_schema_types_bounds_defaults_required},
        {"secret leak in the log is detected (S16)", test_secret_leak_in_log_is_detected},
        {"resp_header rejects injection and host headers (S7)",
         test_resp_header_rejects_injection_and_host_headers},
        {"query params and cookies are decoded", test_query_params_and_cookies_are_decoded},
        {"events reach enabled subscribers when run",
         test_events_reach_enabled_subscribers_when_run},
        {"timers fire on the virtual clock", test_timers_fire_on_the_virtual_clock},
        {"metrics by name and tenant", test_metrics_by_name_and_tenant},
        {"queued work is cancelled when the kit goes",
         test_queued_work_is_cancelled_when_the_kit_goes},
        {"tenant_config reads settings outside a request",
         test_tenant_config_reads_settings_outside_a_request},
        {"db statements answer later, in one transaction (S1, S20, S21)",
         test_db_statements_answer_later_in_one_transaction},
        {"db errors are answered as the host does (S16)",
         test_db_errors_are_answered_as_the_host_does},
        {"db failed statement aborts the transaction",
         test_db_failed_statement_aborts_the_transaction},
        {"db open transaction is rolled back when the request ends",
         test_db_open_transaction_is_rolled_back_when_the_request_ends},
        {"db commit of nothing, statements after commit",
         test_db_commit_of_nothing_and_statements_after_commit},
        {"durable event is redelivered until accepted",
         test_durable_event_is_redelivered_until_accepted},
        {"durable delivery times out and dies", test_durable_delivery_times_out_and_dies},
    };
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite suite = CU_add_suite("testkit", NULL, NULL);
    for (size_t i = 0; suite != NULL && i < sizeof tests / sizeof tests[0]; i++)
        if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
            suite = NULL;
    if (suite == NULL) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
