/*
 * test_csv.c - the CSV codec on its own (A5): RFC 4180 quoting, formula
 * neutralising and its exact inverse, UTF-8 with BOM and CP932 output,
 * and the strict incremental parser: every error with its line and
 * field, the same rows whatever the chunking, CP932 input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "csv.h"

/* Rows as "a|b|c\n" lines prefixed with "LINE:", for plain comparison. */
typedef struct collect {
    csv_buf text;
    int stop_after; /* 0: never */
    int rows;
} collect;

static int on_row(void *ud, size_t line, char **fields, const size_t *lens, size_t n)
{
    collect *c = ud;
    char num[32];
    size_t i;

    snprintf(num, sizeof num, "%zu:", line);
    csv_buf_append(&c->text, num, strlen(num));
    for (i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(strlen(fields[i]), lens[i]);
        if (i > 0)
            csv_buf_append(&c->text, "|", 1);
        csv_buf_append(&c->text, fields[i], lens[i]);
    }
    csv_buf_append(&c->text, "\n", 2);
    c->text.len--; /* keep it NUL-terminated */
    c->rows++;
    return c->stop_after && c->rows >= c->stop_after;
}

/* Parses in with chunks of `chunk` bytes (0: all at once). */
static int parse(csv_encoding enc, const char *in, size_t len, size_t chunk, size_t max, collect *c,
                 csv_error *err)
{
    csv_parser p;
    size_t off = 0;
    int rc;

    memset(c, 0, sizeof *c);
    csv_buf_append(&c->text, "", 1);
    c->text.len = 0;
    CU_ASSERT_FATAL(csv_parser_init(&p, enc, max, on_row, c) == CSV_OK);
    rc = CSV_OK;
    while (rc == CSV_OK && off < len) {
        size_t n = chunk == 0 || len - off < chunk ? len - off : chunk;
        rc = csv_parser_feed(&p, in + off, n);
        off += n;
    }
    if (rc == CSV_OK)
        rc = csv_parser_finish(&p);
    if (err)
        *err = p.err;
    csv_parser_free(&p);
    return rc;
}

static void expect_rows(csv_encoding enc, const char *in, size_t len, const char *want)
{
    size_t chunk;

    for (chunk = 0; chunk <= (len < 9 ? len : 9); chunk++) {
        collect c;
        csv_error e;
        int rc = parse(enc, in, len, chunk, 1 << 20, &c, &e);
        CU_ASSERT_EQUAL(rc, CSV_OK);
        if (rc != CSV_OK)
            fprintf(stderr, "\nchunk %zu: error %d line %zu field %zu %s\n", chunk, e.code, e.line,
                    e.field, e.message);
        CU_ASSERT_STRING_EQUAL(c.text.data ? c.text.data : "", want);
        if (c.text.data && strcmp(c.text.data, want) != 0)
            fprintf(stderr, "\nchunk %zu got [%s] want [%s]\n", chunk, c.text.data, want);
        csv_buf_free(&c.text);
    }
}

static void expect_error(csv_encoding enc, const char *in, size_t len, size_t max, int code,
                         size_t line, size_t field)
{
    size_t chunk;

    for (chunk = 0; chunk <= 3; chunk++) {
        collect c;
        csv_error e;
        int rc = parse(enc, in, len, chunk, max, &c, &e);
        CU_ASSERT_EQUAL(rc, code);
        CU_ASSERT_EQUAL(e.code, code);
        CU_ASSERT_EQUAL(e.line, line);
        CU_ASSERT_EQUAL(e.field, field);
        CU_ASSERT_PTR_NOT_NULL(e.message);
        if (e.code != code || e.line != line || e.field != field)
            fprintf(stderr, "\n[%.*s] chunk %zu: got %d %zu:%zu want %d %zu:%zu\n", (int)len, in,
                    chunk, e.code, e.line, e.field, code, line, field);
        csv_buf_free(&c.text);
    }
}

/* Writes rows of cells (NULL ends a row, two NULLs the file). */
static int write_rows(csv_writer *w, const char *const *cells, const int *flags)
{
    size_t i;
    int rc = CSV_OK;

    for (i = 0; rc == CSV_OK; i++) {
        if (cells[i] == NULL) {
            rc = csv_end_row(w);
            if (cells[i + 1] == NULL)
                break;
            continue;
        }
        rc = csv_write_str(w, cells[i], flags ? flags[i] : 0);
    }
    return rc;
}

