/*
 * csv.c - the CSV codec: a writer (RFC 4180 quoting, formula-injection
 * neutralising, UTF-8 with BOM or CP932) and an incremental, strict
 * parser that reports where a file is wrong.  See csv.h for the choices.
 *
 * The parser works on UTF-8 bytes: CP932 input is converted by iconv
 * chunk by chunk first (a character split across chunks waits in pend),
 * so every check below applies to both encodings.
 */
#include "csv.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

/* ---- buffer --------------------------------------------------------------- */

static int buf_reserve(csv_buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 256;
    char *d;

    if (extra > SIZE_MAX / 2 - b->len)
        return CSV_ENOMEM;
    if (b->len + extra <= b->cap)
        return CSV_OK;
    while (cap < b->len + extra)
        cap *= 2;
    d = realloc(b->data, cap);
    if (d == NULL)
        return CSV_ENOMEM;
    b->data = d;
    b->cap = cap;
    return CSV_OK;
}

int csv_buf_append(csv_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return CSV_OK;
    if (buf_reserve(b, len) != CSV_OK)
        return CSV_ENOMEM;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return CSV_OK;
}

static int buf_byte(csv_buf *b, char c)
{
    if (b->len < b->cap) {
        b->data[b->len++] = c;
        return CSV_OK;
    }
    return csv_buf_append(b, &c, 1);
}

