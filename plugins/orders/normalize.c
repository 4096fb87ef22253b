/*
 * normalize.c - codes, search text and field checks of master data
 * (normalize.h).  Codes are compared after NFKC so the full-width forms a
 * Japanese keyboard produces equal the ASCII ones; search text adds lower
 * case and folds hiragana to katakana, so a query in either script (or in
 * half-width katakana, which NFKC widens) finds the kana stored.
 */
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "normalize.h"

static int is_control(ucs4_t c)
{
    return c < 0x20 || (c >= 0x7f && c < 0xa0);
}

static int is_space(ucs4_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* NFKC of NUL-terminated in; malloc'd uint8_t text with a NUL, or NULL. */
static uint8_t *nfkc(const char *in, size_t *len)
{
    size_t n = strlen(in), outlen = 0;
    uint8_t *out, *z;

    if (u8_check((const uint8_t *)in, n) != NULL)
        return NULL;
    out = u8_normalize(UNINORM_NFKC, (const uint8_t *)in, n, NULL, &outlen);
    if (out == NULL)
        return NULL;
    if ((z = realloc(out, outlen + 1)) == NULL) {
        free(out);
        return NULL;
    }
    z[outlen] = '\0';
    *len = outlen;
    return z;
}

char *orders_nfkc_trim(const char *in)
{
    size_t len = 0, a = 0;
    uint8_t *s = nfkc(in, &len);

    if (s == NULL)
        return NULL;
    while (a < len && is_space(s[a]))
        a++;
    while (len > a && is_space(s[len - 1]))
        len--;
    memmove(s, s + a, len - a);
    s[len - a] = '\0';
    return (char *)s;
}

char *orders_text_trim(const char *in)
{
    size_t n = strlen(in), a = 0;
    char *s;

    if (u8_check((const uint8_t *)in, n) != NULL)
        return NULL;
    for (;;) {
        if (a < n && is_space((unsigned char)in[a]))
            a++;
        else if (n - a >= 3 && memcmp(in + a, "\xe3\x80\x80", 3) == 0)
            a += 3;
        else
            break;
    }
    for (;;) {
        if (n > a && is_space((unsigned char)in[n - 1]))
            n--;
        else if (n - a >= 3 && memcmp(in + n - 3, "\xe3\x80\x80", 3) == 0)
            n -= 3;
        else
            break;
    }
    if ((s = malloc(n - a + 1)) == NULL)
        return NULL;
    memcpy(s, in + a, n - a);
    s[n - a] = '\0';
    return s;
}

const char *orders_code_normalize(const char *in, char out[ORDERS_CODE_MAX + 1])
{
    char *s = orders_nfkc_trim(in ? in : "");
    const uint8_t *p;
    const char *why = NULL;
    size_t n = 0;
    ucs4_t c;
    int k;

    if (s == NULL)
        return "is not UTF-8 text";
    for (p = (const uint8_t *)s; *p; p += k) {
        k = u8_mbtouc(&c, p, u8_strlen(p));
        if ((c >= 0x2010 && c <= 0x2015) || c == 0x2212)
            c = '-';
        if (c >= 'a' && c <= 'z')
            c -= 'a' - 'A';
        if (is_control(c)) {
            why = "must not contain control characters";
            goto done;
        }
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (n > 0 && (c == '.' || c == '_' || c == '-')))) {
            why = n == 0 ? "must start with a letter or digit"
                         : "may contain only letters, digits, '.', '_' and '-'";
            goto done;
        }
        if (n == ORDERS_CODE_MAX) {
            why = "must be at most 64 characters";
            goto done;
        }
        out[n++] = (char)c;
    }
    if (n == 0)
        why = "must not be empty";
done:
    out[n] = '\0';
    free(s);
    return why;
}

char *orders_search_fold(const char *in)
{
    size_t len = 0, low_len = 0;
    uint8_t *s = nfkc(in ? in : "", &len), *low = NULL, *p;
    ucs4_t c;
    int k;

    if (s == NULL)
        return NULL;
    low = u8_tolower(s, len, NULL, UNINORM_NFKC, NULL, &low_len);
    free(s);
    if (low == NULL || (s = realloc(low, low_len + 1)) == NULL) {
        free(low);
        return NULL;
    }
    s[low_len] = '\0';
    /* Hiragana U+3041..U+3096 and ゝゞ sit 0x60 below their katakana, and
     * both are three UTF-8 bytes: fold in place. */
    for (p = s; *p; p += k) {
        k = u8_mbtouc(&c, p, u8_strlen(p));
        if ((c >= 0x3041 && c <= 0x3096) || c == 0x309d || c == 0x309e)
            u8_uctomb(p, c + 0x60, k);
    }
    return (char *)s;
}

long orders_text_chars(const char *in)
{
    const uint8_t *p = (const uint8_t *)in;
    long n = 0;
    ucs4_t c;
    int k;

    if (u8_check(p, strlen(in)) != NULL)
        return -1;
    for (; *p; p += k, n++) {
        k = u8_mbtouc(&c, p, u8_strlen(p));
        if (is_control(c))
            return -1;
    }
    return n;
}

int orders_kana_valid(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    ucs4_t c;
    int k;

    for (; *p; p += k) {
        k = u8_mbtouc(&c, p, u8_strlen(p));
        if (!(c == ' ' || (c >= 0x3041 && c <= 0x309f) || (c >= 0x30a0 && c <= 0x30ff)))
            return 0;
    }
    return 1;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int orders_postal_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return 1;
    if (n == 7)
        return all_digits(s, 7);
    return n == 8 && s[3] == '-' && all_digits(s, 3) && all_digits(s + 4, 4);
}

int orders_phone_valid(const char *s)
{
    size_t n = strlen(s);

    return n <= 32 && strspn(s, "0123456789+() -") == n;
}

int orders_email_valid(const char *s)
{
    const char *at = strchr(s, '@'), *d, *label;
    size_t n = strlen(s);

    if (at == NULL || at == s || n > 254 || strchr(at + 1, '@') != NULL)
        return 0;
    for (const char *p = s; p < at; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("()<>[]\\,;:\"", *p) != NULL)
            return 0;
    /* Domain: dot-separated labels of [A-Za-z0-9-], not starting or ending
     * with '-', at least two of them. */
    d = at + 1;
    if (strchr(d, '.') == NULL)
        return 0;
    for (label = d;; label++) {
        size_t len = strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-");
        if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-')
            return 0;
        label += len;
        if (*label == '\0')
            return 1;
        if (*label != '.')
            return 0;
    }
}
