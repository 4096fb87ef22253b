/*
 * export.c - GET /api/v1/export/{buyers,products,prices,orders}.csv (A5):
 * a cursor declared in the request's transaction, fetched 1,000 rows at
 * a time, each batch written as CSV (csv.c) through the streaming
 * response; the next FETCH is sent only when the previous piece has left
 * the process, so a million order lines go out in constant memory and a
 * slow client slows the export down instead of filling memory.
 *
 * Staff and tenant admins, authenticated within 5 minutes (S6); each
 * finished export writes an audit entry and publishes orders.exported in
 * the same transaction (S20).  The request stays suspended until the
 * last piece: commit, resume, then resp_end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders.h"
#include "csv.h"

#define EXPORT_BATCH "1000"
#define EXPORT_MAX_COLS 20

typedef struct export_kind {
    const char *name;                  /* URL and file name: name.csv; audit target */
    const char *cols[EXPORT_MAX_COLS]; /* header row, NULL-terminated */
    const char *numeric;               /* 'n' per column the program writes as a number */
    const char *sql;                   /* DECLARE ... ; orders: $1 from, $2 to (dates, JST) */
    int nparams;
} export_kind;

static const export_kind kinds[] = {
    {"products",
     {"code", "name", "kana", "unit", "unit_price", "tax_rate", "category", "stock_status",
      "active", NULL},
     "....nn...",
     "DECLARE orders_export NO SCROLL CURSOR FOR "
     "SELECT code, name, kana, unit, unit_price, tax_rate, category, stock_status, "
     "active::text FROM orders_products ORDER BY code",
     0},
    {"buyers",
     {"code", "name", "kana", "postal_code", "address", "phone", "closing_day", "active", NULL},
     "......n.",
     "DECLARE orders_export NO SCROLL CURSOR FOR "
     "SELECT code, name, kana, postal_code, address, phone, closing_day, active::text "
     "FROM orders_buyers ORDER BY code",
     0},
    {"prices",
     {"buyer_code", "product_code", "unit_price", NULL},
     "..n",
     "DECLARE orders_export NO SCROLL CURSOR FOR "
     "SELECT b.code, p.code, x.unit_price FROM orders_prices x "
     "JOIN orders_buyers b ON b.tenant_id = x.tenant_id AND b.id = x.buyer_id "
     "JOIN orders_products p ON p.tenant_id = x.tenant_id AND p.id = x.product_id "
     "ORDER BY b.code, p.code",
     0},
    {"orders",
     {"number", "placed_at", "buyer_code", "status", "delivery_date", "line_no", "product_code",
      "product_name", "unit", "unit_price", "tax_rate", "quantity", "shipped_quantity", "amount",
      "subtotal", "tax_8", "tax_10", "total", NULL},
     "n....n...nnnnnnnnn",
     "DECLARE orders_export NO SCROLL CURSOR FOR "
     "SELECT o.number, to_char(o.placed_at AT TIME ZONE 'Asia/Tokyo', "
     "'YYYY-MM-DD\"T\"HH24:MI:SS\"+09:00\"'), b.code, o.status, o.delivery_date::text, "
     "l.line_no, l.product_code, l.product_name, l.unit, l.unit_price, l.tax_rate, "
     "l.quantity, l.shipped_quantity, l.amount, o.subtotal, o.tax_8, o.tax_10, o.total "
     "FROM orders_orders o "
     "JOIN orders_buyers b ON b.tenant_id = o.tenant_id AND b.id = o.buyer_id "
     "JOIN orders_lines l ON l.tenant_id = o.tenant_id AND l.order_id = o.id "
     "WHERE ($1::date IS NULL OR o.placed_at >= ($1::date)::timestamp AT TIME ZONE "
     "'Asia/Tokyo') AND ($2::date IS NULL OR o.placed_at < ($2::date + 1)::timestamp "
     "AT TIME ZONE 'Asia/Tokyo') "
     "ORDER BY o.number, l.line_no",
     2},
};

typedef struct export_job {
    orders_ctx *ctx;
    tn_request *req;
    const export_kind *kind;
    csv_encoding enc;
    csv_writer w; /* w.out: the batch formatted and not yet handed over */
    long long rows;
    int fetching;     /* a FETCH is out */
    int writing;      /* a piece is out whose done has not run */
    int last;         /* no more FETCH: the last came back short, or stop */
    int ending;       /* commit or rollback asked: nothing more starts */
    int unmappable;   /* CP932 cannot hold a character: send what is whole, stop */
    const char *stop; /* set: send nothing more, roll back instead of committing */
} export_job;

static void job_free(export_job *job)
{
    csv_writer_free(&job->w);
    free(job);
}

/* Ends the request after the stream began: committed or not, the
 * suspended handler resumes and the chunked body is closed. */
static void job_end(export_job *job)
{
    tn_request *req = job->req;
    const tn_api *api = job->ctx->api;

    job_free(job);
    api->req_resume(req, TN_DONE);
    api->resp_end(req);
}

