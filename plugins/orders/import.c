/*
 * import.c - POST /api/v1/import/{products,prices,buyers} with the CSV as
 * the body (A5).  The whole file is parsed (csv.c) and every row checked
 * before the database is touched; errors come back together, by line and
 * column (at most IMPORT_MAX_ERRORS).  A valid file is applied by one
 * upsert-by-code statement over all its rows (jsonb_to_recordset), so it
 * is all or nothing, and a row equal to what is stored is skipped: no
 * version bump, and re-importing a file changes nothing.  Staff and
 * tenant admins, authenticated within 5 minutes (S6); audited (S20).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "normalize.h"
#include "orders.h"
#include "csv.h"

#define IMPORT_MAX_ERRORS 100
#define IMPORT_MAX_RECORD (1024 * 1024)
#define IMPORT_MAX_COLS 12

enum { C_CODE, C_TEXT, C_REQTEXT, C_UINT, C_TAX, C_STOCK, C_BOOL, C_POSTAL, C_PHONE, C_DAY };

typedef struct import_col {
    const char *name;
    int type;
    long long max; /* characters for text, the largest value for numbers */
} import_col;

typedef struct import_kind {
    const char *name;
    import_col cols[IMPORT_MAX_COLS];
    int search;            /* add search_text from code, name, kana (columns 0..2) */
    const char *check_sql; /* unknown codes: line, reason; NULL: none */
    const char *upsert_sql;
} import_kind;

static const import_kind kinds[] = {
    {"products",
     {{"code", C_CODE, 64},
      {"name", C_REQTEXT, 200},
      {"kana", C_TEXT, 200},
      {"unit", C_REQTEXT, 20},
      {"unit_price", C_UINT, 100000000000LL},
      {"tax_rate", C_TAX, 0},
      {"category", C_TEXT, 100},
      {"stock_status", C_STOCK, 0},
      {"active", C_BOOL, 0},
      {NULL, 0, 0}},
     1,
     NULL,
     "INSERT INTO orders_products AS t (tenant_id, code, name, kana, unit, unit_price, "
     "tax_rate, category, stock_status, active, search_text) "
     "SELECT current_setting('app.tenant_id', true), r.code, r.name, r.kana, r.unit, "
     "r.unit_price, r.tax_rate, r.category, r.stock_status, r.active, r.search_text "
     "FROM jsonb_to_recordset($1::jsonb) AS r(code text, name text, kana text, unit text, "
     "unit_price bigint, tax_rate smallint, category text, stock_status text, active boolean, "
     "search_text text) "
     "ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, kana = EXCLUDED.kana, "
     "unit = EXCLUDED.unit, unit_price = EXCLUDED.unit_price, tax_rate = EXCLUDED.tax_rate, "
     "category = EXCLUDED.category, stock_status = EXCLUDED.stock_status, "
     "active = EXCLUDED.active, search_text = EXCLUDED.search_text, version = t.version + 1, "
     "updated_at = now() "
     "WHERE (t.name, t.kana, t.unit, t.unit_price, t.tax_rate, t.category, t.stock_status, "
     "t.active) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kana, EXCLUDED.unit, "
     "EXCLUDED.unit_price, EXCLUDED.tax_rate, EXCLUDED.category, EXCLUDED.stock_status, "
     "EXCLUDED.active) "
     "RETURNING (xmax = 0)"},
    {"buyers",
     {{"code", C_CODE, 64},
      {"name", C_REQTEXT, 200},
      {"kana", C_TEXT, 200},
      {"postal_code", C_POSTAL, 0},
      {"address", C_TEXT, 400},
      {"phone", C_PHONE, 0},
      {"closing_day", C_DAY, 31},
      {"active", C_BOOL, 0},
      {NULL, 0, 0}},
     1,
     NULL,
     "INSERT INTO orders_buyers AS t (tenant_id, code, name, kana, postal_code, address, phone, "
     "closing_day, active, search_text) "
     "SELECT current_setting('app.tenant_id', true), r.code, r.name, r.kana, r.postal_code, "
     "r.address, r.phone, r.closing_day, r.active, r.search_text "
     "FROM jsonb_to_recordset($1::jsonb) AS r(code text, name text, kana text, "
     "postal_code text, address text, phone text, closing_day smallint, active boolean, "
     "search_text text) "
     "ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, kana = EXCLUDED.kana, "
     "postal_code = EXCLUDED.postal_code, address = EXCLUDED.address, phone = EXCLUDED.phone, "
     "closing_day = EXCLUDED.closing_day, active = EXCLUDED.active, "
     "search_text = EXCLUDED.search_text, version = t.version + 1, updated_at = now() "
     "WHERE (t.name, t.kana, t.postal_code, t.address, t.phone, t.closing_day, t.active) "
     "IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kana, EXCLUDED.postal_code, EXCLUDED.address, "
     "EXCLUDED.phone, EXCLUDED.closing_day, EXCLUDED.active) "
     "RETURNING (xmax = 0)"},
    {"prices",
     {{"buyer_code", C_CODE, 64},
      {"product_code", C_CODE, 64},
      {"unit_price", C_UINT, 100000000000LL},
      {NULL, 0, 0}},
     0,
     "SELECT r.line, r.buyer_code, b.id IS NULL, p.id IS NULL "
     "FROM jsonb_to_recordset($1::jsonb) AS r(line int, buyer_code text, product_code text) "
     "LEFT JOIN orders_buyers b ON b.code = r.buyer_code "
     "LEFT JOIN orders_products p ON p.code = r.product_code "
     "WHERE b.id IS NULL OR p.id IS NULL ORDER BY r.line LIMIT 100",
     "INSERT INTO orders_prices AS t (tenant_id, buyer_id, product_id, unit_price) "
     "SELECT current_setting('app.tenant_id', true), b.id, p.id, r.unit_price "
     "FROM jsonb_to_recordset($1::jsonb) AS r(buyer_code text, product_code text, "
     "unit_price bigint) "
     "JOIN orders_buyers b ON b.code = r.buyer_code "
     "JOIN orders_products p ON p.code = r.product_code "
     "ON CONFLICT (tenant_id, buyer_id, product_id) DO UPDATE SET "
     "unit_price = EXCLUDED.unit_price, version = t.version + 1, updated_at = now() "
     "WHERE t.unit_price IS DISTINCT FROM EXCLUDED.unit_price "
     "RETURNING (xmax = 0)"},
};

