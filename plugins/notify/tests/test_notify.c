/*
 * test_notify.c - the plugin in the testkit (no network, a scripted
 * database): settings checks, recipients read by the payload's order id
 * only (S8), one curl_run per contact, a failed send retried with only
 * the recipients not yet reached, nothing sent for a tenant without
 * e-mail, the SMTP password never logged (S16).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

#include "keys.h"

#define ORDER "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c10"
#define PASSWORD "smtp-pw-canary-41b7"

typedef struct script {
    int inserts;
    char sent_hash[65]; /* a 'sent' row the log "has" (retry) */
} script;

static void db(const char *tenant, const char *sql, int nparams, const char *const *params,
               tn_db_result *res, void *ud)
{
    script *s = ud;
    (void)tenant;
    (void)nparams;
    (void)params;
    if (strstr(sql, "FROM orders_orders") != NULL) {
        tk_db_columns(res, 7, "number", "status", "total", "delivery_date", "name", "cname",
                      "email");
        tk_db_row(res, "1001", "placed", "12345", "2026-12-24", "商店", "山田",
                  "yamada@buyer.example.jp");
        tk_db_row(res, "1001", "placed", "12345", "2026-12-24", "商店", "Sato",
                  "sato@buyer.example.jp");
        tk_db_row(res, "1001", "placed", "12345", "2026-12-24", "商店", "Evil",
                  "evil@example.jp\r\nRCPT TO:<x@example.jp>");
    } else if (strstr(sql, "SELECT recipient_hash") != NULL) {
        tk_db_columns(res, 1, "recipient_hash");
        if (s->sent_hash[0])
            tk_db_row(res, s->sent_hash);
    } else if (strncmp(sql, "INSERT INTO notify_deliveries", 29) == 0) {
        s->inserts++;
        tk_db_affected(res, 1);
    }
}

static tk_kit *kit(script *s)
{
    tk_kit *tk = tk_new();
    CU_ASSERT_EQUAL_FATAL(tk_load(tk, tn_plugin_entry()), TN_OK);
    tk_enable(tk, "shop1", 1);
    tk_set(tk, "shop1", "smtp_url", "smtp://smtp.example.jp:587/shop.example.jp");
    tk_set(tk, "shop1", "smtp_user", "notify");
    tk_set(tk, "shop1", "smtp_password", PASSWORD);
    tk_set(tk, "shop1", "mail_from", "noreply@shop.example.jp");
    tk_enable(tk, "shop2", 1); /* no smtp_url: no e-mail */
    tk_db_handler(tk, db, s);
    return tk;
}

/* An order.placed of tenant in the outbox, as the orders plugin writes it. */
static void publish(tk_kit *tk, const char *tenant)
{
    const tn_api *api = tk_api(tk);
    tn_tx *tx = NULL;
    CU_ASSERT_EQUAL_FATAL(api->tx_begin(tk_plugin(tk, "notify"), tenant, &tx), TN_OK);
    CU_ASSERT_EQUAL(api->tx_publish(tx, "order.placed",
                                    "{\"id\":\"" ORDER "\",\"email\":"
                                    "\"attacker@evil.example\"}"),
                    TN_OK);
    CU_ASSERT_EQUAL(api->tx_commit(tx, NULL, NULL), TN_OK);
    tk_run_pending(tk);
}

static size_t count_sql(tk_kit *tk, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < tk_db_count(tk); i++)
        if (strstr(tk_db_at(tk, i)->sql, needle))
            n++;
    return n;
}

static void test_checks(void)
{
    script s = {0};
    tk_kit *tk = kit(&s);
    tk_set(tk, "shop1", "smtp_url", "http://smtp.example.jp/");
    tk_set(tk, "shop1", "mail_from", "Shop <noreply@shop.example.jp>");
    tk_set(tk, "shop1", "language", "fr");
    tk_set(tk, "shop1", "line_api_base", "https://api.line.me/");
    CU_ASSERT_TRUE(tk_check(tk) > 0);
    CU_ASSERT_TRUE(tk_has_error(tk, "shop1", "smtp_url"));
    CU_ASSERT_TRUE(tk_has_error(tk, "shop1", "language"));
    CU_ASSERT_TRUE(tk_has_error(tk, "shop1", "line_api_base"));
    tk_set(tk, "shop1", "smtp_url", "smtp://smtp.example.jp:587/shop.example.jp");
    tk_set(tk, "shop1", "language", "ja");
    tk_set(tk, "shop1", "line_api_base", "https://api.line.me");
    CU_ASSERT_TRUE(tk_check(tk) > 0);
    CU_ASSERT_TRUE(tk_has_error(tk, "shop1", "mail_from"));
    tk_set(tk, "shop1", "mail_from", "noreply@shop.example.jp");
    CU_ASSERT_EQUAL(tk_check(tk), 0);
    tk_free(tk);
}

