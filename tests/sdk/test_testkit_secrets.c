/*
 * test_testkit_secrets.c - S18 in the testkit: secret_seal and
 * secret_unseal are the host's real cipher and format (XChaCha20-Poly1305,
 * tnsec:v1), bound to tenant and plugin, with the stale flag after
 * tk_keyring_rotate() and TN_ESEAL plus last_error when a value does not
 * open.  A plugin that stores a provider token in its table is tested the
 * way it runs in production.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

#define CANARY "canary-token-5d1c"

static const tn_api *api_a, *api_b;

static int init_a(tn_plugin *self, const tn_api *a)
{
    (void)self;
    api_a = a;
    return 0;
}

static int init_b(tn_plugin *self, const tn_api *a)
{
    (void)self;
    api_b = a;
    return 0;
}

static const tn_config_key keys_a[] = {
    {.name = "token", .type = TN_TYPE_STRING, .min = 1, .max = 64, .flags = TN_KEY_SECRET},
    {.name = "note", .type = TN_TYPE_STRING},
    {.name = NULL},
};

static const tn_plugin_desc desc_a = {
    .size = sizeof desc_a,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "vault_a",
    .version = "1",
    .settings = keys_a,
    .init = init_a,
};

static const tn_plugin_desc desc_b = {
    .size = sizeof desc_b,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "vault_b",
    .version = "1",
    .init = init_b,
};

static tk_kit *kit(tn_plugin **a, tn_plugin **b)
{
    tk_kit *tk = tk_new();

    CU_ASSERT_EQUAL_FATAL(tk_load(tk, &desc_a), TN_OK);
    CU_ASSERT_EQUAL_FATAL(tk_load(tk, &desc_b), TN_OK);
    *a = tk_plugin(tk, "vault_a");
    *b = tk_plugin(tk, "vault_b");
    return tk;
}

/* S18: round trip, the format, and binary data. */
static void test_s18_testkit_round_trip(void)
{
    tn_plugin *a, *b;
    tk_kit *tk = kit(&a, &b);
    char *sealed = NULL;
    void *plain = NULL;
    size_t len = 0;
    int stale = -1;
    static const unsigned char bin[5] = {1, 0, 2, 0, 3};

    CU_ASSERT_TRUE(TN_API_HAS(api_a, secret_seal));
    CU_ASSERT_EQUAL(api_a->secret_seal(a, "shop1", CANARY, strlen(CANARY), &sealed), TN_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sealed);
    CU_ASSERT_EQUAL(strncmp(sealed, "tnsec:v1:tk1:", 13), 0);
    CU_ASSERT_PTR_NULL(strstr(sealed, CANARY));
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop1", sealed, &plain, &len, &stale), TN_OK);
    CU_ASSERT_EQUAL(len, strlen(CANARY));
    CU_ASSERT_STRING_EQUAL((char *)plain, CANARY); /* NUL-terminated */
    CU_ASSERT_EQUAL(stale, 0);
    api_a->free(plain);
    api_a->free(sealed);
    /* sealing twice gives two values (a fresh nonce each time) */
    char *s1 = NULL, *s2 = NULL;
    CU_ASSERT_EQUAL(api_a->secret_seal(a, "shop1", bin, sizeof bin, &s1), TN_OK);
    CU_ASSERT_EQUAL(api_a->secret_seal(a, "shop1", bin, sizeof bin, &s2), TN_OK);
    CU_ASSERT_STRING_NOT_EQUAL(s1, s2);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop1", s2, &plain, &len, NULL), TN_OK);
    CU_ASSERT_EQUAL(len, sizeof bin);
    CU_ASSERT_EQUAL(memcmp(plain, bin, sizeof bin), 0);
    api_a->free(plain);
    api_a->free(s1);
    api_a->free(s2);
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 0);
    tk_free(tk);
}

/* S18: a value copied to another tenant's row or another plugin's column
 * does not open: TN_ESEAL, and last_error says why without the value. */
