/*
 * test_testkit_auth.c - ABI 1.2's authentication details and route options
 * in the testkit, which decides as the host does (host/core/auth_info.c):
 * req_set_auth / req_auth copy and check how the principal authenticated;
 * route_add_opts routes demanding MFA (S13) or a recent authentication
 * (S6, S9: re-enter the password before an important operation) answer 401
 * mfa_required / reauth_required after the access check, failing closed.
 *
 * The test plugin's authenticate hook takes the principal and its details
 * from request headers: acceptable only in a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

#define NOW 1700000000 /* the kit's wall clock at the start of each test */

static const tn_api *api;

/* What the hooks and handlers saw, for the asserts. */
static struct {
    int set_rc;               /* req_set_auth's return in the hook */
    int set_again_rc;         /* a second req_set_auth */
    int before_principal_rc;  /* req_set_auth before req_set_principal */
    int in_handler_rc;        /* req_set_auth from the handler */
    char last_error[256];     /* last_error after the hook's failing call */
    const tn_auth_info *seen; /* req_auth in the handler (valid until freed) */
    char method[32];
    int64_t auth_time;
    int mfa;
    char hash[160];
    char buyer[64];
    char tenant_role[64];
    size_t nattrs;
    uint32_t size;
} got;

/* X-User, X-Roles: the principal.  X-Auth-Method, X-Auth-Time, X-Mfa,
 * X-Session-Hash, X-Buyer: the details (none without X-Auth-Method).
 * X-Bad: which invalid tn_auth_info to pass instead. */
static tn_status authenticate(tn_plugin *self, tn_request *req, void *ud)
{
    const char *user = api->req_header(req, "X-User");
    const char *method = api->req_header(req, "X-Auth-Method");
    const char *at = api->req_header(req, "X-Auth-Time");
    const char *bad = api->req_header(req, "X-Bad");
    char buyer[64];
    tn_attr attrs[2];
    tn_auth_info info;
    (void)ud;

    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    got.before_principal_rc = api->req_set_auth(req, &info);
    if (!user)
        return TN_CONTINUE;
    if (api->req_set_principal(req, user, api->req_header(req, "X-Roles")) != TN_OK)
        return TN_ERROR;
    if (!method)
        return TN_CONTINUE;
    /* On the stack: req_set_auth must copy it all. */
    snprintf(buyer, sizeof buyer, "%s",
             api->req_header(req, "X-Buyer") ? api->req_header(req, "X-Buyer") : "");
    attrs[0] = (tn_attr){"buyer_id", buyer};
    attrs[1] = (tn_attr){"tenant_role", "staff"};
    info.method = method;
    info.auth_time = at ? strtoll(at, NULL, 10) : 0;
    info.mfa_passed = api->req_header(req, "X-Mfa") != NULL;
    info.session_hash = api->req_header(req, "X-Session-Hash");
    info.attrs = attrs;
    info.nattrs = buyer[0] ? 2 : 0;
    if (bad) {
        if (strcmp(bad, "size") == 0)
            info.size = 4;
        else if (strcmp(bad, "method") == 0)
            info.method = "Pass word";
        else if (strcmp(bad, "no-method") == 0)
            info.method = NULL;
        else if (strcmp(bad, "hash") == 0)
            info.session_hash = "not-hex";
        else if (strcmp(bad, "time") == 0)
            info.auth_time = -5;
        else if (strcmp(bad, "attr-dup") == 0)
            attrs[1].name = "buyer_id";
        else if (strcmp(bad, "attr-name") == 0)
            attrs[1].name = "Buyer-Id";
        else if (strcmp(bad, "attr-value") == 0)
            attrs[1].value = "a\r\nb";
        else if (strcmp(bad, "attr-count") == 0)
            info.nattrs = TN_AUTH_MAX_ATTRS + 1;
        got.set_rc = strcmp(bad, "null") == 0 ? api->req_set_auth(req, NULL)
                                              : api->req_set_auth(req, &info);
        snprintf(got.last_error, sizeof got.last_error, "%s", api->last_error(self));
        return TN_CONTINUE;
    }
    got.set_rc = api->req_set_auth(req, &info);
    got.set_again_rc = api->req_set_auth(req, &info);
    snprintf(got.last_error, sizeof got.last_error, "%s", api->last_error(self));
    memset(buyer, 'x', sizeof buyer - 1); /* the copy must not see this */
    return TN_CONTINUE;
}