typedef struct import_job {
    orders_ctx *ctx;
    tn_request *req;
    const import_kind *kind;
    size_t ncols;
    int header_seen;
    int wrong_columns;
    json_t *rows;    /* validated rows, as the SQL reads them */
    json_t *errors;  /* [{line, column, field, message}] */
    size_t nerrors;  /* all of them, also past the cap */
    json_t *seen;    /* key -> first line, for duplicates */
    char *rows_text; /* rows as JSON: the statement's $1 */
    int inserted, updated;
} import_job;

static void job_free(import_job *job)
{
    json_decref(job->rows);
    json_decref(job->errors);
    json_decref(job->seen);
    free(job->rows_text);
    free(job);
}

static void add_error(import_job *job, size_t line, size_t column, const char *message)
{
    json_t *e;

    job->nerrors++;
    if (json_array_size(job->errors) >= IMPORT_MAX_ERRORS)
        return;
    e = json_pack("{s:I, s:I, s:s?, s:s}", "line", (json_int_t)line, "column", (json_int_t)column,
                  "field",
                  column >= 1 && column <= job->ncols ? job->kind->cols[column - 1].name : NULL,
                  "message", message);
    if (e != NULL)
        json_array_append_new(job->errors, e);
}

/* Search text: as the API writes it (normalize.c), so an imported row
 * is found by the same searches. */
static char *search_text(const char *code, const char *name, const char *kana)
{
    size_t n = strlen(code) + strlen(name) + strlen(kana) + 3;
    char *joined = malloc(n), *out;

    if (joined == NULL)
        return NULL;
    snprintf(joined, n, "%s %s %s", code, name, kana);
    out = orders_search_fold(joined);
    free(joined);
    return out;
}

/* Digits only, at most max; -1 when not. */
static long long parse_uint(const char *s, long long max)
{
    long long v = 0;

    if (*s == '\0' || strlen(s) > 12)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= max ? v : -1;
}

static int chars_ok(const char *s, long long max)
{
    return (long long)u8_mbsnlen((const uint8_t *)s, strlen(s)) <= max;
}

static int all_of(const char *s, const char *set, size_t max)
{
    return strlen(s) <= max && strspn(s, set) == strlen(s);
}

static int postal_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return 1;
    if (n == 7)
        return all_of(s, "0123456789", 7);
    return n == 8 && s[3] == '-' && strspn(s, "0123456789") == 3 && all_of(s + 4, "0123456789", 4);
}

