/*
 * idtoken.c - LINE ID token verification with cjose (Debian libcjose).
 *
 * The algorithm is pinned: the protected header must say exactly HS256
 * before any key is used, so "none", ES256 (LINE's discovery document
 * lists only ES256, which web login does not use) or anything else is
 * refused and the channel secret is never tried as another algorithm's
 * key.  cjose checks the HMAC; the claims are then checked here, the
 * strings compared in constant time (sodium_memcmp).
 */
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <sodium.h>

#include "idtoken.h"

#define LINE_TOKEN_MAX 8192

/* 1 when a and b are equal, in time that depends only on their lengths. */
static int same(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n == strlen(b) && sodium_memcmp(a, b, n) == 0;
}

static int audience_ok(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return same(json_string_value(aud), want);
    /* An array is allowed by OIDC; LINE sends a string.  Exactly one. */
    return json_is_array(aud) && json_array_size(aud) == 1 &&
           json_is_string(json_array_get(aud, 0)) &&
           same(json_string_value(json_array_get(aud, 0)), want);
}

static int claims_check(json_t *c, const line_expect *e, line_claims *out, const char **why)
{
    json_t *iss = json_object_get(c, "iss"), *sub = json_object_get(c, "sub");
    json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    json_t *nonce = json_object_get(c, "nonce");
    const char *s;

    if (!json_is_string(iss) || !same(json_string_value(iss), e->issuer))
        return *why = "issuer", -1;
    if (!audience_ok(json_object_get(c, "aud"), e->audience))
        return *why = "audience", -1;
    if (!json_is_integer(exp) || json_integer_value(exp) + e->skew_s <= e->now)
        return *why = "expired", -1;
    if (!json_is_integer(iat) || json_integer_value(iat) > e->now + e->skew_s ||
        json_integer_value(iat) < e->now - e->max_age_s - e->skew_s)
        return *why = "issued_at", -1;
    if (!json_is_string(nonce) || !same(json_string_value(nonce), e->nonce))
        return *why = "nonce", -1;
    if (!json_is_string(sub) || (s = json_string_value(sub))[0] == '\0' ||
        strlen(s) > LINE_SUB_MAX ||
        strspn(s, "0123456789abcdefABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "ghijklmnopqrstuvwxyz_-") != strlen(s))
        return *why = "subject", -1;
    memcpy(out->sub, s, strlen(s) + 1);
    return 0;
}

int line_idtoken_verify(const char *token, const line_expect *e, line_claims *out, const char **why)
{
    cjose_err err;
    cjose_jws_t *jws = NULL;
    cjose_jwk_t *jwk = NULL;
    cjose_header_t *hdr;
    const char *alg;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    json_t *claims = NULL;
    int rc = -1;

    *why = "malformed";
    if (token == NULL || strlen(token) > LINE_TOKEN_MAX || e->secret_len == 0)
        goto done;
    if ((jws = cjose_jws_import(token, strlen(token), &err)) == NULL)
        goto done;
    hdr = cjose_jws_get_protected(jws);
    alg = hdr ? cjose_header_get(hdr, CJOSE_HDR_ALG, &err) : NULL;
    if (alg == NULL || strcmp(alg, CJOSE_HDR_ALG_HS256) != 0) {
        *why = "alg";
        goto done;
    }
    *why = "signature";
    if ((jwk = cjose_jwk_create_oct_spec((const uint8_t *)e->secret, e->secret_len, &err)) ==
            NULL ||
        !cjose_jws_verify(jws, jwk, &err))
        goto done;
    *why = "malformed";
    if (!cjose_jws_get_plaintext(jws, &plain, &plain_len, &err) ||
        (claims = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, NULL)) ==
            NULL ||
        !json_is_object(claims))
        goto done;
    rc = claims_check(claims, e, out, why);
    if (rc == 0)
        *why = "";
done:
    json_decref(claims);
    cjose_jwk_release(jwk);
    cjose_jws_release(jws); /* frees plain too: it is the JWS's */
    return rc;
}
