/*
 * delivery.c - the cut-off and delivery-date rules in JST (delivery.h).
 * Japan has had no daylight saving since 1951, so JST is UTC+9 all year
 * and no time-zone database is needed.  Day numbers use the civil-date
 * algorithms of H. Hinnant (days from civil and back), exact for the
 * proleptic Gregorian calendar.
 */
#include <stdio.h>
#include <string.h>

#include "delivery.h"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void delivery_window_at(int64_t now, int cutoff_minute, int lead_days, int max_days_ahead,
                        delivery_window *w)
{
    int64_t local = now + DELIVERY_JST_OFFSET_S;
    int64_t minute_of_day = floor_div(local, 60) - floor_div(local, 86400) * 1440;

    w->today = floor_div(local, 86400);
    w->order_day = minute_of_day > cutoff_minute ? w->today + 1 : w->today;
    w->earliest = w->order_day + lead_days;
    w->latest = w->today + max_days_ahead;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int delivery_parse_date(const char *s, int64_t *day)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, leap;

    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) != 0 ||
        digits(s + 5, 2, &m) != 0 || digits(s + 8, 2, &d) != 0)
        return -1;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
        return -1;
    *day = days_from_civil(y, m, d);
    return 0;
}

void delivery_format_date(int64_t day, char *out, size_t outsz)
{
    int64_t y;
    int m, d;

    civil_from_days(day, &y, &m, &d);
    snprintf(out, outsz, "%04lld-%02d-%02d", (long long)y, m, d);
}
