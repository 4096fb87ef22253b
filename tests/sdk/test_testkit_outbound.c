/*
 * test_testkit_outbound.c - the testkit's outbound calls (SDK 1.2): the
 * scripted replies, what was sent, and the host's rules a plugin's unit
 * test relies on (callbacks later, never inside http_call; cancellation by
 * the plugin, by an aborted client and by the kit going away, before fini).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <tanomu/testkit.h>

#define CHARGE "https://pay.example.jp/v1/charge?order=o1"

static const tn_api *api;
static int last_result;
static char events[256]; /* "c" a callback ran, "f" fini ran */

static void on_reply(tn_plugin *self, const tn_http_response *res, void *ud)
{
    tn_request *req = ud;
    char body[256];

    (void)self;
    last_result = res->result;
    strncat(events, "c", sizeof events - strlen(events) - 1);
    if (res->result != TN_OK) {
        api->resp_error(req, res->result == TN_ETIMEDOUT ? 504 : 502, "upstream", res->error);
    } else {
        const char *ct = "";
        for (size_t i = 0; i < res->nheaders; i++)
            if (strcmp(res->headers[i].name, "content-type") == 0)
                ct = res->headers[i].value;
        snprintf(body, sizeof body, "%d %s %.*s", res->status, ct, (int)res->body_len, res->body);
        api->resp_status(req, 200);
        api->resp_body(req, body, strlen(body));
    }
    api->req_resume(req, TN_DONE);
}

/* GET /pay?url=U[&cancel=1][&redirects=N][&max=N] */
static tn_status pay(tn_plugin *self, tn_request *req, void *ud)
{
    tn_http_header h[] = {{"Idempotency-Key", "o1"}, {"Content-Type", "application/json"}};
    tn_http_request r;
    tn_call *call;
    const char *v;

    (void)ud;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    r.url = api->req_query_param(req, "url");
    r.headers = h;
    r.nheaders = 2;
    r.body = "{\"amount\":1200}";
    r.body_len = strlen(r.body);
    r.timeout_ms = 5000;
    if ((v = api->req_query_param(req, "redirects")) != NULL)
        r.max_redirects = (uint32_t)atoi(v);
    if ((v = api->req_query_param(req, "max")) != NULL)
        r.max_response = (size_t)atoi(v);
    if (api->http_call(self, req, &r, on_reply, req, &call) != TN_OK)
        return TN_ERROR;
    strncat(events, "s", sizeof events - strlen(events) - 1); /* returned */
    if (api->req_query_param(req, "cancel"))
        api->call_cancel(call);
    return TN_SUSPEND;
}

static void on_fire(tn_plugin *self, const tn_http_response *res, void *ud)
{
    (void)self;
    (void)ud;
    last_result = res->result;
    strncat(events, "c", sizeof events - strlen(events) - 1);
}

/* GET /fire: a call tied to no request. */
static tn_status fire(tn_plugin *self, tn_request *req, void *ud)
{
    tn_http_request r = {.size = sizeof r, .url = "https://slow.example.jp/"};

    (void)ud;
    api->resp_status(req, 202);
    return api->http_call(self, NULL, &r, on_fire, NULL, NULL) == TN_OK ? TN_DONE : TN_ERROR;
}

static void on_curl(tn_plugin *self, void *easy, int result, int code, const char *err, void *ud)
{
    tn_request *req = ud;
    char body[200];

    (void)self;
    snprintf(body, sizeof body, "%s %d %d %s", (char *)easy, result, code, err);
    api->resp_status(req, 200);
    api->resp_body(req, body, strlen(body));
    api->req_resume(req, TN_DONE);
}

static tn_status mail(tn_plugin *self, tn_request *req, void *ud)
{
    static char fake_easy[] = "easy";

    (void)ud;
    return api->curl_run(self, req, fake_easy, on_curl, req, NULL) == TN_OK ? TN_SUSPEND : TN_ERROR;
}

