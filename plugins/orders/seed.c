/*
 * seed.c - `tanomu orders-seed-demo --tenant demo`: a few demo products
 * (Japanese names and kana, both tax rates), one demo buyer DEMO-SHOP and
 * one buyer price, for the demo tenant of `make run` (scripts/run.sh).
 *
 * Idempotent: every insert is ON CONFLICT DO NOTHING on its natural key,
 * so a second run changes nothing, and rows edited since are left alone.
 * It refuses any tenant whose id is not "demo" before touching the
 * database: demo data never lands in a real wholesaler's tables.  One
 * transaction bound to the tenant (RLS checks it, S21) with an audit row
 * (tx_audit, actor "cli", S20).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"
#include "orders.h"

#define SEED_USAGE "--tenant demo  (demo products, buyer DEMO-SHOP and its price)"
#define SEED_TENANT "demo"

typedef struct seed_op {
    orders_ctx *ctx;
    tn_command *cmd;
    tn_tx *tx;
    char *products; /* JSON rows for jsonb_populate_recordset */
    char *buyer;
    int step;
    long long inserted[3]; /* products, buyers, prices */
} seed_op;

static const struct {
    const char *code, *name, *kana, *unit, *category;
    int price, rate;
} seed_products[] = {
    {"DEMO-APPLE", "青森りんご", "アオモリリンゴ", "箱", "果物", 3200, 8},
    {"DEMO-MIKAN", "温州みかん", "ウンシュウミカン", "箱", "果物", 2800, 8},
    {"DEMO-RICE", "新潟コシヒカリ 5kg", "ニイガタコシヒカリ", "袋", "米", 2600, 8},
    {"DEMO-BAG", "紙袋（大）", "カミブクロ", "束", "資材", 1500, 10},
    {"DEMO-GLOVE", "作業用手袋", "サギョウヨウテブクロ", "双", "資材", 300, 10},
};

static const char sql_products[] =
    "INSERT INTO orders_products (tenant_id, code, name, kana, unit, unit_price, tax_rate, "
    "category, search_text) SELECT $1, r.code, r.name, r.kana, r.unit, r.unit_price, "
    "r.tax_rate, r.category, r.search_text "
    "FROM jsonb_populate_recordset(NULL::orders_products, $2::jsonb) r "
    "ON CONFLICT (tenant_id, code) DO NOTHING";

static const char sql_buyer[] =
    "INSERT INTO orders_buyers (tenant_id, code, name, kana, postal_code, address, phone, "
    "contacts, closing_day, search_text) SELECT $1, r.code, r.name, r.kana, r.postal_code, "
    "r.address, r.phone, r.contacts, r.closing_day, r.search_text "
    "FROM jsonb_populate_record(NULL::orders_buyers, $2::jsonb) r "
    "ON CONFLICT (tenant_id, code) DO NOTHING";

static const char sql_price[] =
    "INSERT INTO orders_prices (tenant_id, buyer_id, product_id, unit_price) "
    "SELECT $1, b.id, p.id, 3000 FROM orders_buyers b, orders_products p "
    "WHERE b.code = 'DEMO-SHOP' AND p.code = 'DEMO-APPLE' ON CONFLICT DO NOTHING";

static void op_end(seed_op *op, int ok, const char *msg)
{
    op->ctx->api->command_done(op->cmd, ok, msg);
    free(op->products);
    free(op->buyer);
    free(op);
}

static void rolled_back(tn_tx *tx, const tn_db_result *res, void *ud)
{
    (void)tx, (void)res, (void)ud;
}

static void committed(tn_tx *tx, const tn_db_result *res, void *ud)
{
    seed_op *op = ud;
    char msg[200];

    (void)tx;
    if (op->ctx->api->db_status(res) != TN_OK) {
        snprintf(msg, sizeof msg, "demo data not written: commit failed (status %d)",
                 op->ctx->api->db_status(res));
        return op_end(op, 0, msg);
    }
    snprintf(msg, sizeof msg,
             "demo data in tenant " SEED_TENANT ": %lld products, %lld buyers, %lld prices "
             "inserted (the rest were there)",
             op->inserted[0], op->inserted[1], op->inserted[2]);
    op_end(op, 1, msg);
}

