/*
 * rls_lint.c - the textual RLS lint of plugin migrations.  See rls_lint.h.
 *
 * Each file is first reduced to a token stream: lower-cased words,
 * punctuation as one-character tokens, with comments, strings and
 * dollar-quoted bodies dropped; each token keeps its line for the report.
 * The statements are then matched on tokens, so spacing, case and line
 * breaks do not matter.
 */
#include "rls_lint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX 64

typedef struct tok {
    char s[TOK_MAX + 1];
    int line;
} tok;

typedef struct toks {
    tok *v;
    int n, cap;
} toks;

typedef struct table {
    char name[TOK_MAX + 1];
    const char *file;
    int line;
    unsigned have; /* HOST_RLS_NOT_* bits that were found: ENABLE, FORCE */
} table;

static int push(toks *t, const char *s, size_t len, int line)
{
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        tok *v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    if (len > TOK_MAX)
        len = TOK_MAX;
    for (size_t i = 0; i < len; i++)
        t->v[t->n].s[i] = (char)tolower((unsigned char)s[i]);
    t->v[t->n].s[len] = '\0';
    t->v[t->n].line = line;
    t->n++;
    return 0;
}

static int is_word(int c)
{
    return isalnum(c) || c == '_';
}

/* Skips to the end of a dollar quote opened at p ("$tag$"). */
static const char *skip_dollar(const char *p, int *line)
{
    const char *tag_end = strchr(p + 1, '$');
    size_t tl;
    const char *q;

    if (!tag_end)
        return p + strlen(p);
    tl = (size_t)(tag_end - p) + 1;
    for (q = tag_end + 1; *q; q++) {
        if (*q == '\n')
            (*line)++;
        if (*q == '$' && strncmp(q, p, tl) == 0)
            return q + tl;
    }
    return q;
}

static int tokenize(const char *p, toks *t)
{
    int line = 1;

    while (*p) {
        if (*p == '\n') {
            line++;
            p++;
        } else if (isspace((unsigned char)*p)) {
            p++;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n')
                    line++;
            p += *p ? 2 : 0;
        } else if (*p == '\'') {
            for (p++; *p && !(*p == '\'' && p[1] != '\''); p += (*p == '\'' ? 2 : 1))
                if (*p == '\n')
                    line++;
            p += *p ? 1 : 0;
        } else if (*p == '"') {
            const char *s = ++p;
            while (*p && *p != '"')
                p++;
            if (push(t, s, (size_t)(p - s), line) != 0)
                return -1;
            p += *p ? 1 : 0;
        } else if (*p == '$' && (p[1] == '$' || isalpha((unsigned char)p[1]) || p[1] == '_')) {
            const char *q = p + 1;
            while (is_word((unsigned char)*q))
                q++;
            if (*q == '$')
                p = skip_dollar(p, &line);
            else
                p = q;
        } else if (is_word((unsigned char)*p)) {
            const char *s = p;
            while (is_word((unsigned char)*p))
                p++;
            if (push(t, s, (size_t)(p - s), line) != 0)
                return -1;
        } else {
            if (push(t, p, 1, line) != 0)
                return -1;
            p++;
        }
    }
    return 0;
}

static int is(const toks *t, int i, const char *s)
{
    return i < t->n && strcmp(t->v[i].s, s) == 0;
}

/* A table name at i: [schema .] name; returns the index after it. */
static int table_name(const toks *t, int i, char out[TOK_MAX + 1])
{
    if (i >= t->n)
        return -1;
    if (is(t, i + 1, ".") && i + 2 < t->n)
        i += 2;
    memcpy(out, t->v[i].s, strlen(t->v[i].s) + 1);
    return i + 1;
}

static table *find(table *v, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* CREATE [UNLOGGED|TEMP...] TABLE [IF NOT EXISTS] name ( body ): adds name
 * when the body has tenant_id at depth 1 or deeper. */
static int scan_create(const toks *t, int i, const char *file, table **v, int *n, int *cap)
{
    char name[TOK_MAX + 1];
    int line = t->v[i].line, depth = 0, tenant = 0, j;

    for (i++; i < t->n && !is(t, i, "table"); i++)
        if (!is(t, i, "unlogged") && !is(t, i, "temp") && !is(t, i, "temporary"))
            return 0; /* CREATE INDEX, CREATE POLICY, ... */
    if (is(t, i + 1, "if") && is(t, i + 2, "not") && is(t, i + 3, "exists"))
        i += 3;
    if ((j = table_name(t, i + 1, name)) < 0 || !is(t, j, "("))
        return 0;
    for (; j < t->n; j++) {
        if (is(t, j, "("))
            depth++;
        else if (is(t, j, ")") && --depth == 0)
            break;
        else if (is(t, j, "tenant_id"))
            tenant = 1;
    }
    if (!tenant || find(*v, *n, name))
        return 0;
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 8;
        table *nv = realloc(*v, (size_t)c * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = c;
    }
    memset(&(*v)[*n], 0, sizeof **v);
    memcpy((*v)[*n].name, name, sizeof name);
    (*v)[*n].file = file;
    (*v)[*n].line = line;
    (*n)++;
    return 0;
}

/* ALTER TABLE [IF EXISTS] [ONLY] name ENABLE|FORCE ROW LEVEL SECURITY */
static void scan_alter(const toks *t, int i, table *v, int n)
{
    char name[TOK_MAX + 1];
    table *tb;
    int j;

    if (!is(t, i + 1, "table"))
        return;
    i += 2;
    if (is(t, i, "if") && is(t, i + 1, "exists"))
        i += 2;
    if (is(t, i, "only"))
        i++;
    if ((j = table_name(t, i, name)) < 0 || !(tb = find(v, n, name)))
        return;
    if (!is(t, j + 1, "row") || !is(t, j + 2, "level") || !is(t, j + 3, "security"))
        return;
    if (is(t, j, "enable"))
        tb->have |= HOST_RLS_NOT_ENABLED;
    else if (is(t, j, "force"))
        tb->have |= HOST_RLS_NOT_FORCED;
}

int host_rls_lint(const host_sql_file *files, int n, host_rls_report_fn report, void *ctx)
{
    toks *ts = calloc((size_t)n + 1, sizeof *ts);
    table *v = NULL;
    int nt = 0, cap = 0, f, i, found = -1;

    if (!ts)
        return -1;
    for (f = 0; f < n; f++)
        if (tokenize(files[f].text ? files[f].text : "", &ts[f]) != 0)
            goto out;
    /* Tables first (an ALTER may come in a later file than its CREATE). */
    for (f = 0; f < n; f++)
        for (i = 0; i < ts[f].n; i++)
            if (is(&ts[f], i, "create") &&
                scan_create(&ts[f], i, files[f].name, &v, &nt, &cap) != 0)
                goto out;
    for (f = 0; f < n; f++)
        for (i = 0; i < ts[f].n; i++)
            if (is(&ts[f], i, "alter"))
                scan_alter(&ts[f], i, v, nt);
    found = 0;
    for (i = 0; i < nt; i++) {
        unsigned missing = (HOST_RLS_NOT_ENABLED | HOST_RLS_NOT_FORCED) & ~v[i].have;
        if (missing) {
            report(ctx, v[i].file, v[i].line, v[i].name, missing);
            found++;
        }
    }
out:
    for (f = 0; f < n; f++)
        free(ts[f].v);
    free(ts);
    free(v);
    return found;
}