void csv_buf_free(csv_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- writer --------------------------------------------------------------- */

static int is_trigger(unsigned char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

/* ^'*[=+-@\t\r]: a spreadsheet would run it, or csv_unneutralise would
 * strip an apostrophe that was data. */
static int needs_neutralising(const char *v, size_t len)
{
    size_t i = 0;

    while (i < len && v[i] == '\'')
        i++;
    return i < len && is_trigger((unsigned char)v[i]);
}

char *csv_unneutralise(const char *cell)
{
    const char *s = cell;

    if (cell[0] == '\'' && needs_neutralising(cell, strlen(cell)))
        s = cell + 1;
    return strdup(s);
}

int csv_writer_init(csv_writer *w, csv_encoding enc)
{
    memset(w, 0, sizeof *w);
    w->enc = enc;
    if (enc == CSV_SJIS) {
        iconv_t cd = iconv_open("CP932", "UTF-8");
        if (cd == (iconv_t)-1)
            return CSV_EINVAL;
        w->cd = cd;
        return CSV_OK;
    }
    if (enc != CSV_UTF8)
        return CSV_EINVAL;
    if (csv_buf_append(&w->out, utf8_bom, sizeof utf8_bom) != CSV_OK)
        return CSV_ENOMEM;
    w->row_start = w->out.len;
    return CSV_OK;
}

void csv_writer_free(csv_writer *w)
{
    if (w->cd != NULL)
        iconv_close((iconv_t)w->cd);
    csv_buf_free(&w->out);
    csv_buf_free(&w->stage);
    memset(w, 0, sizeof *w);
}

/* stage (UTF-8) -> out in CP932: at most two bytes per character. */
static int stage_to_sjis(csv_writer *w)
{
    char *in = w->stage.data;
    size_t inleft = w->stage.len;
    char *o;
    size_t oleft;

    if (inleft == 0)
        return CSV_OK;
    if (buf_reserve(&w->out, inleft * 2) != CSV_OK)
        return CSV_ENOMEM;
    o = w->out.data + w->out.len;
    oleft = w->out.cap - w->out.len;
    iconv((iconv_t)w->cd, NULL, NULL, NULL, NULL);
    if (iconv((iconv_t)w->cd, &in, &inleft, &o, &oleft) == (size_t)-1)
        return errno == E2BIG ? CSV_ENOMEM : CSV_EUNMAPPABLE;
    w->out.len = (size_t)(o - w->out.data);
    return CSV_OK;
}

int csv_write_cell(csv_writer *w, const char *v, size_t len, int flags)
{
    int neutral = 0, quote = 0, rc = CSV_OK;
    size_t i;
    csv_buf *b = w->enc == CSV_SJIS ? &w->stage : &w->out;

    if (v == NULL)
        len = 0;
    w->stage.len = 0;
    if (!(flags & CSV_NUMBER))
        neutral = needs_neutralising(v, len);
    for (i = 0; i < len && !quote; i++)
        quote = v[i] == ',' || v[i] == '"' || v[i] == '\r' || v[i] == '\n';
    if (buf_reserve(b, len * 2 + 4) != CSV_OK)
        return CSV_ENOMEM;
    if (w->nfields > 0)
        buf_byte(b, ',');
    if (quote)
        buf_byte(b, '"');
    if (neutral)
        buf_byte(b, '\'');
    for (i = 0; i < len; i++) {
        if (v[i] == '"')
            buf_byte(b, '"');
        buf_byte(b, v[i]);
    }
    if (quote)
        buf_byte(b, '"');
    if (w->enc == CSV_SJIS)
        rc = stage_to_sjis(w);
    if (rc == CSV_EUNMAPPABLE) {
        w->err_field = w->nfields + 1;
        w->out.len = w->row_start;
        w->nfields = 0;
        return rc;
    }
    if (rc == CSV_OK)
        w->nfields++;
    return rc;
}

int csv_write_str(csv_writer *w, const char *v, int flags)
{
    return csv_write_cell(w, v, v ? strlen(v) : 0, flags);
}

int csv_end_row(csv_writer *w)
{
    /* A row of one empty cell is "", not a blank line (which readers skip). */
    if (w->nfields == 1 && w->out.len == w->row_start &&
        csv_buf_append(&w->out, "\"\"", 2) != CSV_OK)
        return CSV_ENOMEM;
    if (csv_buf_append(&w->out, "\r\n", 2) != CSV_OK)
        return CSV_ENOMEM;
    w->nfields = 0;
    w->row_start = w->out.len;
    return CSV_OK;
}

/* ---- parser --------------------------------------------------------------- */

enum { S_FIELD_START, S_UNQUOTED, S_QUOTED, S_QUOTE_IN_QUOTED, S_CR };

#define BOM_DONE 9

static int fail(csv_parser *p, int code, const char *message)
{
    p->err.code = code;
    p->err.line = p->line;
    p->err.field = p->noffs ? p->noffs : 1;
    p->err.message = message;
    return code;
}

int csv_parser_init(csv_parser *p, csv_encoding enc, size_t max_record, csv_row_fn fn, void *ud)
{
    memset(p, 0, sizeof *p);
    if (fn == NULL || max_record == 0 || (enc != CSV_UTF8 && enc != CSV_SJIS))
        return CSV_EINVAL;
    p->enc = enc;
    p->max_record = max_record;
    p->fn = fn;
    p->ud = ud;
    p->line = 1;
    p->state = S_FIELD_START;
    if (enc == CSV_SJIS) {
        iconv_t cd = iconv_open("UTF-8", "CP932");
        if (cd == (iconv_t)-1)
            return CSV_EINVAL;
        p->cd = cd;
    }
    return CSV_OK;
}

void csv_parser_free(csv_parser *p)
{
    if (p->cd != NULL)
        iconv_close((iconv_t)p->cd);
    csv_buf_free(&p->rec);
    free(p->offs);
    memset(p, 0, sizeof *p);
}

static int push_field(csv_parser *p)
{
    if (p->noffs == p->capoffs) {
        size_t cap = p->capoffs ? p->capoffs * 2 : 16;
        size_t *o = realloc(p->offs, cap * sizeof *o);
        if (o == NULL)
            return fail(p, CSV_ENOMEM, "out of memory");
        p->offs = o;
        p->capoffs = cap;
    }
    p->offs[p->noffs++] = p->rec.len;
    return CSV_OK;
}

static int begin_record(csv_parser *p)
{
    if (p->rec_started)
        return CSV_OK;
    p->rec_started = 1;
    p->rec_line = p->line;
    p->rec.len = 0;
    p->noffs = 0;
    return push_field(p);
}

static int end_field(csv_parser *p)
{
    if (buf_byte(&p->rec, '\0') != CSV_OK)
        return fail(p, CSV_ENOMEM, "out of memory");
    return push_field(p);
}

/* Hands the record to the callback: field pointers and lengths are laid
 * out in one allocation so a row costs one malloc. */
static int emit(csv_parser *p)
{
    size_t n = p->noffs, i;
    char **fields;
    size_t *lens;
    int stop;

    if (buf_byte(&p->rec, '\0') != CSV_OK)
        return fail(p, CSV_ENOMEM, "out of memory");
    fields = malloc(n * (sizeof *fields + sizeof *lens));
    if (fields == NULL)
        return fail(p, CSV_ENOMEM, "out of memory");
    lens = (size_t *)(fields + n);
    for (i = 0; i < n; i++) {
        size_t end = i + 1 < n ? p->offs[i + 1] : p->rec.len;
        fields[i] = p->rec.data + p->offs[i];
        lens[i] = end - p->offs[i] - 1;
    }
    stop = p->fn(p->ud, p->rec_line, fields, lens, n);
    free(fields);
    p->rec_started = 0;
    p->rec_bytes = 0;
    p->noffs = 0;
    p->rec.len = 0;
    p->state = S_FIELD_START;
    if (stop)
        return fail(p, CSV_ESTOPPED, "stopped");
    return CSV_OK;
}

/* Incremental UTF-8 check (no overlongs, surrogates or > U+10FFFF). */
static int utf8_ok(csv_parser *p, unsigned char c)
{
    if (p->u8_need > 0) {
        if (c < p->u8_lo || c > p->u8_hi)
            return 0;
        p->u8_need--;
        p->u8_lo = 0x80;
        p->u8_hi = 0xBF;
        return 1;
    }
    p->u8_lo = 0x80;
    p->u8_hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        p->u8_need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        p->u8_need = 2;
        if (c == 0xE0)
            p->u8_lo = 0xA0;
        else if (c == 0xED)
            p->u8_hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        p->u8_need = 3;
        if (c == 0xF0)
            p->u8_lo = 0x90;
        else if (c == 0xF4)
            p->u8_hi = 0x8F;
    } else
        return 0;
    return 1;
}

static int step(csv_parser *p, unsigned char c)
{
    int rc = CSV_OK;

    if (c == '\0')
        return fail(p, CSV_ENUL, "a NUL byte");
    if (!utf8_ok(p, c))
        return fail(p, CSV_EENCODING,
                    p->enc == CSV_SJIS ? "not valid Shift_JIS (CP932)" : "not valid UTF-8");
    if (p->rec_started || (c != '\r' && c != '\n')) {
        if (++p->rec_bytes > p->max_record)
            return fail(p, CSV_ETOOLONG, "a line longer than the limit");
    }
    switch (p->state) {
    case S_FIELD_START:
        if (c == ',') {
            if ((rc = begin_record(p)) == CSV_OK)
                rc = end_field(p);
        } else if (c == '"') {
            rc = begin_record(p);
            p->quote_line = p->line;
            p->state = S_QUOTED;
        } else if (c == '\r')
            p->state = S_CR;
        else if (c == '\n') {
            if (p->rec_started)
                rc = emit(p);
        } else if ((rc = begin_record(p)) == CSV_OK) {
            rc = buf_byte(&p->rec, (char)c) == CSV_OK ? CSV_OK : fail(p, CSV_ENOMEM, "no memory");
            p->state = S_UNQUOTED;
        }
        break;
    case S_UNQUOTED:
        if (c == ',') {
            rc = end_field(p);
            p->state = S_FIELD_START;
        } else if (c == '"')
            rc = fail(p, CSV_EQUOTE, "a quote inside an unquoted field");
        else if (c == '\r')
            p->state = S_CR;
        else if (c == '\n')
            rc = emit(p);
        else if (buf_byte(&p->rec, (char)c) != CSV_OK)
            rc = fail(p, CSV_ENOMEM, "out of memory");
        break;
    case S_QUOTED:
        if (c == '"')
            p->state = S_QUOTE_IN_QUOTED;
        else if (buf_byte(&p->rec, (char)c) != CSV_OK)
            rc = fail(p, CSV_ENOMEM, "out of memory");
        break;
    case S_QUOTE_IN_QUOTED:
        if (c == '"') {
            p->state = S_QUOTED;
            if (buf_byte(&p->rec, '"') != CSV_OK)
                rc = fail(p, CSV_ENOMEM, "out of memory");
        } else if (c == ',') {
            rc = end_field(p);
            p->state = S_FIELD_START;
        } else if (c == '\r')
            p->state = S_CR;
        else if (c == '\n')
            rc = emit(p);
        else
            rc = fail(p, CSV_EAFTERQUOTE, "characters after a closing quote");
        break;
    case S_CR:
        if (c != '\n')
            return fail(p, CSV_EBARECR, "a CR not followed by LF");
        p->state = S_FIELD_START;
        if (p->rec_started)
            rc = emit(p);
        break;
    }
    if (c == '\n')
        p->line++;
    return rc;
}

static int feed_utf8(csv_parser *p, const unsigned char *d, size_t len)
{
    size_t i;
    int rc;

    for (i = 0; i < len; i++)
        if ((rc = step(p, d[i])) != CSV_OK)
            return rc;
    return CSV_OK;
}

/* CP932 -> UTF-8 through a bounded output buffer, then the parser.  An
 * invalid byte is reported where the parser stands after everything
 * before it: that is its line and field. */
static int feed_sjis(csv_parser *p, const unsigned char *d, size_t len)
{
    char out[4096];
    int rc;

    while (len > 0) {
        char *in = (char *)d, *o = out;
        size_t inleft = len, oleft = sizeof out, r, used;
        int e;

        r = iconv((iconv_t)p->cd, &in, &inleft, &o, &oleft);
        e = errno;
        used = len - inleft;
        if ((rc = feed_utf8(p, (const unsigned char *)out, (size_t)(o - out))) != CSV_OK)
            return rc;
        d += used;
        len -= used;
        if (r != (size_t)-1)
            break;
        if (e == E2BIG && used + (size_t)(o - out) > 0)
            continue;
        if (e == EINVAL && len == 1) {
            memcpy(p->pend, d, len);
            p->npend = len;
            return CSV_OK;
        }
        return fail(p, CSV_EENCODING, "not valid Shift_JIS (CP932)");
    }
    return CSV_OK;
}

/* A lead byte held back from the last chunk, completed by this one's
 * first byte (a CP932 character is one or two bytes). */
static int feed_sjis_pending(csv_parser *p, const unsigned char **d, size_t *len)
{
    char tmp[2], out[8];
    char *in = tmp, *o = out;
    size_t inleft = 2, oleft = sizeof out;

    if (p->npend == 0 || *len == 0)
        return CSV_OK;
    tmp[0] = (char)p->pend[0];
    tmp[1] = (char)(*d)[0];
    p->npend = 0;
    *d += 1;
    *len -= 1;
    if (iconv((iconv_t)p->cd, &in, &inleft, &o, &oleft) == (size_t)-1 || inleft != 0)
        return fail(p, CSV_EENCODING, "not valid Shift_JIS (CP932)");
    return feed_utf8(p, (const unsigned char *)out, (size_t)(o - out));
}

int csv_parser_feed(csv_parser *p, const void *data, size_t len)
{
    const unsigned char *d = data;
    int rc;

    if (p->err.code != CSV_OK)
        return p->err.code;
    if (p->enc == CSV_SJIS) {
        /* A UTF-8 file sent as Shift_JIS: say so rather than "invalid". */
        size_t i;
        for (i = 0; i < len && p->bom_pos < 3; i++)
            p->bom_pos = d[i] == utf8_bom[p->bom_pos] ? p->bom_pos + 1 : BOM_DONE;
        if (p->bom_pos == 3)
            return fail(p, CSV_EENCODING,
                        "the file is UTF-8 (it starts with a BOM), not "
                        "Shift_JIS");
        if ((rc = feed_sjis_pending(p, &d, &len)) != CSV_OK)
            return rc;
        return feed_sjis(p, d, len);
    }
    while (p->bom_pos < 3 && len > 0) {
        if (*d != utf8_bom[p->bom_pos]) {
            /* Not a BOM after all: what matched so far is data. */
            int had = p->bom_pos;
            p->bom_pos = BOM_DONE;
            if ((rc = feed_utf8(p, utf8_bom, (size_t)had)) != CSV_OK)
                return rc;
            break;
        }
        p->bom_pos++;
        d++;
        len--;
    }
    return feed_utf8(p, d, len);
}

int csv_parser_finish(csv_parser *p)
{
    int rc;

    if (p->err.code != CSV_OK)
        return p->err.code;
    if (p->enc == CSV_UTF8 && p->bom_pos > 0 && p->bom_pos < 3) {
        int had = p->bom_pos;
        p->bom_pos = BOM_DONE;
        if ((rc = feed_utf8(p, utf8_bom, (size_t)had)) != CSV_OK)
            return rc;
    }
    if (p->npend > 0 || p->u8_need > 0)
        return fail(p, CSV_EENCODING,
                    p->enc == CSV_SJIS ? "not valid Shift_JIS (CP932): the file ends inside "
                                         "a character"
                                       : "not valid UTF-8: the file ends inside a character");
    if (p->state == S_QUOTED) {
        rc = fail(p, CSV_EUNTERMINATED, "a quote that is never closed");
        p->err.line = p->quote_line;
        return rc;
    }
    if (p->state == S_CR)
        return fail(p, CSV_EBARECR, "a CR not followed by LF");
    if (p->rec_started)
        return emit(p);
    return CSV_OK;
}

