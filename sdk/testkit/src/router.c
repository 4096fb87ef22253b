/*
 * router.c - routes and hooks: registering them from init(), and finding
 * the route of a request.
 *
 * A pattern is "/"-separated segments: a literal, ":name" binding one
 * segment, or, last only, "*name" binding the rest of the path (at least
 * one non-empty segment).  The request path is split first and each
 * segment percent-decoded after, so "%2F" stays inside its segment.  When
 * several routes match, the most specific wins: comparing segment by
 * segment, a literal beats ":name", which beats "*name".  Two routes with
 * the same method and the same shape are a conflict, whoever registers
 * them.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_internal.h"

static void route_free(tk_route *rt)
{
    for (size_t i = 0; i < rt->nsegs; i++)
        free(rt->segs[i].text);
    free(rt->segs);
    free(rt->method);
    free(rt->pattern);
    free(rt->roles);
    free(rt);
}

void tk_routes_free(tk_kit *tk)
{
    for (size_t i = 0; i < tk->routes.n; i++)
        route_free(tk->routes.items[i]);
    tk_list_clear(&tk->routes);
    for (size_t i = 0; i < tk->hooks.n; i++)
        free(tk->hooks.items[i]);
    tk_list_clear(&tk->hooks);
}

static int param_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* Literal segments: visible ASCII, none of the characters that would be
 * encoded or mean something else in a path. */
static int literal_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("%?#:*", c) != NULL)
            return 0;
    }
    return n > 0;
}

static int parse_pattern(tk_route *rt, const char *pattern)
{
    if (pattern == NULL || pattern[0] != '/')
        return TN_EINVAL;
    size_t max = 1;
    for (const char *c = pattern; *c; c++)
        if (*c == '/')
            max++;
    rt->segs = calloc(max, sizeof *rt->segs);
    if (rt->segs == NULL)
        return TN_ENOMEM;
    if (strcmp(pattern, "/") == 0)
        return TN_OK;  /* the root: no segment */

    const char *p = pattern + 1;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        tk_seg *seg = &rt->segs[rt->nsegs];
        if (n > 0 && (p[0] == ':' || p[0] == '*')) {
            if (!param_name_ok(p + 1, n - 1))
                return TN_EINVAL;
            seg->kind = p[0] == ':' ? TK_SEG_PARAM : TK_SEG_REST;
            seg->text = tk_strndup(p + 1, n - 1);
        } else {
            if (!literal_ok(p, n))
                return TN_EINVAL;
            seg->kind = TK_SEG_STATIC;
            seg->text = tk_strndup(p, n);
        }
        if (seg->text == NULL)
            return TN_ENOMEM;
        rt->nsegs++;  /* counted now, so route_free() frees it */
        if (seg->kind == TK_SEG_REST && end != NULL)
            return TN_EINVAL;  /* "*name" only last */
        if (seg->kind != TK_SEG_STATIC) {
            for (size_t i = 0; i + 1 < rt->nsegs; i++)
                if (rt->segs[i].kind != TK_SEG_STATIC &&
                    strcmp(rt->segs[i].text, seg->text) == 0)
                    return TN_EINVAL;  /* one name, two segments */
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return TN_OK;
}

/* Same method and same shape: literals equal, parameters anywhere alike. */
static int same_shape(const tk_route *a, const tk_route *b)
{
    if (strcmp(a->method, b->method) != 0 || a->nsegs != b->nsegs)
        return 0;
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->segs[i].kind != b->segs[i].kind)
            return 0;
        if (a->segs[i].kind == TK_SEG_STATIC && strcmp(a->segs[i].text, b->segs[i].text) != 0)
            return 0;
    }
    return 1;
}

static int method_ok(const char *m)
{
    if (m == NULL || m[0] == '\0' || strlen(m) > 16)
        return 0;
    for (; *m; m++)
        if (!(*m >= 'A' && *m <= 'Z'))
            return 0;
    return 1;
}

