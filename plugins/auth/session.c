/*
 * session.c - session tokens, cookie, CSRF and Origin rules (see session.h).
 */
#include "session.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

static const char csrf_label[] = "tanomu.auth.csrf.v1";

static void sid_of(auth_token *t)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, t->raw, sizeof t->raw);
    sodium_bin2hex(t->sid, sizeof t->sid, h, sizeof h);
}

void auth_token_new(auth_token *t)
{
    randombytes_buf(t->raw, sizeof t->raw);
    sodium_bin2base64(t->text, sizeof t->text, t->raw, sizeof t->raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sid_of(t);
}

int auth_token_parse(auth_token *t, const char *cookie)
{
    size_t n = 0;

    if (cookie == NULL || strlen(cookie) != AUTH_TOKEN_LEN)
        return -1;
    if (sodium_base642bin(t->raw, sizeof t->raw, cookie, AUTH_TOKEN_LEN, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != sizeof t->raw)
        return -1;
    memcpy(t->text, cookie, AUTH_TOKEN_LEN + 1);
    sid_of(t);
    return 0;
}

void auth_token_wipe(auth_token *t)
{
    sodium_memzero(t->raw, sizeof t->raw);
    sodium_memzero(t->text, sizeof t->text);
}

static void csrf_raw(const auth_token *t, unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, t->raw, sizeof t->raw);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)csrf_label, sizeof csrf_label - 1);
    crypto_auth_hmacsha256_final(&st, mac);
}

void auth_csrf_token(const auth_token *t, char out[AUTH_TOKEN_LEN + 1])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    csrf_raw(t, mac);
    sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int auth_csrf_ok(const auth_token *t, const char *header)
{
    char want[AUTH_TOKEN_LEN + 1];

    if (header == NULL || strlen(header) != AUTH_TOKEN_LEN)
        return 0;
    auth_csrf_token(t, want);
    return sodium_memcmp(want, header, AUTH_TOKEN_LEN) == 0;
}

static int b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int auth_form_token(const char *body, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    size_t i = 0;

    while (body && i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > nlen && memcmp(body + i, name, nlen) == 0 && body[i + nlen] == '=') {
            size_t v = i + nlen + 1, n = end - v;
            if (n == 0 || n >= outlen)
                return -1;
            for (size_t k = 0; k < n; k++)
                if (!b64url_char(body[v + k]))
                    return -1;
            memcpy(out, body + v, n);
            out[n] = '\0';
            return 0;
        }
        i = end + 1;
    }
    return -1;
}

/* ---- multipart/form-data ------------------------------------------------- */

#define MP_BOUNDARY_MAX 70

/* The first n-byte needle at or after from in hay[0..len), or NULL. */
static const char *find(const char *hay, size_t len, size_t from, const char *needle, size_t n)
{
    for (size_t i = from; n > 0 && i + n <= len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* The boundary parameter of a multipart Content-Type into out. */
static int mp_boundary(const char *type, char out[MP_BOUNDARY_MAX + 1])
{
    const char *p = type;
    size_t n = 0;

    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, "boundary=", 9) != 0)
            continue;
        p += 9;
        if (*p == '"') {
            const char *end = strchr(++p, '"');
            n = end ? (size_t)(end - p) : 0;
        } else {
            n = strcspn(p, "; \t");
        }
        if (n == 0 || n > MP_BOUNDARY_MAX)
            return -1;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
    }
    return -1;
}

/* 1 when a part's header block (CRLF-separated lines) has a
 * Content-Disposition of form-data named name, without a filename. */
