/*
 * test_mail.c - the message builder and the templates (pure C): strict
 * addresses (no CR/LF or anything but a plain addr-spec reaches libcurl),
 * RFC 2047 subjects that decode back and never split a character, no
 * header but the fixed set whatever a name, subject or body holds, CRLF
 * everywhere, a base64 body (no bare "." line can end the DATA).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <sodium.h>

#include "keys.h"
#include "mail.h"
#include "template.h"
#include "waf_alert.h"

static int b64val(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

/* Decodes base64 (no whitespace) into out; the length. */
static size_t unb64(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i + 3 < n + 0 && i < n; i += 4) {
        int a = b64val(s[i]), b = b64val(s[i + 1]), c = b64val(s[i + 2]), d = b64val(s[i + 3]);
        out[o++] = (char)((a << 2) | (b >> 4));
        if (c >= 0)
            out[o++] = (char)(((b & 15) << 4) | (c >> 2));
        if (d >= 0)
            out[o++] = (char)(((c & 3) << 6) | d);
    }
    out[o] = '\0';
    return o;
}

/* The decoded text of a header's encoded words (its continuation lines
 * included); "" if the header is absent. */
static void decode_header(const char *msg, const char *name, char *out)
{
    char key[64];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *p = strstr(msg, key);
    out[0] = '\0';
    if (p != NULL)
        p += strlen(key);
    else if (strncmp(msg, key + 2, strlen(key + 2)) == 0)
        p = msg + strlen(key + 2);
    else
        return;
    size_t o = 0;
    for (;;) {
        const char *w = strstr(p, "=?UTF-8?B?");
        const char *eol = strstr(p, "\r\n");
        if (w == NULL || w > eol) {
            if (eol[2] != ' ')
                break;
            p = eol + 2;
            continue;
        }
        const char *end = strstr(w + 10, "?=");
        o += unb64(w + 10, (size_t)(end - w - 10), out + o);
        p = end + 2;
    }
}

/* Header names of the message, in order, comma-joined. */
static void header_names(const char *msg, char *out, size_t cap)
{
    const char *p = msg;
    out[0] = '\0';
    while (*p && strncmp(p, "\r\n", 2) != 0) {
        const char *eol = strstr(p, "\r\n");
        if (*p != ' ' && *p != '\t') {
            const char *colon = memchr(p, ':', (size_t)(eol - p));
            if (colon) {
                strncat(out, p,
                        (size_t)(colon - p) < cap - strlen(out) - 2 ? (size_t)(colon - p)
                                                                    : cap - strlen(out) - 2);
                strncat(out, ",", cap - strlen(out) - 1);
            }
        }
        p = eol + 2;
    }
}

static void test_addresses(void)
{
    CU_ASSERT_TRUE(mail_addr_ok("buyer@example.jp"));
    CU_ASSERT_TRUE(mail_addr_ok("a.b+tag@mail.example.co.jp"));
    CU_ASSERT_TRUE(mail_addr_ok("o'neil@xn--eckwd4c7c.jp"));
    const char *bad[] = {"",
                         "buyer",
                         "@example.jp",
                         "buyer@",
                         "buyer@localhost",
                         "buyer@example.jp\r\nRCPT TO:<evil@example.jp>",
                         "buyer@example.jp\n",
                         "buyer\r@example.jp",
                         "\"quoted\"@example.jp",
                         "buyer @example.jp",
                         "<buyer@example.jp>",
                         "Buyer <buyer@example.jp>",
                         "buyer@example.jp, evil@example.jp",
                         "a..b@example.jp",
                         ".a@example.jp",
                         "a@-example.jp",
                         "a@example..jp",
                         "a@b@example.jp",
                         "a@[127.0.0.1]",
                         "a(comment)@example.jp",
                         "\xe5\xa4\xaa\xe9\x83\x8e@example.jp",
                         "a@example.jp\x7f",
                         "a\t@example.jp",
                         NULL};
    for (int i = 0; bad[i]; i++)
        CU_ASSERT_FALSE(mail_addr_ok(bad[i]));
    char long_local[80];
    memset(long_local, 'a', 65);
    strcpy(long_local + 65, "@example.jp");
    CU_ASSERT_FALSE(mail_addr_ok(long_local));
    char mask[64];
    mail_mask("buyer@example.jp", mask, sizeof mask);
    CU_ASSERT_STRING_EQUAL(mask, "b***@example.jp");
}