static void on_ended(tn_request *req, const tn_db_result *res, void *ud)
{
    export_job *job = ud;

    if (job->stop == NULL && job->ctx->api->db_status(res) != TN_OK)
        job->ctx->api->req_log(req, TN_LOG_ERROR, "orders: export audit not committed");
    job_end(job);
}

/* The head is gone and the SDK cannot abort a stream: the body just ends.
 * What stays true is the audit log: no entry and no event for an export
 * that did not finish. */
static void job_rollback(export_job *job)
{
    const tn_api *api = job->ctx->api;

    api->req_log(job->req, TN_LOG_WARN, "orders: export of %s stopped: %s", job->kind->name,
                 job->stop);
    if (api->db_rollback(job->req, on_ended, job) != TN_OK)
        job_end(job);
}

static void job_commit(export_job *job)
{
    const tn_api *api = job->ctx->api;
    char *payload = NULL;
    json_t *j = json_pack("{s:s, s:I, s:s, s:s?}", "kind", job->kind->name, "rows",
                          (json_int_t)job->rows, "encoding",
                          job->enc == CSV_SJIS ? "shift_jis" : "utf-8", "user",
                          api->req_principal(job->req));

    payload = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (payload == NULL ||
        api->db_audit(job->req, "orders.export", job->kind->name, NULL, "ok") != TN_OK ||
        api->db_publish(job->req, "orders.exported", payload) != TN_OK ||
        api->db_commit(job->req, on_ended, job) != TN_OK) {
        job->stop = "audit or event not written";
        job_rollback(job);
    }
    free(payload);
}

static void on_fetched(tn_request *req, const tn_db_result *res, void *ud);
static void on_written(tn_request *req, int status, void *ud);

/* Moves the export on.  At most one piece is out (in the host's send
 * queue) and one batch waits formatted here: the next FETCH goes out as
 * soon as the previous batch was handed over, so the database works while
 * the client reads, and a slow client stops the fetching.  The job ends
 * only when neither a FETCH nor a write is out, so no callback can find
 * it freed. */
static void job_pump(export_job *job)
{
    const tn_api *api = job->ctx->api;

    if (job->ending)
        return;
    if (job->stop != NULL)
        job->last = 1;
    if (!job->writing && job->w.out.len > 0 && job->stop == NULL) {
        /* resp_write copies the piece; the buffer is emptied first since
         * done may run inside it. */
        const char *data = job->w.out.data;
        size_t len = job->w.out.len;
        job->w.out.len = 0;
        job->w.row_start = 0;
        job->writing = 1;
        if (api->resp_write(job->req, data, len, on_written, job) != TN_OK) {
            job->writing = 0;
            job->stop = "the response could not be written";
            job->last = 1;
        }
        if (job->ending)
            return;
    }
    if (!job->fetching && !job->last && job->w.out.len == 0) {
        job->fetching = 1;
        if (api->db_query(job->req, "FETCH " EXPORT_BATCH " FROM orders_export", 0, NULL,
                          on_fetched, job) != TN_OK) {
            job->fetching = 0;
            job->stop = "FETCH could not be sent";
            job->last = 1;
        }
    }
    if (job->fetching || job->writing || (job->w.out.len > 0 && job->stop == NULL))
        return;
    job->ending = 1;
    if (job->unmappable && job->stop == NULL)
        job->stop = "a character with no Shift_JIS form (export in UTF-8)";
    if (job->stop != NULL)
        job_rollback(job);
    else
        job_commit(job);
}

static void on_written(tn_request *req, int status, void *ud)
{
    export_job *job = ud;

    (void)req;
    job->writing = 0;
    if ((status != 0 || job->ctx->api->req_is_aborted(job->req)) && job->stop == NULL)
        job->stop = "the client went away";
    job_pump(job);
}

static void on_fetched(tn_request *req, const tn_db_result *res, void *ud)
{
    export_job *job = ud;
    const tn_api *api = job->ctx->api;
    int rows, cols, r, c, rc = CSV_OK;

    job->fetching = 0;
    if (api->db_status(res) != TN_OK) {
        if (job->stop == NULL)
            job->stop = "FETCH failed";
        job_pump(job);
        return;
    }
    rows = api->db_rows(res);
    cols = api->db_cols(res);
    for (r = 0; r < rows && rc == CSV_OK; r++) {
        for (c = 0; c < cols && rc == CSV_OK; c++) {
            int flags = job->kind->numeric[c] == 'n' ? CSV_NUMBER : 0;
            rc = csv_write_str(&job->w, api->db_value(res, r, c), flags);
        }
        if (rc == CSV_OK)
            rc = csv_end_row(&job->w);
    }
    job->rows += rows;
    job->last = rows < atoi(EXPORT_BATCH);
    if (rc == CSV_EUNMAPPABLE) {
        api->req_log(req, TN_LOG_WARN,
                     "orders: export of %s: row %lld column %d has a character with no "
                     "Shift_JIS form",
                     job->kind->name, job->rows - rows + r, job->w.err_field);
        /* The rows before it are whole: they go out, then the export stops. */
        job->last = 1;
        job->unmappable = 1;
    } else if (rc != CSV_OK && job->stop == NULL)
        job->stop = "out of memory";
    job_pump(job);
}

