/*
 * orders_api.c - orders: place (with Idempotency-Key), list, read, accept, ship, cancel.
 *
 * UNFINISHED: registers no route yet (the skeleton of issue 9); the part
 * that fills it replaces this comment.
 */
#include "orders.h"

int orders_orders_routes_add(orders_ctx *ctx)
{
    (void)ctx;
    return 0;
}
