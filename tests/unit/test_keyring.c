/*
 * test_keyring.c - S18 sealed secrets: the sealed format and its cipher
 * (sealed.c), the keyring directory (keyring.c) and the value of a secret
 * setting (secrets_conf.c).  S16: no message ever quotes the secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <libconfig.h>

#include <tanomu/api.h>

#include "errors.h"
#include "keyring.h"
#include "sealed.h"
#include "secrets_conf.h"

#define CANARY "canary-7f3e-secret"

static char dir[256];

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void write_mode(const char *name, const char *text, mode_t mode)
{
    char p[512];
    FILE *f;

    path_in(p, sizeof p, name);
    unlink(p);
    f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
}

static host_keyring *two_keys(void)
{
    unsigned char k1[HOST_KEY_BYTES], k2[HOST_KEY_BYTES];
    host_keyring *kr = host_keyring_new();

    memset(k1, 1, sizeof k1);
    memset(k2, 2, sizeof k2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL(host_keyring_add(kr, "k1", k1), 0);
    CU_ASSERT_EQUAL(host_keyring_add(kr, "k2", k2), 0);
    CU_ASSERT_EQUAL(host_keyring_set_active(kr, "k1"), 0);
    return kr;
}

/* S18: a sealed value opens for the same tenant, plugin and purpose only. */
static void test_s18_seal_round_trip_and_binding(void)
{
    host_keyring *kr = two_keys();
    char why[256], *sealed = NULL, *plain = NULL;
    size_t len;
    int stale;

    CU_ASSERT_EQUAL(host_seal(kr, "shop1", "pay", "", CANARY, strlen(CANARY), &sealed, why,
                              sizeof why),
                    TN_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sealed);
    CU_ASSERT_EQUAL(strncmp(sealed, "tnsec:v1:k1:", 12), 0);
    CU_ASSERT_PTR_NULL(strstr(sealed, CANARY));
    CU_ASSERT_EQUAL(host_unseal(kr, "shop1", "pay", "", sealed, &plain, &len, &stale, why,
                                sizeof why),
                    TN_OK);
    CU_ASSERT_STRING_EQUAL(plain, CANARY);
    CU_ASSERT_EQUAL(len, strlen(CANARY));
    CU_ASSERT_EQUAL(stale, 0);
    host_secret_free(plain);

    /* another tenant, another plugin, another purpose, no tenant */
    CU_ASSERT_EQUAL(host_unseal(kr, "shop2", "pay", "", sealed, &plain, &len, &stale, why,
                                sizeof why),
                    TN_ESEAL);
    CU_ASSERT_PTR_NULL(plain);
    CU_ASSERT_PTR_NULL(strstr(why, CANARY));
    CU_ASSERT_EQUAL(host_unseal(kr, "shop1", "other", "", sealed, &plain, &len, &stale, why,
                                sizeof why),
                    TN_ESEAL);
    CU_ASSERT_EQUAL(host_unseal(kr, "shop1", "pay", "setting:token", sealed, &plain, &len, &stale,
                                why, sizeof why),
                    TN_ESEAL);
    CU_ASSERT_EQUAL(host_unseal(kr, NULL, "pay", "", sealed, &plain, &len, &stale, why, sizeof why),
                    TN_ESEAL);
    /* an empty value seals and opens as "" */
    free(sealed);
    CU_ASSERT_EQUAL(host_seal(kr, "shop1", "pay", "", NULL, 0, &sealed, why, sizeof why), TN_OK);
    CU_ASSERT_EQUAL(host_unseal(kr, "shop1", "pay", "", sealed, &plain, &len, &stale, why,
                                sizeof why),
                    TN_OK);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_STRING_EQUAL(plain, "");
    host_secret_free(plain);
    /* a tenant ID and plugin name cannot be shifted across the separator */
    free(sealed);
    CU_ASSERT_EQUAL(host_seal(kr, "ab", "c", "", "x", 1, &sealed, why, sizeof why), TN_OK);
    CU_ASSERT_EQUAL(host_unseal(kr, "a", "bc", "", sealed, &plain, &len, &stale, why, sizeof why),
                    TN_ESEAL);
    free(sealed);
    host_keyring_free(kr);
}

