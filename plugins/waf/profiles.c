/*
 * profiles.c - builds and keeps the WAF's shared rule sets.
 *
 * A profile's rules load in this order: RULES_DIR/setup.conf (engine and
 * CRS setup), the profile's prelude (paranoia level, anomaly threshold,
 * exclusions by route), every .conf file of CRS_DIR in name order (Debian's
 * owasp-crs.load uses IncludeOptional, which libmodsecurity 3.0.9 refuses,
 * so the files are listed here), RULES_DIR/exclusions.conf (the platform
 * profile), the profile's SecRuleRemoveById lines, then the tenant's own
 * rules file.  Rule loading is not thread-safe, so it happens only here,
 * on the loop thread, at start and reload; requests only read a set.
 */
#include "profiles.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modsecurity/rules_set.h>

#define KEY_MAX 8192

struct waf_profile {
    char *key;
    RulesSet *rules; /* NULL until built */
    waf_profile_spec spec;
    char *rules_file; /* spec.rules_file points here */
};

struct waf_profiles {
    waf_profile **v;
    size_t n, cap;
    char *rules_dir;
    char **crs_files; /* sorted absolute paths */
    size_t ncrs;
    int configured;
};

/* ---- parsing the settings -------------------------------------------------- */

static int prefix_ok(const char *p)
{
    size_t i;

    if (p[0] != '/' || strlen(p) > WAF_PREFIX_MAX)
        return 0;
    for (i = 0; p[i]; i++)
        if (!isalnum((unsigned char)p[i]) && !strchr("/._~-", p[i]))
            return 0;
    return 1;
}

/* One token: ID or ID@/prefix. */
static int exclusion_parse(const char *tok, waf_exclusion *e, char *err, size_t errlen)
{
    char *end = NULL;
    const char *at = strchr(tok, '@');
    unsigned long id;

    if (!isdigit((unsigned char)tok[0]))
        goto bad;
    errno = 0;
    id = strtoul(tok, &end, 10);
    if (errno || id == 0 || id > 99999999ul || (end != at && *end != '\0'))
        goto bad;
    e->id = (unsigned)id;
    e->prefix[0] = '\0';
    if (at) {
        if (!prefix_ok(at + 1)) {
            snprintf(err, errlen,
                     "'%.40s': a route prefix starts with / and holds only "
                     "letters, digits and /._~-",
                     tok);
            return -1;
        }
        snprintf(e->prefix, sizeof e->prefix, "%s", at + 1);
    }
    return 0;
bad:
    snprintf(err, errlen, "'%.40s' is not a rule ID (or ID@/route-prefix)", tok);
    return -1;
}

int waf_exclusions_parse(const char *text, waf_profile_spec *spec, char *err, size_t errlen)
{
    char tok[WAF_PREFIX_MAX + 16];
    const char *p = text ? text : "";

    spec->nexcl = 0;
    while (*p) {
        size_t n = strcspn(p, " ,\t");
        if (n == 0) {
            p++;
            continue;
        }
        if (n >= sizeof tok) {
            snprintf(err, errlen, "an exclusion is too long");
            return -1;
        }
        if (spec->nexcl == WAF_MAX_EXCLUSIONS) {
            snprintf(err, errlen, "at most %d exclusions", WAF_MAX_EXCLUSIONS);
            return -1;
        }
        memcpy(tok, p, n);
        tok[n] = '\0';
        if (exclusion_parse(tok, &spec->excl[spec->nexcl], err, errlen) != 0)
            return -1;
        spec->nexcl++;
        p += n;
    }
    return 0;
}

int waf_spec_from_config(const tn_api *api, const tn_config *cfg, waf_profile_spec *spec, char *err,
                         size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    spec->paranoia = (int)api->config_int(cfg, "paranoia");
    spec->threshold = (int)api->config_int(cfg, "anomaly_threshold");
    spec->rules_file = api->config_str(cfg, "rules_file");
    if (spec->rules_file == NULL)
        spec->rules_file = "";
    return waf_exclusions_parse(api->config_str(cfg, "exclude_rules"), spec, err, errlen);
}

/* ---- loading rules ----------------------------------------------------------- */

static void copy_error(const char *msg, char *err, size_t errlen)
{
    size_t i;

    snprintf(err, errlen, "%s", msg ? msg : "rules did not load");
    for (i = 0; err[i]; i++) /* one line */
        if (err[i] == '\n' || err[i] == '\r')
            err[i] = ' ';
}