static tn_status handler(tn_plugin *self, tn_request *req, void *ud)
{
    const tn_auth_info *a = api->req_auth(req);
    tn_auth_info again = {.size = sizeof again, .method = "password"};
    (void)self;
    (void)ud;

    got.seen = a;
    got.in_handler_rc = api->req_set_auth(req, &again);
    if (a) {
        got.size = a->size;
        snprintf(got.method, sizeof got.method, "%s", a->method);
        got.auth_time = a->auth_time;
        got.mfa = a->mfa_passed;
        snprintf(got.hash, sizeof got.hash, "%s", a->session_hash ? a->session_hash : "(null)");
        snprintf(got.buyer, sizeof got.buyer, "%s",
                 tn_auth_attr(a, "buyer_id") ? tn_auth_attr(a, "buyer_id") : "(null)");
        snprintf(got.tenant_role, sizeof got.tenant_role, "%s",
                 tn_auth_attr(a, "tenant_role") ? tn_auth_attr(a, "tenant_role") : "(null)");
        got.nattrs = a->nattrs;
    }
    return api->resp_json(req, 200, "{\"ok\":true}") == TN_OK ? TN_DONE : TN_ERROR;
}

/* What init() got back from each registration, for the registration test. */
static struct {
    int has_opts;
    int public_with_opts, reserved_set, too_small, bigger_zero, bigger_set, zero_on_public;
    int null_opts, roles_without_list;
} reg;

static int init(tn_plugin *self, const tn_api *a)
{
    static const tn_route_opts reauth = {.size = sizeof reauth, .max_auth_age_s = 300};
    static const tn_route_opts mfa = {.size = sizeof mfa, .need_mfa = 1};
    static const tn_route_opts both = {.size = sizeof both, .need_mfa = 1, .max_auth_age_s = 300};
    tn_route_opts bad;
    struct {
        tn_route_opts o;
        char later[16]; /* a later minor's bigger struct */
    } bigger;
    int rc = 0;

    api = a;
    reg.has_opts = TN_API_HAS(a, route_add_opts) && TN_API_HAS(a, req_set_auth) &&
                   TN_API_HAS(a, req_auth);
    rc |= a->hook_add(self, TN_PHASE_AUTHENTICATE, authenticate, NULL);
    rc |= a->route_add(self, "GET", "/plain", TN_ACCESS_AUTHENTICATED, NULL, handler, NULL);
    rc |= a->route_add_opts(self, "POST", "/email", TN_ACCESS_AUTHENTICATED, NULL, handler, NULL,
                            &reauth);
    rc |= a->route_add_opts(self, "GET", "/admin", TN_ACCESS_ROLES, "tenant_admin", handler, NULL,
                            &mfa);
    rc |= a->route_add_opts(self, "POST", "/payment", TN_ACCESS_ROLES, "tenant_admin", handler,
                            NULL, &both);

    reg.public_with_opts = a->route_add_opts(self, "GET", "/r1", TN_ACCESS_PUBLIC, NULL, handler,
                                             NULL, &mfa);
    bad = reauth;
    bad.reserved[2] = &bad;
    reg.reserved_set = a->route_add_opts(self, "GET", "/r2", TN_ACCESS_AUTHENTICATED, NULL, handler,
                                         NULL, &bad);
    bad = reauth;
    bad.size = 6;
    reg.too_small = a->route_add_opts(self, "GET", "/r3", TN_ACCESS_AUTHENTICATED, NULL, handler,
                                      NULL, &bad);
    memset(&bigger, 0, sizeof bigger);
    bigger.o = reauth;
    bigger.o.size = sizeof bigger;
    reg.bigger_zero = a->route_add_opts(self, "GET", "/r4", TN_ACCESS_AUTHENTICATED, NULL, handler,
                                        NULL, &bigger.o);
    bigger.later[3] = 1; /* an option this host does not know: refused, not ignored */
    reg.bigger_set = a->route_add_opts(self, "GET", "/r5", TN_ACCESS_AUTHENTICATED, NULL, handler,
                                       NULL, &bigger.o);
    bad = (tn_route_opts){.size = sizeof bad};
    reg.zero_on_public = a->route_add_opts(self, "GET", "/r6", TN_ACCESS_PUBLIC, NULL, handler,
                                           NULL, &bad);
    reg.null_opts = a->route_add_opts(self, "GET", "/r7", TN_ACCESS_AUTHENTICATED, NULL, handler,
                                      NULL, NULL);
    reg.roles_without_list = a->route_add_opts(self, "GET", "/r8", TN_ACCESS_ROLES, NULL, handler,
                                               NULL, &mfa);
    return rc;
}

