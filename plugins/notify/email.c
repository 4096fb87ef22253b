/*
 * email.c - the e-mail channel.  One durable event becomes:
 *   1. its recipients, read in the delivery's transaction (delivery_tx)
 *      from the database only (S8): a buyer's contacts for an order event
 *      (orders_buyers.contacts), the account's registered address
 *      (auth_users.email) for an account event, the replaced address for
 *      auth.email_changed, the tenant's security contacts (its enabled
 *      tenant_admin accounts with an address) for waf.alert; and the
 *      recipients that already have it (the delivery log of earlier
 *      attempts), who are skipped;
 *   2. one message per recipient, built by mail.c from the tenant's
 *      template, sent with curl_run (SMTP; the host requires STARTTLS and
 *      verifies the server), all at once on the worker's multi handle;
 *   3. the delivery log: every recipient sent -> rows in the delivery's
 *      transaction and delivery_done(ok), committed together; any failure
 *      -> rows in a transaction of their own (so the sent ones are known
 *      to the retry) and delivery_done(fail): the outbox retries later.
 * A recipient whose address is not a plain addr-spec is refused (logged,
 * never sent, never retried).  Secrets and addresses are never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "mail.h"
#include "notify.h"
#include "template.h"
#include "waf_alert.h"

typedef struct rcpt {
    char *addr;
    char *name; /* the contact's or the account's name, may be NULL */
} rcpt;

typedef struct mail_job {
    notify_ctx *c;
    tn_delivery *d;
    char *tenant;
    char *event;
    int64_t event_id;
    int attempt;
    json_t *payload;
    /* from the database */
    json_t *vars; /* name -> value (strings) for the templates */
    rcpt rcpts[NOTIFY_MAX_RCPT];
    int nrcpt;
    /* the attempt */
    notify_row rows[NOTIFY_MAX_RCPT];
    int nrows;
    int pending;
    int failed;
    /* the tenant's own template (notify_templates), or NULL: the shipped one */
    char *own_subject, *own_body;
} mail_job;

typedef struct mail_send {
    mail_job *j;
    int row;
    mail_buf msg;
    size_t off;
    struct curl_slist *rcpt;
} mail_send;

static void job_free(mail_job *j)
{
    if (j == NULL)
        return;
    for (int i = 0; i < j->nrcpt; i++) {
        free(j->rcpts[i].addr);
        free(j->rcpts[i].name);
    }
    json_decref(j->payload);
    json_decref(j->vars);
    free(j->own_subject);
    free(j->own_body);
    free(j->tenant);
    free(j->event);
    free(j);
}

static const char *pstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void var(mail_job *j, const char *name, const char *value)
{
    json_object_set_new(j->vars, name, json_string(value ? value : ""));
}

/* 1234567 -> "1,234,567" */
static void yen(const char *digits, char *out, size_t cap)
{
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0 && digits[0] != '-')
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

/* ---- the end of an attempt ------------------------------------------------- */

static void failed_logged(tn_tx *tx, const tn_db_result *res, void *ud)
{
    mail_job *j = ud;
    (void)tx;
    if (j->c->api->db_status(res) != TN_OK)
        j->c->api->log(j->c->self, TN_LOG_WARN, "failed attempt not logged: status %d",
                       j->c->api->db_status(res));
    j->c->api->delivery_done(j->d, 0, "e-mail not sent to every recipient");
    job_free(j);
}

static void failed_rows(tn_tx *tx, int ok, void *ud)
{
    mail_job *j = ud;
    if (!ok || j->c->api->tx_commit(tx, failed_logged, j) != TN_OK) {
        j->c->api->tx_rollback(tx, NULL, NULL);
        j->c->api->delivery_done(j->d, 0, "e-mail not sent; log not written");
        job_free(j);
    }
}

static void sent_rows(tn_tx *tx, int ok, void *ud)
{
    mail_job *j = ud;
    (void)tx;
    j->c->api->delivery_done(j->d, ok, ok ? NULL : "delivery log not written");
    job_free(j);
}

static void finish(mail_job *j)
{
    const tn_api *api = j->c->api;
    tn_tx *own = NULL;

    if (!j->failed) {
        if (notify_log_rows(j->c, api->delivery_tx(j->d), j->event_id, j->event, "email",
                            j->attempt, j->rows, j->nrows, sent_rows, j) != TN_OK) {
            api->delivery_done(j->d, 0, "delivery log not written");
            job_free(j);
        }
        return;
    }
    if (api->tx_begin(j->c->self, j->tenant, &own) != TN_OK ||
        notify_log_rows(j->c, own, j->event_id, j->event, "email", j->attempt, j->rows, j->nrows,
                        failed_rows, j) != TN_OK) {
        if (own)
            api->tx_rollback(own, NULL, NULL);
        api->delivery_done(j->d, 0, "e-mail not sent to every recipient");
        job_free(j);
    }
}

