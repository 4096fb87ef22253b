/*
 * fuzz_csv.c - the ordering plugin's CSV parser (S10, A5).  The first
 * byte picks the encoding (bit 0: Shift_JIS), the record limit (bit 1:
 * 64 bytes, else 1 MiB) and the chunk size (bits 2-7); the rest is fed in
 * those chunks.  Whatever the input, the parser must either fail with a
 * position inside the input or give rows that the writer writes back and
 * the parser reads again to the very same rows (write(parse(x)) is a
 * fixed point), in both encodings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rows flattened: each field as length + bytes, each row ended by a
 * length no field can have. */
static const size_t row_end = SIZE_MAX;

typedef struct rows {
    csv_buf flat;
    size_t count;
} rows;

static int keep(void *ud, size_t line, char **fields, const size_t *lens, size_t n)
{
    rows *r = ud;
    size_t i;

    (void)line;
    for (i = 0; i < n; i++) {
        if (strlen(fields[i]) != lens[i])
            abort(); /* a NUL inside a field got through */
        csv_buf_append(&r->flat, &lens[i], sizeof lens[i]);
        csv_buf_append(&r->flat, fields[i], lens[i]);
    }
    csv_buf_append(&r->flat, &row_end, sizeof row_end);
    r->count++;
    return 0;
}

static int parse(csv_encoding enc, const uint8_t *d, size_t len, size_t chunk, size_t max,
                 rows *out, csv_error *err)
{
    csv_parser p;
    size_t off = 0;
    int rc;

    if (csv_parser_init(&p, enc, max, keep, out) != CSV_OK)
        abort();
    rc = CSV_OK;
    while (rc == CSV_OK && off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = csv_parser_feed(&p, d + off, n);
        off += n;
    }
    if (rc == CSV_OK)
        rc = csv_parser_finish(&p);
    *err = p.err;
    csv_parser_free(&p);
    return rc;
}

/* Writes the flattened rows back as CSV in enc. */
static int rewrite(const rows *r, csv_encoding enc, csv_writer *w)
{
    size_t off = 0;
    int rc = csv_writer_init(w, enc);

    while (rc == CSV_OK && off < r->flat.len) {
        size_t n;
        memcpy(&n, r->flat.data + off, sizeof n);
        off += sizeof n;
        if (n == row_end) {
            rc = csv_end_row(w);
            continue;
        }
        rc = csv_write_cell(w, r->flat.data + off, n, CSV_NUMBER);
        off += n;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_encoding enc;
    size_t chunk, max;
    rows first = {{0}, 0}, again = {{0}, 0};
    csv_writer w;
    csv_error err;
    int rc;

    if (size < 1)
        return 0;
    enc = (data[0] & 1) ? CSV_SJIS : CSV_UTF8;
    max = (data[0] & 2) ? 64 : (size_t)1 << 20;
    chunk = (size_t)(data[0] >> 2) + 1;
    data++;
    size--;

    rc = parse(enc, data, size, chunk, max, &first, &err);
    if (rc != CSV_OK) {
        /* An error names a place: a line that exists, a field from 1. */
        size_t lines = 1, i;
        for (i = 0; i < size; i++)
            lines += data[i] == '\n';
        if (err.line < 1 || err.line > lines || err.field < 1 || err.message == NULL)
            abort();
        goto done;
    }
    /* The rows are valid UTF-8 without NUL: written back in UTF-8 they read
     * the same.  (In CP932 a character may have no mapping: then only the
     * error is checked.) */
    for (int e = CSV_UTF8; e <= CSV_SJIS; e++) {
        rc = rewrite(&first, (csv_encoding)e, &w);
        if (rc == CSV_EUNMAPPABLE && e == CSV_SJIS) {
            csv_writer_free(&w);
            continue;
        }
        if (rc != CSV_OK)
            abort();
        again.flat.len = 0;
        again.count = 0;
        rc = parse((csv_encoding)e, (const uint8_t *)w.out.data, w.out.len, 4096, (size_t)1 << 30,
                   &again, &err);
        /* CP932 maps a few characters one way only (e.g. U+00A5 is written
         * as 0x5C, read back as a backslash): compare only in UTF-8. */
        if (rc != CSV_OK ||
            (e == CSV_UTF8 && (again.count != first.count || again.flat.len != first.flat.len ||
                               (first.flat.len > 0 &&
                                memcmp(again.flat.data, first.flat.data, first.flat.len) != 0))))
            abort();
        csv_writer_free(&w);
    }
done:
    csv_buf_free(&first.flat);
    csv_buf_free(&again.flat);
    return 0;
}