static void test_s18_testkit_wrong_tenant_or_plugin(void)
{
    tn_plugin *a, *b;
    tk_kit *tk = kit(&a, &b);
    char *sealed = NULL;
    void *plain = (void *)1;
    size_t len = 7;

    CU_ASSERT_EQUAL(api_a->secret_seal(a, "shop1", CANARY, strlen(CANARY), &sealed), TN_OK);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop2", sealed, &plain, &len, NULL), TN_ESEAL);
    CU_ASSERT_PTR_NULL(plain);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(api_a->last_error(a), "does not open"));
    CU_ASSERT_PTR_NULL(strstr(api_a->last_error(a), CANARY));
    CU_ASSERT_EQUAL(api_b->secret_unseal(b, "shop1", sealed, &plain, &len, NULL), TN_ESEAL);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, NULL, sealed, &plain, &len, NULL), TN_ESEAL);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop1", "not sealed", &plain, &len, NULL), TN_ESEAL);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "Bad Tenant", sealed, &plain, &len, NULL), TN_EINVAL);
    CU_ASSERT_EQUAL(api_a->secret_seal(a, "shop1", "x", 1, NULL), TN_EINVAL);
    /* a plugin-wide value (tenant NULL) opens only as plugin-wide */
    char *global = NULL;
    CU_ASSERT_EQUAL(api_a->secret_seal(a, NULL, "g", 1, &global), TN_OK);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, NULL, global, &plain, &len, NULL), TN_OK);
    api_a->free(plain);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop1", global, &plain, &len, NULL), TN_ESEAL);
    api_a->free(global);
    api_a->free(sealed);
    tk_free(tk);
}

/* S18: after rotation old values still open and say stale; re-sealing
 * uses the new key; a value under a key the keyring lacks does not open. */
static void test_s18_testkit_rotation(void)
{
    tn_plugin *a, *b;
    tk_kit *tk = kit(&a, &b), *other = tk_new();
    char *old = NULL, *fresh = NULL;
    void *plain = NULL;
    size_t len;
    int stale = 0;

    CU_ASSERT_EQUAL(api_a->secret_seal(a, "shop1", "v", 1, &old), TN_OK);
    CU_ASSERT_STRING_EQUAL(tk_keyring_active(tk), "tk1");
    CU_ASSERT_EQUAL(tk_keyring_rotate(tk), TN_OK);
    CU_ASSERT_STRING_EQUAL(tk_keyring_active(tk), "tk2");
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop1", old, &plain, &len, &stale), TN_OK);
    CU_ASSERT_EQUAL(stale, 1);
    api_a->free(plain);
    CU_ASSERT_EQUAL(api_a->secret_seal(a, "shop1", "v", 1, &fresh), TN_OK);
    CU_ASSERT_EQUAL(strncmp(fresh, "tnsec:v1:tk2:", 13), 0);
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop1", fresh, &plain, &len, &stale), TN_OK);
    CU_ASSERT_EQUAL(stale, 0);
    api_a->free(plain);
    api_a->free(fresh);
    tk_free(tk);

    /* another kit has other random keys under the same IDs: nothing opens */
    CU_ASSERT_EQUAL(tk_load(other, &desc_a), TN_OK);
    a = tk_plugin(other, "vault_a");
    CU_ASSERT_EQUAL(api_a->secret_unseal(a, "shop1", old, &plain, &len, &stale), TN_ESEAL);
    api_a->free(old);
    tk_free(other);
}

static int error_says(const tk_kit *tk, const char *needle)
{
    for (size_t i = 0; i < tk_error_count(tk); i++)
        if (strstr(tk_error_message(tk, i), needle))
            return 1;
    return 0;
}

/* S18: a secret setting written sealed opens as the host opens it; for
 * another tenant or a key that is not a secret it is an error. */
static void test_s18_testkit_sealed_setting(void)
{
    tn_plugin *a, *b;
    tk_kit *tk = kit(&a, &b);
    char *sealed = tk_seal_setting(tk, "shop1", "vault_a", "token", CANARY);
    char *other = tk_seal_setting(tk, "shop2", "vault_a", "token", CANARY);

    CU_ASSERT_PTR_NOT_NULL_FATAL(sealed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    tk_enable(tk, "shop1", 1);
    tk_set(tk, "shop1", "token", sealed);
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    CU_ASSERT_STRING_EQUAL(api_a->config_str(api_a->tenant_config(a, "shop1"), "token"), CANARY);
    tk_set(tk, "shop1", "token", other);
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT_TRUE(tk_has_error(tk, "shop1", "token"));
    CU_ASSERT_TRUE(error_says(tk, "does not open"));
    CU_ASSERT_FALSE(error_says(tk, CANARY));
    tk_set(tk, "shop1", "token", "plain-ok");
    tk_set(tk, "shop1", "note", sealed);
    CU_ASSERT_EQUAL(tk_check(tk), 1);
    CU_ASSERT_TRUE(tk_has_error(tk, "shop1", "note"));
    CU_ASSERT_TRUE(error_says(tk, "not a secret setting"));
    free(sealed);
    free(other);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("testkit secrets", NULL, NULL);
    CU_add_test(s, "S18 testkit round trip", test_s18_testkit_round_trip);
    CU_add_test(s, "S18 testkit wrong tenant or plugin", test_s18_testkit_wrong_tenant_or_plugin);
    CU_add_test(s, "S18 testkit rotation", test_s18_testkit_rotation);
    CU_add_test(s, "S18 testkit sealed setting", test_s18_testkit_sealed_setting);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