/* ---- sending --------------------------------------------------------------- */

static size_t read_msg(char *buf, size_t size, size_t n, void *ud)
{
    mail_send *s = ud;
    size_t room = size * n, left = s->msg.len - s->off;
    size_t take = left < room ? left : room;
    memcpy(buf, s->msg.p + s->off, take);
    s->off += take;
    return take;
}

static void sent(tn_plugin *self, void *easy, int result, int curl_code, const char *error,
                 void *ud)
{
    mail_send *s = ud;
    mail_job *j = s->j;
    notify_row *row = &j->rows[s->row];
    const tn_api *api = j->c->api;

    (void)self;
    curl_easy_cleanup(easy);
    curl_slist_free_all(s->rcpt);
    if (s->msg.p) /* the message may hold a reset code: wipe it */
        sodium_memzero(s->msg.p, s->msg.len);
    mail_buf_free(&s->msg);
    free(s);
    if (result == TN_OK && curl_code == CURLE_OK) {
        row->result = "sent";
        api->metric_add(j->c->mail_sent, j->tenant, 1);
    } else {
        row->result = "failed";
        snprintf(row->detail, sizeof row->detail, "%d/%d %s", result, curl_code,
                 error ? error : "");
        j->failed = 1;
        api->metric_add(j->c->mail_failed, j->tenant, 1);
        api->log(j->c->self, TN_LOG_WARN, "e-mail for event %lld attempt %d to %s failed: %d/%d %s",
                 (long long)j->event_id, j->attempt, row->recipient, result, curl_code,
                 error ? error : "");
    }
    if (--j->pending == 0)
        finish(j);
}

/* Rendered texts may hold a reset or invitation code: wiped before free. */
static void wipe_free(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

static char *render(mail_job *j, const char *text, const rcpt *r, int keep_lf)
{
    tpl_var v[16];
    size_t n = 0;
    const char *k;
    json_t *val;

    json_object_foreach(j->vars, k, val)
    {
        if (n + 1 < sizeof v / sizeof v[0])
            v[n++] = (tpl_var){k, json_string_value(val)};
    }
    v[n++] = (tpl_var){"contact_name", r->name ? r->name : ""};
    return tpl_render(text, v, n, keep_lf);
}

/* Builds and starts one message; 0, or -1 when it could not start (the
 * row says why: refused or failed). */
static int start_send(mail_job *j, const tn_config *cfg, const notify_template *t, int i)
{
    const tn_api *api = j->c->api;
    const rcpt *r = &j->rcpts[i];
    notify_row *row = &j->rows[j->nrows];
    const char *from = api->config_str(cfg, "mail_from");
    const char *user = api->config_str(cfg, "smtp_user");
    char *subject = NULL, *body = NULL, from_env[MAIL_ADDR_MAX + 3];
    mail_send *s = NULL;
    CURL *e = NULL;

    char hash16[17];

    row->result = "failed";
    snprintf(hash16, sizeof hash16, "%.16s", row->hash);
    snprintf(row->provider_id, sizeof row->provider_id, "<notify.%lld.%s@%s>",
             (long long)j->event_id, hash16, mail_domain(from));
    s = calloc(1, sizeof *s);
    subject = render(j, t->subject, r, 0);
    body = render(j, t->body, r, 1);
    mail_msg m = {.from_addr = from,
                  .from_name = api->config_str(cfg, "mail_from_name"),
                  .to_addr = r->addr,
                  .to_name = r->name,
                  .subject = subject,
                  .body = body,
                  .msg_id = row->provider_id,
                  .date = time(NULL)};
    if (s == NULL || subject == NULL || body == NULL || mail_build(&m, &s->msg) != 0 ||
        (s->rcpt = curl_slist_append(NULL, r->addr)) == NULL || (e = curl_easy_init()) == NULL) {
        snprintf(row->detail, sizeof row->detail, "message not built");
        goto fail;
    }
    s->j = j;
    s->row = j->nrows;
    snprintf(from_env, sizeof from_env, "<%s>", from);
    curl_easy_setopt(e, CURLOPT_URL, api->config_str(cfg, "smtp_url"));
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (user[0] != '\0') {
        curl_easy_setopt(e, CURLOPT_USERNAME, user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, api->config_str(cfg, "smtp_password"));
    }
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from_env);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, s->rcpt);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_msg);
    curl_easy_setopt(e, CURLOPT_READDATA, s);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->msg.len);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)api->config_int(cfg, "smtp_timeout_ms"));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (api->curl_run(j->c->self, NULL, e, sent, s, NULL) != TN_OK) {
        snprintf(row->detail, sizeof row->detail, "not started: %s", api->last_error(j->c->self));
        goto fail;
    }
    j->nrows++;
    j->pending++;
    wipe_free(subject);
    wipe_free(body);
    return 0;
