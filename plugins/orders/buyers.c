/*
 * buyers.c - buyers (the shops that order): list and search (staff), read
 * (staff, or a buyer its own: any other answers 404), create and update
 * (staff).  No delete: a buyer is made inactive (orders name it).  The
 * routes and the write path are master.c's; this file has the statements
 * and the field rules (docs/orders.md "Buyers").
 */
#include <string.h>

#include "master.h"

#define BUYER_JSON                                                                                 \
    "json_build_object('code', b.code, 'name', b.name, 'kana', b.kana, 'postal_code', "            \
    "b.postal_code, 'address', b.address, 'phone', b.phone, 'contacts', b.contacts, "              \
    "'closing_day', b.closing_day, 'active', b.active, 'version', b.version, 'created_at', "       \
    "b.created_at, 'updated_at', b.updated_at)::text"

#define BUYER_COLS "name, kana, postal_code, address, phone, contacts, closing_day, active"

static const char sql_list[] = "SELECT " BUYER_JSON ", b.code FROM orders_buyers b "
                               "WHERE ($1::text IS NULL OR strpos(b.search_text, $1) > 0) "
                               "AND ($2::boolean IS NULL OR b.active = $2::boolean) "
                               "AND ($3::text IS NULL OR b.code COLLATE \"C\" > $3) "
                               "ORDER BY b.code COLLATE \"C\" LIMIT $4::int";

static const char sql_get[] = "SELECT " BUYER_JSON ", b.version FROM orders_buyers b "
                              "WHERE b.code = $1";

static const char sql_lock[] =
    "SELECT b.id, b.version, json_build_object('code', b.code, 'name', b.name, 'kana', b.kana, "
    "'postal_code', b.postal_code, 'address', b.address, 'phone', b.phone, 'contacts', "
    "b.contacts, 'closing_day', b.closing_day, 'active', b.active)::text "
    "FROM orders_buyers b WHERE b.code = $1 FOR UPDATE";

static const char sql_insert[] =
    "INSERT INTO orders_buyers AS b (tenant_id, code, " BUYER_COLS ", search_text) "
    "SELECT $1, r.code, r.name, r.kana, r.postal_code, r.address, r.phone, r.contacts, "
    "r.closing_day, r.active, r.search_text "
    "FROM jsonb_populate_record(NULL::orders_buyers, $2::jsonb) r "
    "RETURNING " BUYER_JSON ", b.version";

static const char sql_update[] =
    "UPDATE orders_buyers AS b SET name = r.name, kana = r.kana, postal_code = r.postal_code, "
    "address = r.address, phone = r.phone, contacts = r.contacts, closing_day = r.closing_day, "
    "active = r.active, search_text = r.search_text, version = b.version + 1, updated_at = now() "
    "FROM jsonb_populate_record(NULL::orders_buyers, $2::jsonb) r WHERE b.id = $1::uuid "
    "RETURNING " BUYER_JSON ", b.version";

#define CONTACTS_MAX 10

/* A text field that must pass check() after NFKC (postal code, phone). */
static void checked(const json_t *in, json_t *out, json_t **fields, const char *field, long max,
                    int (*check)(const char *), const char *reason)
{
    const json_t *v;

    master_text_nfkc(in, out, fields, field, 0, 0, max);
    v = json_object_get(out, field);
    if (v != NULL && !check(json_string_value(v))) {
        json_object_del(out, field);
        orders_field_error(fields, field, reason);
    }
}

/* One contact {name, email, phone}; its errors named contacts[i].field. */
static json_t *contact(const json_t *in, size_t i, json_t **fields)
{
    json_t *c = json_object(), *f = NULL;
    const char *k;
    json_t *v;
    char key[48];

    if (!json_is_object(in)) {
        snprintf(key, sizeof key, "contacts[%zu]", i);
        orders_field_error(fields, key, "must be an object {name, email, phone}");
        json_decref(c);
        return NULL;
    }
    master_text(in, c, &f, "name", 1, 1, 100);
    master_text_nfkc(in, c, &f, "email", 1, 3, 254);
    checked(in, c, &f, "phone", 32, orders_phone_valid,
            "may contain only digits, +, (, ), - and spaces");
    v = json_object_get(c, "email");
    if (v != NULL && !orders_email_valid(json_string_value(v)))
        orders_field_error(&f, "email", "is not an e-mail address");
    if (json_object_get(c, "phone") == NULL)
        json_object_set_new(c, "phone", json_string(""));
    json_object_foreach((json_t *)in, k, v)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "email") != 0 && strcmp(k, "phone") != 0)
            orders_field_error(&f, k, "is not a field of a contact");
    }
    json_object_foreach(f, k, v)
    {
        snprintf(key, sizeof key, "contacts[%zu].%s", i, k);
        orders_field_error(fields, key, json_string_value(v));
    }
    if (f != NULL) {
        json_decref(f);
        json_decref(c);
        return NULL;
    }
    return c;
}

static void contacts(const json_t *in, json_t *out, json_t **fields)
{
    const json_t *v = json_object_get(in, "contacts");
    json_t *list, *c;
    size_t i;
    int bad = 0;

    if (v == NULL)
        return;
    if (!json_is_array(v) || json_array_size(v) > CONTACTS_MAX) {
        orders_field_error(fields, "contacts", "must be a list of at most 10 contacts");
        return;
    }
    list = json_array();
    for (i = 0; i < json_array_size(v); i++) {
        if ((c = contact(json_array_get(v, i), i, fields)) == NULL)
            bad = 1;
        else
            json_array_append_new(list, c);
    }
    if (bad)
        json_decref(list);
    else
        json_object_set_new(out, "contacts", list);
}

static void buyer_validate(const json_t *in, json_t *out, json_t **fields, int create)
{
    master_code(in, out, fields, create);
    master_text(in, out, fields, "name", create, 1, 200);
    master_kana(in, out, fields, "kana");
    checked(in, out, fields, "postal_code", 8, orders_postal_valid,
            "must be a postal code: 123-4567 or 1234567");
    master_text(in, out, fields, "address", 0, 0, 400);
    checked(in, out, fields, "phone", 32, orders_phone_valid,
            "may contain only digits, +, (, ), - and spaces");
    contacts(in, out, fields);
    master_int(in, out, fields, "closing_day", 0, 1, 31);
    master_bool(in, out, fields, "active");
}

static json_t *buyer_defaults(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:[], s:i, s:b}", "kana", "", "postal_code", "",
                     "address", "", "phone", "", "contacts", "closing_day", 31, "active", 1);
}

static const master_kind buyer_kind = {
    .name = "buyer",
    .path = ORDERS_API "/buyers",
    .audit_create = "orders.buyer.create",
    .audit_update = "orders.buyer.update",
    .event = "buyer.changed",
    .list_min = ORDERS_ROLE_STAFF,
    .slot = 0,
    .own_only = 1,
    .sql_list = sql_list,
    .list_nparams = 4,
    .sql_get = sql_get,
    .get_nparams = 1,
    .sql_lock = sql_lock,
    .sql_insert = sql_insert,
    .sql_update = sql_update,
    .validate = buyer_validate,
    .defaults = buyer_defaults,
};

int orders_buyers_routes_add(orders_ctx *ctx)
{
    return master_routes_add(ctx, &buyer_kind);
}