/* "admin, buyer": names separated by commas, no empty one. */
static int roles_ok(const char *roles)
{
    if (roles == NULL)
        return 0;
    const char *p = roles;
    for (;;) {
        while (*p == ' ')
            p++;
        size_t n = 0;
        while (p[n] != '\0' && p[n] != ',' && p[n] != ' ') {
            char c = p[n];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || strchr("_-.:", c) != NULL))
                return 0;
            n++;
        }
        if (n == 0)
            return 0;
        p += n;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return 1;
        if (*p != ',')
            return 0;
        p++;
    }
}

int tk_api_route_add(tn_plugin *self, const char *method, const char *pattern,
                     tn_access access, const char *roles, tn_hook_fn handler,
                     void *ud)
{
    if (self == NULL)
        return TN_EINVAL;
    tk_kit *tk = self->tk;
    tk_route *rt = NULL;
    int rc = TN_ESTATE;
    if (tk->registering != self)
        goto fail;  /* from init() only */
    rc = TN_EINVAL;
    if (!method_ok(method) || handler == NULL)
        goto fail;
    /* Roles mean something only with TN_ACCESS_ROLES; anywhere else they
     * would suggest a check the host does not make, so they are refused. */
    if (access == TN_ACCESS_ROLES ? !roles_ok(roles)
        : (access != TN_ACCESS_PUBLIC && access != TN_ACCESS_AUTHENTICATED) || roles != NULL)
        goto fail;
    rc = TN_ENOMEM;
    rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        goto fail;
    rt->plugin = self;
    rt->access = access;
    rt->handler = handler;
    rt->ud = ud;
    rt->method = tk_strdup(method);
    rt->pattern = tk_strdup(pattern);
    rt->roles = roles ? tk_strdup(roles) : NULL;
    if (rt->method == NULL || rt->pattern == NULL || (roles && rt->roles == NULL))
        goto fail;
    rc = parse_pattern(rt, pattern);
    if (rc != TN_OK)
        goto fail;
    for (size_t i = 0; i < tk->routes.n; i++) {
        tk_route *o = tk->routes.items[i];
        if (same_shape(o, rt)) {
            tk_log_kit(tk, TN_LOG_ERROR, "plugin %s: route %s %s conflicts with %s %s of %s",
                       self->desc.name, method, pattern, o->method, o->pattern,
                       o->plugin->desc.name);
            rc = TN_EEXIST;
            goto fail;
        }
    }
    rc = tk_list_push(&tk->routes, rt);
    if (rc != TN_OK)
        goto fail;
    return TN_OK;

fail:
    if (rt != NULL)
        route_free(rt);
    return rc;
}

int tk_api_hook_add(tn_plugin *self, tn_phase phase, tn_hook_fn fn, void *ud)
{
    if (self == NULL)
        return TN_EINVAL;
    tk_kit *tk = self->tk;
    if (tk->registering != self)
        return TN_ESTATE;
    if ((int)phase < TN_PHASE_EARLY || phase >= TN_PHASE_COUNT || fn == NULL)
        return TN_EINVAL;
    tk_hook *h = calloc(1, sizeof *h);
    if (h == NULL)
        return TN_ENOMEM;
    h->plugin = self;
    h->phase = phase;
    h->fn = fn;
    h->ud = ud;
    if (tk_list_push(&tk->hooks, h) != TN_OK) {
        free(h);
        return TN_ENOMEM;
    }
    return TN_OK;
}

/* -- lookup ---------------------------------------------------------- */

typedef struct path_segs {
    char **seg;  /* decoded */
    size_t n;
} path_segs;

static void path_free(path_segs *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->seg[i]);
    free(ps->seg);
}

/* Splits and decodes the path; TN_EINVAL for a bad escape or %00. */
static int path_split(const char *path, path_segs *ps)
{
    size_t max = 1;
    for (const char *c = path; *c; c++)
        if (*c == '/')
            max++;
    ps->n = 0;
    ps->seg = calloc(max, sizeof *ps->seg);
    if (ps->seg == NULL)
        return TN_ENOMEM;
    if (strcmp(path, "/") == 0)
        return TN_OK;
    const char *p = path + 1;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *d = tk_percent_decode(p, n, 0);
        if (d == NULL)
            return TN_EINVAL;
        ps->seg[ps->n++] = d;
        if (end == NULL)
            return TN_OK;
        p = end + 1;
    }
}

