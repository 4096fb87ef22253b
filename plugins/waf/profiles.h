/*
 * profiles.h - the WAF's rule sets: one libmodsecurity RulesSet per distinct
 * profile (paranoia level, anomaly threshold, exclusions, own rules file),
 * shared by every tenant with the same profile, built at start and at
 * reload (check/init), never per request.
 */
#ifndef WAF_PROFILES_H
#define WAF_PROFILES_H

#include <stddef.h>

#include <tanomu/tanomu.h>

/* The plugin-generated rules use IDs in this range; tenants must not. */
#define WAF_OWN_ID_FIRST 4190000u
#define WAF_OWN_ID_LAST 4199999u
#define WAF_MAX_EXCLUSIONS 64
#define WAF_PREFIX_MAX 200

/* One parsed exclusion: rule `id`, everywhere or under a path prefix. */
typedef struct waf_exclusion {
    unsigned id;
    char prefix[WAF_PREFIX_MAX + 1]; /* "" everywhere */
} waf_exclusion;

/* What decides the rules a tenant's requests run through. */
typedef struct waf_profile_spec {
    int paranoia;
    int threshold;
    waf_exclusion excl[WAF_MAX_EXCLUSIONS];
    size_t nexcl;
    const char *rules_file; /* "" none */
} waf_profile_spec;

typedef struct waf_profile waf_profile;
typedef struct waf_profiles waf_profiles;

/* Parses "942100 941310@/api/notes, 920273" into spec; on error returns -1
 * and writes why into err. */
int waf_exclusions_parse(const char *text, waf_profile_spec *spec, char *err, size_t errlen);

/* Reads a tenant's settings into spec (exclusions parsed); -1 + err. */
int waf_spec_from_config(const tn_api *api, const tn_config *cfg, waf_profile_spec *spec, char *err,
                         size_t errlen);

/* Parses a tenant's own rules file alone: -1 and libmodsecurity's message
 * (which names the file and the line) in err. */
int waf_rules_file_check(const char *path, char *err, size_t errlen);

waf_profiles *waf_profiles_new(void);
void waf_profiles_free(waf_profiles *ps);
/* Where setup.conf and exclusions.conf are, and the CRS rules directory;
 * until this is called, waf_profiles_note only remembers specs. */
int waf_profiles_configure(waf_profiles *ps, const char *rules_dir, const char *crs_dir, char *err,
                           size_t errlen);
/* Remembers a spec and, once configured, builds its rule set if no profile
 * has the same key yet.  -1 + err when the rules do not load. */
int waf_profiles_note(waf_profiles *ps, const waf_profile_spec *spec, char *err, size_t errlen);
/* Builds every remembered spec (after configure); -1 + err at the first
 * that fails. */
int waf_profiles_build_all(waf_profiles *ps, char *err, size_t errlen);
/* The built profile of spec, or NULL. */
waf_profile *waf_profiles_find(waf_profiles *ps, const waf_profile_spec *spec);
/* The libmodsecurity RulesSet (RulesSet *) of a profile. */
void *waf_profile_rules(const waf_profile *p);
size_t waf_profiles_count(const waf_profiles *ps);

#endif