static int mp_names(const char *h, size_t len, const char *name)
{
    char want[80];
    size_t i = 0;
    int n = snprintf(want, sizeof want, "name=\"%s\"", name);

    if (n <= 0 || (size_t)n >= sizeof want)
        return 0;
    while (i < len) {
        const char *eol = find(h, len, i, "\r\n", 2);
        size_t end = eol ? (size_t)(eol - h) : len, k;
        if (end - i > 20 && strncasecmp(h + i, "content-disposition:", 20) == 0) {
            k = i + 20;
            while (k < end && (h[k] == ' ' || h[k] == '\t'))
                k++;
            if (end - k < 9 || strncasecmp(h + k, "form-data", 9) != 0 ||
                find(h, end, k, "filename", 8) != NULL)
                return 0;
            /* The parameter, preceded by a ';' and optional blanks. */
            for (const char *at = find(h, end, k, want, (size_t)n); at;
                 at = find(h, end, (size_t)(at - h) + 1, want, (size_t)n)) {
                const char *b = at;
                while (b > h + k && (b[-1] == ' ' || b[-1] == '\t'))
                    b--;
                if (b > h + k && b[-1] == ';')
                    return 1;
            }
            return 0;
        }
        i = end + 2;
    }
    return 0;
}

int auth_multipart_token(const char *body, size_t len, const char *content_type, const char *name,
                         char *out, size_t outlen)
{
    char bnd[MP_BOUNDARY_MAX + 1], delim[MP_BOUNDARY_MAX + 5];
    size_t dn, pos;
    const char *at;

    if (body == NULL || content_type == NULL || mp_boundary(content_type, bnd) != 0)
        return -1;
    dn = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", bnd);
    /* The first delimiter may open the body (no CRLF before it). */
    if (len >= dn - 2 && memcmp(body, delim + 2, dn - 2) == 0)
        pos = dn - 2;
    else if ((at = find(body, len, 0, delim, dn)) != NULL)
        pos = (size_t)(at - body) + dn;
    else
        return -1;
    for (;;) {
        const char *hend, *next;
        if (len - pos >= 2 && memcmp(body + pos, "--", 2) == 0)
            return -1;                                      /* the closing delimiter */
        if ((at = find(body, len, pos, "\r\n", 2)) == NULL) /* the rest of the line */
            return -1;
        pos = (size_t)(at - body) + 2;
        if ((hend = find(body, len, pos, "\r\n\r\n", 4)) == NULL)
            return -1;
        if ((next = find(body, len, (size_t)(hend - body) + 4, delim, dn)) == NULL)
            return -1;
        if (mp_names(body + pos, (size_t)(hend - body) - pos, name)) {
            const char *v = hend + 4;
            size_t n = (size_t)(next - v);
            if (n == 0 || n >= outlen)
                return -1;
            for (size_t k = 0; k < n; k++)
                if (!b64url_char(v[k]))
                    return -1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
        pos = (size_t)(next - body) + dn;
    }
}

int auth_cookie_set(char *buf, size_t len, const auth_token *t)
{
    int n = snprintf(buf, len, "%s=%s; Path=/; Secure; HttpOnly; SameSite=Lax", AUTH_COOKIE,
                     t->text);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

const char *auth_cookie_clear(void)
{
    return AUTH_COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0";
}

int auth_method_changes_state(const char *method)
{
    return !(strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
             strcmp(method, "OPTIONS") == 0);
}

/* Whether the comma-separated list has an entry equal (case-insensitively)
 * to s[0..n). */
static int list_has(const char *list, const char *s, size_t n)
{
    while (list && *list) {
        size_t m = strcspn(list, ",");
        const char *p = list;
        size_t k = m;
        while (k > 0 && *p == ' ')
            p++, k--;
        while (k > 0 && p[k - 1] == ' ')
            k--;
        if (k == n && strncasecmp(p, s, n) == 0)
            return 1;
        list += m;
        if (*list == ',')
            list++;
    }
    return 0;
}

int auth_origin_allowed(const char *origin, const char *host, const char *allowed)
{
    const char *authority;

    if (origin == NULL)
        return 0;
    if (list_has(allowed, origin, strlen(origin)))
        return 1;
    if (strncmp(origin, "https://", 8) == 0)
        authority = origin + 8;
    else if (strncmp(origin, "http://", 7) == 0)
        authority = origin + 7;
    else
        return 0; /* "null" and other schemes: foreign */
    return host != NULL && host[0] != '\0' && strcasecmp(authority, host) == 0;
}
