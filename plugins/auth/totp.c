/*
 * totp.c - TOTP codes through liboath and single-use recovery codes (S13).
 * See totp.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liboath/oath.h>
#include <sodium.h>

#include "totp.h"

int auth_totp_init(void)
{
    return oath_init() == OATH_OK ? 0 : -1;
}

void auth_totp_new(unsigned char secret[AUTH_TOTP_SECRET_BYTES], char b32[AUTH_TOTP_B32_LEN + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t i, bit = 0;

    randombytes_buf(secret, AUTH_TOTP_SECRET_BYTES);
    /* 160 bits are exactly 32 base32 digits: no padding.  Done here, not
     * with oath_base32_encode, so no copy of the secret is left unwiped
     * in a heap block we do not own. */
    for (i = 0; i < AUTH_TOTP_B32_LEN; i++, bit += 5) {
        size_t byte = bit / 8, off = bit % 8;
        unsigned v = (unsigned)secret[byte] << 8;
        if (byte + 1 < AUTH_TOTP_SECRET_BYTES)
            v |= secret[byte + 1];
        b32[i] = alphabet[(v >> (11 - off)) & 31];
    }
    b32[AUTH_TOTP_B32_LEN] = '\0';
}

/* Percent-encodes s (RFC 3986 unreserved characters kept). */
static int pct(char **p, char *end, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        if (end - *p < (plain ? 2 : 4))
            return -1;
        if (plain) {
            *(*p)++ = (char)c;
        } else {
            *(*p)++ = '%';
            *(*p)++ = hex[c >> 4];
            *(*p)++ = hex[c & 15];
        }
    }
    **p = '\0';
    return 0;
}

int auth_totp_uri(char *out, size_t len, const char *issuer, const char *login, const char *b32)
{
    char *p = out, *end = out + len;
    int n;

    if (len < 16)
        return -1;
    p += snprintf(p, len, "otpauth://totp/");
    if (pct(&p, end, issuer) != 0 || end - p < 2)
        return -1;
    *p++ = ':';
    if (pct(&p, end, login) != 0)
        return -1;
    n = snprintf(p, (size_t)(end - p), "?secret=%s&issuer=", b32);
    if (n < 0 || n >= end - p)
        return -1;
    p += n;
    if (pct(&p, end, issuer) != 0)
        return -1;
    n = snprintf(p, (size_t)(end - p), "&algorithm=SHA1&digits=%d&period=%d", AUTH_TOTP_DIGITS,
                 AUTH_TOTP_STEP_S);
    return n < 0 || n >= end - p ? -1 : 0;
}

int auth_totp_check(const unsigned char *secret, size_t len, time_t now, const char *code,
                    int64_t *step)
{
    int pos = 0;
    uint64_t counter = 0;
    size_t i;

    if (code == NULL || strlen(code) != AUTH_TOTP_DIGITS)
        return -1;
    for (i = 0; i < AUTH_TOTP_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return -1;
    if (oath_totp_validate3((const char *)secret, len, now, AUTH_TOTP_STEP_S,
                            OATH_TOTP_DEFAULT_START_TIME, AUTH_TOTP_WINDOW, &pos, &counter,
                            code) < 0)
        return -1;
    *step = (int64_t)counter;
    return 0;
}

static void hex_sha256(const void *data, size_t len, char hash[65])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, data, len);
    sodium_bin2hex(hash, 65, d, sizeof d);
}

void auth_recovery_new(char code[AUTH_RECOVERY_LEN + 1], char hash[65])
{
    unsigned char raw[AUTH_RECOVERY_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(code, AUTH_RECOVERY_LEN + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    hex_sha256(code, AUTH_RECOVERY_LEN, hash);
}

int auth_recovery_hash(const char *typed, char hash[65])
{
    char norm[AUTH_RECOVERY_LEN + 1];
    size_t n = 0;

    for (; typed && *typed; typed++) {
        char c = *typed;
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n == AUTH_RECOVERY_LEN)
            return -1;
        norm[n++] = c;
    }
    if (n != AUTH_RECOVERY_LEN)
        return -1;
    hex_sha256(norm, n, hash);
    sodium_memzero(norm, sizeof norm);
    return 0;
}