fail:
    if (e)
        curl_easy_cleanup(e);
    if (s) {
        curl_slist_free_all(s->rcpt);
        mail_buf_free(&s->msg);
        free(s);
    }
    wipe_free(subject);
    wipe_free(body);
    j->nrows++;
    j->failed = 1;
    return -1;
}

static void send_all(mail_job *j, tn_tx *tx, const tn_db_result *sent_before)
{
    const tn_api *api = j->c->api;
    const tn_config *cfg = api->tenant_config(j->c->self, j->tenant);
    const notify_template *shipped = cfg ? tpl_find(j->event, api->config_str(cfg, "language"))
                                         : NULL;
    notify_template own = {.event = j->event, .subject = j->own_subject, .body = j->own_body};
    const notify_template *t = j->own_subject && j->own_body ? &own : shipped;

    (void)tx;
    j->pending = 1; /* held until every send started */
    for (int i = 0; t != NULL && i < j->nrcpt; i++) {
        notify_row *row = &j->rows[j->nrows];
        int already = 0;
        memset(row, 0, sizeof *row);
        notify_hash_addr(j->tenant, j->rcpts[i].addr, row->hash);
        mail_mask(j->rcpts[i].addr, row->recipient, sizeof row->recipient);
        for (int k = 0; sent_before && k < api->db_rows(sent_before); k++)
            if (strcmp(api->db_value(sent_before, k, 0), row->hash) == 0)
                already = 1;
        if (already)
            continue; /* it has this event's message from an earlier attempt */
        if (!mail_addr_ok(j->rcpts[i].addr)) {
            row->result = "refused";
            snprintf(row->detail, sizeof row->detail, "not a plain address");
            api->metric_add(j->c->mail_refused, j->tenant, 1);
            api->log(j->c->self, TN_LOG_WARN, "event %lld: recipient %s refused (address)",
                     (long long)j->event_id, row->recipient);
            j->nrows++;
            continue;
        }
        start_send(j, cfg, t, i);
    }
    if (--j->pending == 0)
        finish(j);
}

/* ---- recipients ------------------------------------------------------------ */

static void on_sent_before(tn_tx *tx, const tn_db_result *res, void *ud)
{
    mail_job *j = ud;
    if (j->c->api->db_status(res) != TN_OK) {
        j->c->api->delivery_done(j->d, 0, "delivery log unreadable");
        job_free(j);
        return;
    }
    send_all(j, tx, res);
}

static void read_sent_before(mail_job *j, tn_tx *tx);

/* The tenant's own template, if any; then who already has the message. */
static void on_override(tn_tx *tx, const tn_db_result *res, void *ud)
{
    mail_job *j = ud;
    const tn_api *api = j->c->api;

    if (api->db_status(res) != TN_OK) {
        api->delivery_done(j->d, 0, "templates unreadable");
        job_free(j);
        return;
    }
    if (api->db_rows(res) == 1) {
        j->own_subject = strdup(api->db_value(res, 0, 0));
        j->own_body = strdup(api->db_value(res, 0, 1));
    }
    read_sent_before(j, tx);
}

static void read_sent_before(mail_job *j, tn_tx *tx)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)j->event_id);
    const char *p[1] = {id};
    if (j->c->api->tx_query(tx,
                            "SELECT recipient_hash FROM notify_deliveries WHERE event_id = "
                            "$1::bigint AND channel = 'email' AND result = 'sent'",
                            1, p, on_sent_before, j) != TN_OK) {
        j->c->api->delivery_done(j->d, 0, "delivery log unreadable");
        job_free(j);
    }
}

static void add_rcpt(mail_job *j, const char *addr, const char *name)
{
    if (addr == NULL || addr[0] == '\0' || j->nrcpt >= NOTIFY_MAX_RCPT)
        return;
    j->rcpts[j->nrcpt].addr = strdup(addr);
    j->rcpts[j->nrcpt].name = name ? strdup(name) : NULL;
    if (j->rcpts[j->nrcpt].addr)
        j->nrcpt++;
}