/* S18: tampering, a foreign key ID, the version and garbage do not open. */
static void test_s18_unseal_refusals(void)
{
    host_keyring *kr = two_keys();
    char why[256], *sealed = NULL, *plain = NULL, *copy;
    size_t len, n;
    int stale;

    CU_ASSERT_EQUAL(host_seal(kr, "t1", "p", "", "hello", 5, &sealed, why, sizeof why), TN_OK);
    n = strlen(sealed);
    copy = strdup(sealed);
    copy[n - 3] = copy[n - 3] == 'A' ? 'B' : 'A'; /* flip a ciphertext bit */
    CU_ASSERT_EQUAL(host_unseal(kr, "t1", "p", "", copy, &plain, &len, &stale, why, sizeof why),
                    TN_ESEAL);
    memcpy(copy, sealed, n);
    copy[10] = '2'; /* claims key k2: the AD names k1's ID, so it does not open */
    CU_ASSERT_EQUAL(host_unseal(kr, "t1", "p", "", copy, &plain, &len, &stale, why, sizeof why),
                    TN_ESEAL);
    CU_ASSERT_EQUAL(host_unseal(kr, "t1", "p", "", "tnsec:v1:k9:AAAA", &plain, &len, &stale, why,
                                sizeof why),
                    TN_ESEAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "'k9'"));
    CU_ASSERT_EQUAL(host_unseal(kr, "t1", "p", "", "tnsec:v2:k1:AAAA", &plain, &len, &stale, why,
                                sizeof why),
                    TN_ESEAL);
    CU_ASSERT_EQUAL(host_unseal(kr, "t1", "p", "", "tnsec:v1:k1:!!", &plain, &len, &stale, why,
                                sizeof why),
                    TN_ESEAL);
    CU_ASSERT_EQUAL(host_unseal(kr, "t1", "p", "", "plain", &plain, &len, &stale, why, sizeof why),
                    TN_ESEAL);
    CU_ASSERT_EQUAL(host_unseal(NULL, "t1", "p", "", sealed, &plain, &len, &stale, why, sizeof why),
                    TN_ESEAL);
    CU_ASSERT_EQUAL(host_seal(NULL, "t1", "p", "", "x", 1, &plain, why, sizeof why), TN_ESEAL);
    CU_ASSERT_PTR_NULL(plain);
    free(copy);
    free(sealed);
    host_keyring_free(kr);
}

/* S18: after a new key becomes active, old values open and say stale. */
static void test_s18_rotation_stale(void)
{
    host_keyring *kr = two_keys(), *dup;
    char why[256], *old = NULL, *fresh = NULL, *plain = NULL;
    size_t len;
    int stale = -1;

    CU_ASSERT_EQUAL(host_seal(kr, "t1", "p", "", "v", 1, &old, why, sizeof why), TN_OK);
    CU_ASSERT_EQUAL(host_keyring_set_active(kr, "k2"), 0);
    CU_ASSERT_EQUAL(host_keyring_set_active(kr, "nope"), -1);
    CU_ASSERT_EQUAL(host_unseal(kr, "t1", "p", "", old, &plain, &len, &stale, why, sizeof why),
                    TN_OK);
    CU_ASSERT_EQUAL(stale, 1);
    host_secret_free(plain);
    CU_ASSERT_EQUAL(host_seal(kr, "t1", "p", "", "v", 1, &fresh, why, sizeof why), TN_OK);
    CU_ASSERT_EQUAL(strncmp(fresh, "tnsec:v1:k2:", 12), 0);
    dup = host_keyring_dup(kr);
    CU_ASSERT_STRING_EQUAL(host_keyring_active(dup), "k2");
    CU_ASSERT_EQUAL(host_unseal(dup, "t1", "p", "", fresh, &plain, &len, &stale, why, sizeof why),
                    TN_OK);
    CU_ASSERT_EQUAL(stale, 0);
    host_secret_free(plain);
    CU_ASSERT_EQUAL(host_keyring_add(kr, "k2",
                                     (const unsigned char *)"0123456789abcdef0123456789abcdef"),
                    -1);
    CU_ASSERT_EQUAL(host_keyring_add(kr, "Bad",
                                     (const unsigned char *)"0123456789abcdef0123456789abcdef"),
                    -1);
    host_keyring_free(dup);
    host_keyring_free(kr);
    free(old);
    free(fresh);
}

