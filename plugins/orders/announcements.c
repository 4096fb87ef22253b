/*
 * announcements.c - announcements and planned maintenance shown after login
 * (A1, A11): notices, maintenance and change announcements with a display
 * window and an audience, and the tenant's weekly maintenance window from
 * its settings.
 *
 *   GET    /api/v1/announcements      any role: those shown now to the caller's audience;
 *                                     staff may ask ?all=1 (past, future, every audience)
 *   GET    /api/v1/announcements/:id  staff+, with ETag
 *   POST   /api/v1/announcements      staff+: 201, audited, event announcement.published
 *   PATCH  /api/v1/announcements/:id  staff+, If-Match, audited
 *   DELETE /api/v1/announcements/:id  staff+, audited
 *
 * Times are RFC 3339 in and out; answers are in Japan time (+09:00).  A
 * PATCH is validated as the whole merged announcement, so a change of kind
 * cannot leave a maintenance notice without its window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orders.h"

#define JST_OFFSET_S (9 * 3600)
#define ANN_TITLE_MAX 200
#define ANN_BODY_MAX 10000

#define JST(col) "to_char(" col " AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+09:00\"')"
/* Column order of every answer: see row_json(); the version is column 9. */
/* clang-format off */
#define ANN_COLS                                                                           \
    "id::text, kind, audience, title, body, " JST("display_from") ", " JST("display_until") \
    ", " JST("maintenance_from") ", " JST("maintenance_until") ", version::text, "          \
    JST("created_at") ", " JST("updated_at") ", created_by"
/* clang-format on */

/* Exported for the unit test (tests/test_announcements.c). */
int64_t orders_weekly_next_start(int64_t now, int weekday, int start_minute, int minutes);

static const char *const ann_fields[] = {"kind",
                                         "audience",
                                         "title",
                                         "body",
                                         "display_from",
                                         "display_until",
                                         "maintenance_from",
                                         "maintenance_until",
                                         NULL};

/* One request's work, in the request's memory. */
typedef struct ann_op {
    orders_ctx *ctx;
    orders_caller caller;
    json_t *patch;     /* PATCH: the body */
    long long version; /* PATCH: If-Match */
    const char *id;
    const char *action; /* audit action once written */
    char *reply;        /* answered after the commit */
    int status;
    char etag_version[24];
} ann_op;

/* ---- the weekly maintenance window --------------------------------------------- */

