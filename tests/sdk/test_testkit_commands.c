/*
 * test_testkit_commands.c - ABI 1.2 CLI commands in the testkit
 * (command_add, command_done, tk_command_run), with the host's rules:
 * names, built-ins and taken names refused at init() with last_error,
 * stdin only for a command that asked, the end by return or by
 * command_done (at once or later, after pending work), and a run that
 * never ends reported as such.  The host's side is
 * tests/integration_db/test_cli_commands.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

static const tn_api *api;

static struct {
    int builtin_rc, again_rc, badname_rc, badflags_rc, late_rc, other_rc;
    char builtin_err[256], other_err[256];
} got;

static tn_status echo(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    char msg[128];

    (void)ud;
    got.late_rc = api->command_add(self, "late", "", 0, echo, NULL); /* not from init() */
    snprintf(msg, sizeof msg, "argc %d first %s stdin %zu%s", a->argc,
             a->argc > 0 ? a->argv[0] : "-", a->stdin_len, a->argv[a->argc] ? " unterminated" : "");
    api->command_done(cmd, 1, msg);
    return TN_ERROR; /* the first end wins */
}

static tn_status plain(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    (void)self, (void)cmd, (void)ud;
    return a->stdin_data == NULL && a->size == sizeof *a ? TN_CONTINUE : TN_ERROR;
}

static void work(void *ud)
{
    (void)ud;
}

static void work_done(void *ud, int status)
{
    api->command_done(ud, status == TN_OK, "done later");
}

static tn_status later(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    (void)a, (void)ud;
    return api->work_queue(self, work, work_done, cmd) == TN_OK ? TN_SUSPEND : TN_ERROR;
}

static tn_status never(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    (void)self, (void)cmd, (void)a, (void)ud;
    return TN_SUSPEND;
}

static tn_status fails(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    (void)cmd, (void)a, (void)ud;
    api->command_add(self, "late", "", 0, plain, NULL); /* fails: sets last_error */
    return TN_ERROR;
}

static int init(tn_plugin *self, const tn_api *a)
{
    api = a;
    got.builtin_rc = api->command_add(self, "jobs", "", 0, plain, NULL);
    snprintf(got.builtin_err, sizeof got.builtin_err, "%s", api->last_error(self));
    if (api->command_add(self, "echo", "ARGS...", TN_COMMAND_STDIN, echo, NULL) != TN_OK ||
        api->command_add(self, "plain", "", 0, plain, NULL) != TN_OK ||
        api->command_add(self, "later", "", 0, later, NULL) != TN_OK ||
        api->command_add(self, "never", "", 0, never, NULL) != TN_OK ||
        api->command_add(self, "fails", "", 0, fails, NULL) != TN_OK)
        return -1;
    got.again_rc = api->command_add(self, "echo", "", 0, plain, NULL);
    got.badname_rc = api->command_add(self, "Bad name", "", 0, plain, NULL);
    got.badflags_rc = api->command_add(self, "flags", "", 8, plain, NULL);
    return 0;
}

static int init_other(tn_plugin *self, const tn_api *a)
{
    got.other_rc = a->command_add(self, "echo", "", 0, plain, NULL);
    snprintf(got.other_err, sizeof got.other_err, "%s", a->last_error(self));
    return 0;
}

static const tn_plugin_desc desc = {.size = sizeof(tn_plugin_desc),
                                    .abi_major = TN_SDK_ABI_MAJOR,
                                    .abi_minor = TN_SDK_ABI_MINOR,
                                    .name = "cmdy",
                                    .version = "0.1",
                                    .init = init};

static const tn_plugin_desc other = {.size = sizeof(tn_plugin_desc),
                                     .abi_major = TN_SDK_ABI_MAJOR,
                                     .abi_minor = TN_SDK_ABI_MINOR,
                                     .name = "other",
                                     .version = "0.1",
                                     .init = init_other};

static void test_registration_rules(void)
{
    tk_kit *tk = tk_new();

    memset(&got, 0, sizeof got);
    CU_ASSERT_FATAL(tk_load(tk, &desc) == TN_OK);
    CU_ASSERT_FATAL(tk_load(tk, &other) == TN_OK);
    CU_ASSERT_EQUAL(got.builtin_rc, TN_EEXIST);
    CU_ASSERT_STRING_EQUAL(got.builtin_err, "command_add: 'jobs' is a built-in command");
    CU_ASSERT_EQUAL(got.again_rc, TN_EEXIST);
    CU_ASSERT_EQUAL(got.badname_rc, TN_EINVAL);
    CU_ASSERT_EQUAL(got.badflags_rc, TN_EINVAL);
    CU_ASSERT_EQUAL(got.other_rc, TN_EEXIST);
    CU_ASSERT_STRING_EQUAL(got.other_err, "command_add: 'echo' is taken by plugin cmdy");
    tk_free(tk);
}

static void test_runs_and_ends(void)
{
    const char *argv[] = {"x", "--y", NULL};
    tk_kit *tk = tk_new();

    memset(&got, 0, sizeof got);
    CU_ASSERT_FATAL(tk_load(tk, &desc) == TN_OK);
    CU_ASSERT_EQUAL(tk_command_run(tk, "cmdy", "echo", 2, argv, "secret\n"), 0);
    CU_ASSERT_STRING_EQUAL(tk_command_message(tk), "argc 2 first x stdin 7");
    CU_ASSERT_EQUAL(got.late_rc, TN_ESTATE);
    CU_ASSERT_EQUAL(tk_command_run(tk, NULL, "echo", 0, NULL, NULL), 0);
    CU_ASSERT_STRING_EQUAL(tk_command_message(tk), "argc 0 first - stdin 0");
    CU_ASSERT_EQUAL(tk_command_run(tk, NULL, "plain", 1, argv, "ignored"), 0); /* no stdin */
    CU_ASSERT_PTR_NULL(tk_command_message(tk));
    CU_ASSERT_EQUAL(tk_command_run(tk, NULL, "later", 0, NULL, NULL), 0);
    CU_ASSERT_STRING_EQUAL(tk_command_message(tk), "done later");
    CU_ASSERT_EQUAL(tk_command_run(tk, NULL, "fails", 0, NULL, NULL), 1);
    CU_ASSERT_STRING_EQUAL(tk_command_message(tk), "command_add: only from init()");
    CU_ASSERT_EQUAL(tk_command_run(tk, NULL, "never", 0, NULL, NULL), TN_ESTATE);
    CU_ASSERT_EQUAL(tk_command_run(tk, "other", "echo", 0, NULL, NULL), TN_ENOTFOUND);
    CU_ASSERT_EQUAL(tk_command_run(tk, NULL, "nosuch", 0, NULL, NULL), TN_ENOTFOUND);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("testkit_commands", NULL, NULL);
    CU_add_test(s, "command_add: names, built-ins, taken, init only", test_registration_rules);
    CU_add_test(s, "tk_command_run: args, stdin, ends", test_runs_and_ends);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
