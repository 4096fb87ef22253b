/*
 * schedule.c - job ticks: intervals and calendar rules in a time zone read
 * from its TZif file.  See schedule.h.
 */
#include "schedule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define ZONE_DIR "/usr/share/zoneinfo"
#define ZONE_FILE_MAX (256 * 1024) /* the largest real one is under 4 KiB */
#define DAY 86400

struct host_zone {
    int64_t *at;     /* transition instants, ascending */
    int32_t *offset; /* the UTC offset from at[i] on */
    size_t n;
    int32_t initial; /* before the first transition */
};

/* ---- TZif (RFC 8536) ---------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static int tzif_header(const unsigned char *p, size_t len, tzif_counts *c, int *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    *version = p[4] ? p[4] - '0' : 1;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    /* Bounds that keep the size arithmetic below far from overflow. */
    if (c->time > 100000 || c->type == 0 || c->type > 256 || c->chars > 100000 ||
        c->leap > 100000 || c->isut > 256 || c->isstd > 256)
        return -1;
    return 0;
}

static size_t tzif_block(const tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

int host_zone_parse(const unsigned char *data, size_t len, host_zone **out, char *err, size_t cap)
{
    const unsigned char *p = data, *types, *idx;
    tzif_counts c;
    host_zone *z = NULL;
    size_t tsize = 4, i;
    int version;

    *out = NULL;
    if (tzif_header(p, len, &c, &version) != 0)
        goto bad;
    if (version >= 2) { /* skip the 32-bit block: the 64-bit one follows */
        size_t skip = 44 + tzif_block(&c, 4);
        if (skip > len || tzif_header(p + skip, len - skip, &c, &version) != 0)
            goto bad;
        p += skip;
        len -= skip;
        tsize = 8;
    }
    if (44 + tzif_block(&c, tsize) > len)
        goto bad;
    p += 44;
    idx = p + c.time * tsize;
    types = idx + c.time;
    if (!(z = calloc(1, sizeof *z)) || (c.time && (!(z->at = calloc(c.time, sizeof *z->at)) ||
                                                   !(z->offset = calloc(c.time, sizeof(int32_t))))))
        goto nomem;
    for (i = 0; i < c.time; i++) {
        if (idx[i] >= c.type)
            goto bad;
        z->at[i] = tsize == 8 ? be64(p + i * 8) : (int64_t)(int32_t)be32(p + i * 4);
        z->offset[i] = (int32_t)be32(types + idx[i] * 6);
        if (i > 0 && z->at[i] <= z->at[i - 1])
            goto bad;
    }
    z->n = c.time;
    z->initial = (int32_t)be32(types); /* type 0 (RFC 8536 3.2) */
    *out = z;
    return 0;
nomem:
    snprintf(err, cap, "out of memory");
    host_zone_free(z);
    return -1;
bad:
    snprintf(err, cap, "not a valid TZif zone file");
    host_zone_free(z);
    return -1;
}

static int zone_name_valid(const char *name)
{
    const char *s;

    if (!name || !*name || strlen(name) > 64 || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (s = name; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '+' || ch == '-' || (ch == '/' && s[1] && s[1] != '/')))
            return 0;
    }
    return 1;
}