static void rfc3339_jst(int64_t t, char *out, size_t n)
{
    time_t local = (time_t)(t + JST_OFFSET_S);
    struct tm tm;

    gmtime_r(&local, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%S+09:00", &tm);
}

/* The start (Unix seconds) of the weekly window in progress at `now`, or
 * else of the next one.  JST has no daylight saving: a fixed offset. */
int64_t orders_weekly_next_start(int64_t now, int weekday, int start_minute, int minutes)
{
    int64_t local = now + JST_OFFSET_S;
    int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    int today = (int)((day + 4) % 7); /* 1970-01-01 was a Thursday (4) */
    int64_t start;

    if (today < 0)
        today += 7;
    start = (day + (weekday - today + 7) % 7) * 86400 + (int64_t)start_minute * 60 - JST_OFFSET_S;
    if (start + (int64_t)minutes * 60 <= now) /* this week's is over */
        start += 7 * 86400;
    else if (start - 7 * 86400 + (int64_t)minutes * 60 > now) /* last week's still runs */
        start -= 7 * 86400;
    return start;
}

static json_t *weekly_json(const orders_settings *s, int64_t now)
{
    char start[8], next[40], end[40];
    int64_t t;

    if (s->maint_minutes <= 0)
        return json_null();
    t = orders_weekly_next_start(now, s->maint_weekday, s->maint_start_minute, s->maint_minutes);
    rfc3339_jst(t, next, sizeof next);
    rfc3339_jst(t + (int64_t)s->maint_minutes * 60, end, sizeof end);
    snprintf(start, sizeof start, "%02d:%02d", s->maint_start_minute / 60 % 24,
             s->maint_start_minute % 60);
    return json_pack("{s:i, s:s, s:i, s:s, s:s, s:s, s:b}", "weekday", s->maint_weekday, "start",
                     start, "minutes", s->maint_minutes, "timezone", "Asia/Tokyo", "next_start",
                     next, "next_end", end, "in_progress", t <= now);
}

/* ---- validation ----------------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" to Unix seconds; -1 if not. */
static int parse_rfc3339(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    const char *p;

    if (s == NULL || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    p = s + 19;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            return -1;
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    }
    if (strcmp(p, "Z") != 0) {
        if ((p[0] != '+' && p[0] != '-') || strlen(p) != 6 || digits(p + 1, 2, &oh) ||
            p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        sign = p[0] == '+' ? 1 : -1;
    }
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
           sign * (oh * 3600 + om * 60);
    return 0;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return 1;
    return 0;
}

/* A time field: absent/null -> 0 with *t untouched; valid -> 1; else a
 * field error and -1. */
static int time_field(json_t *o, const char *name, int64_t *t, json_t **fields)
{
    json_t *v = json_object_get(o, name);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || parse_rfc3339(json_string_value(v), t) != 0) {
        orders_field_error(fields, name,
                           "must be an RFC 3339 time, e.g. 2026-12-09T14:00:00+09:00");
        return -1;
    }
    return 1;
}

static void check_text(json_t *o, const char *name, size_t min, size_t max, json_t **fields)
{
    json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);
    char why[64];

    if (v == NULL && min == 0)
        return;
    if (s == NULL || strlen(s) != json_string_length(v) || utf8_chars(s) < min ||
        utf8_chars(s) > max) {
        snprintf(why, sizeof why, "must be text of %zu to %zu characters", min, max);
        orders_field_error(fields, name, why);
    }
}

static void check_window(json_t *o, const char *from, const char *until, int required,
                         json_t **fields)
{
    int64_t a = 0, b = 0;
    int fa = time_field(o, from, &a, fields), fb = time_field(o, until, &b, fields);

    if (required && fa == 0)
        orders_field_error(fields, from, "is required");
    if (required && fb == 0)
        orders_field_error(fields, until, "is required");
    if (fa == 1 && fb == 1 && b <= a)
        orders_field_error(fields, until, "must be after its start");
}

/* The whole announcement o (a POST body, or a row merged with a PATCH). */
static json_t *validate(json_t *o)
{
    static const char *const kinds[] = {"notice", "maintenance", "change", NULL};
    static const char *const audiences[] = {"all", "staff", "buyers", NULL};
    json_t *fields = NULL;
    const char *kind = json_string_value(json_object_get(o, "kind"));

    if (!one_of(kind, kinds))
        orders_field_error(&fields, "kind", "must be notice, maintenance or change");
    if (!one_of(json_string_value(json_object_get(o, "audience")), audiences))
        orders_field_error(&fields, "audience", "must be all, staff or buyers");
    check_text(o, "title", 1, ANN_TITLE_MAX, &fields);
    check_text(o, "body", 0, ANN_BODY_MAX, &fields);
    check_window(o, "display_from", "display_until", 1, &fields);
    if (kind != NULL && strcmp(kind, "maintenance") == 0) {
        check_window(o, "maintenance_from", "maintenance_until", 1, &fields);
    } else {
        int64_t t;
        if (time_field(o, "maintenance_from", &t, &fields) == 1)
            orders_field_error(&fields, "maintenance_from", "only for kind maintenance");
        if (time_field(o, "maintenance_until", &t, &fields) == 1)
            orders_field_error(&fields, "maintenance_until", "only for kind maintenance");
    }
    return fields;
}

/* Fields of the body must be ones a caller sets; NULL if so. */
static json_t *unknown_fields(json_t *body)
{
    json_t *fields = NULL, *v;
    const char *k;

    json_object_foreach(body, k, v)
    {
        (void)v;
        if (!one_of(k, ann_fields))
            orders_field_error(&fields, k, "is not a field of an announcement");
    }
    return fields;
}