static void test_subject_encoding(void)
{
    mail_buf b = {0};
    char out[1024];
    const char *subj = "【ご注文受付】注文番号 1001 のご案内、とても長い件名がここに続きます。"
                       "折り返しが必要になるほど長い件名です。";
    mail_header_encoded(&b, "Subject", subj);
    CU_ASSERT_FALSE(b.failed);
    /* Every line at most 76 characters, continuation lines start with SP. */
    int lines = 0;
    for (const char *p = b.p; *p;) {
        const char *eol = strstr(p, "\r\n");
        CU_ASSERT_PTR_NOT_NULL_FATAL(eol);
        CU_ASSERT_TRUE(eol - p <= 76);
        if (lines > 0)
            CU_ASSERT_EQUAL(*p, ' ');
        lines++;
        p = eol + 2;
    }
    CU_ASSERT_TRUE(lines > 2);
    decode_header(b.p, "Subject", out);
    CU_ASSERT_STRING_EQUAL(out, subj);
    mail_buf_free(&b);
}

static void test_no_header_injection(void)
{
    mail_buf b = {0};
    char names[512], subj[512];
    mail_msg m = {.from_addr = "noreply@shop.example.jp",
                  .from_name = "店\r\nBcc: evil@example.jp",
                  .to_addr = "buyer@example.jp",
                  .to_name = "Buyer\r\nX-Injected: 1",
                  .subject = "件名\r\nBcc: evil@example.jp\n\nbody",
                  .body = "line1\n.\nline3\r\n.\r\nQUIT\n",
                  .msg_id = "<notify.1.abcdef@shop.example.jp>",
                  .date = 1700000000};
    CU_ASSERT_EQUAL_FATAL(mail_build(&m, &b), 0);
    header_names(b.p, names, sizeof names);
    CU_ASSERT_STRING_EQUAL(names, "Date,From,To,Subject,Message-ID,MIME-Version,Content-Type,"
                                  "Content-Transfer-Encoding,Auto-Submitted,");
    CU_ASSERT_PTR_NULL(strstr(b.p, "Bcc"));
    CU_ASSERT_PTR_NULL(strstr(b.p, "X-Injected"));
    CU_ASSERT_PTR_NULL(strstr(b.p, "\r\n.\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    /* No bare LF or CR anywhere. */
    for (size_t i = 0; i < b.len; i++) {
        if (b.p[i] == '\n')
            CU_ASSERT_TRUE(i > 0 && b.p[i - 1] == '\r');
        if (b.p[i] == '\r')
            CU_ASSERT_EQUAL(b.p[i + 1], '\n');
    }
    /* The subject's line break became a space: it decodes to one line. */
    decode_header(b.p, "Subject", subj);
    CU_ASSERT_STRING_EQUAL(subj, "件名 Bcc: evil@example.jp  body");
    /* The body decodes to the text with CRLF line ends. */
    const char *body = strstr(b.p, "\r\n\r\n") + 4;
    char joined[1024], dec[1024];
    size_t o = 0;
    for (const char *p = body; *p; p++)
        if (*p != '\r' && *p != '\n')
            joined[o++] = *p;
    joined[o] = '\0';
    unb64(joined, o, dec);
    CU_ASSERT_STRING_EQUAL(dec, "line1\r\n.\r\nline3\r\n.\r\nQUIT\r\n");
    mail_buf_free(&b);
}

static void test_refusals(void)
{
    mail_buf b = {0};
    mail_msg m = {.from_addr = "noreply@shop.example.jp",
                  .to_addr = "buyer@example.jp\r\nRCPT TO:<x@example.jp>",
                  .subject = "s",
                  .body = "b",
                  .msg_id = "<a@b.jp>",
                  .date = 0};
    CU_ASSERT_EQUAL(mail_build(&m, &b), -1);
    m.to_addr = "buyer@example.jp";
    m.msg_id = "<a\r\nX: y@b.jp>";
    CU_ASSERT_EQUAL(mail_build(&m, &b), -1);
    m.msg_id = "<a@b.jp>";
    m.from_addr = "Shop <noreply@shop.example.jp>";
    CU_ASSERT_EQUAL(mail_build(&m, &b), -1);
    CU_ASSERT_PTR_NULL(b.p);
}

static void test_templates(void)
{
    const notify_template *t = tpl_find("order.placed", "ja");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    tpl_var v[] = {{"order_number", "1001"}, {"contact_name", "山田\r\nBcc: x"}};
    char *s = tpl_render(t->subject, v, 2, 0);
    CU_ASSERT_STRING_EQUAL(s, "【ご注文受付】注文番号 1001");
    free(s);
    s = tpl_render("{{contact_name}} 様 {{missing}}|", v, 2, 1);
    CU_ASSERT_STRING_EQUAL(s, "山田\nBcc: x 様 |");
    free(s);
    s = tpl_render("{{contact_name}}", v, 2, 0);
    CU_ASSERT_STRING_EQUAL(s, "山田 Bcc: x");
    free(s);
    CU_ASSERT_STRING_EQUAL(tpl_find("order.placed", "en")->lang, "en");
    CU_ASSERT_STRING_EQUAL(tpl_find("order.placed", "fr")->lang, "ja");
    CU_ASSERT_PTR_NULL(tpl_find("no.such", "ja"));
    /* Invalid UTF-8 becomes U+FFFD, C1 controls go. */
    char *c = mail_clean_text("a\xff"
                              "b\xc2\x85"
                              "c",
                              0);
    CU_ASSERT_STRING_EQUAL(c, "a\xef\xbf\xbd"
                              "bc");
    free(c);
}

/* The Standard Webhooks reference vector (the spec's libraries test it). */
static void test_webhook_signature(void)
{
    unsigned char key[64];
    size_t key_len = 0;
    char sig[128];
    const char *body = "{\"test\": 2432232314}";

    CU_ASSERT_EQUAL_FATAL(sodium_base642bin(key, sizeof key, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 32,
                                            NULL, &key_len, NULL, sodium_base64_VARIANT_ORIGINAL),
                          0);
    CU_ASSERT_EQUAL(notify_webhook_sign(key, key_len, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                                        body, strlen(body), sig, sizeof sig),
                    0);
    CU_ASSERT_STRING_EQUAL(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* A changed body, id or timestamp signs differently. */
    char other[128];
    notify_webhook_sign(key, key_len, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331", body,
                        strlen(body), other, sizeof other);
    CU_ASSERT_STRING_NOT_EQUAL(sig, other);
    CU_ASSERT_EQUAL(notify_webhook_sign(key, key_len, "i", "t", "b", 1, other, 10), -1);
}

/* waf.alert: numbers only reach the variables (rule IDs, counts, families),
 * never a string of the payload; 17 rules or more: the first 16. */
static void test_waf_summary(void)
{
    json_t *p = json_loads("{\"tenant\":\"evil\",\"interval_s\":90000,\"blocked\":3,"
                           "\"detected\":-2,\"other_rule_hits\":\"x\",\"rules\":["
                           "{\"id\":942100,\"count\":2,\"value\":\"' OR 1=1\"},"
                           "{\"id\":\"941100' OR 1=1\",\"count\":5},"
                           "{\"id\":941100,\"count\":1},{\"id\":100001,\"count\":4},"
                           "{\"id\":942190,\"count\":1}]}",
                           0, NULL);
    json_t *v = json_object();
    char iv[24];
    const char *k;
    json_t *val;

    CU_ASSERT_FATAL(p != NULL && v != NULL);
    CU_ASSERT_EQUAL(notify_waf_vars(p, v, iv, sizeof iv), 0);
    CU_ASSERT_STRING_EQUAL(iv, "86400"); /* clamped */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "blocked")), "3");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "detected")), "0");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "other_rule_hits")), "0");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "rules")),
                           "942100 (sqli): 2\n941100 (xss): 1\n100001 (other): 4\n"
                           "942190 (sqli): 1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "families")),
                           "sqli: 3\nxss: 1\nother: 4");
    json_object_foreach(v, k, val)
    {
        CU_ASSERT_PTR_NULL(strstr(json_string_value(val), "OR 1=1"));
        CU_ASSERT_PTR_NULL(strstr(json_string_value(val), "evil"));
    }
    json_decref(p);
    json_decref(v);

    /* 20 rules: 16 listed; no rules at all: "-" */
    p = json_pack("{s:[]}", "rules");
    for (int i = 0; i < 20; i++)
        json_array_append_new(json_object_get(p, "rules"),
                              json_pack("{s:i,s:i}", "id", 942000 + i, "count", 1));
    v = json_object();
    CU_ASSERT_EQUAL(notify_waf_vars(p, v, iv, sizeof iv), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "families")), "sqli: 16");
    json_decref(p);
    json_decref(v);
    p = json_object();
    v = json_object();
    CU_ASSERT_EQUAL(notify_waf_vars(p, v, iv, sizeof iv), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "rules")), "-");
    CU_ASSERT_STRING_EQUAL(iv, "0");
    json_decref(p);
    json_decref(v);
}