/* Runs the steps in order: products, buyer, price, audit + commit. */
static void step(tn_tx *tx, const tn_db_result *res, void *ud)
{
    seed_op *op = ud;
    const tn_api *api = op->ctx->api;
    const char *p[2] = {SEED_TENANT, NULL};
    char msg[200];
    int rc;

    if (res != NULL) {
        if (api->db_status(res) != TN_OK) {
            snprintf(msg, sizeof msg, "demo data not written (status %d, sqlstate %s)%s",
                     api->db_status(res), api->db_sqlstate(res),
                     strcmp(api->db_sqlstate(res), "42P01") == 0 ? ": run tanomu migrate" : "");
            api->tx_rollback(tx, rolled_back, NULL);
            return op_end(op, 0, msg);
        }
        op->inserted[op->step - 1] = api->db_affected(res);
    }
    switch (op->step++) {
    case 0:
        p[1] = op->products;
        rc = api->tx_query(tx, sql_products, 2, p, step, op);
        break;
    case 1:
        p[1] = op->buyer;
        rc = api->tx_query(tx, sql_buyer, 2, p, step, op);
        break;
    case 2: rc = api->tx_query(tx, sql_price, 1, p, step, op); break;
    default:
        rc = api->tx_audit(tx, "cli", "orders.seed_demo", "tenant", SEED_TENANT, "ok");
        if (rc == TN_OK)
            rc = api->tx_commit(tx, committed, op);
        break;
    }
    if (rc != TN_OK) {
        snprintf(msg, sizeof msg, "demo data not written: %s", api->last_error(op->ctx->self));
        api->tx_rollback(tx, rolled_back, NULL);
        op_end(op, 0, msg);
    }
}

static int add_search_text(json_t *obj)
{
    char buf[600], *f;

    snprintf(buf, sizeof buf, "%s %s %s", json_string_value(json_object_get(obj, "code")),
             json_string_value(json_object_get(obj, "name")),
             json_string_value(json_object_get(obj, "kana")));
    if ((f = orders_search_fold(buf)) == NULL)
        return -1;
    json_object_set_new(obj, "search_text", json_string(f));
    free(f);
    return 0;
}

/* The rows as JSON text into op; 0 or -1. */
static int build_rows(seed_op *op)
{
    json_t *rows = json_array(), *b, *o;
    int rc = -1;

    for (size_t i = 0; i < sizeof seed_products / sizeof seed_products[0]; i++) {
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "code", seed_products[i].code, "name",
                      seed_products[i].name, "kana", seed_products[i].kana, "unit",
                      seed_products[i].unit, "category", seed_products[i].category, "unit_price",
                      seed_products[i].price, "tax_rate", seed_products[i].rate);
        if (o == NULL || add_search_text(o) != 0 || json_array_append_new(rows, o) != 0)
            goto fail;
    }
    b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}], s:i}", "code", "DEMO-SHOP",
                  "name", "デモ商店", "kana", "デモショウテン", "postal_code", "100-0001",
                  "address", "東京都千代田区千代田1-1", "phone", "03-0000-0000", "contacts", "name",
                  "デモ 太郎", "email", "shop@demo.example.jp", "phone", "", "closing_day", 31);
    if (b == NULL || add_search_text(b) != 0) {
        json_decref(b);
        goto fail;
    }
    op->buyer = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    op->products = json_dumps(rows, JSON_COMPACT);
    rc = op->buyer && op->products ? 0 : -1;
fail:
    json_decref(rows);
    return rc;
}

static tn_status cmd_seed(tn_plugin *self, tn_command *cmd, const tn_command_args *a, void *ud)
{
    orders_ctx *ctx = ud;
    const tn_api *api = ctx->api;
    seed_op *op;

    (void)self;
    if (a->argc != 2 || strcmp(a->argv[0], "--tenant") != 0) {
        api->command_done(cmd, 0, "usage: tanomu orders-seed-demo " SEED_USAGE);
        return TN_ERROR;
    }
    if (strcmp(a->argv[1], SEED_TENANT) != 0) {
        api->command_done(cmd, 0,
                          "refused: demo data goes only into the tenant whose id is "
                          "\"demo\", never into a real one");
        return TN_ERROR;
    }
    if (api->tenant_config(ctx->self, SEED_TENANT) == NULL) {
        api->command_done(cmd, 0, "no tenant demo in the configuration");
        return TN_ERROR;
    }
    if ((op = calloc(1, sizeof *op)) == NULL) {
        api->command_done(cmd, 0, "out of memory");
        return TN_ERROR;
    }
    op->ctx = ctx;
    op->cmd = cmd;
    if (build_rows(op) != 0) {
        op_end(op, 0, "out of memory");
        return TN_ERROR;
    }
    if (api->tx_begin(ctx->self, SEED_TENANT, &op->tx) != TN_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "demo data not written: %s", api->last_error(ctx->self));
        op_end(op, 0, msg);
        return TN_ERROR;
    }
    step(op->tx, NULL, op);
    return TN_SUSPEND;
}

int orders_seed_command_add(orders_ctx *ctx)
{
    if (!TN_API_HAS(ctx->api, command_add) || !TN_API_HAS(ctx->api, tx_audit))
        return 0; /* an older host: no command, the plugin still serves */
    return ctx->api->command_add(ctx->self, "orders-seed-demo", SEED_USAGE, 0, cmd_seed, ctx) ==
                   TN_OK
               ? 0
               : -1;
}