/* One cell into obj under its column name; a reason on error, else NULL. */
static const char *cell(json_t *obj, const import_col *col, const char *raw, char **code_out)
{
    char *v = NULL;
    const char *why = NULL;
    long long n;

    /* Every text cell may carry the writer's apostrophe ("'+81 3 ...");
     * codes, postal codes and phones are then normalised (full-width
     * digits and letters too). */
    v = csv_unneutralise(raw);
    if (v != NULL && col->type == C_CODE) {
        /* The API's code rule (normalize.c): "ｐ－００１" is "P-001". */
        char code[ORDERS_CODE_MAX + 1];
        const char *bad = orders_code_normalize(v, code);
        free(v);
        if (bad != NULL)
            return bad;
        v = strdup(code);
    } else if (v != NULL && (col->type == C_POSTAL || col->type == C_PHONE)) {
        char *norm = orders_nfkc_trim(v);
        free(v);
        v = norm;
    }
    if (v == NULL)
        return "could not be read";
    switch (col->type) {
    case C_CODE:
        if (v[0] == '\0' || !chars_ok(v, col->max))
            why = "must be 1 to 64 characters";
        else {
            json_object_set_new(obj, col->name, json_string(v));
            if (code_out != NULL && *code_out == NULL) {
                *code_out = v;
                v = NULL;
            }
        }
        break;
    case C_REQTEXT:
    case C_TEXT:
        if (col->type == C_REQTEXT && v[0] == '\0')
            why = "must not be empty";
        else if (!chars_ok(v, col->max))
            why = "is too long";
        else
            json_object_set_new(obj, col->name, json_string(v));
        break;
    case C_UINT:
    case C_DAY:
        n = parse_uint(v, col->max);
        if (n < 0 || (col->type == C_DAY && n < 1))
            why = col->type == C_DAY ? "must be a day from 1 to 31"
                                     : "must be a whole number of yen, 0 or more";
        else
            json_object_set_new(obj, col->name, json_integer(n));
        break;
    case C_TAX:
        if (strcmp(v, "8") != 0 && strcmp(v, "10") != 0)
            why = "must be 8 or 10";
        else
            json_object_set_new(obj, col->name, json_integer(atoi(v)));
        break;
    case C_STOCK:
        if (strcmp(v, "in_stock") != 0 && strcmp(v, "low") != 0 && strcmp(v, "out_of_stock") != 0)
            why = "must be in_stock, low or out_of_stock";
        else
            json_object_set_new(obj, col->name, json_string(v));
        break;
    case C_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            json_object_set_new(obj, col->name, json_true());
        else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            json_object_set_new(obj, col->name, json_false());
        else
            why = "must be true or false";
        break;
    case C_POSTAL:
        if (!postal_ok(v))
            why = "must be a postal code like 100-0001";
        else
            json_object_set_new(obj, col->name, json_string(v));
        break;
    case C_PHONE:
        if (!all_of(v, "0123456789+() -", 32))
            why = "must be digits, spaces and + ( ) -, at most 32";
        else
            json_object_set_new(obj, col->name, json_string(v));
        break;
    }
    free(v);
    return why;
}

static void data_row(import_job *job, size_t line, char **fields, size_t n)
{
    const import_kind *k = job->kind;
    json_t *obj = json_object();
    char *code = NULL, key[160];
    size_t i;
    int bad = 0;

    if (obj == NULL) {
        add_error(job, line, 1, "out of memory");
        return;
    }
    if (n != job->ncols) {
        char msg[64];
        snprintf(msg, sizeof msg, "has %zu columns, the header %zu", n, job->ncols);
        add_error(job, line, n < job->ncols ? n + 1 : job->ncols + 1, msg);
        json_decref(obj);
        return;
    }
    for (i = 0; i < n; i++) {
        const char *why = cell(obj, &k->cols[i], fields[i], &code);
        if (why != NULL) {
            add_error(job, line, i + 1, why);
            bad = 1;
        }
    }
    if (!bad) {
        /* The row's key: code, or buyer and product for a price. */
        const char *b = json_string_value(json_object_get(obj, k->cols[0].name));
        const char *p = k->search ? "" : json_string_value(json_object_get(obj, k->cols[1].name));
        json_t *first;
        snprintf(key, sizeof key, "%s\x1f%s", b ? b : "", p ? p : "");
        first = json_object_get(job->seen, key);
        if (first != NULL) {
            char msg[64];
            snprintf(msg, sizeof msg, "repeats the row of line %lld",
                     (long long)json_integer_value(first));
            add_error(job, line, 1, msg);
            bad = 1;
        } else
            json_object_set_new(job->seen, key, json_integer((json_int_t)line));
    }
    if (!bad && k->search) {
        char *st = search_text(code ? code : "", json_string_value(json_object_get(obj, "name")),
                               json_string_value(json_object_get(obj, "kana")));
        if (st == NULL)
            bad = 1;
        else
            json_object_set_new(obj, "search_text", json_string(st));
        free(st);
    }
    free(code);
    if (!bad) {
        json_object_set_new(obj, "line", json_integer((json_int_t)line));
        json_array_append_new(job->rows, obj);
    } else
        json_decref(obj);
}

