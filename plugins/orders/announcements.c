/*
 * announcements.c - announcements and planned maintenance shown after login (A1, A11).
 *
 * UNFINISHED: registers no route yet (the skeleton of issue 9); the part
 * that fills it replaces this comment.
 */
#include "orders.h"

int orders_announcements_routes_add(orders_ctx *ctx)
{
    (void)ctx;
    return 0;
}
