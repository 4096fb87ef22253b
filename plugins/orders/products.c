/*
 * products.c - products: list and search by code, name and kana, filter
 * by category (staff all; a buyer the active ones only, each with its
 * "price": its own price where one is set, else the list price), read,
 * create and update (staff).  No delete: a product is made inactive.
 * The routes and the write path are master.c's; this file has the
 * statements and the field rules (docs/orders.md "Products").
 *
 * The statements take the buyer's code as their last parameter (NULL for
 * staff), so one statement serves both views: a buyer never sees the
 * list price, staff see no "price".
 */
#include <string.h>

#include "master.h"

/* B: the parameter holding the buyer's code (NULL for staff). */
#define PRODUCT_JSON(B)                                                                            \
    "jsonb_strip_nulls(jsonb_build_object('code', p.code, 'name', p.name, 'kana', p.kana, "        \
    "'unit', p.unit, 'unit_price', CASE WHEN " B "::text IS NULL THEN p.unit_price END, "          \
    "'list_price', CASE WHEN " B "::text IS NULL THEN p.unit_price END, "                          \
    "'price', CASE WHEN " B "::text IS NOT NULL THEN coalesce(pr.unit_price, p.unit_price) END, "  \
    "'tax_rate', p.tax_rate, 'category', p.category, 'stock_status', p.stock_status, "             \
    "'active', p.active, 'version', p.version, 'created_at', p.created_at, 'updated_at', "         \
    "p.updated_at))::text"

#define PRICE_JOIN(B)                                                                              \
    " LEFT JOIN orders_prices pr ON pr.product_id = p.id AND pr.buyer_id = "                       \
    "(SELECT id FROM orders_buyers WHERE code = " B "::text) "

/* What staff write back: the editable fields. */
#define PRODUCT_STAFF_JSON                                                                         \
    "jsonb_build_object('code', p.code, 'name', p.name, 'kana', p.kana, 'unit', p.unit, "          \
    "'unit_price', p.unit_price, 'list_price', p.unit_price, 'tax_rate', p.tax_rate, "             \
    "'category', p.category, 'stock_status', p.stock_status, 'active', p.active, 'version', "      \
    "p.version, 'created_at', p.created_at, 'updated_at', p.updated_at)::text"

/* The list's and the read's head: the buyer is $6 in the list, $2 in the read. */
#define LIST_HEAD "SELECT " PRODUCT_JSON("$6") ", p.code FROM orders_products p" PRICE_JOIN("$6")
#define GET_HEAD "SELECT " PRODUCT_JSON("$2") ", p.version FROM orders_products p" PRICE_JOIN("$2")

static const char sql_list[] = LIST_HEAD
    "WHERE ($1::text IS NULL OR strpos(p.search_text, $1) > 0) "
    "AND ($2::boolean IS NULL OR p.active = $2::boolean) "
    "AND ($6::text IS NULL OR p.active) "
    "AND ($3::text IS NULL OR p.code COLLATE \"C\" > $3) "
    "AND ($5::text IS NULL OR p.category = $5) "
    "ORDER BY p.code COLLATE \"C\" LIMIT $4::int";

static const char sql_get[] = GET_HEAD "WHERE p.code = $1 AND ($2::text IS NULL OR p.active)";

static const char sql_lock[] =
    "SELECT p.id, p.version, json_build_object('code', p.code, 'name', p.name, 'kana', p.kana, "
    "'unit', p.unit, 'unit_price', p.unit_price, 'tax_rate', p.tax_rate, 'category', "
    "p.category, 'stock_status', p.stock_status, 'active', p.active)::text "
    "FROM orders_products p WHERE p.code = $1 FOR UPDATE";

static const char sql_insert[] =
    "INSERT INTO orders_products AS p (tenant_id, code, name, kana, unit, unit_price, tax_rate, "
    "category, stock_status, active, search_text) "
    "SELECT $1, r.code, r.name, r.kana, r.unit, r.unit_price, r.tax_rate, r.category, "
    "r.stock_status, r.active, r.search_text "
    "FROM jsonb_populate_record(NULL::orders_products, $2::jsonb) r "
    "RETURNING " PRODUCT_STAFF_JSON ", p.version";

static const char sql_update[] =
    "UPDATE orders_products AS p SET name = r.name, kana = r.kana, unit = r.unit, "
    "unit_price = r.unit_price, tax_rate = r.tax_rate, category = r.category, "
    "stock_status = r.stock_status, active = r.active, search_text = r.search_text, "
    "version = p.version + 1, updated_at = now() "
    "FROM jsonb_populate_record(NULL::orders_products, $2::jsonb) r WHERE p.id = $1::uuid "
    "RETURNING " PRODUCT_STAFF_JSON ", p.version";

static void tax_rate(const json_t *in, json_t *out, json_t **fields)
{
    const json_t *v = json_object_get(in, "tax_rate");

    if (v == NULL)
        return;
    if (!json_is_integer(v) || (json_integer_value(v) != 8 && json_integer_value(v) != 10))
        orders_field_error(fields, "tax_rate", "must be 8 or 10");
    else
        json_object_set(out, "tax_rate", (json_t *)v);
}

static void stock_status(const json_t *in, json_t *out, json_t **fields)
{
    const json_t *v = json_object_get(in, "stock_status");
    const char *s = json_string_value(v);

    if (v == NULL)
        return;
    if (s == NULL ||
        (strcmp(s, "in_stock") != 0 && strcmp(s, "low") != 0 && strcmp(s, "out_of_stock") != 0))
        orders_field_error(fields, "stock_status", "must be in_stock, low or out_of_stock");
    else
        json_object_set(out, "stock_status", (json_t *)v);
}

static void product_validate(const json_t *in, json_t *out, json_t **fields, int create)
{
    master_code(in, out, fields, create);
    master_text(in, out, fields, "name", create, 1, 200);
    master_kana(in, out, fields, "kana");
    master_text(in, out, fields, "unit", 0, 1, 20);
    /* Integer yen: 1.5 and "100" are refused, not rounded or parsed. */
    master_int(in, out, fields, "unit_price", create, 0, 100000000000LL);
    tax_rate(in, out, fields);
    master_text(in, out, fields, "category", 0, 0, 100);
    stock_status(in, out, fields);
    master_bool(in, out, fields, "active");
}

static json_t *product_defaults(void)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:b}", "kana", "", "unit", "個", "tax_rate", 10,
                     "category", "", "stock_status", "in_stock", "active", 1);
}

static const master_kind product_kind = {
    .name = "product",
    .path = ORDERS_API "/products",
    .audit_create = "orders.product.create",
    .audit_update = "orders.product.update",
    .event = "product.changed",
    .list_min = ORDERS_ROLE_BUYER,
    .slot = 1,
    .sql_list = sql_list,
    .list_nparams = 6,
    .sql_get = sql_get,
    .get_nparams = 2,
    .sql_lock = sql_lock,
    .sql_insert = sql_insert,
    .sql_update = sql_update,
    .validate = product_validate,
    .defaults = product_defaults,
};

int orders_products_routes_add(orders_ctx *ctx)
{
    return master_routes_add(ctx, &product_kind);
}