static void invalid(ann_op *op, tn_request *req, json_t *fields)
{
    orders_error_fields(op->ctx, req, 422, "validation_failed", "The announcement is not valid.",
                        fields);
}

/* ---- rows and answers ------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *row_json(const tn_api *api, const tn_db_result *res, int i)
{
    static const char *const names[] = {"id",
                                        "kind",
                                        "audience",
                                        "title",
                                        "body",
                                        "display_from",
                                        "display_until",
                                        "maintenance_from",
                                        "maintenance_until",
                                        NULL,
                                        "created_at",
                                        "updated_at",
                                        "created_by"};
    json_t *o = json_object();

    for (int c = 0; o != NULL && c < (int)(sizeof names / sizeof names[0]); c++) {
        if (names[c] == NULL)
            json_object_set_new(o, "version",
                                json_integer(strtoll(api->db_value(res, i, c), NULL, 10)));
        else
            json_object_set_new(o, names[c], str_or_null(api->db_value(res, i, c)));
    }
    return o;
}

/* A uuid's text form, so that a malformed id is a plain 404. */
static int uuid_text(const char *s)
{
    static const char hex[] = "0123456789abcdefABCDEF";

    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (strchr(hex, s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

static ann_op *op_new(orders_ctx *ctx, tn_request *req, orders_role min)
{
    ann_op *op = ctx->api->req_alloc(req, sizeof *op);

    if (op == NULL)
        return NULL;
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    if (orders_caller_get(ctx, req, min, &op->caller) != 0)
        op->status = -1; /* answered 403 */
    return op;
}

static void not_found(ann_op *op, tn_request *req)
{
    op->ctx->api->resp_error(req, 404, "not_found", "No such announcement.");
}

static void finish(ann_op *op, tn_request *req)
{
    json_decref(op->patch);
    op->patch = NULL;
    op->ctx->api->req_resume(req, TN_DONE);
}

static void db_failed(ann_op *op, tn_request *req, const tn_db_result *res)
{
    op->ctx->api->resp_db_error(req, res);
    finish(op, req);
}

static void committed(tn_request *req, const tn_db_result *res, void *ud)
{
    ann_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        db_failed(op, req, res);
        return;
    }
    if (op->etag_version[0])
        orders_etag_set(op->ctx, req, op->etag_version);
    if (op->reply != NULL)
        api->resp_json(req, op->status, op->reply);
    else
        api->resp_status(req, op->status);
    finish(op, req);
}

/* Audits the written row, keeps the answer and commits; for a create, the
 * event goes into the same transaction. */
static void written(ann_op *op, tn_request *req, const tn_db_result *res, const char *event)
{
    const tn_api *api = op->ctx->api;
    json_t *row = row_json(api, res, 0);
    char *text = row ? json_dumps(row, JSON_COMPACT) : NULL;

    snprintf(op->etag_version, sizeof op->etag_version, "%s", api->db_value(res, 0, 9));
    op->reply = text ? api->req_strdup(req, text) : NULL;
    if (op->reply == NULL ||
        api->db_audit(req, op->action, "announcement", api->db_value(res, 0, 0), "ok") != TN_OK ||
        (event != NULL && api->db_publish(req, event, op->reply) != TN_OK) ||
        api->db_commit(req, committed, op) != TN_OK) {
        api->resp_error(req, 500, "internal", "The announcement was not recorded.");
        finish(op, req);
    }
    free(text);
    json_decref(row);
}

/* ---- GET /api/v1/announcements ---------------------------------------------------- */

static void listed(tn_request *req, const tn_db_result *res, void *ud)
{
    ann_op *op = ud;
    const tn_api *api = op->ctx->api;
    const tn_config *cfg = api->req_config(req, op->ctx->self);
    orders_settings s;
    json_t *list, *out;

    if (api->db_status(res) != TN_OK) {
        db_failed(op, req, res);
        return;
    }
    memset(&s, 0, sizeof s);
    if (cfg != NULL)
        orders_settings_read(op->ctx, cfg, &s);
    list = json_array();
    for (int i = 0; list != NULL && i < api->db_rows(res); i++)
        json_array_append_new(list, row_json(api, res, i));
    out = list ? json_pack("{s:o, s:o}", "announcements", list, "weekly_maintenance",
                           weekly_json(&s, (int64_t)time(NULL)))
               : NULL;
    if (out != NULL)
        api->resp_header(req, "Cache-Control", "no-store");
    orders_reply(op->ctx, req, 200, out);
    finish(op, req);
}

static tn_status h_list(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    ann_op *op = op_new(ctx, req, ORDERS_ROLE_BUYER);
    const char *all = api->req_query_param(req, "all");
    char lim[16];
    int limit;

    (void)self;
    if (op == NULL)
        return TN_ERROR;
    if (op->status < 0)
        return TN_DONE;
    if (all != NULL && strcmp(all, "1") != 0 && strcmp(all, "0") != 0) {
        json_t *f = NULL;
        orders_field_error(&f, "all", "must be 0 or 1");
        orders_error_fields(ctx, req, 400, "invalid_query", "A query parameter is not valid.", f);
        return TN_DONE;
    }
    all = all != NULL && strcmp(all, "1") == 0 ? "1" : "0";
    if (all[0] == '1' && op->caller.role < ORDERS_ROLE_STAFF) {
        api->resp_error(req, 403, "forbidden", "Only staff may list every announcement.");
        return TN_DONE;
    }
    if ((limit = orders_limit(ctx, req)) < 0)
        return TN_DONE;
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[3] = {all, op->caller.role == ORDERS_ROLE_BUYER ? "buyers" : "staff", lim};
    if (api->db_query(req,
                      "SELECT " ANN_COLS " FROM orders_announcements WHERE $1 = '1' OR "
                      "(display_from <= now() AND display_until > now() AND "
                      "audience IN ('all', $2)) ORDER BY display_from DESC, id LIMIT $3::int",
                      3, p, listed, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- GET /api/v1/announcements/:id -------------------------------------------------- */

static void got(tn_request *req, const tn_db_result *res, void *ud)
{
    ann_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        db_failed(op, req, res);
        return;
    }
    if (api->db_rows(res) != 1) {
        not_found(op, req);
    } else {
        orders_etag_set(op->ctx, req, api->db_value(res, 0, 9));
        orders_reply(op->ctx, req, 200, row_json(api, res, 0));
    }
    finish(op, req);
}

static tn_status h_get(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    ann_op *op = op_new(ctx, req, ORDERS_ROLE_STAFF);
    const char *p[1];

    (void)self;
    if (op == NULL)
        return TN_ERROR;
    if (op->status < 0)
        return TN_DONE;
    p[0] = ctx->api->req_param(req, "id");
    if (!uuid_text(p[0])) {
        not_found(op, req);
        return TN_DONE;
    }
    if (ctx->api->db_query(req, "SELECT " ANN_COLS " FROM orders_announcements WHERE id = $1::uuid",
                           1, p, got, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

/* ---- POST /api/v1/announcements ------------------------------------------------------ */

static void created(tn_request *req, const tn_db_result *res, void *ud)
{
    ann_op *op = ud;
    const tn_api *api = op->ctx->api;
    char loc[128];

    if (api->db_status(res) != TN_OK || api->db_rows(res) != 1) {
        db_failed(op, req, res);
        return;
    }
    snprintf(loc, sizeof loc, ORDERS_API "/announcements/%s", api->db_value(res, 0, 0));
    api->resp_header(req, "Location", loc);
    op->status = 201;
    op->action = "announcement.create";
    written(op, req, res, "announcement.published");
}

static const char *opt_str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k)); /* NULL: absent or null, SQL NULL */
}

static tn_status h_create(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    ann_op *op = op_new(ctx, req, ORDERS_ROLE_STAFF);
    json_t *body, *fields;
    tn_status st = TN_DONE;

    (void)self;
    if (op == NULL)
        return TN_ERROR;
    if (op->status < 0 || (body = orders_body_object(ctx, req)) == NULL)
        return TN_DONE;
    if (json_object_get(body, "kind") == NULL)
        json_object_set_new(body, "kind", json_string("notice"));
    if (json_object_get(body, "audience") == NULL)
        json_object_set_new(body, "audience", json_string("all"));
    if ((fields = unknown_fields(body)) != NULL || (fields = validate(body)) != NULL) {
        invalid(op, req, fields);
        goto done;
    }
    const char *p[10] = {ctx->api->req_tenant(req),
                         opt_str(body, "kind"),
                         opt_str(body, "audience"),
                         opt_str(body, "title"),
                         opt_str(body, "body") ? opt_str(body, "body") : "",
                         opt_str(body, "display_from"),
                         opt_str(body, "display_until"),
                         opt_str(body, "maintenance_from"),
                         opt_str(body, "maintenance_until"),
                         op->caller.user_id};
    st = ctx->api->db_query(req,
                            "INSERT INTO orders_announcements (tenant_id, kind, audience, title, "
                            "body, display_from, display_until, maintenance_from, "
                            "maintenance_until, created_by) VALUES ($1, $2, $3, $4, $5, "
                            "$6::timestamptz, $7::timestamptz, $8::timestamptz, $9::timestamptz, "
                            "$10) RETURNING " ANN_COLS,
                            10, p, created, op) == TN_OK
             ? TN_SUSPEND
             : TN_ERROR;
done:
    json_decref(body);
    return st;
}

/* ---- PATCH /api/v1/announcements/:id --------------------------------------------------- */

static void updated(tn_request *req, const tn_db_result *res, void *ud)
{
    ann_op *op = ud;

    if (op->ctx->api->db_status(res) != TN_OK || op->ctx->api->db_rows(res) != 1) {
        db_failed(op, req, res);
        return;
    }
    op->status = 200;
    op->action = "announcement.update";
    written(op, req, res, NULL);
}

/* The row as it is, locked: check the version, merge, validate, write. */
static void locked(tn_request *req, const tn_db_result *res, void *ud)
{
    ann_op *op = ud;
    const tn_api *api = op->ctx->api;
    json_t *row, *fields;

    if (api->db_status(res) != TN_OK) {
        db_failed(op, req, res);
        return;
    }
    if (api->db_rows(res) != 1) {
        not_found(op, req);
        finish(op, req);
        return;
    }
    if (strtoll(api->db_value(res, 0, 9), NULL, 10) != op->version) {
        api->resp_error(req, 412, "precondition_failed",
                        "The announcement changed since you read it; read it again.");
        finish(op, req);
        return;
    }
    row = row_json(api, res, 0);
    if (row == NULL || json_object_update(row, op->patch) != 0) {
        json_decref(row);
        api->resp_error(req, 500, "internal", "The announcement could not be merged.");
        finish(op, req);
        return;
    }
    if ((fields = validate(row)) != NULL) {
        invalid(op, req, fields);
        json_decref(row);
        finish(op, req);
        return;
    }
    const char *p[9] = {op->id,
                        opt_str(row, "kind"),
                        opt_str(row, "audience"),
                        opt_str(row, "title"),
                        opt_str(row, "body") ? opt_str(row, "body") : "",
                        opt_str(row, "display_from"),
                        opt_str(row, "display_until"),
                        opt_str(row, "maintenance_from"),
                        opt_str(row, "maintenance_until")};
    if (api->db_query(req,
                      "UPDATE orders_announcements SET kind = $2, audience = $3, title = $4, "
                      "body = $5, display_from = $6::timestamptz, display_until = "
                      "$7::timestamptz, maintenance_from = $8::timestamptz, maintenance_until = "
                      "$9::timestamptz, version = version + 1, updated_at = now() "
                      "WHERE id = $1::uuid RETURNING " ANN_COLS,
                      9, p, updated, op) != TN_OK) {
        api->resp_error(req, 500, "internal", "The announcement could not be updated.");
        finish(op, req);
    }
    json_decref(row); /* the parameters were copied by db_query */
}

static tn_status h_update(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    ann_op *op = op_new(ctx, req, ORDERS_ROLE_STAFF);
    json_t *fields;
    const char *p[1];

    (void)self;
    if (op == NULL)
        return TN_ERROR;
    if (op->status < 0)
        return TN_DONE;
    op->id = ctx->api->req_param(req, "id");
    if (!uuid_text(op->id)) {
        not_found(op, req);
        return TN_DONE;
    }
    if ((op->version = orders_if_match(ctx, req)) == 0)
        return TN_DONE;
    if ((op->patch = orders_body_object(ctx, req)) == NULL)
        return TN_DONE;
    if ((fields = unknown_fields(op->patch)) != NULL) {
        invalid(op, req, fields);
        json_decref(op->patch);
        return TN_DONE;
    }
    p[0] = op->id;
    if (ctx->api->db_query(req,
                           "SELECT " ANN_COLS " FROM orders_announcements WHERE id = $1::uuid "
                           "FOR UPDATE",
                           1, p, locked, op) != TN_OK) {
        json_decref(op->patch);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}

/* ---- DELETE /api/v1/announcements/:id -------------------------------------------------- */

static void deleted(tn_request *req, const tn_db_result *res, void *ud)
{
    ann_op *op = ud;
    const tn_api *api = op->ctx->api;

    if (api->db_status(res) != TN_OK) {
        db_failed(op, req, res);
        return;
    }
    if (api->db_rows(res) != 1) {
        not_found(op, req);
        finish(op, req);
        return;
    }
    op->status = 204;
    if (api->db_audit(req, "announcement.delete", "announcement", api->db_value(res, 0, 0), "ok") !=
            TN_OK ||
        api->db_commit(req, committed, op) != TN_OK) {
        api->resp_error(req, 500, "internal", "The announcement was not deleted.");
        finish(op, req);
    }
}

static tn_status h_delete(tn_plugin *self, tn_request *req, void *ud)
{
    orders_ctx *ctx = ud;
    ann_op *op = op_new(ctx, req, ORDERS_ROLE_STAFF);
    const char *p[1];

    (void)self;
    if (op == NULL)
        return TN_ERROR;
    if (op->status < 0)
        return TN_DONE;
    p[0] = ctx->api->req_param(req, "id");
    if (!uuid_text(p[0])) {
        not_found(op, req);
        return TN_DONE;
    }
    if (ctx->api->db_query(
            req, "DELETE FROM orders_announcements WHERE id = $1::uuid RETURNING id::text", 1, p,
            deleted, op) != TN_OK)
        return TN_ERROR;
    return TN_SUSPEND;
}

int orders_announcements_routes_add(orders_ctx *ctx)
{
    const tn_api *api = ctx->api;
    tn_plugin *self = ctx->self;
    /* The host checks that someone signed in; the plugin's roles decide. */
    const tn_access a = TN_ACCESS_AUTHENTICATED;

    if (api->route_add(self, "GET", ORDERS_API "/announcements", a, NULL, h_list, ctx) != TN_OK ||
        api->route_add(self, "POST", ORDERS_API "/announcements", a, NULL, h_create, ctx) !=
            TN_OK ||
        api->route_add(self, "GET", ORDERS_API "/announcements/:id", a, NULL, h_get, ctx) !=
            TN_OK ||
        api->route_add(self, "PATCH", ORDERS_API "/announcements/:id", a, NULL, h_update, ctx) !=
            TN_OK ||
        api->route_add(self, "DELETE", ORDERS_API "/announcements/:id", a, NULL, h_delete, ctx) !=
            TN_OK)
        return -1;
    return 0;
}