static void test_writer_quotes_rfc4180_with_bom_and_crlf(void)
{
    const char *cells[] = {"A-1", "りんご, 青森", "say \"hi\"", "two\r\nlines", "", NULL,
                           "x",   NULL,           NULL};
    const char want[] = "\xEF\xBB\xBF"
                        "A-1,\"りんご, 青森\",\"say \"\"hi\"\"\",\"two\r\nlines\",\r\n"
                        "x\r\n";
    csv_writer w;

    CU_ASSERT_FATAL(csv_writer_init(&w, CSV_UTF8) == CSV_OK);
    CU_ASSERT_EQUAL(write_rows(&w, cells, NULL), CSV_OK);
    CU_ASSERT_EQUAL(w.out.len, sizeof want - 1);
    CU_ASSERT(memcmp(w.out.data, want, sizeof want - 1) == 0);
    csv_writer_free(&w);
}

/* A5: cells a spreadsheet would run are neutralised; numbers the program
 * wrote are not; csv_unneutralise is the exact inverse. */
static void test_formula_cells_are_neutralised_and_numbers_kept(void)
{
    const char *cells[] = {"=1+1", "+81",  "-5", "@SUM(A1)", "\tx", "\rx",
                           "'=x",  "'abc", "-5", "a=b",      NULL,  NULL};
    const int flags[] = {0, 0, 0, 0, 0, 0, 0, 0, CSV_NUMBER, 0, 0, 0};
    const char want[] = "\xEF\xBB\xBF'=1+1,'+81,'-5,'@SUM(A1),'\tx,\"'\rx\",''=x,'abc,-5,a=b\r\n";
    const char *texts[] = {"=1+1", "+81", "-5", "@x", "\tx", "\rx", "'=x", "''-y",
                           "'abc", "''",  "'",  "",   "a=b", "=",   "'"};
    csv_writer w;
    size_t i;

    CU_ASSERT_FATAL(csv_writer_init(&w, CSV_UTF8) == CSV_OK);
    CU_ASSERT_EQUAL(write_rows(&w, cells, flags), CSV_OK);
    CU_ASSERT_EQUAL(w.out.len, sizeof want - 1);
    CU_ASSERT(memcmp(w.out.data, want, sizeof want - 1) == 0);
    csv_writer_free(&w);

    /* Round trip of each text through the writer and parser. */
    for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        collect c;
        char *back;
        CU_ASSERT_FATAL(csv_writer_init(&w, CSV_UTF8) == CSV_OK);
        csv_write_str(&w, texts[i], 0);
        csv_write_str(&w, "end", 0);
        csv_end_row(&w);
        CU_ASSERT_EQUAL(parse(CSV_UTF8, w.out.data, w.out.len, 0, 1024, &c, NULL), CSV_OK);
        CU_ASSERT_EQUAL(c.rows, 1);
        /* "1:" then the cell up to '|' */
        {
            char *cell = c.text.data + 2, *bar = strrchr(cell, '|');
            CU_ASSERT_PTR_NOT_NULL_FATAL(bar);
            *bar = '\0';
            back = csv_unneutralise(cell);
            CU_ASSERT_STRING_EQUAL(back, texts[i]);
            if (strcmp(back, texts[i]) != 0)
                fprintf(stderr, "\nround trip of [%s] gave [%s]\n", texts[i], back);
            free(back);
        }
        csv_buf_free(&c.text);
        csv_writer_free(&w);
    }
}

static void test_writer_shift_jis_and_unmappable(void)
{
    const char *cells[] = {"株式会社", "ｱｲ", "x,y", NULL, NULL};
    const char want[] = "\x8A\x94\x8E\xAE\x89\xEF\x8E\xD0,\xB1\xB2,\"x,y\"\r\n";
    csv_writer w;
    size_t before;

    CU_ASSERT_FATAL(csv_writer_init(&w, CSV_SJIS) == CSV_OK);
    CU_ASSERT_EQUAL(write_rows(&w, cells, NULL), CSV_OK);
    CU_ASSERT_EQUAL(w.out.len, sizeof want - 1);
    CU_ASSERT(memcmp(w.out.data, want, sizeof want - 1) == 0);
    before = w.out.len;
    /* An emoji has no CP932 form: an error naming the field, and the
     * half-written row is taken back. */
    CU_ASSERT_EQUAL(csv_write_str(&w, "ok", 0), CSV_OK);
    CU_ASSERT_EQUAL(csv_write_str(&w, "\xF0\x9F\x8D\x8E", 0), CSV_EUNMAPPABLE);
    CU_ASSERT_EQUAL(w.err_field, 2);
    CU_ASSERT_EQUAL(w.out.len, before);
    CU_ASSERT_EQUAL(csv_write_str(&w, "next", 0), CSV_OK);
    CU_ASSERT_EQUAL(csv_end_row(&w), CSV_OK);
    CU_ASSERT(memcmp(w.out.data + before, "next\r\n", 6) == 0);
    csv_writer_free(&w);
}