static int on_row(void *ud, size_t line, char **fields, const size_t *lens, size_t n)
{
    import_job *job = ud;
    size_t i;

    (void)lens;
    if (!job->header_seen) {
        job->header_seen = 1;
        if (n != job->ncols)
            job->wrong_columns = 1;
        for (i = 0; i < n && !job->wrong_columns; i++)
            if (strcmp(fields[i], job->kind->cols[i].name) != 0)
                job->wrong_columns = 1;
        return job->wrong_columns;
    }
    data_row(job, line, fields, n);
    return 0;
}

/* Answers a file the parser refused: 413 for a line over the limit, else
 * 400, with where it went wrong. */
static void answer_parse_error(import_job *job, const csv_error *e)
{
    const char *code = e->code == CSV_ETOOLONG    ? "line_too_long"
                       : e->code == CSV_EENCODING ? "invalid_encoding"
                                                  : "invalid_csv";
    json_t *err = json_pack("{s:s, s:s, s:[{s:I, s:I, s:s}]}", "code", code, "message",
                            "The file is not CSV this import can read.", "errors", "line",
                            (json_int_t)e->line, "column", (json_int_t)e->field, "message",
                            e->message);

    orders_reply(job->ctx, job->req, e->code == CSV_ETOOLONG ? 413 : 400,
                 err ? json_pack("{s:o}", "error", err) : NULL);
}

static void answer_wrong_columns(import_job *job)
{
    json_t *cols = json_array();
    size_t i;

    for (i = 0; i < job->ncols; i++)
        json_array_append_new(cols, json_string(job->kind->cols[i].name));
    orders_reply(job->ctx, job->req, 400,
                 json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "wrong_columns", "message",
                           "The first line must name these columns, in this order.", "expected",
                           cols));
}

static void answer_rows(import_job *job, int status)
{
    json_t *err = json_pack("{s:s, s:s, s:I, s:O}", "code", "invalid_rows", "message",
                            "Some rows are not valid; nothing was imported.", "count",
                            (json_int_t)job->nerrors, "errors", job->errors);

    orders_reply(job->ctx, job->req, status, err ? json_pack("{s:o}", "error", err) : NULL);
}

static void finish(import_job *job, tn_status st)
{
    tn_request *req = job->req;
    const tn_api *api = job->ctx->api;

    job_free(job);
    api->req_resume(req, st);
}

static void on_committed(tn_request *req, const tn_db_result *res, void *ud)
{
    import_job *job = ud;
    size_t n = json_array_size(job->rows);

    if (job->ctx->api->db_status(res) != TN_OK) {
        job->ctx->api->resp_db_error(req, res);
        finish(job, TN_DONE);
        return;
    }
    orders_reply(job->ctx, req, 200,
                 json_pack("{s:s, s:I, s:I, s:I, s:I}", "kind", job->kind->name, "rows",
                           (json_int_t)n, "inserted", (json_int_t)job->inserted, "updated",
                           (json_int_t)job->updated, "unchanged",
                           (json_int_t)(n - (size_t)job->inserted - (size_t)job->updated)));
    finish(job, TN_DONE);
}

static void on_upserted(tn_request *req, const tn_db_result *res, void *ud)
{
    import_job *job = ud;
    const tn_api *api = job->ctx->api;
    int i, rows;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        finish(job, TN_DONE);
        return;
    }
    rows = api->db_rows(res);
    for (i = 0; i < rows; i++) {
        const char *v = api->db_value(res, i, 0);
        if (v != NULL && v[0] == 't')
            job->inserted++;
        else
            job->updated++;
    }
    if (api->db_audit(req, "orders.import", job->kind->name, NULL, "ok") != TN_OK ||
        api->db_commit(req, on_committed, job) != TN_OK)
        finish(job, TN_ERROR);
}

