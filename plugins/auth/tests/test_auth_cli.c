/*
 * test_auth_cli.c - `tanomu user add` (cli.c) in the testkit, through
 * tk_command_run(): the password from stdin through the tenant's policy,
 * the Argon2id hash, the insert and its audit row in one transaction
 * bound to the tenant, and the refusals.  The real-database side is
 * tests/integration_db/test_cli_commands.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

#include "password.h"

#define T "shop1"
#define NEW_ID "6f1c1f0e-1b1a-4c59-9d35-0a4b1f7c0009"
#define CANARY "Canary-Cli-5b1d-otter-glacier"

typedef struct fakedb {
    char hash[AUTH_PW_HASH_MAX];
    char roles[64];
    int inserts;
    char tenant[32];
    char email[300]; /* "(null)" when none was given */
} fakedb;

static void db(const char *tenant, const char *sql, int n, const char *const *p, tn_db_result *res,
               void *ud)
{
    fakedb *f = ud;

    if (strncmp(sql, "INSERT INTO auth_users", 22) == 0 && n == 6) {
        if (strcmp(p[1], "taken") == 0) {
            tk_db_fail(res, TN_EDB_QUERY, "23505", "duplicate key");
            return;
        }
        f->inserts++;
        snprintf(f->tenant, sizeof f->tenant, "%s", tenant ? tenant : "(none)");
        snprintf(f->roles, sizeof f->roles, "%s", p[2]);
        snprintf(f->hash, sizeof f->hash, "%s", p[4]);
        snprintf(f->email, sizeof f->email, "%s", p[5] ? p[5] : "(null)");
        tk_db_columns(res, 1, "id");
        tk_db_row(res, NEW_ID);
    }
}

static tk_kit *kit(fakedb *f)
{
    tk_kit *tk = tk_new();

    memset(f, 0, sizeof *f);
    CU_ASSERT_EQUAL_FATAL(tk_load(tk, tn_plugin_entry()), TN_OK);
    tk_enable(tk, T, 1);
    tk_db_handler(tk, db, f);
    return tk;
}

static int add(tk_kit *tk, const char *tenant, const char *login, const char *role,
               const char *stdin_data)
{
    const char *argv[] = {"add", "--tenant", tenant, "--login", login, "--role", role, NULL};

    return tk_command_run(tk, "auth", "user", 7, argv, stdin_data);
}

static void test_user_add_S12_S20(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);

    CU_ASSERT_EQUAL(add(tk, T, "admin", "tenant_admin", CANARY "\r\nsecond line ignored"), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tk_command_message(tk));
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "user admin created in tenant shop1"));
    CU_ASSERT_EQUAL(f.inserts, 1);
    /* The audit row (tx_audit), committed with the user's in tenant T. */
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 1);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->tenant, T);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->user, "cli");
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->action, "auth.user_create");
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->target_type, "user");
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->target_id, NEW_ID);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->result, "ok");
    CU_ASSERT_STRING_EQUAL(f.tenant, T); /* tx_begin(self, T): RLS sees the tenant */
    CU_ASSERT_STRING_EQUAL(f.roles, "tenant_admin");
    CU_ASSERT(strncmp(f.hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    CU_ASSERT(auth_pw_verify(f.hash, CANARY, strlen(CANARY))); /* without the CR LF */
    CU_ASSERT_FALSE(tk_log_contains(tk, CANARY));
    /* A login the tenant has already. */
    CU_ASSERT_EQUAL(add(tk, T, "taken", "staff", CANARY), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "already has a user with login taken"));
    CU_ASSERT_EQUAL(tk_audit_count(tk), 1); /* rolled back: no second row */
    tk_free(tk);
}

static void test_user_add_refusals_S12_S16(void)
{
    const char *pw_argv[] = {"add",   "--tenant",   T,      "--login", "eve", "--role",
                             "staff", "--password", CANARY, NULL};
    const char *no_sub[] = {"del", NULL};
    fakedb f;
    tk_kit *tk = kit(&f);

    CU_ASSERT_EQUAL(add(tk, T, "alice", "staff", "123456789012345\n"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "password refused (digits_only)"));
    CU_ASSERT_EQUAL(add(tk, T, "alice", "staff", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "password refused (empty)"));
    CU_ASSERT_EQUAL(add(tk, "nosuch", "alice", "staff", CANARY), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "no tenant nosuch"));
    CU_ASSERT_EQUAL(add(tk, T, "alice", "wizard", CANARY), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "--role"));
    CU_ASSERT_EQUAL(add(tk, T, "alice", "buyer", CANARY), 1); /* without --buyer */
    CU_ASSERT_EQUAL(tk_command_run(tk, "auth", "user", 9, pw_argv, CANARY), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "unknown option"));
    CU_ASSERT_EQUAL(tk_command_run(tk, "auth", "user", 1, no_sub, NULL), 1);
    CU_ASSERT_EQUAL(tk_command_run(tk, "auth", "nosuch", 0, NULL, NULL), TN_ENOTFOUND);
    CU_ASSERT_EQUAL(f.inserts, 0);
    CU_ASSERT_FALSE(tk_log_contains(tk, CANARY));
    tk_free(tk);
}

/* --email (S12): validated and stored with its domain in lower case; the
 * password may not be or contain the address or its local part. */
static void test_user_add_email_S12(void)
{
    const char *ok[] = {"add",     "--tenant", T,
                        "--login", "hs01",     "--role",
                        "staff",   "--email",  "Hana.Sato@Example.CO.JP",
                        NULL};
    const char *bad[] = {"add",    "--tenant", T,         "--login",        "hs01",
                         "--role", "staff",    "--email", "hana@localhost", NULL};
    const char *no_value[] = {"add",    "--tenant", T,         "--login", "hs01",
                              "--role", "staff",    "--email", NULL};
    fakedb f;
    tk_kit *tk = kit(&f);

    CU_ASSERT_EQUAL(add(tk, T, "hana", "staff", CANARY), 0);
    CU_ASSERT_STRING_EQUAL(f.email, "(null)");
    CU_ASSERT_EQUAL(tk_command_run(tk, "auth", "user", 9, ok, CANARY), 0);
    CU_ASSERT_STRING_EQUAL(f.email, "Hana.Sato@example.co.jp");
    CU_ASSERT_EQUAL(tk_command_run(tk, "auth", "user", 9, bad, CANARY), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "--email"));
    CU_ASSERT_EQUAL(tk_command_run(tk, "auth", "user", 8, no_value, CANARY), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "--email"));
    /* The local part (any case) inside the password. */
    CU_ASSERT_EQUAL(tk_command_run(tk, "auth", "user", 9, ok, "xx-HANA.SATO-velvet-29"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_command_message(tk), "password refused (contains_email)"));
    CU_ASSERT_EQUAL(f.inserts, 2);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("auth_cli", NULL, NULL);
    CU_add_test(s, "user add: policy, hash, tenant tx, audit (S12, S20)", test_user_add_S12_S20);
    CU_add_test(s, "user add: refusals, no password in argv (S12, S16)",
                test_user_add_refusals_S12_S16);
    CU_add_test(s, "user add --email: normalised, policy (S12)", test_user_add_email_S12);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
