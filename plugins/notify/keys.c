/*
 * keys.c - the derived values of the channels, pure (libsodium only) so
 * the unit test checks them against published vectors: the delivery
 * log's recipient hash, the Standard Webhooks signature, and LINE's
 * user-ID rule and retry key.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"

void notify_hash_addr(const char *tenant, const char *addr, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    char lower[300];
    size_t i = 0;

    for (; addr[i] && i + 1 < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)addr[i]);
    lower[i] = '\0';
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)tenant, strlen(tenant));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)lower, i);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(out, 65, h, sizeof h);
}

int notify_webhook_sign(const unsigned char *key, size_t key_len, const char *id, const char *ts,
                        const char *body, size_t body_len, char *out, size_t cap)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];

    if (cap < 3 + sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_ORIGINAL))
        return -1;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, cap - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int notify_line_user_ok(const char *s)
{
    if (s == NULL || strlen(s) != 33 || s[0] != 'U')
        return 0;
    for (int i = 1; i < 33; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

void notify_line_retry_key(const char *tenant, int64_t event_id, const char *user, char out[37])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char in[200];
    int n = snprintf(in, sizeof in, "line\n%s\n%lld\n%s", tenant, (long long)event_id, user);

    crypto_hash_sha256(h, (const unsigned char *)in, (unsigned long long)(n > 0 ? n : 0));
    h[6] = (unsigned char)((h[6] & 0x0F) | 0x40); /* the version-4 layout */
    h[8] = (unsigned char)((h[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0],
             h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
             h[14], h[15]);
}