static void test_line_keys(void)
{
    char k1[37], k2[37], k3[37], k4[37];
    const char *u1 = "U11111111111111111111111111111111", *u2 = "Uaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    CU_ASSERT_TRUE(notify_line_user_ok(u1));
    CU_ASSERT_FALSE(notify_line_user_ok("U1111"));
    CU_ASSERT_FALSE(notify_line_user_ok("U1111111111111111111111111111111\n"));
    CU_ASSERT_FALSE(notify_line_user_ok("UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    notify_line_retry_key("a", 42, u1, k1);
    notify_line_retry_key("a", 42, u1, k2);
    notify_line_retry_key("a", 42, u2, k3);
    notify_line_retry_key("b", 42, u1, k4);
    CU_ASSERT_STRING_EQUAL(k1, k2); /* a retry reuses it */
    CU_ASSERT_STRING_NOT_EQUAL(k1, k3);
    CU_ASSERT_STRING_NOT_EQUAL(k1, k4);
    CU_ASSERT_EQUAL(strlen(k1), 36);
    CU_ASSERT_EQUAL(k1[14], '4');
    CU_ASSERT_PTR_NOT_NULL(strchr("89ab", k1[19]));
    char h1[65], h2[65];
    notify_hash_addr("a", "Buyer@Example.jp", h1);
    notify_hash_addr("a", "buyer@example.jp", h2);
    CU_ASSERT_STRING_EQUAL(h1, h2);
    notify_hash_addr("b", "buyer@example.jp", h2);
    CU_ASSERT_STRING_NOT_EQUAL(h1, h2);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("notify_mail", NULL, NULL);
    CU_add_test(s, "addresses", test_addresses);
    CU_add_test(s, "subject_encoding", test_subject_encoding);
    CU_add_test(s, "no_header_injection", test_no_header_injection);
    CU_add_test(s, "refusals", test_refusals);
    CU_add_test(s, "templates", test_templates);
    CU_add_test(s, "webhook_signature", test_webhook_signature);
    CU_add_test(s, "line_keys", test_line_keys);
    CU_add_test(s, "waf_summary", test_waf_summary);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
