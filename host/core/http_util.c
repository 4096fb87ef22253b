/*
 * http_util.c - header rules, percent-decoding, cookie and query lookup,
 * error bodies and database answers.  See http_util.h.
 */
#include "http_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <tanomu/api.h>

int host_header_name_valid(const char *name)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t n;

    for (n = 0; name[n]; n++)
        if (!isalnum((unsigned char)name[n]) && !strchr(extra, name[n]))
            return 0;
    return n > 0 && n <= 256;
}

int host_header_value_valid(const char *value)
{
    const unsigned char *p = (const unsigned char *)value;

    for (; *p; p++)
        if (*p == '\r' || *p == '\n' || (*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

int host_resp_header_allowed(const char *name, const char *value)
{
    /* Framing and the request ID: the host writes them, nobody else. */
    static const char *const owned[] = {"Content-Length", "Transfer-Encoding", "Connection", "Date",
                                        "X-Request-Id",   "Keep-Alive",        "Upgrade",    "TE",
                                        "Trailer",        "Proxy-Connection",  NULL};
    int i;

    if (!name || !value || !host_header_name_valid(name) || !host_header_value_valid(value) ||
        strlen(value) > 8192)
        return TN_EINVAL;
    for (i = 0; owned[i]; i++)
        if (strcasecmp(name, owned[i]) == 0)
            return TN_EINVAL;
    return TN_OK;
}

int host_target_split(char *target, const char **path, const char **query)
{
    char *q, *hash;

    if (!target || target[0] != '/')
        return -1;
    if ((hash = strchr(target, '#')))
        *hash = '\0';
    q = strchr(target, '?');
    *query = q ? q + 1 : "";
    if (q)
        *q = '\0';
    *path = target;
    for (char *s = target; s; s = strchr(s + 1, '/')) {
        if ((s[1] == '.' && (s[2] == '/' || s[2] == '\0')) ||
            (s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == '\0')))
            return -1;
    }
    return 0;
}

int host_method_status(const char *method)
{
    static const char *const served[] = {"GET",   "HEAD",   "POST",   "PUT",
                                         "PATCH", "DELETE", "OPTIONS"};
    size_t i;

    for (i = 0; i < sizeof served / sizeof served[0]; i++)
        if (strcmp(method, served[i]) == 0)
            return 0;
    return strcmp(method, "TRACE") == 0 ? 405 : 501;
}

void host_refusal_for(int status, const char **code, const char **message)
{
    static const struct {
        int status;
        const char *code, *message;
    } table[] = {
        {405, "method_not_allowed", "method not allowed"},
        {413, "body_too_large", "request body too large"},
        {414, "uri_too_long", "request line too long"},
        {417, "expectation_failed", "unsupported Expect"},
        {431, "headers_too_large", "request header fields too large"},
        {501, "not_implemented", "method not implemented"},
        {500, "internal", "internal error"},
    };
    size_t i;

    *code = "bad_request";
    *message = "malformed request";
    for (i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].status == status) {
            *code = table[i].code;
            *message = table[i].message;
        }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int host_percent_decode_to(const char *s, size_t n, int plus_is_space, char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return 0;
}

int host_cookie_find(const char *header, const char *name, const char **value, size_t *len)
{
    const char *p = header;
    size_t nl = strlen(name);

    while (*p) {
        const char *end, *eq;
        while (*p == ' ' || *p == ';')
            p++;
        end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
            const char *v = eq + 1;
            size_t vl = (size_t)(end - v);
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            *value = v;
            *len = vl;
            return 0;
        }
        p = end;
    }
    return -1;
}

int host_query_find(const char *query, const char *name, const char **value, size_t *len)
{
    const char *p = query, *amp, *eq;
    size_t nl = strlen(name);

    while (p && *p) {
        amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        eq = memchr(p, '=', n);
        size_t klen = eq ? (size_t)(eq - p) : n;
        if (klen == nl && memcmp(p, name, nl) == 0) {
            *value = eq ? eq + 1 : p + n;
            *len = eq ? n - klen - 1 : 0;
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

char *host_error_json(const char *code, const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
                          message ? message : "");
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return text;
}

static int ident_char(char c)
{
    return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* True if word occurs in s as a whole identifier (case-insensitive). */
static int has_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    const char *p = s;

    while ((p = strcasestr(p, word)) != NULL) {
        if (!(p > s && ident_char(p[-1])) && !ident_char(p[n]))
            return 1;
        p += n;
    }
    return 0;
}

int host_sql_allowed(const char *sql)
{
    static const char *const control[] = {"begin",    "start",  "commit",    "end",     "rollback",
                                          "abort",    "set",    "reset",     "discard", "listen",
                                          "unlisten", "notify", "savepoint", "release", "prepare",
                                          "do",       NULL};
    const char *p = sql;
    char word[16];
    size_t n = 0;
    int i;

    for (;;) { /* skip blanks and comments before the first keyword */
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end)
                return 0;
            p = end + 2;
        } else {
            break;
        }
    }
    while (n < sizeof word - 1 && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        word[n++] = (char)(*p++ | 0x20);
    word[n] = '\0';
    for (i = 0; control[i]; i++)
        if (strcmp(word, control[i]) == 0)
            return 0;
    /* Reading the tenant (current_setting) is fine; changing it is not, nor
     * spelling a name with Unicode escapes to slip past this check. */
    return !has_word(sql, "set_config") && !strstr(sql, "U&") && !strstr(sql, "u&");
}

void host_db_answer_for(int db_status, const char *sqlstate, host_db_answer *out)
{
    const char *state = sqlstate ? sqlstate : "";

    memset(out, 0, sizeof *out);
    if (db_status == TN_EDB_UNKNOWN) {
        /* The connection broke during COMMIT: the change may have been
         * stored.  500, not 503: 503 (with Retry-After) tells clients and
         * proxies the request was not processed and may simply be sent
         * again, which could apply it twice.  500 promises nothing, and
         * the distinct code lets a client check before it retries. */
        out->status = 500;
        out->code = "commit_unknown";
        out->message = "the outcome of this change is unknown: it may have been applied; "
                       "check before retrying";
        out->log = 1;
    } else if (db_status == TN_EDB_UNAVAILABLE) {
        out->status = 503;
        out->code = "database_unavailable";
        out->message = "the database is unavailable; retry shortly";
        out->retry_after = "1";
    } else if (strcmp(state, "57014") == 0) {
        /* statement_timeout: the database is overloaded or the statement
         * too slow; the client may try again later. */
        out->status = 503;
        out->code = "database_timeout";
        out->message = "the database did not answer in time; retry shortly";
        out->retry_after = "1";
        out->log = 1;
    } else if (strncmp(state, "22", 2) == 0) {
        /* Data exception: the input could not be stored as given (A6). */
        out->status = 400;
        out->code = "invalid_input";
        out->message = "the input is not valid for this field";
    } else if (strcmp(state, "23505") == 0) {
        out->status = 409;
        out->code = "conflict";
        out->message = "conflicts with existing data";
    } else if (strcmp(state, "42501") == 0 || strncmp(state, "23", 2) == 0) {
        /* Insufficient privilege or another integrity rule: the change
         * is refused for good, retrying will not help. */
        out->status = 422;
        out->code = "refused";
        out->message = "the database refused the change";
        out->log = 1;
    } else {
        out->status = 500;
        out->code = "internal";
        out->message = "internal error";
        out->log = 1;
    }
}
