/*
 * test_testkit_iface.c - interfaces between plugins in the testkit (ABI
 * 1.2), with the host's rules (tests/integration/test_interfaces.py checks
 * the host): a provider exports a versioned table from init(); a consumer
 * that lists it in depends gets it; an older version, an undeclared
 * dependency, an unknown name, a second export of a name and an export
 * outside init() are refused with api->last_error() saying why; fini runs
 * in reverse init order.  P1, P2.
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

typedef struct calc {
    uint32_t size;
    int (*twice)(int x);
} calc;

static int twice(int x)
{
    return 2 * x;
}

static const calc calc_table = {.size = sizeof calc_table, .twice = twice};

static struct {
    const tn_api *api;
    tn_plugin *provider;
    const calc *got;
    uint32_t want_version;
    int export_rc;
    int second_rc;
    char last_error[256];
    char order[128];
} st;

static void note(const char *s)
{
    size_t n = strlen(st.order);
    snprintf(st.order + n, sizeof st.order - n, "%s%s", n ? " " : "", s);
}

static int provider_init(tn_plugin *self, const tn_api *api)
{
    st.api = api;
    st.provider = self;
    note("init:provider");
    st.export_rc = api->iface_export(self, "test.calc", 3, &calc_table);
    st.second_rc = api->iface_export(self, "test.calc", 4, &calc_table);
    return st.export_rc == TN_OK ? 0 : -1;
}

static void provider_fini(tn_plugin *self)
{
    (void)self;
    note("fini:provider");
}

static int consumer_init(tn_plugin *self, const tn_api *api)
{
    note("init:consumer");
    st.got = api->iface_get(self, "test.calc", st.want_version);
    snprintf(st.last_error, sizeof st.last_error, "%s", api->last_error(self));
    return st.got ? 0 : -1;
}

static void consumer_fini(tn_plugin *self)
{
    (void)self;
    note("fini:consumer");
}

static const char *const on_provider[] = {"provider", NULL};

static const tn_plugin_desc provider = {
    .size = sizeof provider,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "provider",
    .version = "1",
    .init = provider_init,
    .fini = provider_fini,
};

static const tn_plugin_desc consumer = {
    .size = sizeof consumer,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "consumer",
    .version = "1",
    .depends = on_provider,
    .init = consumer_init,
    .fini = consumer_fini,
};

/* Same code, no depends: the lookup must be refused. */
static const tn_plugin_desc stranger = {
    .size = sizeof stranger,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "stranger",
    .version = "1",
    .init = consumer_init,
};

static tk_kit *kit_with_provider(void)
{
    tk_kit *tk = tk_new();
    memset(&st, 0, sizeof st);
    CU_ASSERT_FATAL(tk != NULL);
    CU_ASSERT_FATAL(tk_load(tk, &provider) == TN_OK);
    return tk;
}

static void test_consumer_gets_the_table_and_fini_runs_backwards(void)
{
    tk_kit *tk = kit_with_provider();
    st.want_version = 2;
    CU_ASSERT_EQUAL(tk_load(tk, &consumer), TN_OK);
    CU_ASSERT_PTR_EQUAL(st.got, &calc_table);
    CU_ASSERT_EQUAL(st.got->twice(21), 42);
    CU_ASSERT_EQUAL(st.second_rc, TN_EEXIST);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.api->last_error(st.provider), "already exported"));
    tk_free(tk);
    CU_ASSERT_STRING_EQUAL(st.order, "init:provider init:consumer fini:consumer fini:provider");
}

static void test_too_old_version_refused(void)
{
    tk_kit *tk = kit_with_provider();
    st.want_version = 4;
    CU_ASSERT_EQUAL(tk_load(tk, &consumer), TN_ESTATE);
    CU_ASSERT_PTR_NULL(st.got);
    CU_ASSERT_STRING_EQUAL(st.last_error, "interface test.calc of plugin provider is version 3, "
                                          "consumer needs version >= 4");
    CU_ASSERT(tk_log_contains(tk, "plugin consumer: init() returned -1: interface test.calc"));
    tk_free(tk);
}

static void test_undeclared_dependency_refused(void)
{
    tk_kit *tk = kit_with_provider();
    st.want_version = 1;
    CU_ASSERT_EQUAL(tk_load(tk, &stranger), TN_ESTATE);
    CU_ASSERT_PTR_NULL(st.got);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.last_error, "which stranger does not list in depends"));
    tk_free(tk);
}

static void test_unknown_interface_and_bad_exports_refused(void)
{
    tk_kit *tk = kit_with_provider();
    tn_plugin *p = tk_plugin(tk, "provider");
    CU_ASSERT_PTR_NULL(st.api->iface_get(p, "no.such", 1));
    CU_ASSERT_PTR_NOT_NULL(strstr(st.api->last_error(p), "not exported by any loaded plugin"));
    /* After init(): refused. */
    CU_ASSERT_EQUAL(st.api->iface_export(p, "test.late", 1, &calc_table), TN_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.api->last_error(p), "outside init()"));
    /* A plugin may read its own interface without depending on itself. */
    CU_ASSERT_PTR_EQUAL(st.api->iface_get(p, "test.calc", 3), &calc_table);
    tk_free(tk);
}

static int bad_init(tn_plugin *self, const tn_api *api)
{
    static const uint32_t empty = 0;
    int bad = 0;
    bad += api->iface_export(self, "Bad Name", 1, &calc_table) == TN_EINVAL;
    bad += api->iface_export(self, "test.zero", 0, &calc_table) == TN_EINVAL;
    bad += api->iface_export(self, "test.nosize", 1, &empty) == TN_EINVAL;
    bad += api->iface_export(self, "test.null", 1, NULL) == TN_EINVAL;
    return bad == 4 ? 0 : -1;
}

static const tn_plugin_desc bad = {
    .size = sizeof bad,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "bad",
    .version = "1",
    .init = bad_init,
};

static void test_invalid_exports_refused(void)
{
    tk_kit *tk = tk_new();
    CU_ASSERT_EQUAL(tk_load(tk, &bad), TN_OK);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("testkit_iface", NULL, NULL);
    CU_add_test(s, "consumer gets the table, fini backwards",
                test_consumer_gets_the_table_and_fini_runs_backwards);
    CU_add_test(s, "too old version refused", test_too_old_version_refused);
    CU_add_test(s, "undeclared dependency refused", test_undeclared_dependency_refused);
    CU_add_test(s, "unknown interface, late export",
                test_unknown_interface_and_bad_exports_refused);
    CU_add_test(s, "invalid exports refused", test_invalid_exports_refused);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
