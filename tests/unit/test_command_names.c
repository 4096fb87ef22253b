/*
 * test_command_names.c - the CLI command name rules (host/core/names.c),
 * the one copy the host's command_add, the testkit's and `tanomu`'s
 * dispatch share: [a-z][a-z0-9-]{0,31}, and the built-in commands, which a
 * plugin can never take.
 */
#include <string.h>

#include <CUnit/Basic.h>

#include "names.h"

static void test_command_name_rule(void)
{
    char max[HOST_COMMAND_NAME_MAX + 2];

    CU_ASSERT_TRUE(host_command_name_valid("user"));
    CU_ASSERT_TRUE(host_command_name_valid("a"));
    CU_ASSERT_TRUE(host_command_name_valid("data-export2"));
    CU_ASSERT_FALSE(host_command_name_valid(NULL));
    CU_ASSERT_FALSE(host_command_name_valid(""));
    CU_ASSERT_FALSE(host_command_name_valid("2fa"));
    CU_ASSERT_FALSE(host_command_name_valid("-x"));
    CU_ASSERT_FALSE(host_command_name_valid("User"));
    CU_ASSERT_FALSE(host_command_name_valid("user_add"));
    CU_ASSERT_FALSE(host_command_name_valid("user add"));
    memset(max, 'a', HOST_COMMAND_NAME_MAX);
    max[HOST_COMMAND_NAME_MAX] = '\0';
    CU_ASSERT_TRUE(host_command_name_valid(max));
    max[HOST_COMMAND_NAME_MAX] = 'a';
    max[HOST_COMMAND_NAME_MAX + 1] = '\0';
    CU_ASSERT_FALSE(host_command_name_valid(max));
}

static void test_command_builtins(void)
{
    static const char *const own[] = {"serve",  "check", "reload", "plugins", "plugin",  "migrate",
                                      "events", "audit", "jobs",   "secret",  "version", "help"};

    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        CU_ASSERT_TRUE(host_command_name_builtin(own[i]));
    CU_ASSERT_FALSE(host_command_name_builtin("user"));
    CU_ASSERT_FALSE(host_command_name_builtin("Serve"));
    CU_ASSERT_FALSE(host_command_name_builtin("serve2"));
    CU_ASSERT_FALSE(host_command_name_builtin(""));
    CU_ASSERT_FALSE(host_command_name_builtin(NULL));
}

int main(void)
{
    CU_pSuite s;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("command names", NULL, NULL);
    CU_add_test(s, "command name rule [a-z][a-z0-9-]{0,31}", test_command_name_rule);
    CU_add_test(s, "built-in command names", test_command_builtins);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
