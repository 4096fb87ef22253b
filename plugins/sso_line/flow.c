/*
 * flow.c - the pre-login cookie of a LINE sign-in, the values derived
 * from it (state, nonce, PKCE S256), and form encoding.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "flow.h"

static void b64(char out[LINE_B64_LEN + 1], const unsigned char *bin, size_t n)
{
    sodium_bin2base64(out, LINE_B64_LEN + 1, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void derive(const line_flow *f, const char *label, char out[LINE_B64_LEN + 1])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)label, strlen(label), f->raw);
    b64(out, mac, sizeof mac);
    sodium_memzero(mac, sizeof mac);
}

static void derive_all(line_flow *f)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, f->raw, sizeof f->raw);
    sodium_bin2hex(f->id, sizeof f->id, h, sizeof h);
    derive(f, "tanomu line state", f->state);
    derive(f, "tanomu line nonce", f->nonce);
    derive(f, "tanomu line pkce", f->verifier);
    /* S256: BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 4.2) */
    crypto_hash_sha256(h, (const unsigned char *)f->verifier, strlen(f->verifier));
    b64(f->challenge, h, sizeof h);
}

void line_flow_new(line_flow *f)
{
    randombytes_buf(f->raw, sizeof f->raw);
    b64(f->text, f->raw, sizeof f->raw);
    derive_all(f);
}

int line_flow_parse(line_flow *f, const char *cookie)
{
    size_t n = 0;
    memset(f, 0, sizeof *f);
    if (cookie == NULL || strlen(cookie) != LINE_B64_LEN ||
        sodium_base642bin(f->raw, sizeof f->raw, cookie, LINE_B64_LEN, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != sizeof f->raw)
        return -1;
    memcpy(f->text, cookie, LINE_B64_LEN + 1);
    derive_all(f);
    return 0;
}

void line_flow_wipe(line_flow *f)
{
    sodium_memzero(f, sizeof *f);
}

int line_flow_state_ok(const line_flow *f, const char *s)
{
    return s != NULL && strlen(s) == LINE_B64_LEN && sodium_memcmp(s, f->state, LINE_B64_LEN) == 0;
}

int line_cookie_set(char *buf, size_t len, const line_flow *f)
{
    /* Lax: the callback is a top-level navigation from LINE's site. */
    int n = snprintf(buf, len, "%s=%s; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=%d",
                     LINE_COOKIE, f->text, LINE_FLOW_TTL_S);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

const char *line_cookie_clear(void)
{
    return LINE_COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0";
}

int line_form_add(char *buf, size_t cap, size_t *len, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = *len;
    int w = snprintf(buf + n, cap - n, "%s%s=", n ? "&" : "", name);
    if (w < 0 || (size_t)w >= cap - n)
        return -1;
    n += (size_t)w;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (n + 4 > cap)
            return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf[n++] = (char)*p;
        } else {
            buf[n++] = '%';
            buf[n++] = hex[*p >> 4];
            buf[n++] = hex[*p & 15];
        }
    }
    buf[n] = '\0';
    *len = n;
    return 0;
}
