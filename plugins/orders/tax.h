/*
 * tax.h - an order's totals under the qualified-invoice rule (適格請求書):
 * line amounts are summed per tax rate, and the consumption tax of each
 * rate is computed once on that sum and rounded down (切り捨て), never per
 * line.  Pure: no SDK, no I/O, so it is tested on hand-computed cases.
 */
#ifndef ORDERS_TAX_H
#define ORDERS_TAX_H

#include <stdint.h>

/* The largest amount (yen) anything here handles: 10^17 (the dearest
 * product, 10^11, times the most units, 10^6), far above any
 * order, so rate * taxable never overflows int64. */
#define TAX_AMOUNT_MAX 100000000000000000LL

typedef struct tax_totals {
    int64_t subtotal;   /* taxable_8 + taxable_10 */
    int64_t taxable_8;  /* sum of line amounts at the reduced rate */
    int64_t taxable_10; /* sum of line amounts at the standard rate */
    int64_t tax_8;      /* floor(taxable_8 * 8 / 100) */
    int64_t tax_10;     /* floor(taxable_10 * 10 / 100) */
    int64_t total;      /* subtotal + tax_8 + tax_10 */
} tax_totals;

/* price * qty into *amount; -1 if negative or past TAX_AMOUNT_MAX. */
int tax_line_amount(int64_t unit_price, int64_t quantity, int64_t *amount);

void tax_begin(tax_totals *t);
/* Adds a line's amount at rate (8 or 10); -1 for another rate or an
 * amount out of range (t unchanged). */
int tax_add(tax_totals *t, int rate, int64_t amount);
/* Computes tax per rate and the total from the sums. */
void tax_finish(tax_totals *t);

/* floor(taxable * rate / 100) for taxable >= 0. */
int64_t tax_of(int64_t taxable, int rate);

#endif
