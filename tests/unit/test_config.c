/*
 * test_config.c - configuration and plugin loading as `tanomu check` and a
 * reload see them: errors carry file:line, unknown keys are refused,
 * per-tenant plugin settings are validated, and the loader refuses bad
 * plugins with one line naming them (P3, S3).
 *
 * Uses the test plugins in $TANOMU_BUILD_DIR/test-plugins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "config.h"
#include "errors.h"
#include "generation.h"

static char dir[256];
static char plugin_dir[512];

static void write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void write_main(const char *load, const char *extra)
{
    char text[2048];

    snprintf(text, sizeof text,
             "server: { listen = [\"127.0.0.1:1\"]; admin_listen = \"\"; };\n"
             "plugins: { dir = \"%s\"; load = [%s]; };\n%s",
             plugin_dir, load, extra ? extra : "");
    write_file("tanomu.conf", text);
}

static void clear_tenants(void)
{
    char cmd[600];

    snprintf(cmd, sizeof cmd, "%s/tenants", dir);
    /* only our own temporary files */
    for (int i = 0; i < 4; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/t%d.conf", cmd, i);
        unlink(p);
    }
}

/* Loads the whole generation (strict, like check and reload). */
static int load(host_errors *errs)
{
    char path[512];
    host_snapshot snap;
    host_worker w;
    uv_loop_t loop;
    int rc;

    memset(&w, 0, sizeof w);
    uv_loop_init(&loop);
    snprintf(path, sizeof path, "%s/tanomu.conf", dir);
    rc = host_config_snapshot(path, &snap, errs);
    if (rc == 0)
        rc = host_generation_load(&w, &loop, &snap, 1, errs);
    host_generation_unload(&w);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    host_snapshot_free(&snap);
    return rc;
}

static int has_error(const host_errors *e, const char *needle)
{
    for (int i = 0; i < e->count; i++)
        if (strstr(e->items[i], needle))
            return 1;
    return 0;
}

static void dump(const host_errors *e)
{
    for (int i = 0; i < e->count; i++)
        fprintf(stderr, "    | %s\n", e->items[i]);
}