int host_zone_load(const char *name, host_zone **out, char *err, size_t cap)
{
    char path[128];
    unsigned char *buf = NULL;
    size_t len;
    FILE *f = NULL;
    int rc = -1;

    *out = NULL;
    if (!zone_name_valid(name)) {
        snprintf(err, cap, "bad time zone name");
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", ZONE_DIR, name);
    if (!(f = fopen(path, "rb"))) {
        snprintf(err, cap, "unknown time zone \"%s\" (%s; is tzdata installed?)", name,
                 strerror(errno));
        return -1;
    }
    if (!(buf = malloc(ZONE_FILE_MAX))) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    len = fread(buf, 1, ZONE_FILE_MAX, f);
    if (ferror(f) || len == ZONE_FILE_MAX) {
        snprintf(err, cap, "cannot read time zone \"%s\"", name);
        goto out;
    }
    rc = host_zone_parse(buf, len, out, err, cap);
out:
    free(buf);
    fclose(f);
    return rc;
}

void host_zone_free(host_zone *z)
{
    if (!z)
        return;
    free(z->at);
    free(z->offset);
    free(z);
}

int32_t host_zone_offset(const host_zone *z, int64_t t)
{
    size_t lo = 0, hi;

    if (!z || z->n == 0 || t < z->at[0])
        return z ? z->initial : 0;
    hi = z->n; /* the last i with at[i] <= t is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->offset[lo];
}

/* ---- rules -------------------------------------------------------------- */

int host_job_name_valid(const char *name)
{
    return host_metric_name_valid(name); /* the same rule: [a-z][a-z0-9_]{0,47} */
}

static int parse_at(host_sched *s, const char *at)
{
    static const char days[7][4] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    int h, m, i, used = 0;

    s->weekday = -1;
    if (strlen(at) > 4 && at[3] == ' ') {
        for (i = 0; i < 7; i++)
            if (strncmp(at, days[i], 3) == 0)
                s->weekday = i;
        if (s->weekday < 0)
            return -1;
        at += 4;
    }
    if (strlen(at) != 5 || sscanf(at, "%2d:%2d%n", &h, &m, &used) != 2 || used != 5 || h < 0 ||
        h > 23 || m < 0 || m > 59 || at[0] < '0' || at[0] > '9' || at[3] < '0' || at[3] > '9')
        return -1;
    s->minute = h * 60 + m;
    return 0;
}

int host_sched_init(host_sched *s, uint32_t every_s, const char *at, const char *tz, char *err,
                    size_t cap)
{
    memset(s, 0, sizeof *s);
    s->weekday = -1;
    if (every_s > 0 && !at) {
        s->every_s = every_s;
        return 0;
    }
    if (every_s > 0 || !at) {
        snprintf(err, cap, "give either every_s or at");
        return -1;
    }
    if (parse_at(s, at) != 0) {
        snprintf(err, cap, "at must be \"HH:MM\" or \"ddd HH:MM\" (ddd: sun..sat)");
        return -1;
    }
    return host_zone_load(tz ? tz : HOST_ZONE_DEFAULT, &s->zone, err, cap);
}

void host_sched_free(host_sched *s)
{
    host_zone_free(s->zone);
    s->zone = NULL;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The instant the wall clock reads local (seconds since the local epoch):
 * local minus the offset in effect then.  Two guesses settle the offset
 * near a transition; when neither reads back as local, the time was
 * skipped by a jump forward and the later guess lies as far past it. */
static int64_t local_to_utc(const host_zone *z, int64_t local)
{
    int64_t t0 = local - host_zone_offset(z, local);
    int64_t t1 = local - host_zone_offset(z, t0);

    if (t1 + host_zone_offset(z, t1) == local)
        return t1;
    if (t0 + host_zone_offset(z, t0) == local)
        return t0;
    return t0 > t1 ? t0 : t1;
}

/* The calendar tick on local day d (days since 1970-01-01), or INT64_MIN
 * if d does not match. */
static int64_t tick_on(const host_sched *s, int64_t d)
{
    int64_t wd = ((d + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */

    if (s->weekday >= 0 && wd != s->weekday)
        return INT64_MIN;
    return local_to_utc(s->zone, d * DAY + (int64_t)s->minute * 60);
}

int64_t host_sched_prev(const host_sched *s, int64_t now)
{
    int64_t today, d, t;

    if (s->every_s)
        return floor_div(now, s->every_s) * s->every_s;
    today = floor_div(now + host_zone_offset(s->zone, now), DAY);
    for (d = today + 1; d >= today - 8; d--)
        if ((t = tick_on(s, d)) != INT64_MIN && t <= now)
            return t;
    return INT64_MIN; /* not reached: a week always has a matching day */
}

int64_t host_sched_next(const host_sched *s, int64_t now)
{
    int64_t today, d, t;

    if (s->every_s)
        return (floor_div(now, s->every_s) + 1) * s->every_s;
    today = floor_div(now + host_zone_offset(s->zone, now), DAY);
    for (d = today - 1; d <= today + 8; d++)
        if ((t = tick_on(s, d)) != INT64_MIN && t > now)
            return t;
    return INT64_MAX;
}