/* The cursor exists: the answer is a CSV file from here on. */
static void on_declared(tn_request *req, const tn_db_result *res, void *ud)
{
    export_job *job = ud;
    const tn_api *api = job->ctx->api;
    char disposition[96];
    int i, rc = CSV_OK;

    if (api->db_status(res) != TN_OK) {
        api->resp_db_error(req, res);
        job_free(job);
        api->req_resume(req, TN_DONE);
        return;
    }
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s.csv\"", job->kind->name);
    api->resp_status(req, 200);
    api->resp_header(req, "Content-Type",
                     job->enc == CSV_SJIS ? "text/csv; charset=Shift_JIS"
                                          : "text/csv; charset=utf-8");
    api->resp_header(req, "Content-Disposition", disposition);
    api->resp_header(req, "Cache-Control", "no-store");
    if (api->resp_stream_begin(req) != TN_OK) {
        job_free(job);
        api->req_resume(req, TN_ERROR);
        return;
    }
    for (i = 0; job->kind->cols[i] != NULL && rc == CSV_OK; i++)
        rc = csv_write_str(&job->w, job->kind->cols[i], 0);
    if (rc == CSV_OK)
        rc = csv_end_row(&job->w);
    if (rc != CSV_OK)
        job->stop = "out of memory";
    job_pump(job);
}

/* "YYYY-MM-DD" (the database checks that the day exists). */
static int date_shaped(const char *s)
{
    int i;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

/* ?encoding=utf-8|shift_jis (default utf-8); -1 after answering 400.
 * Shared with import.c. */
int orders_csv_encoding(orders_ctx *ctx, tn_request *req, csv_encoding *enc)
{
    const char *e = ctx->api->req_query_param(req, "encoding");
    json_t *f = NULL;

    *enc = CSV_UTF8;
    if (e == NULL || strcmp(e, "utf-8") == 0 || strcmp(e, "utf8") == 0)
        return 0;
    if (strcmp(e, "shift_jis") == 0 || strcmp(e, "sjis") == 0 || strcmp(e, "cp932") == 0) {
        *enc = CSV_SJIS;
        return 0;
    }
    orders_field_error(&f, "encoding", "must be utf-8 or shift_jis");
    orders_error_fields(ctx, req, 400, "invalid_query", "A query parameter is not valid.", f);
    return -1;
}

static tn_status export_handler(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    const char *kind = api->req_param(req, "kind");
    const export_kind *k = NULL;
    const char *params[2] = {NULL, NULL};
    orders_caller caller;
    export_job *job;
    json_t *f = NULL;
    csv_encoding enc;
    size_t i;

    (void)self;
    if (orders_caller_get(ctx, req, ORDERS_ROLE_STAFF, &caller) != 0)
        return TN_DONE;
    for (i = 0; kind != NULL && i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].name);
        if (strncmp(kind, kinds[i].name, n) == 0 && strcmp(kind + n, ".csv") == 0)
            k = &kinds[i];
    }
    if (k == NULL) {
        api->resp_error(req, 404, "not_found", "No such export.");
        return TN_DONE;
    }
    if (orders_csv_encoding(ctx, req, &enc) != 0)
        return TN_DONE;
    if (k->nparams == 2) {
        params[0] = api->req_query_param(req, "from");
        params[1] = api->req_query_param(req, "to");
        if (params[0] != NULL && !date_shaped(params[0]))
            orders_field_error(&f, "from", "must be a date YYYY-MM-DD");
        if (params[1] != NULL && !date_shaped(params[1]))
            orders_field_error(&f, "to", "must be a date YYYY-MM-DD");
        if (f != NULL) {
            orders_error_fields(ctx, req, 400, "invalid_query", "A query parameter is not valid.",
                                f);
            return TN_DONE;
        }
    }
    job = calloc(1, sizeof *job);
    if (job == NULL || csv_writer_init(&job->w, enc) != CSV_OK) {
        if (job != NULL)
            job_free(job);
        return TN_ERROR;
    }
    job->ctx = ctx;
    job->req = req;
    job->kind = k;
    job->enc = enc;
    if (api->db_query(req, k->sql, k->nparams, k->nparams ? params : NULL, on_declared, job) !=
        TN_OK) {
        job_free(job);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

int orders_export_routes_add(orders_ctx *ctx)
{
    static const tn_route_opts recent = {.size = sizeof recent,
                                         .max_auth_age_s = ORDERS_REAUTH_MAX_AGE_S};
    const tn_api *api = ctx->api;

    return api->route_add_opts(ctx->self, "GET", ORDERS_API "/export/:kind", TN_ACCESS_ROLES,
                               "staff,tenant_admin", export_handler, ctx, &recent);
}