static int route_matches(const tk_route *rt, const path_segs *ps)
{
    int rest = rt->nsegs > 0 && rt->segs[rt->nsegs - 1].kind == TK_SEG_REST;
    size_t fixed = rest ? rt->nsegs - 1 : rt->nsegs;
    if (rest ? ps->n <= fixed : ps->n != fixed)
        return 0;
    for (size_t i = 0; i < fixed; i++) {
        if (rt->segs[i].kind == TK_SEG_STATIC ? strcmp(rt->segs[i].text, ps->seg[i]) != 0
                                              : ps->seg[i][0] == '\0')
            return 0;
    }
    if (rest) {
        int any = 0;
        for (size_t i = fixed; i < ps->n; i++)
            any |= ps->seg[i][0] != '\0';
        return any;
    }
    return 1;
}

/* Negative if a is more specific than b. */
static int specificity(const tk_route *a, const tk_route *b)
{
    for (size_t i = 0; i < a->nsegs && i < b->nsegs; i++)
        if (a->segs[i].kind != b->segs[i].kind)
            return (int)a->segs[i].kind - (int)b->segs[i].kind;
    return 0;
}

static int bind_params(tn_request *r, const tk_route *rt, const path_segs *ps)
{
    for (size_t i = 0; i < rt->nsegs; i++) {
        if (rt->segs[i].kind == TK_SEG_STATIC)
            continue;
        tk_pair *pr = calloc(1, sizeof *pr);
        if (pr == NULL)
            return TN_ENOMEM;
        pr->name = tk_strdup(rt->segs[i].text);
        if (rt->segs[i].kind == TK_SEG_PARAM) {
            pr->value = tk_strdup(ps->seg[i]);
        } else {
            size_t len = 0;
            for (size_t j = i; j < ps->n; j++)
                len += strlen(ps->seg[j]) + 1;
            pr->value = calloc(1, len + 1);
            for (size_t j = i; j < ps->n && pr->value; j++) {
                if (j > i)
                    strcat(pr->value, "/");
                strcat(pr->value, ps->seg[j]);
            }
        }
        if (pr->name == NULL || pr->value == NULL || tk_list_push(&r->params, pr) != TN_OK) {
            free(pr->name);
            free(pr->value);
            free(pr);
            return TN_ENOMEM;
        }
    }
    return TN_OK;
}

static int allow_has(const char *allow, const char *m)
{
    size_t n = strlen(m);
    for (const char *p = allow; p != NULL;) {
        if (strncmp(p, m, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p = strchr(p, ',');
        if (p != NULL)
            p += 2;  /* ", " */
    }
    return 0;
}

/* Adds m to the list "GET, POST" *allow unless it is there. */
static int allow_add(char **allow, const char *m)
{
    if (*allow != NULL && allow_has(*allow, m))
        return TN_OK;
    char *s = *allow ? tk_format("%s, %s", *allow, m) : tk_strdup(m);
    if (s == NULL)
        return TN_ENOMEM;
    free(*allow);
    *allow = s;
    return TN_OK;
}

int tk_route_lookup(tn_request *r)
{
    tk_kit *tk = r->tk;
    path_segs ps = {0};
    tk_route *best = NULL;
    int rc;
    if (r->path[0] != '/') {
        r->bad_path = 1;
        return TN_OK;
    }
    rc = path_split(r->path, &ps);
    if (rc == TN_EINVAL) {
        r->bad_path = 1;
        rc = TN_OK;
    }
    if (rc != TN_OK || r->bad_path)
        goto done;
    for (size_t i = 0; i < tk->routes.n; i++) {
        tk_route *rt = tk->routes.items[i];
        if (!tk_enabled(r->gen, rt->plugin, r->tenant) || !route_matches(rt, &ps))
            continue;
        if (strcmp(rt->method, r->method) != 0) {
            rc = allow_add(&r->allow, rt->method);
            if (rc != TN_OK)
                goto done;
            continue;
        }
        if (best == NULL || specificity(rt, best) < 0)
            best = rt;
    }
    if (best != NULL) {
        r->route = best;
        rc = bind_params(r, best, &ps);
    }

done:
    path_free(&ps);
    return rc;
}