static int add_file(RulesSet *rs, const char *path, char *err, size_t errlen)
{
    const char *e = NULL;

    if (msc_rules_add_file(rs, path, &e) < 0) {
        copy_error(e, err, errlen);
        free((void *)e); /* the library strdup()s it */
        return -1;
    }
    free((void *)e);
    return 0;
}

static int add_text(RulesSet *rs, const char *text, char *err, size_t errlen)
{
    const char *e = NULL;

    if (msc_rules_add(rs, text, &e) < 0) {
        copy_error(e, err, errlen);
        free((void *)e);
        return -1;
    }
    free((void *)e);
    return 0;
}

int waf_rules_file_check(const char *path, char *err, size_t errlen)
{
    RulesSet *rs = msc_create_rules_set();
    int rc;

    if (!rs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = add_file(rs, path, err, errlen);
    msc_rules_cleanup(rs);
    return rc;
}

/* The rules a profile adds before the CRS: its paranoia level and
 * threshold (the CRS's 901 rules set them only when unset), and its
 * exclusions by route (ctl in phase 1 removes a rule for the rest of the
 * transaction). */
static int prelude(const waf_profile_spec *s, char *out, size_t len)
{
    unsigned id = WAF_OWN_ID_FIRST;
    size_t i;
    int n = snprintf(out, len,
                     "SecAction \"id:%u,phase:1,pass,nolog,t:none,"
                     "setvar:tx.paranoia_level=%d,"
                     "setvar:tx.inbound_anomaly_score_threshold=%d\"\n",
                     id++, s->paranoia, s->threshold);
    size_t used = n < 0 ? len : (size_t)n;

    for (i = 0; i < s->nexcl && used < len; i++) {
        if (!s->excl[i].prefix[0])
            continue;
        n = snprintf(out + used, len - used,
                     "SecRule REQUEST_FILENAME \"@beginsWith %s\" \"id:%u,phase:1,pass,"
                     "nolog,t:none,ctl:ruleRemoveById=%u\"\n",
                     s->excl[i].prefix, id++, s->excl[i].id);
        used += n < 0 ? len : (size_t)n;
    }
    return used < len ? 0 : -1;
}

static int removals(const waf_profile_spec *s, char *out, size_t len)
{
    size_t i, used = 0;

    out[0] = '\0';
    for (i = 0; i < s->nexcl && used < len; i++) {
        int n;
        if (s->excl[i].prefix[0])
            continue;
        n = snprintf(out + used, len - used, "SecRuleRemoveById %u\n", s->excl[i].id);
        used += n < 0 ? len : (size_t)n;
    }
    return used < len ? 0 : -1;
}

static int join(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static RulesSet *build(const waf_profiles *ps, const waf_profile_spec *s, char *err, size_t errlen)
{
    char path[4096];
    char *text = malloc(KEY_MAX * 2);
    RulesSet *rs = msc_create_rules_set();
    size_t i;

    if (!rs || !text) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (join(path, sizeof path, ps->rules_dir, "setup.conf") != 0 ||
        add_file(rs, path, err, errlen) != 0)
        goto fail;
    if (prelude(s, text, KEY_MAX * 2) != 0 || add_text(rs, text, err, errlen) != 0)
        goto fail;
    for (i = 0; i < ps->ncrs; i++)
        if (add_file(rs, ps->crs_files[i], err, errlen) != 0)
            goto fail;
    if (join(path, sizeof path, ps->rules_dir, "exclusions.conf") != 0 ||
        add_file(rs, path, err, errlen) != 0)
        goto fail;
    if (removals(s, text, KEY_MAX * 2) != 0 || (text[0] && add_text(rs, text, err, errlen) != 0))
        goto fail;
    if (s->rules_file[0] && add_file(rs, s->rules_file, err, errlen) != 0)
        goto fail;
    free(text);
    return rs;
fail:
    free(text);
    if (rs)
        msc_rules_cleanup(rs);
    return NULL;
}

/* ---- the registry ------------------------------------------------------------ */

static int key_of(const waf_profile_spec *s, char *out, size_t len)
{
    size_t i, used;
    int n = snprintf(out, len, "pl=%d;thr=%d;rf=%s;ex=", s->paranoia, s->threshold, s->rules_file);

    used = n < 0 ? len : (size_t)n;
    for (i = 0; i < s->nexcl && used < len; i++) {
        n = snprintf(out + used, len - used, "%u@%s,", s->excl[i].id, s->excl[i].prefix);
        used += n < 0 ? len : (size_t)n;
    }
    return used < len ? 0 : -1;
}

waf_profiles *waf_profiles_new(void)
{
    return calloc(1, sizeof(waf_profiles));
}

void waf_profiles_free(waf_profiles *ps)
{
    size_t i;

    if (!ps)
        return;
    for (i = 0; i < ps->n; i++) {
        if (ps->v[i]->rules)
            msc_rules_cleanup(ps->v[i]->rules);
        free(ps->v[i]->key);
        free(ps->v[i]->rules_file);
        free(ps->v[i]);
    }
    for (i = 0; i < ps->ncrs; i++)
        free(ps->crs_files[i]);
    free(ps->crs_files);
    free(ps->v);
    free(ps->rules_dir);
    free(ps);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with_conf(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".conf") == 0 && name[0] != '.';
}

/* Every *.conf of the CRS rules directory, sorted by name. */
static int list_crs(waf_profiles *ps, const char *crs_dir, char *err, size_t errlen)
{
    DIR *d = opendir(crs_dir);
    struct dirent *de;
    char path[4096];
    size_t cap = 0;

    if (!d) {
        snprintf(err, errlen, "CRS rules directory %s: %s", crs_dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (!ends_with_conf(de->d_name))
            continue;
        if (ps->ncrs == cap) {
            char **v = realloc(ps->crs_files, (cap ? cap * 2 : 32) * sizeof *v);
            if (!v)
                goto oom;
            ps->crs_files = v;
            cap = cap ? cap * 2 : 32;
        }
        if (join(path, sizeof path, crs_dir, de->d_name) != 0 ||
            !(ps->crs_files[ps->ncrs] = strdup(path)))
            goto oom;
        ps->ncrs++;
    }
    closedir(d);
    if (ps->ncrs == 0) {
        snprintf(err, errlen, "no *.conf in the CRS rules directory %s", crs_dir);
        return -1;
    }
    qsort(ps->crs_files, ps->ncrs, sizeof *ps->crs_files, cmp_str);
    return 0;
oom:
    closedir(d);
    snprintf(err, errlen, "out of memory");
    return -1;
}

int waf_profiles_configure(waf_profiles *ps, const char *rules_dir, const char *crs_dir, char *err,
                           size_t errlen)
{
    if (!(ps->rules_dir = strdup(rules_dir))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (list_crs(ps, crs_dir, err, errlen) != 0)
        return -1;
    ps->configured = 1;
    return 0;
}

static waf_profile *find_key(waf_profiles *ps, const char *key)
{
    size_t i;

    for (i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i]->key, key) == 0)
            return ps->v[i];
    return NULL;
}

static int build_one(waf_profiles *ps, waf_profile *p, char *err, size_t errlen)
{
    if (p->rules || !ps->configured)
        return 0;
    p->rules = build(ps, &p->spec, err, errlen);
    return p->rules ? 0 : -1;
}

int waf_profiles_note(waf_profiles *ps, const waf_profile_spec *spec, char *err, size_t errlen)
{
    char key[KEY_MAX];
    waf_profile *p;

    if (key_of(spec, key, sizeof key) != 0) {
        snprintf(err, errlen, "settings too long");
        return -1;
    }
    if ((p = find_key(ps, key)) != NULL)
        return build_one(ps, p, err, errlen);
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        waf_profile **v = realloc(ps->v, cap * sizeof *v);
        if (!v)
            goto oom;
        ps->v = v;
        ps->cap = cap;
    }
    if (!(p = calloc(1, sizeof *p)))
        goto oom;
    p->spec = *spec;
    p->key = strdup(key);
    p->rules_file = strdup(spec->rules_file);
    if (!p->key || !p->rules_file) {
        free(p->key);
        free(p->rules_file);
        free(p);
        goto oom;
    }
    p->spec.rules_file = p->rules_file;
    ps->v[ps->n++] = p;
    if (build_one(ps, p, err, errlen) != 0) {
        /* Forget it: a later check with fixed rules tries again. */
        ps->n--;
        free(p->key);
        free(p->rules_file);
        free(p);
        return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int waf_profiles_build_all(waf_profiles *ps, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < ps->n; i++)
        if (build_one(ps, ps->v[i], err, errlen) != 0)
            return -1;
    return 0;
}

waf_profile *waf_profiles_find(waf_profiles *ps, const waf_profile_spec *spec)
{
    char key[KEY_MAX];
    waf_profile *p;

    if (key_of(spec, key, sizeof key) != 0)
        return NULL;
    p = find_key(ps, key);
    return p && p->rules ? p : NULL;
}

void *waf_profile_rules(const waf_profile *p)
{
    return p->rules;
}

size_t waf_profiles_count(const waf_profiles *ps)
{
    return ps->n;
}