static const tn_plugin_desc desc = {.size = sizeof(tn_plugin_desc),
                                    .abi_major = TN_SDK_ABI_MAJOR,
                                    .abi_minor = TN_SDK_ABI_MINOR,
                                    .name = "authy",
                                    .version = "0.1",
                                    .init = init};

static tk_kit *kit(void)
{
    tk_kit *tk = tk_new();

    memset(&got, 0, sizeof got);
    memset(&reg, 0, sizeof reg);
    CU_ASSERT_FATAL(tk_load(tk, &desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    tk_set_unix_time(tk, NOW);
    return tk;
}

/* A request as user u (NULL: anonymous) with roles, authenticated by
 * method (NULL: no details) auth_age seconds ago, with or without MFA. */
static tn_request *call(tk_kit *tk, const char *verb, const char *path, const char *u,
                        const char *roles, const char *method, int64_t auth_age, int mfa)
{
    tn_request *r = tk_req_new(tk, "t1", verb, path);
    char t[32];

    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    if (u)
        tk_req_set_header(r, "X-User", u);
    if (roles)
        tk_req_set_header(r, "X-Roles", roles);
    if (method) {
        snprintf(t, sizeof t, "%lld", (long long)(tk_unix_time(tk) - auth_age));
        tk_req_set_header(r, "X-Auth-Method", method);
        tk_req_set_header(r, "X-Auth-Time", t);
    }
    if (mfa)
        tk_req_set_header(r, "X-Mfa", "1");
    return r;
}

static int run_status(tn_request *r)
{
    CU_ASSERT_EQUAL(tk_req_run(r), TN_OK);
    return tk_resp_status(r);
}

/* The 401's body names the code, in the host's error format. */
static void assert_refused(tn_request *r, const char *code)
{
    char want[64];
    const char *body;

    CU_ASSERT_EQUAL(run_status(r), 401);
    body = tk_resp_body(r, NULL);
    snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\"", code);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_NSTRING_EQUAL(body, want, strlen(want));
    if (strncmp(body, want, strlen(want)) != 0)
        printf("\n  wanted %s..., got %s\n", want, body);
    CU_ASSERT_PTR_NULL(got.seen); /* the handler never ran */
}

/* -- set and get -------------------------------------------------------- */

static void test_s6_auth_info_is_copied_and_read_back(void)
{
    tk_kit *tk = kit();
    tn_request *r = call(tk, "GET", "/plain", "u-1", "buyer", "password", 42, 1);

    tk_req_set_header(r, "X-Session-Hash", "9f86d081884c7d65");
    tk_req_set_header(r, "X-Buyer", "b-17");
    CU_ASSERT_EQUAL(run_status(r), 200);
    CU_ASSERT_EQUAL(got.set_rc, TN_OK);
    CU_ASSERT_EQUAL(got.before_principal_rc, TN_ESTATE);
    CU_ASSERT_EQUAL(got.set_again_rc, TN_ESTATE); /* once */
    CU_ASSERT_PTR_NOT_NULL(strstr(got.last_error, "once"));
    CU_ASSERT_EQUAL(got.in_handler_rc, TN_ESTATE); /* only the authenticate phase */
    CU_ASSERT_PTR_NOT_NULL_FATAL(got.seen);
    CU_ASSERT_EQUAL(got.size, sizeof(tn_auth_info));
    CU_ASSERT_STRING_EQUAL(got.method, "password");
    CU_ASSERT_EQUAL(got.auth_time, NOW - 42);
    CU_ASSERT_EQUAL(got.mfa, 1);
    CU_ASSERT_STRING_EQUAL(got.hash, "9f86d081884c7d65");
    CU_ASSERT_EQUAL(got.nattrs, 2);
    CU_ASSERT_STRING_EQUAL(got.buyer, "b-17"); /* the hook's buffer was overwritten */
    CU_ASSERT_STRING_EQUAL(got.tenant_role, "staff");
    CU_ASSERT_PTR_NULL(tn_auth_attr(got.seen, "nope"));
    CU_ASSERT_PTR_NULL(tn_auth_attr(NULL, "buyer_id"));
    CU_ASSERT_PTR_EQUAL(api->req_auth(r), got.seen); /* valid until the request is freed */
    tk_free(tk);
}

static void test_s6_no_details_reads_null(void)
{
    tk_kit *tk = kit();
    tn_request *r = call(tk, "GET", "/plain", "u-1", NULL, NULL, 0, 0);

    CU_ASSERT_EQUAL(run_status(r), 200);
    CU_ASSERT_PTR_NULL(got.seen);
    CU_ASSERT_PTR_NULL(api->req_auth(NULL));
    tk_free(tk);
}

static void bad_details(const char *which)
{
    tk_kit *tk = kit();
    tn_request *r = call(tk, "GET", "/plain", "u-1", NULL, "password", 1, 1);

    tk_req_set_header(r, "X-Buyer", "b-17");
    tk_req_set_header(r, "X-Bad", which);
    CU_ASSERT_EQUAL(run_status(r), 200);
    CU_ASSERT_EQUAL(got.set_rc, TN_EINVAL);
    if (got.set_rc != TN_EINVAL)
        printf("\n  %s: req_set_auth gave %d\n", which, got.set_rc);
    CU_ASSERT_PTR_NOT_NULL(strstr(got.last_error, "req_set_auth"));
    CU_ASSERT_PTR_NULL(got.seen); /* nothing half-set */
    tk_free(tk);
}

static void test_s6_invalid_details_refused(void)
{
    static const char *const which[] = {"size",       "method",   "no-method", "hash",
                                        "time",       "attr-dup", "attr-name", "attr-value",
                                        "attr-count", "null"};
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++)
        bad_details(which[i]);
}