static void test_order_event_sends_to_contacts(void)
{
    script s = {0};
    tk_kit *tk = kit(&s);
    publish(tk, "shop1");
    tk_run_events(tk);
    tk_run_pending(tk);
    /* S8: the order is read by the payload's id; its "email" is ignored. */
    size_t i;
    for (i = 0; i < tk_db_count(tk); i++)
        if (strstr(tk_db_at(tk, i)->sql, "FROM orders_orders"))
            break;
    CU_ASSERT_FATAL(i < tk_db_count(tk));
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, i)->params[0], ORDER);
    CU_ASSERT_STRING_EQUAL(tk_db_at(tk, i)->tenant, "shop1");
    CU_ASSERT_EQUAL(tk_curl_run_count(tk), 2); /* the CR/LF address is refused */
    CU_ASSERT_EQUAL(s.inserts, 3);             /* sent, sent, refused */
    CU_ASSERT_STRING_EQUAL(tk_outbox_at(tk, 0)->state, "delivered");
    CU_ASSERT_TRUE(tk_log_contains(tk, "refused (address)"));
    CU_ASSERT_FALSE(tk_log_contains(tk, "yamada@"));
    CU_ASSERT_FALSE(tk_log_contains(tk, PASSWORD));
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 0);
    tk_free(tk);
}

static void test_failed_send_retries_only_the_rest(void)
{
    script s = {0};
    tk_kit *tk = kit(&s);
    tk_curl_result(tk, TN_OK, 0, NULL);                               /* yamada */
    tk_curl_result(tk, TN_ENETWORK, 7, "Couldn't connect to server"); /* sato */
    publish(tk, "shop1");
    tk_run_events(tk);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_curl_run_count(tk), 2);
    CU_ASSERT_STRING_EQUAL(tk_outbox_at(tk, 0)->state, "pending");
    CU_ASSERT_EQUAL(tk_outbox_at(tk, 0)->attempts, 1);
    CU_ASSERT_EQUAL(s.inserts, 3); /* sent + failed + refused, in a transaction of their own */
    /* The retry: the log has yamada's 'sent' row, so only sato is sent. */
    notify_hash_addr("shop1", "yamada@buyer.example.jp", s.sent_hash);
    tk_run_events(tk);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_curl_run_count(tk), 3);
    CU_ASSERT_STRING_EQUAL(tk_outbox_at(tk, 0)->state, "delivered");
    CU_ASSERT_FALSE(tk_log_contains(tk, PASSWORD));
    tk_free(tk);
}

static void test_tenant_without_mail_sends_nothing(void)
{
    script s = {0};
    tk_kit *tk = kit(&s);
    publish(tk, "shop2");
    tk_run_events(tk);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_curl_run_count(tk), 0);
    CU_ASSERT_EQUAL(count_sql(tk, "FROM orders_orders"), 0);
    CU_ASSERT_STRING_EQUAL(tk_outbox_at(tk, 0)->state, "delivered");
    tk_free(tk);
}

/* The preview route: tenant admins only, sample values, 404/400. */
static void test_preview(void)
{
    script s = {0};
    tk_kit *tk = kit(&s);
    tn_request *r = tk_req_new(tk, "shop1", "GET", "/api/v1/notify/preview?event=order.placed");
    tk_req_run(r);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    tk_req_free(r);
    tk_free(tk);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("notify_plugin", NULL, NULL);
    CU_add_test(s, "checks", test_checks);
    CU_add_test(s, "order_event_sends_to_contacts", test_order_event_sends_to_contacts);
    CU_add_test(s, "failed_send_retries_only_the_rest", test_failed_send_retries_only_the_rest);
    CU_add_test(s, "tenant_without_mail_sends_nothing", test_tenant_without_mail_sends_nothing);
    CU_add_test(s, "preview", test_preview);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
