/*
 * test_testkit_txaudit.c - tx_audit in the testkit (ABI 1.2): an operation
 * log row (S20) from a transaction outside a request, which, as the host's,
 * is written if and only if the transaction commits, carries the
 * transaction's tenant and the actor, no client address or request id, and
 * is refused (TN_EINVAL, nothing queued) without a tenant or with an action
 * or result out of the table's rules.
 */
#include <string.h>

#include <CUnit/Basic.h>

#include <tanomu/testkit.h>

static const tn_api *api;

static int init(tn_plugin *self, const tn_api *a)
{
    (void)self;
    api = a;
    return 0;
}

static const tn_plugin_desc desc = {.size = sizeof(tn_plugin_desc),
                                    .abi_major = TN_SDK_ABI_MAJOR,
                                    .abi_minor = 2,
                                    .name = "aud",
                                    .version = "1.0",
                                    .init = init};

static void test_tx_audit_iff_committed(void)
{
    tk_kit *tk = tk_new();
    tn_plugin *p;
    tn_tx *tx;
    char long_action[130];

    CU_ASSERT_FATAL(tk_load(tk, &desc) == TN_OK);
    tk_enable(tk, "t1", 1);
    p = tk_plugin(tk, "aud");
    CU_ASSERT_TRUE_FATAL(TN_API_HAS(api, tx_audit));

    /* Rolled back: no row. */
    CU_ASSERT_EQUAL_FATAL(api->tx_begin(p, "t1", &tx), TN_OK);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", "report.send", "report", "9", "ok"), TN_OK);
    CU_ASSERT_EQUAL(api->tx_rollback(tx, NULL, NULL), TN_OK);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_audit_count(tk), 0);

    /* Out of the table's rules: refused before anything is queued. */
    memset(long_action, 'a', 129);
    long_action[129] = '\0';
    CU_ASSERT_EQUAL_FATAL(api->tx_begin(p, "t1", &tx), TN_OK);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", "", "report", "9", "ok"), TN_EINVAL);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", NULL, "report", "9", "ok"), TN_EINVAL);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", long_action, "report", "9", "ok"), TN_EINVAL);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", "report.send", "report", "9", "fine"), TN_EINVAL);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", "report.send", "report", "9", NULL), TN_EINVAL);
    CU_ASSERT_EQUAL(api->tx_audit(NULL, "job", "report.send", "report", "9", "ok"), TN_EINVAL);
    /* Committed: one row, the tenant's, the actor as user, no request. */
    CU_ASSERT_EQUAL(api->tx_audit(tx, NULL, "report.send", NULL, NULL, "failed"), TN_OK);
    CU_ASSERT_EQUAL(api->tx_commit(tx, NULL, NULL), TN_OK);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 1);
    const tk_audit_entry *e = tk_audit_at(tk, 0);
    CU_ASSERT_STRING_EQUAL(e->tenant, "t1");
    CU_ASSERT_PTR_NULL(e->user);
    CU_ASSERT_STRING_EQUAL(e->action, "report.send");
    CU_ASSERT_PTR_NULL(e->target_type);
    CU_ASSERT_PTR_NULL(e->client_addr);
    CU_ASSERT_PTR_NULL(e->request_id);
    CU_ASSERT_STRING_EQUAL(e->result, "failed");

    CU_ASSERT_EQUAL_FATAL(api->tx_begin(p, "t1", &tx), TN_OK);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "cli", "auth.user_create", "user", "u7", "ok"), TN_OK);
    CU_ASSERT_EQUAL(api->tx_commit(tx, NULL, NULL), TN_OK);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 2);
    e = tk_audit_at(tk, 1);
    CU_ASSERT_STRING_EQUAL(e->user, "cli");
    CU_ASSERT_STRING_EQUAL(e->target_type, "user");
    CU_ASSERT_STRING_EQUAL(e->target_id, "u7");

    /* No tenant bound: no audit row can be written (tenant_id NOT NULL). */
    CU_ASSERT_EQUAL_FATAL(api->tx_begin(p, NULL, &tx), TN_OK);
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", "report.send", NULL, NULL, "ok"), TN_EINVAL);
    CU_ASSERT_EQUAL(api->tx_commit(tx, NULL, NULL), TN_OK);
    /* Ended (the handle lives until the commit's callback): TN_ESTATE. */
    CU_ASSERT_EQUAL(api->tx_audit(tx, "job", "report.send", NULL, NULL, "ok"), TN_ESTATE);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_audit_count(tk), 2);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("testkit tx_audit", NULL, NULL);
    CU_add_test(s, "S20: tx_audit writes the tenant's row iff the transaction commits",
                test_tx_audit_iff_committed);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
