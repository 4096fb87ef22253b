/*
 * schedule.h - when a scheduled job's ticks fall: every N seconds (aligned
 * to the Unix epoch, so every node computes the same ticks), or by the
 * calendar ("HH:MM" daily, "wed HH:MM" weekly) in an IANA time zone.
 *
 * Pure: no clock, no loop, no process state.  Time zones are read from the
 * compiled zone files (TZif, RFC 8536) under /usr/share/zoneinfo into a
 * host_zone, instead of setenv("TZ") + tzset() + localtime_r(): that would
 * change the whole process's idea of local time (every thread's, the log's)
 * and is not thread-safe.  A host_zone answers "what is the UTC offset at
 * instant t" from the file's transitions; after the last transition it
 * keeps the last offset.  Debian's tzdata is built "fat" (transitions
 * written out to 2037), so DST zones are exact until then; zones without
 * DST (Asia/Tokyo, UTC) are exact forever.
 *
 * A calendar tick is the instant the zone's wall clock reads HH:MM on a
 * matching day.  A local time that does not exist (skipped by a DST jump)
 * falls at the same distance past the jump; one that happens twice (the
 * hour repeated in autumn) falls once.
 */
#ifndef HOST_SCHEDULE_H
#define HOST_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define HOST_JOB_NAME_MAX 48
#define HOST_ZONE_DEFAULT "Asia/Tokyo"

typedef struct host_zone host_zone;

/* Loads zone name ("Asia/Tokyo", "UTC"): letters, digits, '_', '+', '-',
 * '/' between parts, no "..".  0, or -1 with a reason in err. */
int host_zone_load(const char *name, host_zone **out, char *err, size_t cap);
/* From a TZif image in memory (for tests). */
int host_zone_parse(const unsigned char *data, size_t len, host_zone **out, char *err, size_t cap);
void host_zone_free(host_zone *z);
/* Seconds east of UTC in effect at Unix time t. */
int32_t host_zone_offset(const host_zone *z, int64_t t);

typedef struct host_sched {
    uint32_t every_s; /* > 0: an interval */
    int weekday;      /* calendar: 0 Sunday .. 6 Saturday, or -1 daily */
    int minute;       /* calendar: minutes after local midnight */
    host_zone *zone;  /* calendar: owned */
} host_sched;

/* job_history()'s statement ($1 plugin, $2 job or NULL, $3 limit): one
 * text for the host and the testkit, which answers it from its own runs. */
#define HOST_JOB_HISTORY_SQL                                                                       \
    "SELECT job, tenant_id, tick, "                                                                \
    "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "                   \
    "to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), result, error "       \
    "FROM job_runs WHERE plugin = $1 AND ($2::text IS NULL OR job = $2) "                          \
    "ORDER BY requested_at DESC, id DESC LIMIT $3::int"

/* Job names: [a-z][a-z0-9_]{0,47}. */
int host_job_name_valid(const char *name);

/* every_s > 0 (at must be NULL), or at = "HH:MM" / "ddd HH:MM" (ddd: sun,
 * mon, tue, wed, thu, fri, sat) in tz (NULL: Asia/Tokyo).  0, or -1 with a
 * reason in err. */
int host_sched_init(host_sched *s, uint32_t every_s, const char *at, const char *tz, char *err,
                    size_t cap);
void host_sched_free(host_sched *s);
/* The latest tick at or before now, and the first tick after now (Unix
 * seconds). */
int64_t host_sched_prev(const host_sched *s, int64_t now);
int64_t host_sched_next(const host_sched *s, int64_t now);

#endif