/* S18: rotate writes a private key and the active file; load checks modes. */
static void test_s18_keyring_directory(void)
{
    char kdir[512], id1[HOST_KEY_ID_MAX + 1], id2[HOST_KEY_ID_MAX + 1], err[512], p[600];
    host_keyring *kr = NULL;
    struct stat st;

    path_in(kdir, sizeof kdir, "keys");
    CU_ASSERT_EQUAL(host_keyring_load(kdir, &kr, err, sizeof err), -1); /* missing */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "tanomu secret rotate"));
    CU_ASSERT_EQUAL_FATAL(host_keyring_rotate(kdir, id1, err, sizeof err), 0);
    CU_ASSERT_EQUAL(stat(kdir, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
    snprintf(p, sizeof p, "%s/%s.key", kdir, id1);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(st.st_size, HOST_KEY_BYTES);
    CU_ASSERT_EQUAL(host_keyring_rotate(kdir, id2, err, sizeof err), 0);
    CU_ASSERT_STRING_NOT_EQUAL(id1, id2);
    CU_ASSERT_EQUAL_FATAL(host_keyring_load(kdir, &kr, err, sizeof err), 0);
    CU_ASSERT_EQUAL(host_keyring_count(kr), 2);
    CU_ASSERT_STRING_EQUAL(host_keyring_active(kr), id2);
    host_keyring_free(kr);
    kr = NULL;

    /* a key readable by group or others refuses the keyring */
    chmod(p, 0640);
    CU_ASSERT_EQUAL(host_keyring_load(kdir, &kr, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    CU_ASSERT_PTR_NULL(kr);
    chmod(p, 0600);
    /* a group-writable directory too */
    chmod(kdir, 0770);
    CU_ASSERT_EQUAL(host_keyring_load(kdir, &kr, err, sizeof err), -1);
    chmod(kdir, 0700);
    /* a short key file */
    truncate(p, 16);
    CU_ASSERT_EQUAL(host_keyring_load(kdir, &kr, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exactly 32 bytes"));
    unlink(p);
    /* the active key must have its file */
    snprintf(p, sizeof p, "%s/%s.key", kdir, id2);
    unlink(p);
    CU_ASSERT_EQUAL(host_keyring_load(kdir, &kr, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "active key"));
    snprintf(p, sizeof p, "%s/active", kdir);
    unlink(p);
    rmdir(kdir);
}

/* S18: file:PATH must be private; one trailing newline is dropped. */
static void test_s18_secret_file(void)
{
    char p[512], err[512], *out = NULL;

    write_mode("tok", CANARY "\n", 0600);
    path_in(p, sizeof p, "tok");
    CU_ASSERT_EQUAL(host_secret_file_read(p, &out, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(out, CANARY);
    host_secret_free(out);
    chmod(p, 0644);
    CU_ASSERT_EQUAL(host_secret_file_read(p, &out, err, sizeof err), -1);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "group or others"));
    CU_ASSERT_PTR_NULL(strstr(err, CANARY));
    unlink(p);
}

static int any_contains(const host_errors *e, const char *needle)
{
    for (int i = 0; i < e->count; i++)
        if (strstr(e->items[i], needle))
            return 1;
    return 0;
}

/* S18, S16: a secret setting as written: sealed, file:, plain (warned, or
 * refused with require_sealed); never quoted in a message. */
static void test_s18_secret_setting(void)
{
    host_secrets_conf sc;
    host_errors errs;
    char why[256], tfile[512], *sealed = NULL, *out = NULL;

    memset(&sc, 0, sizeof sc);
    host_errors_init(&sc.warnings);
    host_errors_init(&errs);
    sc.keyring = two_keys();
    path_in(tfile, sizeof tfile, "t1.conf");

    CU_ASSERT_EQUAL(host_seal(sc.keyring, "t1", "pay", "setting:token", CANARY, strlen(CANARY),
                              &sealed, why, sizeof why),
                    TN_OK);
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "token", 1, sealed, tfile, 3, &errs,
                                        &out),
                    0);
    CU_ASSERT_STRING_EQUAL(out, CANARY);
    host_secret_free(out);
    /* the same value for another key or tenant is refused */
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "other", 1, sealed, tfile, 3, &errs,
                                        &out),
                    -1);
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t2", "pay", "token", 1, sealed, tfile, 3, &errs,
                                        &out),
                    -1);
    CU_ASSERT_EQUAL(errs.count, 2);
    /* not a secret: sealed refused */
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "token", 0, sealed, tfile, 3, &errs,
                                        &out),
                    -1);
    /* file: relative to the tenant file's directory */
    write_mode("tokfile", CANARY "\n", 0600);
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "token", 1, "file:tokfile", tfile, 4,
                                        &errs, &out),
                    0);
    CU_ASSERT_STRING_EQUAL(out, CANARY);
    host_secret_free(out);
    write_mode("tokfile", CANARY "\n", 0644);
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "token", 1, "file:tokfile", tfile, 4,
                                        &errs, &out),
                    -1);
    /* plain text: a warning, then an error with require_sealed */
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "token", 1, CANARY, tfile, 5, &errs,
                                        &out),
                    0);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_EQUAL(sc.warnings.count, 1);
    CU_ASSERT(any_contains(&sc.warnings, "plain text"));
    sc.require_sealed = 1;
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "token", 1, CANARY, tfile, 5, &errs,
                                        &out),
                    -1);
    CU_ASSERT(any_contains(&errs, "require_sealed"));
    /* no keyring: a sealed value is a clear error */
    host_keyring_free(sc.keyring);
    sc.keyring = NULL;
    CU_ASSERT_EQUAL(host_secret_setting(&sc, "t1", "pay", "token", 1, sealed, tfile, 3, &errs,
                                        &out),
                    -1);
    CU_ASSERT(any_contains(&errs, "no keyring is configured"));
    CU_ASSERT(!any_contains(&errs, CANARY));
    CU_ASSERT(!any_contains(&sc.warnings, CANARY));
    path_in(tfile, sizeof tfile, "tokfile");
    unlink(tfile);
    free(sealed);
    host_secrets_conf_free(&sc);
    host_errors_free(&errs);
}