static void test_parser_accepts_rfc4180_crlf_lf_bom(void)
{
    const char in1[] =
        "code,name\r\nA-1,\"りんご, 青森\"\r\n\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n";
    const char in2[] = "\xEF\xBB\xBF"
                       "a,b\n,\n\n\r\nx,\"\"\nlast,row";
    const char in3[] = "\xEF\xBB" /* a partial BOM is data: invalid UTF-8 here */;
    const char in4[] = "\xEF\xBB\xBF";

    expect_rows(CSV_UTF8, in1, sizeof in1 - 1,
                "1:code|name\n2:A-1|りんご, 青森\n3:say \"hi\"|two\r\nlines\n");
    expect_rows(CSV_UTF8, in2, sizeof in2 - 1, "1:a|b\n2:|\n5:x|\n6:last|row\n");
    expect_error(CSV_UTF8, in3, sizeof in3 - 1, 1024, CSV_EENCODING, 1, 1);
    expect_rows(CSV_UTF8, in4, sizeof in4 - 1, "");
    expect_rows(CSV_UTF8, "", 0, "");
}

static void test_parser_errors_have_line_and_field(void)
{
    static const struct {
        const char *in;
        size_t len;
        int code;
        size_t line, field;
    } cases[] = {
        {"a,b\r\nc,\"open\r\nmore", 0, CSV_EUNTERMINATED, 2, 2},
        {"a,b\nc,d\"e\n", 0, CSV_EQUOTE, 2, 2},
        {"a,\"b\"x\n", 0, CSV_EAFTERQUOTE, 1, 2},
        {"a,b\nc,\"d\" \n", 0, CSV_EAFTERQUOTE, 2, 2},
        {"a,b\nc,d\x00\n", 10, CSV_ENUL, 2, 2},
        {"a\rb\n", 0, CSV_EBARECR, 1, 1},
        {"a,b\r", 0, CSV_EBARECR, 1, 2},
        {"a,b\n\xC3\x28\n", 0, CSV_EENCODING, 2, 1},
        {"a,\xED\xA0\x80\n", 0, CSV_EENCODING, 1, 2},     /* a surrogate */
        {"a,\xC0\xAF\n", 0, CSV_EENCODING, 1, 2},         /* overlong */
        {"a,\xF4\x90\x80\x80\n", 0, CSV_EENCODING, 1, 2}, /* past U+10FFFF */
        {"a,b\nc,\xE3\x81", 0, CSV_EENCODING, 2, 2},      /* ends inside */
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(CSV_UTF8, cases[i].in, cases[i].len ? cases[i].len : strlen(cases[i].in), 1024,
                     cases[i].code, cases[i].line, cases[i].field);
}

static void test_parser_limits_record_length(void)
{
    size_t n = 5000, i;
    char *in = malloc(n + 16);
    collect c;

    CU_ASSERT_FATAL(in != NULL);
    memcpy(in, "a,b\n", 4);
    for (i = 4; i < n; i++)
        in[i] = 'x';
    expect_error(CSV_UTF8, in, n, 1000, CSV_ETOOLONG, 2, 1);
    /* Within the limit, the same bytes pass; blank lines do not count. */
    memcpy(in, "\n\n\n\n", 4);
    CU_ASSERT_EQUAL(parse(CSV_UTF8, in, n, 0, 4996, &c, NULL), CSV_OK);
    CU_ASSERT_EQUAL(c.rows, 1);
    csv_buf_free(&c.text);
    /* A quoted field's newlines count towards its record. */
    memcpy(in, "\"\n\n\n", 4);
    in[n] = '"';
    expect_error(CSV_UTF8, in, n + 1, 1000, CSV_ETOOLONG, 4, 1);
    free(in);
}

static void test_parser_callback_can_stop(void)
{
    csv_parser p;
    collect c;

    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    CU_ASSERT_FATAL(csv_parser_init(&p, CSV_UTF8, 100, on_row, &c) == CSV_OK);
    CU_ASSERT_EQUAL(csv_parser_feed(&p, "a\nb\nc\n", 6), CSV_ESTOPPED);
    CU_ASSERT_EQUAL(c.rows, 2);
    CU_ASSERT_EQUAL(csv_parser_feed(&p, "d\n", 2), CSV_ESTOPPED); /* sticky */
    CU_ASSERT_EQUAL(csv_parser_finish(&p), CSV_ESTOPPED);
    CU_ASSERT_EQUAL(c.rows, 2);
    csv_parser_free(&p);
    csv_buf_free(&c.text);
    CU_ASSERT_EQUAL(csv_parser_init(&p, CSV_UTF8, 0, on_row, &c), CSV_EINVAL);
    csv_parser_free(&p);
}

static void test_parser_shift_jis(void)
{
    /* "コード,名前\r\nA-1,株式会社\r\n" in CP932, then "ｱ" (half-width). */
    const char in[] = "\x83\x52\x81\x5B\x83\x68,\x96\xBC\x91\x4F\r\nA-1,\x8A\x94\x8E\xAE\x89\xEF"
                      "\x8E\xD0\r\n\xB1,\"\\\"\r\n";
    const char bad[] = "a,b\r\nc,\x81\x20x\r\n"; /* a lead byte without its trail */
    const char cut[] = "a,b\r\nc,\x8A";
    const char bom[] = "\xEF\xBB\xBF"
                       "a,b\r\n";

    expect_rows(CSV_SJIS, in, sizeof in - 1, "1:コード|名前\n2:A-1|株式会社\n3:ｱ|\\\n");
    expect_error(CSV_SJIS, bad, sizeof bad - 1, 1024, CSV_EENCODING, 2, 2);
    expect_error(CSV_SJIS, cut, sizeof cut - 1, 1024, CSV_EENCODING, 2, 2);
    expect_error(CSV_SJIS, bom, sizeof bom - 1, 1024, CSV_EENCODING, 1, 1);
    expect_error(CSV_SJIS, "a,\x00", 3, 1024, CSV_ENUL, 1, 2);
}

/* What the exporter writes, the importer reads back, in both encodings. */
static void test_round_trip_both_encodings(void)
{
    const char *cells[] = {"コード", "名前", "単価", NULL,         "Ａ－１", "=HYPERLINK(\"x\")",
                           "-120",   NULL,   "B,2",  "改行\nあり", "0",      NULL,
                           NULL};
    const int flags[] = {0, 0, 0, 0, 0, 0, CSV_NUMBER, 0, 0, 0, CSV_NUMBER, 0, 0};
    const char *want = "1:コード|名前|単価\n2:Ａ－１|'=HYPERLINK(\"x\")|-120\n3:B,2|改行\nあり|0\n";
    int enc;

    for (enc = CSV_UTF8; enc <= CSV_SJIS; enc++) {
        csv_writer w;
        CU_ASSERT_FATAL(csv_writer_init(&w, (csv_encoding)enc) == CSV_OK);
        CU_ASSERT_EQUAL(write_rows(&w, cells, flags), CSV_OK);
        expect_rows((csv_encoding)enc, w.out.data, w.out.len, want);
        csv_writer_free(&w);
    }
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("orders_csv", NULL, NULL);
    CU_add_test(s, "writer quotes RFC 4180 with BOM and CRLF",
                test_writer_quotes_rfc4180_with_bom_and_crlf);
    CU_add_test(s, "A5 formula cells neutralised, numbers kept",
                test_formula_cells_are_neutralised_and_numbers_kept);
    CU_add_test(s, "writer Shift_JIS and unmappable", test_writer_shift_jis_and_unmappable);
    CU_add_test(s, "parser accepts RFC 4180, CRLF, LF, BOM",
                test_parser_accepts_rfc4180_crlf_lf_bom);
    CU_add_test(s, "parser errors have line and field", test_parser_errors_have_line_and_field);
    CU_add_test(s, "parser limits record length", test_parser_limits_record_length);
    CU_add_test(s, "parser callback can stop", test_parser_callback_can_stop);
    CU_add_test(s, "parser Shift_JIS", test_parser_shift_jis);
    CU_add_test(s, "A5 round trip in both encodings", test_round_trip_both_encodings);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
