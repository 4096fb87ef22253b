/*
 * test_master.c - buyers, products and prices on the testkit, without a
 * database: what is refused before any statement runs (S11, S19: a role
 * too weak; field errors named; 428 without If-Match; never a partial
 * write: no statement at all), codes in paths normalised before they
 * reach SQL, and the demo seed refusing any tenant but "demo" before it
 * touches the database.  The DB-backed behaviour is tested in
 * tests/integration_db/test_orders_master.py.
 *
 * A small "fakeauth" plugin plays the auth plugin: X-Test-Roles and
 * X-Test-Buyer become the principal's roles and buyer_id attribute.
 */
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

const tn_plugin_desc *tn_plugin_entry(void);

static const tn_api *fake_api;

static tn_status fake_authenticate(tn_plugin *self, tn_request *req, void *ud)
{
    const char *roles = fake_api->req_header(req, "X-Test-Roles");
    const char *buyer = fake_api->req_header(req, "X-Test-Buyer");
    tn_attr attr = {"buyer_id", buyer};
    tn_auth_info info = {.size = sizeof info,
                         .method = "password",
                         .auth_time = 1,
                         .mfa_passed = 1,
                         .attrs = &attr,
                         .nattrs = buyer ? 1 : 0};

    (void)self, (void)ud;
    if (roles != NULL && fake_api->req_set_principal(req, "u1", roles) == TN_OK)
        fake_api->req_set_auth(req, &info);
    return TN_CONTINUE;
}

static int fake_init(tn_plugin *self, const tn_api *api)
{
    fake_api = api;
    return api->hook_add(self, TN_PHASE_AUTHENTICATE, fake_authenticate, NULL);
}

static const tn_plugin_desc fake_desc = {
    .size = sizeof fake_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "fakeauth",
    .version = "1",
    .init = fake_init,
};

static tk_kit *kit(void)
{
    tk_kit *tk = tk_new();
    CU_ASSERT_FATAL(tk != NULL);
    CU_ASSERT_FATAL(tk_load(tk, tn_plugin_entry()) == TN_OK);
    CU_ASSERT_FATAL(tk_load(tk, &fake_desc) == TN_OK);
    CU_ASSERT(tk_enable(tk, "a", 1) == TN_OK);
    CU_ASSERT(tk_set_for(tk, "fakeauth", "a", "enabled", "true") == TN_OK);
    return tk;
}

/* A request as roles (and buyer); body may be NULL. */
static tn_request *call(tk_kit *tk, const char *method, const char *target, const char *roles,
                        const char *buyer, const char *body, const char *if_match)
{
    tn_request *r = tk_req_new(tk, "a", method, target);
    CU_ASSERT_FATAL(r != NULL);
    if (roles)
        tk_req_set_header(r, "X-Test-Roles", roles);
    if (buyer)
        tk_req_set_header(r, "X-Test-Buyer", buyer);
    if (if_match)
        tk_req_set_header(r, "If-Match", if_match);
    if (body) {
        tk_req_set_header(r, "Content-Type", "application/json");
        tk_req_set_body(r, body, strlen(body));
    }
    CU_ASSERT_FATAL(tk_req_run(r) == TN_OK);
    tk_run_pending(tk);
    return r;
}

