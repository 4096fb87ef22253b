/*
 * test_rls_lint.c - the textual lint `tanomu check` runs on plugin
 * migrations (S21; host/core/rls_lint.c): a table created with tenant_id
 * needs ENABLE and FORCE ROW LEVEL SECURITY somewhere in the plugin's
 * files; comments, strings and function bodies do not count.
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "rls_lint.h"

static char seen[1024];

static void rec(void *ctx, const char *file, int line, const char *table, unsigned missing)
{
    size_t n = strlen(seen);
    (void)ctx;
    snprintf(seen + n, sizeof seen - n, "%s%s:%d:%s:%u", n ? " " : "", file, line, table, missing);
}

static int lint1(const char *sql)
{
    host_sql_file f = {"0001_x.sql", sql};
    seen[0] = '\0';
    return host_rls_lint(&f, 1, rec, NULL);
}

static void test_s21_forced_table_passes(void)
{
    CU_ASSERT_EQUAL(lint1("CREATE TABLE notes (id bigserial, tenant_id text NOT NULL);\n"
                          "ALTER TABLE notes ENABLE ROW LEVEL SECURITY;\n"
                          "alter table  ONLY public.notes\n force row level security;\n"),
                    0);
}

static void test_s21_missing_force_reported_with_line(void)
{
    CU_ASSERT_EQUAL(lint1("-- a comment\n\nCREATE TABLE IF NOT EXISTS public.\"Orders\" (\n"
                          "  tenant_id text);\nALTER TABLE orders ENABLE ROW LEVEL SECURITY;\n"),
                    1);
    CU_ASSERT_STRING_EQUAL(seen, "0001_x.sql:3:orders:2");
}

static void test_s21_missing_both_reported(void)
{
    CU_ASSERT_EQUAL(lint1("create unlogged table t (x int, tenant_id text);"), 1);
    CU_ASSERT_STRING_EQUAL(seen, "0001_x.sql:1:t:3");
}

static void test_tables_without_tenant_id_ignored(void)
{
    CU_ASSERT_EQUAL(lint1("CREATE TABLE t (x int, note text DEFAULT 'tenant_id');\n"
                          "CREATE INDEX ON t (x);\n"),
                    0);
}

static void test_comments_strings_and_bodies_do_not_count(void)
{
    CU_ASSERT_EQUAL(lint1("CREATE TABLE t (tenant_id text);\n"
                          "-- ALTER TABLE t ENABLE ROW LEVEL SECURITY;\n"
                          "/* ALTER TABLE t FORCE ROW LEVEL SECURITY; */\n"
                          "SELECT 'ALTER TABLE t FORCE ROW LEVEL SECURITY';\n"
                          "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $body$\n"
                          "  ALTER TABLE t ENABLE ROW LEVEL SECURITY $body$;\n"),
                    1);
    CU_ASSERT_STRING_EQUAL(seen, "0001_x.sql:1:t:3");
}

static void test_alter_in_a_later_file_counts(void)
{
    host_sql_file f[2] = {{"0001_a.sql", "CREATE TABLE t (tenant_id text);"},
                          {"0002_b.sql", "ALTER TABLE t ENABLE ROW LEVEL SECURITY;"
                                         "ALTER TABLE IF EXISTS t FORCE ROW LEVEL SECURITY;"}};
    seen[0] = '\0';
    CU_ASSERT_EQUAL(host_rls_lint(f, 2, rec, NULL), 0);
    CU_ASSERT_EQUAL(host_rls_lint(f, 1, rec, NULL), 1);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("rls_lint", NULL, NULL);
    CU_add_test(s, "S21 forced table passes", test_s21_forced_table_passes);
    CU_add_test(s, "S21 missing FORCE reported with its line",
                test_s21_missing_force_reported_with_line);
    CU_add_test(s, "S21 missing both reported", test_s21_missing_both_reported);
    CU_add_test(s, "tables without tenant_id ignored", test_tables_without_tenant_id_ignored);
    CU_add_test(s, "comments, strings, bodies do not count",
                test_comments_strings_and_bodies_do_not_count);
    CU_add_test(s, "ALTER in a later file counts", test_alter_in_a_later_file_counts);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