static int setup(void)
{
    const char *b = getenv("TANOMU_BUILD_DIR");
    char t[300];

    snprintf(dir, sizeof dir, "/tmp/tanomu-test-config-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(t, sizeof t, "%s/tenants", dir);
    mkdir(t, 0700);
    snprintf(plugin_dir, sizeof plugin_dir, "%s/test-plugins", b ? b : "build");
    return 0;
}

static int teardown(void)
{
    char p[400];

    clear_tenants();
    snprintf(p, sizeof p, "%s/tanomu.conf", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/tenants", dir);
    rmdir(p);
    rmdir(dir);
    return 0;
}

static void test_valid_configuration_loads(void)
{
    host_errors e;

    clear_tenants();
    write_main("\"typed\"", NULL);
    write_file("tenants/t0.conf",
               "tenant: { id = \"acme\"; hosts = [\"acme.example\"];\n"
               "  features: { typed: { enabled = true; name = \"x\"; count = 4; }; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_EQUAL(load(&e), 0);
    dump(&e);
    CU_ASSERT_EQUAL(e.count, 0);
    host_errors_free(&e);
}

/* Parses tanomu.conf alone; returns host_config_parse's result. */
static int parse_main(host_config *conf, host_errors *errs)
{
    char path[512];
    host_snapshot snap;
    int rc;

    snprintf(path, sizeof path, "%s/tanomu.conf", dir);
    memset(conf, 0, sizeof *conf);
    rc = host_config_snapshot(path, &snap, errs);
    if (rc == 0)
        rc = host_config_parse(&snap, conf, errs);
    host_snapshot_free(&snap);
    return rc;
}

static void test_send_timeout_setting(void)
{
    host_config conf;
    host_errors e;

    clear_tenants();
    write_main("", NULL);
    host_errors_init(&e);
    CU_ASSERT_EQUAL(parse_main(&conf, &e), 0);
    CU_ASSERT_EQUAL(conf.server.limits.send_timeout_ms, 60000); /* nginx's default */
    host_config_free(&conf);
    host_errors_free(&e);

    write_file("tanomu.conf",
               "server: { admin_listen = \"\"; limits: { send_timeout_ms = 2500; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_EQUAL(parse_main(&conf, &e), 0);
    dump(&e);
    CU_ASSERT_EQUAL(conf.server.limits.send_timeout_ms, 2500);
    host_config_free(&conf);
    host_errors_free(&e);

    write_file("tanomu.conf",
               "server: { admin_listen = \"\"; limits: { send_timeout_ms = 10; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(parse_main(&conf, &e), 0);
    CU_ASSERT_TRUE(has_error(&e, "send_timeout_ms"));
    host_config_free(&conf);
    host_errors_free(&e);
}

static void test_syntax_error_has_file_and_line(void)
{
    host_errors e;
    char want[400];

    clear_tenants();
    write_main("\"typed\"", NULL);
    write_file("tenants/t0.conf", "tenant: {\n  id = \"acme\";\n  hosts = [\"a.example\"\n};\n");
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(load(&e), 0);
    snprintf(want, sizeof want, "%s/tenants/t0.conf:4:", dir);
    CU_ASSERT_TRUE(has_error(&e, want));
    if (!has_error(&e, want))
        dump(&e);
    host_errors_free(&e);
}

static void test_unknown_keys_refused_with_line(void)
{
    host_errors e;
    char want[400];

    clear_tenants();
    write_main("\"typed\"", "logging: { level = \"info\";\n  acess = true; };\n");
    write_file("tenants/t0.conf", "tenant: { id = \"acme\"; hosts = [\"acme.example\"];\n"
                                  "  features: { typed: { enabled = true; name = \"x\";\n"
                                  "    colour = \"red\"; }; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(load(&e), 0);
    snprintf(want, sizeof want, "%s/tanomu.conf:4: unknown setting 'logging.acess'", dir);
    CU_ASSERT_TRUE(has_error(&e, want));
    snprintf(want, sizeof want, "%s/tenants/t0.conf:3: unknown setting 'colour'", dir);
    CU_ASSERT_TRUE(has_error(&e, want));
    if (e.count < 2)
        dump(&e);
    host_errors_free(&e);
}

static void test_plugin_schema_errors(void)
{
    host_errors e;
    char want[400];

    clear_tenants();
    write_main("\"typed\"", NULL);
    write_file("tenants/t0.conf", "tenant: { id = \"acme\"; hosts = [\"acme.example\"];\n"
                                  "  features: { typed: { enabled = true;\n"
                                  "    count = 99;\n"       /* out of bounds: line 3 */
                                  "    ratio = \"half\";\n" /* wrong type: line 4 */
                                  "  }; }; };\n");          /* name (required) missing */
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(load(&e), 0);
    snprintf(want, sizeof want, "t0.conf:3: typed.count: out of bounds");
    CU_ASSERT_TRUE(has_error(&e, want));
    CU_ASSERT_TRUE(has_error(&e, "t0.conf:4: typed.ratio must be a float"));
    CU_ASSERT_TRUE(has_error(&e, "typed.name is required"));
    dump(&e);
    host_errors_free(&e);
}

static void test_plugin_check_error_at_key_line(void)
{
    host_errors e;

    clear_tenants();
    write_main("\"typed\"", NULL);
    write_file("tenants/t0.conf", "tenant: { id = \"acme\"; hosts = [\"acme.example\"];\n"
                                  "  features: { typed: { enabled = true; name = \"x\";\n"
                                  "    verbose = true;\n"
                                  "    count = 2;\n"
                                  "  }; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(load(&e), 0);
    CU_ASSERT_TRUE(has_error(&e, "t0.conf:4: typed.count: count must be at least 5"));
    dump(&e);
    host_errors_free(&e);
}

static void test_disabled_feature_needs_no_required_keys(void)
{
    host_errors e;

    clear_tenants();
    write_main("\"typed\"", NULL);
    write_file("tenants/t0.conf", "tenant: { id = \"acme\"; hosts = [\"acme.example\"];\n"
                                  "  features: { typed: { enabled = false; }; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_EQUAL(load(&e), 0);
    dump(&e);
    host_errors_free(&e);
}

static void test_feature_for_unloaded_plugin_refused(void)
{
    host_errors e;

    clear_tenants();
    write_main("\"typed\"", NULL);
    write_file("tenants/t0.conf", "tenant: { id = \"acme\"; hosts = [\"acme.example\"];\n"
                                  "  features: { payments: { enabled = true; }; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(load(&e), 0);
    CU_ASSERT_TRUE(has_error(&e, "t0.conf:2: feature 'payments': no such plugin is loaded"));
    host_errors_free(&e);
}

static void test_duplicate_host_and_bad_tenant_id(void)
{
    host_errors e;

    clear_tenants();
    write_main("", NULL);
    write_file("tenants/t0.conf", "tenant: { id = \"a\"; hosts = [\"same.example\"]; };\n");
    write_file("tenants/t1.conf", "tenant: { id = \"B/../x\"; hosts = [\"same.example\"]; };\n");
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(load(&e), 0);
    CU_ASSERT_TRUE(has_error(&e, "t1.conf:1: 'tenant.id' must match"));
    CU_ASSERT_TRUE(has_error(&e, "host 'same.example' is also used by tenant 'a'"));
    host_errors_free(&e);
}

/* One refused plugin, one line that names it, for each way to be wrong. */
static void expect_refused(const char *name, const char *needle)
{
    host_errors e;
    char load_list[64];

    clear_tenants();
    snprintf(load_list, sizeof load_list, "\"%s\"", name);
    write_main(load_list, NULL);
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(load(&e), 0);
    CU_ASSERT_TRUE(has_error(&e, needle));
    if (!has_error(&e, needle)) {
        fprintf(stderr, "\n    expected '%s' for %s, got:\n", needle, name);
        dump(&e);
    }
    host_errors_free(&e);
}

static void test_loader_refusals(void)
{
    char want[64];

    /* bad_major keeps the minor of the headers it was built with */
    snprintf(want, sizeof want, "plugin bad_major: built for SDK ABI %d.%d, host has %d.%d",
             TN_SDK_ABI_MAJOR + 1, TN_SDK_ABI_MINOR, TN_SDK_ABI_MAJOR, TN_SDK_ABI_MINOR);
    expect_refused("bad_major", want);
    snprintf(want, sizeof want, "plugin newer_minor: built for SDK ABI %d.%d, host has %d.%d",
             TN_SDK_ABI_MAJOR, TN_SDK_ABI_MINOR + 1, TN_SDK_ABI_MAJOR, TN_SDK_ABI_MINOR);
    expect_refused("newer_minor", want);
    expect_refused("no_entry", "plugin no_entry: no tn_plugin_entry symbol");
    expect_refused("wrong_name", "plugin wrong_name: descriptor names it");
    expect_refused("needs_missing", "plugin needs_missing: depends on 'nonexistent'");
    expect_refused("nosuchplugin", "plugin nosuchplugin: no file");
    /* S3: a name that is not a plain name never reaches dlopen. */
    expect_refused("../test-plugins/typed", "entries must be plugin names");
    expect_refused("typed\", \"typed", "plugin typed: listed twice");
    expect_refused("cycle_a\", \"cycle_b", "before/after cycle among cycle_a, cycle_b");
}

static void test_old_abi_descriptor_still_loads(void)
{
    host_errors e;

    clear_tenants();
    write_main("\"old_abi\"", NULL);
    host_errors_init(&e);
    CU_ASSERT_EQUAL(load(&e), 0);
    dump(&e);
    host_errors_free(&e);
}

/* `tanomu check` in a build step: the database URL files are not read
 * (their paths are kept, to be reported "not checked"); a server's parse
 * still reads them and fails without them (P3). */
static void test_url_files_unchecked_for_check(void)
{
    static const char conf_text[] =
        "server: { admin_listen = \"\"; };\n"
        "database: { url_file = \"pg/app.url\"; owner_url_file = \"pg/owner.url\"; };\n";
    char path[512];
    host_snapshot snap;
    host_config conf;
    host_errors e;

    clear_tenants();
    write_file("tanomu.conf", conf_text);
    snprintf(path, sizeof path, "%s/tanomu.conf", dir);
    host_errors_init(&e);
    CU_ASSERT_EQUAL_FATAL(host_config_snapshot(path, &snap, &e), 0);
    snap.url_files_unchecked = 1;
    CU_ASSERT_EQUAL(host_config_parse(&snap, &conf, &e), 0);
    dump(&e);
    CU_ASSERT_PTR_NULL(conf.server.db.url);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(conf.server.db.url_file_unchecked ? conf.server.db.url_file_unchecked : "",
               "pg/app.url"));
    CU_ASSERT_PTR_NOT_NULL(strstr(conf.server.db.owner_url_file_unchecked
                                      ? conf.server.db.owner_url_file_unchecked
                                      : "",
                                  "pg/owner.url"));
    host_config_free(&conf);
    snap.url_files_unchecked = 0;
    CU_ASSERT_NOT_EQUAL(host_config_parse(&snap, &conf, &e), 0);
    CU_ASSERT_TRUE(has_error(&e, "'url_file': cannot read"));
    CU_ASSERT_TRUE(has_error(&e, "'owner_url_file': cannot read"));
    host_config_free(&conf);
    host_snapshot_free(&snap);
    host_errors_free(&e);
}

/* plugins.NAME groups sit beside dir and load (bound to the plugins'
 * schemas later); a plain unknown key there is still refused. */
static void test_plugins_group_takes_plugin_sections(void)
{
    host_config conf;
    host_errors e;

    clear_tenants();
    write_file("tanomu.conf", "server: { admin_listen = \"\"; };\n"
                              "plugins: { load = []; mailer: { relay = \"r:25\"; }; };\n");
    host_errors_init(&e);
    CU_ASSERT_EQUAL(parse_main(&conf, &e), 0);
    dump(&e);
    CU_ASSERT_PTR_NOT_NULL(conf.main_cfg);
    host_config_free(&conf);
    host_errors_free(&e);

    write_file("tanomu.conf", "server: { admin_listen = \"\"; };\n"
                              "plugins: { load = []; colour = \"red\"; };\n");
    host_errors_init(&e);
    CU_ASSERT_NOT_EQUAL(parse_main(&conf, &e), 0);
    CU_ASSERT_TRUE(has_error(&e, "unknown setting 'plugins.colour'"));
    host_config_free(&conf);
    host_errors_free(&e);
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("config", setup, teardown);
    CU_add_test(s, "valid configuration loads", test_valid_configuration_loads);
    CU_add_test(s, "syntax error has file and line", test_syntax_error_has_file_and_line);
    CU_add_test(s, "send_timeout_ms: default, value, lower bound", test_send_timeout_setting);
    CU_add_test(s, "unknown keys refused with line", test_unknown_keys_refused_with_line);
    CU_add_test(s, "plugin schema errors: bounds, type, required (P3)", test_plugin_schema_errors);
    CU_add_test(s, "plugin check() error at the key's line", test_plugin_check_error_at_key_line);
    CU_add_test(s, "disabled feature needs no required keys",
                test_disabled_feature_needs_no_required_keys);
    CU_add_test(s, "feature for an unloaded plugin refused",
                test_feature_for_unloaded_plugin_refused);
    CU_add_test(s, "duplicate host and bad tenant id (S21)", test_duplicate_host_and_bad_tenant_id);
    CU_add_test(s, "loader refusals: ABI, symbol, name, deps, S3 names, cycle",
                test_loader_refusals);
    CU_add_test(s, "older-minor descriptor still loads", test_old_abi_descriptor_still_loads);
    CU_add_test(s, "check: database URL files not read, paths kept (P3)",
                test_url_files_unchecked_for_check);
    CU_add_test(s, "plugins.NAME groups beside dir and load",
                test_plugins_group_takes_plugin_sections);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