/* -- route options ------------------------------------------------------- */

static void test_route_opts_registration_rules(void)
{
    tk_kit *tk = kit();

    CU_ASSERT_TRUE(reg.has_opts);
    CU_ASSERT_EQUAL(reg.public_with_opts, TN_EINVAL);   /* a check that never happens */
    CU_ASSERT_EQUAL(reg.reserved_set, TN_EINVAL);       /* unknown option: refused */
    CU_ASSERT_EQUAL(reg.too_small, TN_EINVAL);          /* size covers no option */
    CU_ASSERT_EQUAL(reg.bigger_zero, TN_OK);            /* later minor, nothing new set */
    CU_ASSERT_EQUAL(reg.bigger_set, TN_EINVAL);         /* later minor's option set */
    CU_ASSERT_EQUAL(reg.zero_on_public, TN_OK);         /* no option: as route_add */
    CU_ASSERT_EQUAL(reg.null_opts, TN_OK);              /* NULL: as route_add */
    CU_ASSERT_EQUAL(reg.roles_without_list, TN_EINVAL); /* route_add's own rules too */
    CU_ASSERT_TRUE(tk_log_contains(tk, "route GET /r1 refused (invalid)"));
    /* The refused routes do not exist; the accepted ones do. */
    CU_ASSERT_EQUAL(tk_resp_status(tk_request(tk, "t1", "GET", "/r1")), 404);
    CU_ASSERT_EQUAL(tk_resp_status(tk_request(tk, "t1", "GET", "/r4")), 401);
    tk_free(tk);
}

