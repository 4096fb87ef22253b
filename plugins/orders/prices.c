/*
 * prices.c - per-buyer prices that override a product's list price.
 *
 * UNFINISHED: registers no route yet (the skeleton of issue 9); the part
 * that fills it replaces this comment.
 */
#include "orders.h"

int orders_prices_routes_add(orders_ctx *ctx)
{
    (void)ctx;
    return 0;
}
