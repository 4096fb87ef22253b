/*
 * test_request.c - the request object's guards: header setting (S7),
 * percent-decoding, cookies, query parameters, and the JSON escaping used
 * by every log line (S16 keeps logs parseable).
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "buf.h"
#include "request.h"

static tn_request r;

static void add_header(const char *name, const char *value)
{
    host_buf_append(&r.hdrbuf, name, strlen(name) + 1);
    host_buf_append(&r.hdrbuf, value, strlen(value) + 1);
}

static int setup(void)
{
    host_request_init(&r);
    add_header("Host", "demo.localhost");
    add_header("Cookie", "a=1; sid=\"abc\"; theme=dark");
    add_header("X-Empty", "");
    host_request_index_headers(&r);
    r.query = "q=a%20b+c&flag&bad=%zz&nul=%00&last=%E3%81%82";
    return 0;
}

static int teardown(void)
{
    host_request_free(&r);
    return 0;
}

static void test_header_lookup_is_case_insensitive(void)
{
    CU_ASSERT_STRING_EQUAL(host_req_header(&r, "host"), "demo.localhost");
    CU_ASSERT_STRING_EQUAL(host_req_header(&r, "x-empty"), "");
    CU_ASSERT_PTR_NULL(host_req_header(&r, "Authorization"));
}

static int join_headers(const char *name, const char *value, void *ud)
{
    host_buf *b = ud;
    host_buf_printf(b, "%s%s=%s", b->len ? "|" : "", name, value);
    return strcmp(name, "Cookie") == 0 && strcmp(value, "stop") == 0 ? 42 : 0;
}

/* Every header in arrival order, as the client wrote its name, for a WAF
 * (issue 7 §8); the walk stops at the first non-zero return. */
static void test_header_each_in_arrival_order(void)
{
    host_buf b;

    host_buf_init(&b);
    CU_ASSERT_EQUAL(host_req_header_each(&r, join_headers, &b), TN_OK);
    CU_ASSERT_STRING_EQUAL(b.data,
                           "Host=demo.localhost|Cookie=a=1; sid=\"abc\"; theme=dark|X-Empty=");
    CU_ASSERT_EQUAL(host_req_header_each(&r, NULL, NULL), TN_EINVAL);
    CU_ASSERT_EQUAL(host_req_header_each(NULL, join_headers, &b), TN_EINVAL);
    host_buf_free(&b);
}

static void test_header_each_stops_on_non_zero(void)
{
    static const char pairs[] = "A\0001\0Cookie\0stop\0B\0002"; /* name\0value\0 */
    tn_request q;
    host_buf b;

    host_request_init(&q);
    host_buf_append(&q.hdrbuf, pairs, sizeof pairs);
    CU_ASSERT_EQUAL_FATAL(host_request_index_headers(&q), 0);
    host_buf_init(&b);
    CU_ASSERT_EQUAL(host_req_header_each(&q, join_headers, &b), 42);
    CU_ASSERT_STRING_EQUAL(b.data, "A=1|Cookie=stop");
    host_buf_free(&b);
    host_request_free(&q);
}

static void test_cookies(void)
{
    CU_ASSERT_STRING_EQUAL(host_req_cookie(&r, "a"), "1");
    CU_ASSERT_STRING_EQUAL(host_req_cookie(&r, "sid"), "abc");
    CU_ASSERT_STRING_EQUAL(host_req_cookie(&r, "theme"), "dark");
    CU_ASSERT_PTR_NULL(host_req_cookie(&r, "si"));
}

static void test_query_params_decoded_and_refused(void)
{
    CU_ASSERT_STRING_EQUAL(host_req_query_param(&r, "q"), "a b c");
    CU_ASSERT_STRING_EQUAL(host_req_query_param(&r, "flag"), "");
    CU_ASSERT_PTR_NULL(host_req_query_param(&r, "bad")); /* broken escape */
    CU_ASSERT_PTR_NULL(host_req_query_param(&r, "nul")); /* encoded NUL */
    CU_ASSERT_STRING_EQUAL(host_req_query_param(&r, "last"), "\xe3\x81\x82");
    CU_ASSERT_PTR_NULL(host_req_query_param(&r, "missing"));
    CU_ASSERT_PTR_NULL(host_percent_decode(&r, "abc%4", 5, 0));
}