static int ob_init(tn_plugin *self, const tn_api *a)
{
    api = a;
    return a->route_add(self, "GET", "/pay", TN_ACCESS_PUBLIC, NULL, pay, NULL) ||
           a->route_add(self, "GET", "/fire", TN_ACCESS_PUBLIC, NULL, fire, NULL) ||
           a->route_add(self, "GET", "/mail", TN_ACCESS_PUBLIC, NULL, mail, NULL);
}

static void ob_fini(tn_plugin *self)
{
    (void)self;
    strncat(events, "f", sizeof events - strlen(events) - 1);
}

static const tn_plugin_desc ob_desc = {.size = sizeof(tn_plugin_desc),
                                       .abi_major = TN_SDK_ABI_MAJOR,
                                       .abi_minor = TN_SDK_ABI_MINOR,
                                       .name = "ob",
                                       .version = "1",
                                       .init = ob_init,
                                       .fini = ob_fini};

static tk_kit *kit(void)
{
    tk_kit *tk = tk_new();

    CU_ASSERT_EQUAL_FATAL(tk_load(tk, &ob_desc), TN_OK);
    tk_enable(tk, "shop1", 1);
    events[0] = '\0';
    last_result = 99;
    return tk;
}

static tn_request *pay_req(tk_kit *tk, const char *query)
{
    char target[600];

    snprintf(target, sizeof target, "/pay?%s", query);
    return tk_request(tk, "shop1", "GET", target);
}

static void test_reply_and_sent(void)
{
    tk_kit *tk = kit();
    CU_ASSERT_EQUAL(tk_http_reply(tk, "POST", CHARGE, 201,
                                  "Content-Type: application/json\n"
                                  "X-Req: 7",
                                  "{\"id\":\"ch_1\"}"),
                    TN_OK);
    tn_request *r = pay_req(tk, "url=https%3A%2F%2Fpay.example.jp%2Fv1%2Fcharge%3Forder%3Do1");
    /* The callback never runs inside http_call: the request waits. */
    CU_ASSERT_EQUAL(tk_req_pending(r), 1);
    CU_ASSERT_STRING_EQUAL(events, "s");
    tk_run_pending(tk);
    CU_ASSERT_STRING_EQUAL(events, "sc");
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "201 application/json {\"id\":\"ch_1\"}");
    CU_ASSERT_EQUAL_FATAL(tk_http_sent_count(tk), 1);
    const tk_http_sent *s = tk_http_sent_at(tk, 0);
    CU_ASSERT_STRING_EQUAL(s->plugin, "ob");
    CU_ASSERT_STRING_EQUAL(s->method, "POST");
    CU_ASSERT_STRING_EQUAL(s->url, CHARGE);
    CU_ASSERT_STRING_EQUAL(tk_http_sent_header(s, "idempotency-key"), "o1");
    CU_ASSERT_PTR_NULL(tk_http_sent_header(s, "authorization"));
    CU_ASSERT_STRING_EQUAL(s->body, "{\"amount\":1200}");
    CU_ASSERT_EQUAL(s->timeout_ms, 5000);
    CU_ASSERT_TRUE(s->tied_to_request);
    CU_ASSERT_PTR_NULL(tk_http_sent_at(tk, 1));
    tk_free(tk);
}

static void test_failures(void)
{
    tk_kit *tk = kit();
    tk_http_fail(tk, NULL, "https://slow.example.jp/x", TN_ETIMEDOUT, NULL);
    tn_request *r = pay_req(tk, "url=https%3A%2F%2Fslow.example.jp%2Fx");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(last_result, TN_ETIMEDOUT);
    CU_ASSERT_EQUAL(tk_resp_status(r), 504);
    /* Unscripted: https is a network failure, plain http the policy's. */
    pay_req(tk, "url=https%3A%2F%2Fnowhere.example.jp%2F");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(last_result, TN_ENETWORK);
    pay_req(tk, "url=http%3A%2F%2F127.0.0.1%2F");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(last_result, TN_EPOLICY);
    /* A body over the cap. */
    tk_http_reply(tk, NULL, "https://big.example.jp/", 200, NULL, "0123456789");
    pay_req(tk, "url=https%3A%2F%2Fbig.example.jp%2F&max=5");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(last_result, TN_ETOOBIG);
    /* Method mismatch: a GET script does not answer the POST. */
    tk_http_reply(tk, "GET", "https://get.example.jp/", 200, NULL, "x");
    pay_req(tk, "url=https%3A%2F%2Fget.example.jp%2F");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(last_result, TN_ENETWORK);
    tk_free(tk);
}