/* Order events: number, status, total, delivery date, buyer; one row per
 * contact of the buyer (name, email). */
static const char order_sql[] =
    "SELECT o.number::text, o.status, o.total::text, o.delivery_date::text, b.name, "
    "c.value->>'name', c.value->>'email' "
    "FROM orders_orders o JOIN orders_buyers b ON b.tenant_id = o.tenant_id AND b.id = o.buyer_id "
    "LEFT JOIN LATERAL jsonb_array_elements(b.contacts) WITH ORDINALITY AS c(value, ordinality) "
    "ON jsonb_typeof(c.value) = 'object' "
    "WHERE o.id = $1::uuid ORDER BY c.ordinality LIMIT 10";

/* One buyer's contacts for an announcement (the fan-out of announce.c). */
static const char announce_sql[] =
    "SELECT a.title, a.body, b.name, c.value->>'name', c.value->>'email' "
    "FROM orders_announcements a CROSS JOIN orders_buyers b "
    "LEFT JOIN LATERAL jsonb_array_elements(b.contacts) WITH ORDINALITY AS c(value, ordinality) "
    "ON jsonb_typeof(c.value) = 'object' "
    "WHERE a.id = $1::uuid AND b.id = $2::uuid AND b.active ORDER BY c.ordinality LIMIT 10";

static const char user_sql[] =
    "SELECT login, email FROM auth_users WHERE id = $1::uuid AND NOT disabled";

/* waf.alert: the tenant's security contacts (enabled tenant admins with an
 * address) and the event's time window, UTC; one row with NULL contact
 * when there is none.  Row-level security keeps both to the tenant. */
static const char waf_sql[] =
    "SELECT u.login, u.email, "
    "to_char((o.created_at - $2::int * interval '1 second') AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD HH24:MI:SS'), to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
    "FROM outbox o LEFT JOIN auth_users u ON u.tenant_id = o.tenant_id "
    "AND 'tenant_admin' = ANY (u.roles) AND NOT u.disabled AND u.email IS NOT NULL "
    "WHERE o.id = $1::bigint ORDER BY u.login LIMIT 10";

static void on_rcpts(tn_tx *tx, const tn_db_result *res, void *ud)
{
    mail_job *j = ud;
    const tn_api *api = j->c->api;
    char total[40];

    if (api->db_status(res) != TN_OK) {
        j->c->api->log(j->c->self, TN_LOG_WARN, "event %lld: recipients unreadable (sqlstate %s)",
                       (long long)j->event_id, api->db_sqlstate(res));
        api->delivery_done(j->d, 0, "recipients unreadable");
        job_free(j);
        return;
    }
    if (strcmp(j->event, NOTIFY_ANNOUNCE_MAIL) == 0) {
        for (int r = 0; r < api->db_rows(res); r++) {
            if (r == 0) {
                var(j, "title", api->db_value(res, 0, 0));
                var(j, "announcement_body", api->db_value(res, 0, 1));
                var(j, "buyer_name", api->db_value(res, 0, 2));
            }
            add_rcpt(j, api->db_value(res, r, 4), api->db_value(res, r, 3));
        }
    } else if (strcmp(j->event, NOTIFY_WAF_ALERT) == 0) {
        for (int r = 0; r < api->db_rows(res); r++) {
            if (r == 0) {
                var(j, "window_start", api->db_value(res, 0, 2));
                var(j, "window_end", api->db_value(res, 0, 3));
            }
            add_rcpt(j, api->db_value(res, r, 1), api->db_value(res, r, 0));
        }
    } else if (strncmp(j->event, "order.", 6) == 0) {
        for (int r = 0; r < api->db_rows(res); r++) {
            if (r == 0) {
                yen(api->db_value(res, 0, 2), total, sizeof total);
                var(j, "order_number", api->db_value(res, 0, 0));
                var(j, "status", api->db_value(res, 0, 1));
                var(j, "total", total);
                var(j, "delivery_date", api->db_value(res, 0, 3));
                var(j, "buyer_name", api->db_value(res, 0, 4));
            }
            add_rcpt(j, api->db_value(res, r, 6), api->db_value(res, r, 5));
        }
    } else if (api->db_rows(res) == 1) {
        var(j, "login", api->db_value(res, 0, 0));
        if (strcmp(j->event, "auth.email_changed") == 0)
            add_rcpt(j, json_string_value(json_object_get(j->payload, "old_email")),
                     api->db_value(res, 0, 0));
        else
            add_rcpt(j, api->db_value(res, 0, 1), api->db_value(res, 0, 0));
    }
    if (j->nrcpt == 0) { /* nobody to tell: done */
        api->delivery_done(j->d, 1, NULL);
        job_free(j);
        return;
    }
    const tn_config *cfg = api->tenant_config(j->c->self, j->tenant);
    if (notify_override_query(j->c, tx, j->event, cfg ? api->config_str(cfg, "language") : "ja",
                              on_override, j) != TN_OK) {
        api->delivery_done(j->d, 0, "templates unreadable");
        job_free(j);
    }
}