static void test_buyer_writes_and_staff_lists_are_refused_S11_S19(void)
{
    tk_kit *tk = kit();
    static const char *const writes[][3] = {
        {"POST", "/api/v1/buyers", "{\"code\":\"X\",\"name\":\"x\"}"},
        {"PATCH", "/api/v1/buyers/B001", "{\"name\":\"x\"}"},
        {"POST", "/api/v1/products", "{\"code\":\"X\",\"name\":\"x\",\"unit_price\":1}"},
        {"PATCH", "/api/v1/products/P1", "{\"unit_price\":1}"},
        {"PUT", "/api/v1/prices/B001/P1", "{\"unit_price\":1}"},
        {"DELETE", "/api/v1/prices/B001/P1", NULL},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        tn_request *r = call(tk, writes[i][0], writes[i][1], "buyer", "B001", writes[i][2],
                             "\"v1\"");
        CU_ASSERT_EQUAL(tk_resp_status(r), 403);
        tk_req_free(r);
    }
    tn_request *r = call(tk, "GET", "/api/v1/buyers", "buyer", "B001", NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    tk_req_free(r);
    /* Another buyer's code: 404 before any statement. */
    r = call(tk, "GET", "/api/v1/buyers/B002", "buyer", "B001", NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 404);
    tk_req_free(r);
    /* A buyer without its buyer code, and no principal at all. */
    r = call(tk, "GET", "/api/v1/products", "buyer", NULL, NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    tk_req_free(r);
    r = call(tk, "GET", "/api/v1/products", NULL, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    tk_req_free(r);
    CU_ASSERT_EQUAL(tk_db_count(tk), 0);
    tk_free(tk);
}

static void test_invalid_fields_are_named_and_nothing_is_written(void)
{
    tk_kit *tk = kit();
    tn_request *r = call(tk, "POST", "/api/v1/products", "staff", NULL,
                         "{\"code\":\"A B\",\"name\":\"\",\"unit_price\":1.5,\"tax_rate\":5,"
                         "\"extra\":1}",
                         NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 400);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "invalid_fields");
    CU_ASSERT_PTR_NOT_NULL(tk_resp_json_string(r, "error.fields.code"));
    CU_ASSERT_PTR_NOT_NULL(tk_resp_json_string(r, "error.fields.name"));
    CU_ASSERT_PTR_NOT_NULL(tk_resp_json_string(r, "error.fields.unit_price"));
    CU_ASSERT_PTR_NOT_NULL(tk_resp_json_string(r, "error.fields.tax_rate"));
    CU_ASSERT_PTR_NOT_NULL(tk_resp_json_string(r, "error.fields.extra"));
    tk_req_free(r);
    r = call(tk, "PUT", "/api/v1/prices/B1/P1", "staff", NULL, "{\"unit_price\":\"100\"}", NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 400);
    CU_ASSERT_PTR_NOT_NULL(tk_resp_json_string(r, "error.fields.unit_price"));
    tk_req_free(r);
    /* Updates need If-Match (428) before anything is read. */
    r = call(tk, "PATCH", "/api/v1/products/P1", "staff", NULL, "{\"unit_price\":1}", NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 428);
    tk_req_free(r);
    r = call(tk, "PATCH", "/api/v1/products/P1", "staff", NULL, "{\"unit_price\":1}", "*");
    CU_ASSERT_EQUAL(tk_resp_status(r), 412);
    tk_req_free(r);
    CU_ASSERT_EQUAL(tk_db_count(tk), 0);
    tk_free(tk);
}

/* The latest statement with parameters (COMMIT and ROLLBACK have none). */
static const tk_db_stmt *last_query(tk_kit *tk)
{
    for (size_t i = tk_db_count(tk); i > 0; i--) {
        const tk_db_stmt *s = tk_db_at(tk, i - 1);
        if (s->nparams > 0)
            return s;
    }
    return NULL;
}

static void test_full_width_path_code_reaches_sql_normalised(void)
{
    tk_kit *tk = kit();
    /* ＡＢ－１ percent-encoded in UTF-8. */
    tn_request *r = call(tk, "GET", "/api/v1/buyers/%EF%BC%A1%EF%BC%A2%EF%BC%8D%EF%BC%91", "staff",
                         NULL, NULL, NULL);
    const tk_db_stmt *s = last_query(tk);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s->tenant, "a");
    CU_ASSERT_STRING_EQUAL(s->params[0], "AB-1");
    CU_ASSERT_EQUAL(tk_resp_status(r), 404); /* no rows */
    tk_req_free(r);
    /* A buyer's attribute is normalised too: b001 is its own B001. */
    r = call(tk, "GET", "/api/v1/buyers/%EF%BC%A2001", "buyer", "b001", NULL, NULL);
    s = last_query(tk);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s->params[0], "B001");
    tk_req_free(r);
    tk_free(tk);
}

static void test_seed_refuses_any_tenant_but_demo(void)
{
    tk_kit *tk = kit();
    const char *a[] = {"--tenant", "a"};
    const char *none[] = {"--tenant"};

    CU_ASSERT_EQUAL(tk_command_run(tk, "orders", "orders-seed-demo", 2, a, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "demo"));
    CU_ASSERT_EQUAL(tk_command_run(tk, "orders", "orders-seed-demo", 1, none, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "usage"));
    CU_ASSERT_EQUAL(tk_db_count(tk), 0);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("orders_master", NULL, NULL);
    CU_add_test(s, "buyer writes and staff lists are refused S11 S19",
                test_buyer_writes_and_staff_lists_are_refused_S11_S19);
    CU_add_test(s, "invalid fields are named and nothing is written",
                test_invalid_fields_are_named_and_nothing_is_written);
    CU_add_test(s, "full-width path code reaches SQL normalised",
                test_full_width_path_code_reaches_sql_normalised);
    CU_add_test(s, "seed refuses any tenant but demo", test_seed_refuses_any_tenant_but_demo);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