/* S18: the secrets section: known keys and types only; a keyring_dir
 * relative to tanomu.conf; the keyring loaded at snapshot time is copied. */
static void test_s18_secrets_section(void)
{
    config_t cfg;
    host_secrets_conf sc;
    host_errors errs;
    host_keyring *kr = two_keys();

    host_errors_init(&errs);
    config_init(&cfg);
    CU_ASSERT_EQUAL_FATAL(config_read_string(&cfg, "secrets: { keyring_dir = \"keys\";\n"
                                                   "  require_sealed = true; };\n"),
                          CONFIG_TRUE);
    CU_ASSERT_EQUAL(host_secrets_parse(config_root_setting(&cfg), "/etc/t/tanomu.conf", "/etc/t",
                                       kr, &sc, &errs),
                    0);
    CU_ASSERT_STRING_EQUAL(sc.keyring_dir, "/etc/t/keys");
    CU_ASSERT_EQUAL(sc.require_sealed, 1);
    CU_ASSERT_PTR_NOT_NULL(sc.keyring);
    CU_ASSERT_STRING_EQUAL(host_keyring_active(sc.keyring), "k1");
    host_secrets_conf_free(&sc);
    config_destroy(&cfg);

    config_init(&cfg);
    CU_ASSERT_EQUAL_FATAL(config_read_string(&cfg, "secrets: { keyring_dir = 5;\n"
                                                   "  active_key = \"k2\"; };\n"),
                          CONFIG_TRUE);
    CU_ASSERT_EQUAL(host_secrets_parse(config_root_setting(&cfg), "f.conf", ".", NULL, &sc, &errs),
                    -1);
    CU_ASSERT_EQUAL(errs.count, 2);
    CU_ASSERT(any_contains(&errs, "f.conf:1: 'secrets.keyring_dir' has the wrong type"));
    CU_ASSERT(any_contains(&errs, "f.conf:2: unknown setting 'secrets.active_key'"));
    CU_ASSERT_PTR_NULL(sc.keyring);
    host_secrets_conf_free(&sc);
    config_destroy(&cfg);
    host_errors_free(&errs);
    host_keyring_free(kr);
}

/* api->free's wipe takes any malloc'd block. */
static void test_s18_secret_free(void)
{
    char *p = malloc(100);

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 'x', 100);
    host_secret_free(p);
    host_secret_free(NULL);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    snprintf(dir, sizeof dir, "/tmp/tanomu-keyring-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("keyring", NULL, NULL);
    CU_add_test(s, "S18 seal round trip and binding", test_s18_seal_round_trip_and_binding);
    CU_add_test(s, "S18 unseal refusals", test_s18_unseal_refusals);
    CU_add_test(s, "S18 rotation and stale", test_s18_rotation_stale);
    CU_add_test(s, "S18 keyring directory", test_s18_keyring_directory);
    CU_add_test(s, "S18 secret file", test_s18_secret_file);
    CU_add_test(s, "S18 S16 secret setting", test_s18_secret_setting);
    CU_add_test(s, "S18 secrets section", test_s18_secrets_section);
    CU_add_test(s, "S18 secret free", test_s18_secret_free);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    rmdir(dir);
    return failed ? 1 : 0;
}