/* S9: a route demanding authentication within 300 s. */
static void test_s9_reauth_required_when_auth_too_old(void)
{
    tk_kit *tk = kit();
    tn_request *r;

    CU_ASSERT_EQUAL(run_status(call(tk, "POST", "/email", "u-1", NULL, "password", 10, 0)), 200);
    got.seen = NULL;
    CU_ASSERT_EQUAL(run_status(call(tk, "POST", "/email", "u-1", NULL, "password", 300, 0)), 200);
    got.seen = NULL;
    assert_refused(call(tk, "POST", "/email", "u-1", NULL, "password", 301, 0), "reauth_required");
    /* The same authentication ages with the clock. */
    r = tk_req_new(tk, "t1", "POST", "/email");
    tk_req_set_header(r, "X-User", "u-1");
    tk_req_set_header(r, "X-Auth-Method", "password");
    tk_req_set_header(r, "X-Auth-Time", "1700000000");
    CU_ASSERT_EQUAL(run_status(r), 200);
    got.seen = NULL;
    tk_advance_ms(tk, 301 * 1000);
    r = tk_req_new(tk, "t1", "POST", "/email");
    tk_req_set_header(r, "X-User", "u-1");
    tk_req_set_header(r, "X-Auth-Method", "password");
    tk_req_set_header(r, "X-Auth-Time", "1700000000");
    assert_refused(r, "reauth_required");
    tk_free(tk);
}

/* Fails closed: no details, an unknown time, a time far in the future. */
static void test_s9_reauth_fails_closed(void)
{
    tk_kit *tk = kit();

    assert_refused(call(tk, "POST", "/email", "u-1", NULL, NULL, 0, 1), "reauth_required");
    assert_refused(call(tk, "POST", "/email", "u-1", NULL, "password", NOW, 1), "reauth_required");
    assert_refused(call(tk, "POST", "/email", "u-1", NULL, "password", -3600, 1),
                   "reauth_required");
    /* Anonymous: the access check answers first, as for any route. */
    assert_refused(call(tk, "POST", "/email", NULL, NULL, NULL, 0, 0), "unauthenticated");
    tk_free(tk);
}

/* S13: a route demanding a second factor passed in this session. */
static void test_s13_mfa_required_without_second_factor(void)
{
    tk_kit *tk = kit();

    assert_refused(call(tk, "GET", "/admin", "u-1", "tenant_admin", "password", 5, 0),
                   "mfa_required");
    assert_refused(call(tk, "GET", "/admin", "u-1", "tenant_admin", NULL, 0, 0), "mfa_required");
    CU_ASSERT_EQUAL(run_status(call(tk, "GET", "/admin", "u-1", "tenant_admin", "password", 5, 1)),
                    200);
    got.seen = NULL;
    /* No MFA demanded: an old authentication without MFA is fine. */
    CU_ASSERT_EQUAL(run_status(call(tk, "GET", "/plain", "u-1", NULL, "password", 86400, 0)), 200);
    got.seen = NULL;
    /* Roles first: the wrong role is 403 whatever the MFA state. */
    CU_ASSERT_EQUAL(run_status(call(tk, "GET", "/admin", "u-1", "buyer", "password", 5, 0)), 403);
    CU_ASSERT_PTR_NULL(got.seen);
    tk_free(tk);
}

/* S6, S9, S13: both options on one route. */
static void test_s6_s13_both_options(void)
{
    tk_kit *tk = kit();

    CU_ASSERT_EQUAL(run_status(
                        call(tk, "POST", "/payment", "u-1", "tenant_admin", "password", 60, 1)),
                    200);
    got.seen = NULL;
    assert_refused(call(tk, "POST", "/payment", "u-1", "tenant_admin", "password", 600, 1),
                   "reauth_required");
    assert_refused(call(tk, "POST", "/payment", "u-1", "tenant_admin", "password", 60, 0),
                   "mfa_required");
    /* Both missing: MFA first (re-authenticating would not be enough). */
    assert_refused(call(tk, "POST", "/payment", "u-1", "tenant_admin", "password", 600, 0),
                   "mfa_required");
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("testkit_auth", NULL, NULL);
    CU_add_test(s, "S6 auth info is copied and read back",
                test_s6_auth_info_is_copied_and_read_back);
    CU_add_test(s, "S6 no details reads NULL", test_s6_no_details_reads_null);
    CU_add_test(s, "S6 invalid details refused", test_s6_invalid_details_refused);
    CU_add_test(s, "route options registration rules", test_route_opts_registration_rules);
    CU_add_test(s, "S9 reauth_required when auth too old",
                test_s9_reauth_required_when_auth_too_old);
    CU_add_test(s, "S9 reauth fails closed", test_s9_reauth_fails_closed);
    CU_add_test(s, "S13 mfa_required without second factor",
                test_s13_mfa_required_without_second_factor);
    CU_add_test(s, "S6 S13 both options", test_s6_s13_both_options);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
