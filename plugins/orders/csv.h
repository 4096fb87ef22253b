/*
 * csv.h - the CSV codec of the ordering plugin's export and import (A5):
 * a writer and an incremental parser for RFC 4180 files in UTF-8 (with
 * BOM, for Excel) or Shift_JIS (Windows code page 932), and the
 * normalisation of codes.  Pure C over libc, iconv and libunistring: no
 * SDK, so it is unit-tested and fuzzed on its own (tests/fuzz/fuzz_csv.c).
 *
 * Choices (docs/orders.md "CSV export and import"):
 * - Formula injection: a text cell that begins with = + - @ TAB or CR is
 *   written with a leading apostrophe ('), as is a cell of apostrophes
 *   followed by one of those, so csv_unneutralise() undoes it exactly and
 *   a round trip is lossless.  Cells the caller marks CSV_NUMBER (numbers
 *   the program wrote, e.g. -5) are written as they are.
 * - Shift_JIS output: a character with no CP932 mapping is an error
 *   (CSV_EUNMAPPABLE, with the field), never silently replaced, since a
 *   replaced name would come back changed on re-import.
 * - Parser errors carry the physical line (1-based) and the field number
 *   (1-based CSV column) where the problem is.  Blank lines are skipped.
 */
#ifndef ORDERS_CSV_H
#define ORDERS_CSV_H

#include <stddef.h>

typedef enum csv_encoding { CSV_UTF8 = 0, CSV_SJIS = 1 } csv_encoding;

/* Error codes (negative), also the parser's error.code. */
enum {
    CSV_OK = 0,
    CSV_ENOMEM = -1,
    CSV_EUNMAPPABLE = -2, /* writer: no CP932 form for a character */
    CSV_EQUOTE = -3,      /* a quote inside an unquoted field */
    CSV_EAFTERQUOTE = -4, /* bytes after a closing quote */
    CSV_EUNTERMINATED = -5,
    CSV_ENUL = -6,
    CSV_ETOOLONG = -7,  /* a record over the limit */
    CSV_EENCODING = -8, /* invalid UTF-8 or CP932 */
    CSV_EBARECR = -9,   /* CR not followed by LF outside quotes */
    CSV_ESTOPPED = -10, /* the row callback asked to stop */
    CSV_EINVAL = -11,
};

/* A growable byte buffer (the writer's output). */
typedef struct csv_buf {
    char *data;
    size_t len;
    size_t cap;
} csv_buf;

int csv_buf_append(csv_buf *b, const void *data, size_t len);
void csv_buf_free(csv_buf *b);

/* ---- writer ------------------------------------------------------------ */

#define CSV_NUMBER 1 /* a cell the program wrote as a number: never neutralised */

typedef struct csv_writer {
    csv_buf out; /* whole rows, in the output encoding; the caller
                            drains it (send, then out.len = 0) */
    csv_encoding enc;
    void *cd;         /* iconv_t UTF-8 -> CP932, or NULL */
    csv_buf stage;    /* one field in UTF-8 before conversion */
    size_t row_start; /* out.len when the row began */
    int nfields;      /* fields written in the current row */
    int err_field;    /* 1-based field of the last CSV_EUNMAPPABLE */
} csv_writer;

/* Begins a file: a UTF-8 writer puts the BOM first.  0 or CSV_ENOMEM. */
int csv_writer_init(csv_writer *w, csv_encoding enc);
void csv_writer_free(csv_writer *w);
/* One cell (UTF-8, len bytes; value NULL writes an empty cell).  flags:
 * CSV_NUMBER or 0.  On CSV_EUNMAPPABLE the whole current row is taken
 * back out of w->out, and w->err_field names the field. */
int csv_write_cell(csv_writer *w, const char *value, size_t len, int flags);
int csv_write_str(csv_writer *w, const char *value, int flags);
/* Ends the row with CRLF. */
int csv_end_row(csv_writer *w);

/* The text cell as it was before neutralising ("'=1" -> "=1", "''=1" ->
 * "'=1"); a new NUL-terminated copy (malloc), or NULL out of memory. */
char *csv_unneutralise(const char *cell);

/* ---- parser ------------------------------------------------------------ */

/* One record: fields[i] is NUL-terminated UTF-8 of lens[i] bytes; line is
 * the physical line where the record starts.  Return 0 to go on, non-zero
 * to stop (the parser then fails with CSV_ESTOPPED). */
typedef int (*csv_row_fn)(void *ud, size_t line, char **fields, const size_t *lens, size_t nfields);

typedef struct csv_error {
    int code;            /* CSV_E* */
    size_t line;         /* 1-based physical line */
    size_t field;        /* 1-based CSV column */
    const char *message; /* static English text */
} csv_error;

typedef struct csv_parser {
    csv_encoding enc;
    size_t max_record; /* bytes of one record (its fields and separators) */
    csv_row_fn fn;
    void *ud;
    csv_error err;
    int state;
    size_t line;       /* current physical line */
    size_t rec_line;   /* where the current record started */
    size_t quote_line; /* where the open quote was */
    size_t rec_bytes;
    int rec_started;
    /* fields of the current record, concatenated with NULs */
    csv_buf rec;
    size_t *offs;
    size_t noffs, capoffs;
    /* UTF-8 validation */
    int u8_need;
    unsigned char u8_lo, u8_hi;
    /* BOM and CP932 decoding */
    int bom_pos;
    void *cd;              /* iconv_t CP932 -> UTF-8, or NULL */
    unsigned char pend[4]; /* an incomplete CP932 character from the last chunk */
    size_t npend;
} csv_parser;

/* max_record: e.g. 1 MiB.  0 or CSV_ENOMEM/CSV_EINVAL. */
int csv_parser_init(csv_parser *p, csv_encoding enc, size_t max_record, csv_row_fn fn, void *ud);
void csv_parser_free(csv_parser *p);
/* Feed a chunk of raw input; 0, or the (sticky) error code: see p->err. */
int csv_parser_feed(csv_parser *p, const void *data, size_t len);
/* End of input: emits the last record; 0 or an error. */
int csv_parser_finish(csv_parser *p);

#ifdef ORDERS_ORDERS_H
/* ?encoding=utf-8|shift_jis (default utf-8) of an export or import;
 * 0, or -1 after answering 400 (export.c). */
int orders_csv_encoding(orders_ctx *ctx, tn_request *req, csv_encoding *enc);
#endif

#endif /* ORDERS_CSV_H */
