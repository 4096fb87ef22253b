/*
 * test_maintenance.c - the rules of maintenance mode (maintenance.h):
 * which routes stay open, RFC 3339 times of `until`, the section in force
 * for a tenant, and the 503 body built from the section.
 */
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "maintenance.h"

static void test_route_exempt_only_platform_admin(void)
{
    CU_ASSERT_TRUE(host_maint_route_exempt(TN_ACCESS_ROLES, "platform_admin"));
    CU_ASSERT_TRUE(host_maint_route_exempt(TN_ACCESS_ROLES, " platform_admin , platform_admin"));
    /* A route a tenant admin may also call is a tenant route. */
    CU_ASSERT_FALSE(host_maint_route_exempt(TN_ACCESS_ROLES, "platform_admin,tenant_admin"));
    CU_ASSERT_FALSE(host_maint_route_exempt(TN_ACCESS_ROLES, "tenant_admin"));
    CU_ASSERT_FALSE(host_maint_route_exempt(TN_ACCESS_ROLES, "platform_admins"));
    CU_ASSERT_FALSE(host_maint_route_exempt(TN_ACCESS_ROLES, ""));
    CU_ASSERT_FALSE(host_maint_route_exempt(TN_ACCESS_ROLES, NULL));
    CU_ASSERT_FALSE(host_maint_route_exempt(TN_ACCESS_AUTHENTICATED, "platform_admin"));
    CU_ASSERT_FALSE(host_maint_route_exempt(TN_ACCESS_PUBLIC, NULL));
}

static void test_rfc3339(void)
{
    CU_ASSERT_TRUE(host_rfc3339_valid("2026-12-09T14:15:00+09:00"));
    CU_ASSERT_TRUE(host_rfc3339_valid("2026-12-09T05:15:00Z"));
    CU_ASSERT_TRUE(host_rfc3339_valid("2028-02-29T00:00:00.125-03:30"));
    CU_ASSERT_FALSE(host_rfc3339_valid("2026-02-29T00:00:00Z")); /* not a leap year */
    CU_ASSERT_FALSE(host_rfc3339_valid("2026-12-09 14:15:00+09:00"));
    CU_ASSERT_FALSE(host_rfc3339_valid("2026-12-09T24:00:00Z"));
    CU_ASSERT_FALSE(host_rfc3339_valid("2026-12-09T14:15:00"));
    CU_ASSERT_FALSE(host_rfc3339_valid("2026-12-09T14:15:00+0900"));
    CU_ASSERT_FALSE(host_rfc3339_valid("2026-12-09T14:15:00.Z"));
    CU_ASSERT_FALSE(host_rfc3339_valid(NULL));
}

static int parse(const char *text, host_maint_conf *m, host_errors *e)
{
    config_t cfg;
    int rc = -1;

    config_init(&cfg);
    if (config_read_string(&cfg, text) == CONFIG_TRUE)
        rc = host_maint_parse(config_root_setting(&cfg), "t.conf", "maintenance", m, e);
    config_destroy(&cfg);
    return rc;
}

static void test_parse_and_body(void)
{
    host_maint_conf m, t;
    host_errors e;
    json_t *body, *err;

    host_errors_init(&e);
    CU_ASSERT_EQUAL(
        parse("maintenance: { enabled = true; retry_after_s = 900;\n"
              "  message = \"メンテナンス中\"; until = \"2026-12-09T14:15:00+09:00\"; };",
              &m, &e),
        0);
    CU_ASSERT_EQUAL(e.count, 0);
    CU_ASSERT_STRING_EQUAL(m.retry_after, "900");
    body = json_loads(m.body, 0, NULL);
    err = json_object_get(body, "error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "code")), "maintenance");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "message")), "メンテナンス中");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(err, "until")),
                           "2026-12-09T14:15:00+09:00");
    json_decref(body);

    /* Absent: off, defaults ready. */
    CU_ASSERT_EQUAL(parse("other = 1;", &t, &e), 0);
    CU_ASSERT_FALSE(t.enabled);
    CU_ASSERT_STRING_EQUAL(t.retry_after, "300");
    CU_ASSERT_PTR_EQUAL(host_maint_effective(&m, &t), &m);
    CU_ASSERT_PTR_NULL(host_maint_effective(&t, &t));
    CU_ASSERT_PTR_EQUAL(host_maint_effective(&t, &m), &m);
    host_maint_free(&t);

    /* Invalid UTF-8 in the message, unknown key, wrong types: errors with lines. */
    CU_ASSERT_EQUAL(parse("maintenance: { enabled = true;\n message = \"\xff\xfe\"; };", &t, &e),
                    -1);
    host_maint_free(&t);
    CU_ASSERT_EQUAL(parse("maintenance: {\n enable = true; };", &t, &e), -1);
    host_maint_free(&t);
    CU_ASSERT_EQUAL(parse("maintenance: {\n retry_after_s = \"15m\"; };", &t, &e), -1);
    host_maint_free(&t);
    CU_ASSERT_EQUAL(parse("maintenance = 1;", &t, &e), -1);
    host_maint_free(&t);
    CU_ASSERT_EQUAL(e.count, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.items[1], "t.conf:2: unknown setting 'maintenance.enable'"));
    host_maint_free(&m);
    host_errors_free(&e);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("maintenance", NULL, NULL);
    CU_add_test(s, "only platform_admin-only routes stay open",
                test_route_exempt_only_platform_admin);
    CU_add_test(s, "until: RFC 3339 with offset, fields in range", test_rfc3339);
    CU_add_test(s, "parse, defaults, the 503 body, the section in force", test_parse_and_body);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