static void test_redirects(void)
{
    tk_kit *tk = kit();
    tk_http_reply(tk, NULL, "https://a.example.jp/", 303, "Location: https://b.example.jp/", NULL);
    tk_http_reply(tk, "GET", "https://b.example.jp/", 200, NULL, "landed");
    tn_request *r = pay_req(tk, "url=https%3A%2F%2Fa.example.jp%2F");
    tk_run_pending(tk);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "303  ");
    r = pay_req(tk, "url=https%3A%2F%2Fa.example.jp%2F&redirects=1");
    tk_run_pending(tk);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "200  landed");
    CU_ASSERT_EQUAL_FATAL(tk_http_sent_count(tk), 3);
    CU_ASSERT_STRING_EQUAL(tk_http_sent_at(tk, 2)->method, "GET");
    CU_ASSERT_STRING_EQUAL(tk_http_sent_at(tk, 2)->url, "https://b.example.jp/");
    tk_free(tk);
}

static void test_cancellation(void)
{
    tk_kit *tk = kit();
    tk_http_reply(tk, NULL, "https://a.example.jp/", 200, NULL, "ok");
    /* By the plugin. */
    pay_req(tk, "url=https%3A%2F%2Fa.example.jp%2F&cancel=1");
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(last_result, TN_ECANCELED);
    /* By a client that goes away. */
    tn_request *r = pay_req(tk, "url=https%3A%2F%2Fa.example.jp%2F");
    tk_req_abort(r);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(last_result, TN_ECANCELED);
    /* By the kit going away (a stopping worker): before fini. */
    events[0] = '\0';
    CU_ASSERT_EQUAL(tk_resp_status(tk_request(tk, "shop1", "GET", "/fire")), 202);
    tk_free(tk);
    CU_ASSERT_EQUAL(last_result, TN_ECANCELED);
    CU_ASSERT_STRING_EQUAL(events, "cf");
}

static void test_curl_run(void)
{
    tk_kit *tk = kit();
    tk_curl_result(tk, TN_ENETWORK, 7, "Couldn't connect");
    tn_request *r = tk_request(tk, "shop1", "GET", "/mail");
    CU_ASSERT_EQUAL(tk_req_pending(r), 1);
    tk_run_pending(tk);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "easy -23 7 Couldn't connect");
    r = tk_request(tk, "shop1", "GET", "/mail");
    tk_run_pending(tk);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "easy 0 0 ");
    CU_ASSERT_EQUAL(tk_curl_run_count(tk), 2);
    tk_free(tk);
}

static void test_bad_arguments(void)
{
    tk_kit *tk = kit();
    tn_plugin *p = tk_plugin(tk, "ob");
    tn_http_header bad = {"X-A", "v\r\nInjected: 1"};
    tn_http_request r = {.size = sizeof r,
                         .url = "https://a.example.jp/",
                         .headers = &bad,
                         .nheaders = 1};
    const tn_api *a = tk_api(tk);

    CU_ASSERT_EQUAL(a->http_call(p, NULL, &r, on_fire, NULL, NULL), TN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(a->last_error(p), "header"));
    r.nheaders = 0;
    r.url = NULL;
    CU_ASSERT_EQUAL(a->http_call(p, NULL, &r, on_fire, NULL, NULL), TN_EINVAL);
    CU_ASSERT_EQUAL(tk_http_sent_count(tk), 0);
    tk_free(tk);
}

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"reply and what was sent", test_reply_and_sent},
        {"scripted and unscripted failures", test_failures},
        {"redirects only when asked", test_redirects},
        {"cancellation: plugin, client, kit before fini", test_cancellation},
        {"curl_run scripted results", test_curl_run},
        {"bad arguments refused with last_error", test_bad_arguments},
    };
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite suite = CU_add_suite("testkit outbound", NULL, NULL);
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!suite || CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
            return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
