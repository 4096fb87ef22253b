/*
 * products.c - products: list, search (code, name, kana), read, create, update.
 *
 * UNFINISHED: registers no route yet (the skeleton of issue 9); the part
 * that fills it replaces this comment.
 */
#include "orders.h"

int orders_products_routes_add(orders_ctx *ctx)
{
    (void)ctx;
    return 0;
}