tn_status notify_email_event(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud)
{
    notify_ctx *c = ud;
    const tn_api *api = c->api;
    const tn_config *cfg = ev->tenant_id ? api->tenant_config(self, ev->tenant_id) : NULL;
    mail_job *j = NULL;
    const char *key;
    char mins[24];

    /* The fan-out of an announcement is sent when the announcement is. */
    const char *listed = strcmp(ev->name, NOTIFY_ANNOUNCE_MAIL) == 0 ? "announcement.published"
                                                                     : ev->name;
    if (cfg == NULL || api->config_str(cfg, "smtp_url")[0] == '\0' ||
        !notify_list_has(api->config_str(cfg, "mail_events"), listed) ||
        tpl_find(ev->name, "ja") == NULL)
        return TN_CONTINUE; /* not sent by e-mail for this tenant */
    j = calloc(1, sizeof *j);
    if (j == NULL)
        return TN_ERROR;
    j->c = c;
    j->d = d;
    j->event_id = ev->id;
    j->attempt = ev->attempt;
    j->tenant = strdup(ev->tenant_id);
    j->event = strdup(ev->name);
    j->payload = json_loads(ev->payload ? ev->payload : "{}", 0, NULL);
    j->vars = json_object();
    if (!j->tenant || !j->event || !j->vars || !json_is_object(j->payload)) {
        job_free(j);
        return TN_ERROR;
    }
    if (strcmp(ev->name, NOTIFY_ANNOUNCE_MAIL) == 0) {
        const char *p2[2] = {pstr(j->payload, "announcement_id"), pstr(j->payload, "buyer_id")};
        if (!notify_uuid_ok(p2[0]) || !notify_uuid_ok(p2[1]) ||
            api->tx_query(api->delivery_tx(d), announce_sql, 2, p2, on_rcpts, j) != TN_OK) {
            job_free(j);
            return notify_uuid_ok(p2[0]) && notify_uuid_ok(p2[1]) ? TN_ERROR : TN_CONTINUE;
        }
        return TN_SUSPEND;
    }
    if (strcmp(ev->name, NOTIFY_WAF_ALERT) == 0) {
        char iv[24], id[24];
        snprintf(id, sizeof id, "%lld", (long long)ev->id);
        const char *pw[2] = {id, iv};
        if (notify_waf_vars(j->payload, j->vars, iv, sizeof iv) != 0 ||
            api->tx_query(api->delivery_tx(d), waf_sql, 2, pw, on_rcpts, j) != TN_OK) {
            job_free(j);
            return TN_ERROR;
        }
        return TN_SUSPEND;
    }
    key = strncmp(ev->name, "order.", 6) == 0 ? "id" : "user_id";
    if (strncmp(ev->name, "order.", 6) == 0 && !notify_uuid_ok(pstr(j->payload, "id")))
        key = "order_id";
    if (!notify_uuid_ok(pstr(j->payload, key))) {
        api->log(self, TN_LOG_WARN, "event %lld (%s): no %s in the payload: not sent",
                 (long long)ev->id, ev->name, key);
        job_free(j);
        return TN_CONTINUE; /* retrying cannot help */
    }
    var(j, "operation", pstr(j->payload, "operation"));
    var(j, "token", pstr(j->payload, "token"));
    snprintf(mins, sizeof mins, "%lld",
             (long long)json_integer_value(json_object_get(j->payload, "expires_in")) / 60);
    var(j, "expires_min", mins);
    const char *p[1] = {pstr(j->payload, key)};
    if (api->tx_query(api->delivery_tx(d), key[0] == 'u' ? user_sql : order_sql, 1, p, on_rcpts,
                      j) != TN_OK) {
        job_free(j);
        return TN_ERROR;
    }
    return TN_SUSPEND;
}