static void upsert(import_job *job)
{
    const char *params[1] = {job->rows_text};

    if (job->ctx->api->db_query(job->req, job->kind->upsert_sql, 1, params, on_upserted, job) !=
        TN_OK)
        finish(job, TN_ERROR);
}

/* Prices name buyers and products by code: each unknown one is an error
 * of its line, and nothing is written. */
static void on_checked(tn_request *req, const tn_db_result *res, void *ud)
{
    import_job *job = ud;
    const tn_api *api = job->ctx->api;
    int i, rows;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        finish(job, TN_DONE);
        return;
    }
    rows = api->db_rows(res);
    for (i = 0; i < rows; i++) {
        size_t line = (size_t)strtoull(api->db_value(res, i, 0), NULL, 10);
        if (api->db_value(res, i, 2)[0] == 't')
            add_error(job, line, 1, "no buyer has this code");
        if (api->db_value(res, i, 3)[0] == 't')
            add_error(job, line, 2, "no product has this code");
    }
    if (job->nerrors > 0) {
        answer_rows(job, 422);
        finish(job, TN_DONE);
        return;
    }
    upsert(job);
}

static tn_status import_handler(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *kind = api->req_param(req, "kind");
    orders_caller caller;
    import_job *job = NULL;
    csv_parser p;
    csv_encoding enc;
    const void *body;
    size_t len = 0, i;
    int rc;

    (void)self;
    if (orders_caller_get(ctx, req, ORDERS_ROLE_STAFF, &caller) != 0)
        return TN_DONE;
    if (orders_csv_encoding(ctx, req, &enc) != 0)
        return TN_DONE;
    job = calloc(1, sizeof *job);
    if (job == NULL)
        return TN_ERROR;
    job->ctx = ctx;
    job->req = req;
    for (i = 0; kind != NULL && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, kinds[i].name) == 0)
            job->kind = &kinds[i];
    if (job->kind == NULL) {
        job_free(job);
        api->resp_error(req, 404, "not_found", "No such import.");
        return TN_DONE;
    }
    while (job->kind->cols[job->ncols].name != NULL)
        job->ncols++;
    job->rows = json_array();
    job->errors = json_array();
    job->seen = json_object();
    body = api->req_body(req, &len);
    if (job->rows == NULL || job->errors == NULL || job->seen == NULL ||
        csv_parser_init(&p, enc, IMPORT_MAX_RECORD, on_row, job) != CSV_OK) {
        job_free(job);
        return TN_ERROR;
    }
    rc = csv_parser_feed(&p, body, body ? len : 0);
    if (rc == CSV_OK)
        rc = csv_parser_finish(&p);
    if (rc != CSV_OK && rc != CSV_ESTOPPED)
        answer_parse_error(job, &p.err);
    else if (job->wrong_columns || !job->header_seen)
        answer_wrong_columns(job);
    else if (job->nerrors > 0)
        answer_rows(job, 422);
    csv_parser_free(&p);
    if (job->wrong_columns || !job->header_seen || rc != CSV_OK || job->nerrors > 0) {
        job_free(job);
        return TN_DONE;
    }
    job->rows_text = json_dumps(job->rows, JSON_COMPACT);
    if (job->rows_text == NULL) {
        job_free(job);
        return TN_ERROR;
    }
    if (job->kind->check_sql != NULL) {
        const char *params[1] = {job->rows_text};
        rc = api->db_query(req, job->kind->check_sql, 1, params, on_checked, job);
    } else
        rc = api->db_query(req, job->kind->upsert_sql, 1, (const char *const[]){job->rows_text},
                           on_upserted, job);
    if (rc != TN_OK) {
        job_free(job);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

int orders_import_routes_add(orders_ctx *ctx)
{
    static const tn_route_opts recent = {.size = sizeof recent,
                                         .max_auth_age_s = ORDERS_REAUTH_MAX_AGE_S};

    return ctx->api->route_add_opts(ctx->self, "POST", ORDERS_API "/import/:kind", TN_ACCESS_ROLES,
                                    "staff,tenant_admin", import_handler, ctx, &recent);
}