static void test_S7_header_injection_refused(void)
{
    host_buf_reset(&r.resp_headers);
    CU_ASSERT_EQUAL(host_resp_header(&r, "X-A", "ok\r\nSet-Cookie: evil=1"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "X-A", "ok\nx"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "X-A", "ok\rx"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "X-A\r\nX-B", "v"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "X A", "v"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "", "v"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "Content-Length", "0"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "transfer-encoding", "chunked"), TN_EINVAL);
    CU_ASSERT_EQUAL(host_resp_header(&r, "Connection", "close"), TN_EINVAL);
    CU_ASSERT_EQUAL(r.resp_headers.len, 0);
    CU_ASSERT_EQUAL(host_resp_header(&r, "X-Ok", "fine\tvalue"), TN_OK);
    CU_ASSERT_STRING_EQUAL(r.resp_headers.data, "X-Ok: fine\tvalue\r\n");
}

static void test_S5_content_type_gets_charset(void)
{
    host_buf_reset(&r.resp_headers);
    r.own = 0;
    CU_ASSERT_EQUAL(host_resp_header(&r, "Content-Type", "text/csv"), TN_OK);
    CU_ASSERT_STRING_EQUAL(r.resp_headers.data, "Content-Type: text/csv; charset=utf-8\r\n");
    CU_ASSERT_EQUAL(host_resp_header(&r, "Content-Type", "text/html"), TN_EEXIST);
}

static void test_resp_error_is_escaped_json(void)
{
    json_t *j;
    json_error_t err;

    r.own = 0;
    host_buf_reset(&r.resp_headers);
    CU_ASSERT_EQUAL(host_resp_error(&r, 400, "bad", "quote \" and <script>\n"), TN_OK);
    CU_ASSERT_EQUAL(r.status, 400);
    j = json_loadb(r.resp_body.data, r.resp_body.len, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(
                               json_object_get(json_object_get(j, "error"), "message")),
                           "quote \" and <script>\n");
    json_decref(j);
}

static void test_json_escape_keeps_lines_valid(void)
{
    host_buf b;
    json_t *j;
    json_error_t err;

    host_buf_init(&b);
    host_buf_puts(&b, "[");
    host_buf_json_str(&b, "a\"b\\c\nd\x01\x7f");
    host_buf_puts(&b, ",");
    host_buf_json_str(&b, "\xe3\x81\x82 ok");
    host_buf_puts(&b, ",");
    host_buf_json_str(&b, "bad \xff\xfe utf8 \xe3\x81");
    host_buf_puts(&b, "]");
    j = json_loadb(b.data, b.len, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(j, 0)), "a\"b\\c\nd\x01\x7f");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(j, 1)), "\xe3\x81\x82 ok");
    CU_ASSERT_PTR_NULL(strchr(b.data, '\n'));
    json_decref(j);
    host_buf_free(&b);
}

static void test_arena_survives_many_allocations(void)
{
    int i;
    char *p = NULL;

    for (i = 0; i < 10000; i++) {
        p = host_arena_alloc(&r.arena, 37);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        memset(p, 'x', 37);
    }
    CU_ASSERT_PTR_NOT_NULL(host_arena_alloc(&r.arena, 100000));
    host_arena_reset(&r.arena);
    CU_ASSERT_PTR_NOT_NULL(host_arena_alloc(&r.arena, 8));
}

int main(void)
{
    CU_pSuite s;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("request", setup, teardown);
    CU_add_test(s, "header lookup is case-insensitive", test_header_lookup_is_case_insensitive);
    CU_add_test(s, "req_header_each: every header in arrival order",
                test_header_each_in_arrival_order);
    CU_add_test(s, "req_header_each: stops on non-zero and returns it",
                test_header_each_stops_on_non_zero);
    CU_add_test(s, "cookies parsed", test_cookies);
    CU_add_test(s, "query params decoded; broken escapes and NUL refused (A6)",
                test_query_params_decoded_and_refused);
    CU_add_test(s, "S7: CR/LF/NUL and host-owned headers refused",
                test_S7_header_injection_refused);
    CU_add_test(s, "S5: Content-Type always has a charset", test_S5_content_type_gets_charset);
    CU_add_test(s, "error bodies are escaped JSON (S5)", test_resp_error_is_escaped_json);
    CU_add_test(s, "JSON escaping keeps log lines valid (S16)", test_json_escape_keeps_lines_valid);
    CU_add_test(s, "arena", test_arena_survives_many_allocations);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
