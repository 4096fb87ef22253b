/*
 * delivery.h - which delivery dates an order may ask for, in Japan time
 * (JST, UTC+9, no daylight saving): the order day is today in JST, or
 * tomorrow when the order comes after the tenant's cut-off; the earliest
 * date is the order day plus the lead days, the latest today plus the
 * days ahead.  Pure: the clock is an argument, so tests fix it.
 *
 * Dates are day numbers (days since 1970-01-01), converted from and to
 * "YYYY-MM-DD" here.
 */
#ifndef ORDERS_DELIVERY_H
#define ORDERS_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#define DELIVERY_JST_OFFSET_S (9 * 3600)

typedef struct delivery_window {
    int64_t today;     /* the JST date of now */
    int64_t order_day; /* today, or today + 1 after the cut-off */
    int64_t earliest;
    int64_t latest;
} delivery_window;

/* now: Unix seconds; cutoff_minute: minutes after 00:00 JST (an order at
 * or before HH:MM counts today, from HH:MM+1 minute on the next day:
 * 12:00:59 is still in time for "12:00"). */
void delivery_window_at(int64_t now, int cutoff_minute, int lead_days, int max_days_ahead,
                        delivery_window *w);

/* "YYYY-MM-DD" (a real calendar date, years 1970..9999) to a day number;
 * -1 if it is not one. */
int delivery_parse_date(const char *s, int64_t *day);
/* A day number as "YYYY-MM-DD"; out needs 11 bytes. */
void delivery_format_date(int64_t day, char *out, size_t outsz);

#endif
