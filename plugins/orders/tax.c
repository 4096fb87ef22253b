/*
 * tax.c - per-rate consumption tax on an order's total (see tax.h).
 * Rounding: down (切り捨て), the common default of Japanese wholesalers
 * and what the qualified-invoice rule allows as long as it is applied
 * once per rate per document; docs/orders.md "Orders" says so to users.
 */
#include <stddef.h>

#include "tax.h"

int tax_line_amount(int64_t unit_price, int64_t quantity, int64_t *amount)
{
    if (unit_price < 0 || quantity < 0)
        return -1;
    if (quantity != 0 && unit_price > TAX_AMOUNT_MAX / quantity)
        return -1;
    *amount = unit_price * quantity;
    return 0;
}

void tax_begin(tax_totals *t)
{
    *t = (tax_totals){0};
}

int tax_add(tax_totals *t, int rate, int64_t amount)
{
    int64_t *sum = rate == 8 ? &t->taxable_8 : rate == 10 ? &t->taxable_10 : NULL;

    if (sum == NULL || amount < 0 || amount > TAX_AMOUNT_MAX - *sum)
        return -1;
    *sum += amount;
    return 0;
}

int64_t tax_of(int64_t taxable, int rate)
{
    /* Integer division of non-negative numbers truncates: the floor. */
    return taxable * rate / 100;
}

void tax_finish(tax_totals *t)
{
    t->subtotal = t->taxable_8 + t->taxable_10;
    t->tax_8 = tax_of(t->taxable_8, 8);
    t->tax_10 = tax_of(t->taxable_10, 10);
    t->total = t->subtotal + t->tax_8 + t->tax_10;
}
