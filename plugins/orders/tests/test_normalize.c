/*
 * test_normalize.c - codes and search text (normalize.c): full-width and
 * half-width codes are one code, a code refuses control characters, '/'
 * and anything past 64 characters; a search in hiragana, katakana or
 * half-width katakana folds to the same text; the field checks.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "normalize.h"

static void expect_code(const char *in, const char *want)
{
    char out[ORDERS_CODE_MAX + 1];
    const char *why = orders_code_normalize(in, out);
    CU_ASSERT_PTR_NULL(why);
    CU_ASSERT_STRING_EQUAL(out, want);
}

static void expect_refused(const char *in)
{
    char out[ORDERS_CODE_MAX + 1];
    CU_ASSERT_PTR_NOT_NULL(orders_code_normalize(in, out));
}

static void test_full_width_code_equals_half_width(void)
{
    expect_code("ＡＢ－１", "AB-1");
    expect_code("AB-1", "AB-1");
    expect_code("  ab-1\t", "AB-1");
    expect_code("\xe3\x80\x80p.001_x\xe3\x80\x80", "P.001_X"); /* ideographic spaces */
    expect_code("AB\xe2\x88\x92"
                "1",
                "AB-1"); /* U+2212 minus */
    expect_code("ｐ１２３", "P123");
}

static void test_code_refusals(void)
{
    char long_code[70];
    memset(long_code, 'A', 65);
    long_code[65] = '\0';
    expect_refused("");
    expect_refused("   ");
    expect_refused("A\x01"
                   "B");
    expect_refused("A\x7f");
    expect_refused("A\xc2\x85"); /* C1 NEL */
    expect_refused("A/B");
    expect_refused("A B");
    expect_refused("-AB");
    expect_refused("..");
    expect_refused("りんご");
    expect_refused("\xff\xfe");
    expect_refused(long_code);
    long_code[64] = '\0';
    expect_code(long_code, long_code);
}

static void expect_fold(const char *in, const char *want)
{
    char *s = orders_search_fold(in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s, want);
    free(s);
}

static void test_search_fold_kana(void)
{
    expect_fold("りんご", "リンゴ");
    expect_fold("リンゴ", "リンゴ");
    expect_fold("ﾘﾝｺﾞ", "リンゴ");
    expect_fold("ＡＢ－１ Apple", "ab-1 apple");
    expect_fold("林檎", "林檎");
    expect_fold("ゝゞ", "ヽヾ");
    CU_ASSERT_PTR_NULL(orders_search_fold("\xc3\x28"));
}

static void test_nfkc_trim_and_chars(void)
{
    char *s = orders_nfkc_trim("\xe3\x80\x80 ｶﾀｶﾅ  ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s, "カタカナ");
    free(s);
    s = orders_text_trim("\xe3\x80\x80 ㈱（大）\xe3\x80\x80 ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s, "㈱（大）");
    free(s);
    s = orders_text_trim("\xe3\x80\x80");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(s, "");
    free(s);
    CU_ASSERT_EQUAL(orders_text_chars("林檎"), 2);
    CU_ASSERT_EQUAL(orders_text_chars("a\nb"), -1);
    CU_ASSERT_EQUAL(orders_text_chars("\xc3\x28"), -1);
}

static void test_field_checks(void)
{
    CU_ASSERT(orders_kana_valid("リンゴ りんご ー・"));
    CU_ASSERT(!orders_kana_valid("林檎"));
    CU_ASSERT(!orders_kana_valid("ringo"));
    CU_ASSERT(orders_postal_valid(""));
    CU_ASSERT(orders_postal_valid("100-0001"));
    CU_ASSERT(orders_postal_valid("1000001"));
    CU_ASSERT(!orders_postal_valid("100-00011"));
    CU_ASSERT(!orders_postal_valid("10a-0001"));
    CU_ASSERT(orders_phone_valid("03-1234-5678"));
    CU_ASSERT(orders_phone_valid("+81 (3) 1234 5678"));
    CU_ASSERT(!orders_phone_valid("03-1234-5678 ext"));
    CU_ASSERT(orders_email_valid("hanako@shop.example.jp"));
    CU_ASSERT(!orders_email_valid("hanako@localhost"));
    CU_ASSERT(!orders_email_valid("@shop.example"));
    CU_ASSERT(!orders_email_valid("a b@shop.example"));
    CU_ASSERT(!orders_email_valid("a@b@shop.example"));
    CU_ASSERT(!orders_email_valid("a@-shop.example"));
    CU_ASSERT(!orders_email_valid("a@shop..example"));
    CU_ASSERT(!orders_email_valid("a@shop.example."));
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("orders_normalize", NULL, NULL);
    CU_add_test(s, "full-width code equals half-width", test_full_width_code_equals_half_width);
    CU_add_test(s, "code refusals", test_code_refusals);
    CU_add_test(s, "search fold of kana", test_search_fold_kana);
    CU_add_test(s, "nfkc trim and chars", test_nfkc_trim_and_chars);
    CU_add_test(s, "field checks", test_field_checks);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
