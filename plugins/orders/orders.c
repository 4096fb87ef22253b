/*
 * orders.c - the ordering plugin: its descriptor, a tenant's settings
 * (order cut-off, delivery dates, the weekly maintenance window) with
 * their cross-field check, and init(), which registers each part's routes.
 *
 * The parts: buyers.c, products.c, prices.c (master data), orders_api.c
 * (placing and moving orders), announcements.c, export.c and import.c
 * (CSV), common.c (helpers).  Tables: migrations/0001_orders.sql.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "orders.h"

#define ORDERS_VERSION "0.1.0"

static orders_ctx orders_state; /* this worker's; handed to every callback as ud */

static const tn_config_key orders_settings_keys[] = {
    {.name = "cutoff_time",
     .type = TN_TYPE_STRING,
     .default_value = "12:00",
     .min = 5,
     .max = 5,
     .description = "Order cut-off, HH:MM in Japan time: an order placed after it counts as "
                    "placed the next day."},
    {.name = "delivery_lead_days",
     .type = TN_TYPE_INT,
     .default_value = "1",
     .min = 0,
     .max = 30,
     .description = "The earliest delivery date is this many days after the order day."},
    {.name = "delivery_max_days_ahead",
     .type = TN_TYPE_INT,
     .default_value = "60",
     .min = 1,
     .max = 366,
     .description = "The latest delivery date a buyer may ask for, in days from today."},
    {.name = "order_max_lines",
     .type = TN_TYPE_INT,
     .default_value = "200",
     .min = 1,
     .max = 1000,
     .description = "Lines in one order."},
    {.name = "maintenance_weekday",
     .type = TN_TYPE_INT,
     .default_value = "3",
     .min = 0,
     .max = 6,
     .description = "The weekly maintenance window's day in Japan time, 0 Sunday to 6 "
                    "Saturday (default Wednesday)."},
    {.name = "maintenance_start",
     .type = TN_TYPE_STRING,
     .default_value = "14:00",
     .min = 5,
     .max = 5,
     .description = "The weekly maintenance window's start, HH:MM in Japan time."},
    {.name = "maintenance_minutes",
     .type = TN_TYPE_INT,
     .default_value = "15",
     .min = 0,
     .max = 240,
     .description = "The weekly maintenance window's length in minutes (0: none)."},
    {.name = NULL},
};

/* "HH:MM" (00:00 to 23:59) as minutes after midnight, or -1. */
static int hhmm_minutes(const char *s)
{
    int h, m;

    if (s == NULL || strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '2' || s[1] < '0' ||
        s[1] > '9' || s[3] < '0' || s[3] > '5' || s[4] < '0' || s[4] > '9')
        return -1;
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    return h > 23 ? -1 : h * 60 + m;
}

void orders_settings_read(const orders_ctx *ctx, const tn_config *cfg, orders_settings *s)
{
    const tn_api *api = ctx->api;

    s->cutoff_minute = hhmm_minutes(api->config_str(cfg, "cutoff_time"));
    if (s->cutoff_minute < 0) /* check() refused it; never reached in practice */
        s->cutoff_minute = 12 * 60;
    s->lead_days = (int)api->config_int(cfg, "delivery_lead_days");
    s->max_days_ahead = (int)api->config_int(cfg, "delivery_max_days_ahead");
    s->max_lines = (int)api->config_int(cfg, "order_max_lines");
    s->maint_weekday = (int)api->config_int(cfg, "maintenance_weekday");
    s->maint_start_minute = hhmm_minutes(api->config_str(cfg, "maintenance_start"));
    if (s->maint_start_minute < 0)
        s->maint_start_minute = 14 * 60;
    s->maint_minutes = (int)api->config_int(cfg, "maintenance_minutes");
}

static int orders_check(const tn_api *api, const tn_config *cfg, tn_check *chk)
{
    int bad = 0;

    if (hhmm_minutes(api->config_str(cfg, "cutoff_time")) < 0) {
        api->check_error(chk, "cutoff_time", "must be HH:MM from 00:00 to 23:59");
        bad = 1;
    }
    if (hhmm_minutes(api->config_str(cfg, "maintenance_start")) < 0) {
        api->check_error(chk, "maintenance_start", "must be HH:MM from 00:00 to 23:59");
        bad = 1;
    }
    if (api->config_int(cfg, "delivery_lead_days") > api->config_int(cfg, "delivery_max_days_ahead")) {
        api->check_error(chk, "delivery_lead_days", "must not be above delivery_max_days_ahead");
        bad = 1;
    }
    return bad ? -1 : 0;
}

static int orders_init(tn_plugin *self, const tn_api *api)
{
    orders_ctx *ctx = &orders_state;

    memset(ctx, 0, sizeof *ctx);
    ctx->api = api;
    ctx->self = self;
    if (!TN_API_HAS(api, route_add_opts) || !TN_API_HAS(api, req_auth)) {
        api->log(self, TN_LOG_ERROR, "orders: needs a host with SDK ABI 1.2");
        return -1;
    }
    if (sodium_init() < 0) {
        api->log(self, TN_LOG_ERROR, "orders: libsodium initialisation failed");
        return -1;
    }
    ctx->placed = api->metric_counter(self, "orders_placed_total", "Orders placed.");
    ctx->transitions =
        api->metric_counter(self, "order_transitions_total", "Order status changes.");
    if (orders_buyers_routes_add(ctx) != 0 || orders_products_routes_add(ctx) != 0 ||
        orders_prices_routes_add(ctx) != 0 || orders_orders_routes_add(ctx) != 0 ||
        orders_announcements_routes_add(ctx) != 0 || orders_export_routes_add(ctx) != 0 ||
        orders_import_routes_add(ctx) != 0 || orders_seed_command_add(ctx) != 0) {
        api->log(self, TN_LOG_ERROR, "orders: registration failed: %s", api->last_error(self));
        return -1;
    }
    return 0;
}

static const tn_plugin_desc orders_desc = {
    .size = sizeof orders_desc,
    .abi_major = TN_SDK_ABI_MAJOR,
    .abi_minor = TN_SDK_ABI_MINOR,
    .name = "orders",
    .version = ORDERS_VERSION,
    .description = "Buyers, products and prices, orders, announcements, CSV export and import.",
    .settings = orders_settings_keys,
    .check = orders_check,
    .init = orders_init,
    .schema_needs = "0001_orders",
};

TN_PLUGIN_EXPORT const tn_plugin_desc *tn_plugin_entry(void)
{
    return &orders_desc;
}
