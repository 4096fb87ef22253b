/*
 * idtoken.c - LINE ID token verification with cjose (Debian libcjose).
 *
 * The algorithm is pinned per path: for web login the protected header
 * must say exactly HS256 before any key is used, so "none", ES256 (LINE's
 * discovery document lists only ES256, which web login does not use) or
 * anything else is refused and the channel secret is never tried as
 * another algorithm's key.  For native apps it must say ES256, and the
 * key is the JWKS's EC P-256 key of the token's kid: an HS256 token made
 * with the public key as its secret is refused by the pin.  cjose checks
 * the signature; the claims are then checked here, the strings compared
 * in constant time (sodium_memcmp).
 */
#include <stdlib.h>
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
    if (!json_is_string(nonce) || strlen(json_string_value(nonce)) > LINE_SUB_MAX ||
        (e->nonce != NULL && !same(json_string_value(nonce), e->nonce)))
        return *why = "nonce", -1;
    memcpy(out->nonce, json_string_value(nonce), strlen(json_string_value(nonce)) + 1);
    if (!json_is_string(sub) || (s = json_string_value(sub))[0] == '\0' ||
        strlen(s) > LINE_SUB_MAX ||
        strspn(s, "0123456789abcdefABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "ghijklmnopqrstuvwxyz_-") != strlen(s))
        return *why = "subject", -1;
    memcpy(out->sub, s, strlen(s) + 1);
    return 0;
}

/* The JWKS key (an EC P-256 signing key) whose kid is the header's. */
static cjose_jwk_t *jwks_key(const char *jwks, const char *kid)
{
    json_t *set = kid ? json_loads(jwks, 0, NULL) : NULL, *k;
    cjose_jwk_t *jwk = NULL;
    cjose_err err;
    size_t i;

    json_array_foreach(json_object_get(set, "keys"), i, k)
    {
        const char *id = json_string_value(json_object_get(k, "kid"));
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *crv = json_string_value(json_object_get(k, "crv"));
        if (id && kty && crv && strcmp(id, kid) == 0 && strcmp(kty, "EC") == 0 &&
            strcmp(crv, "P-256") == 0 && json_object_get(k, "d") == NULL) {
            char *text = json_dumps(k, JSON_COMPACT);
            jwk = text ? cjose_jwk_import(text, strlen(text), &err) : NULL;
            free(text);
            break;
        }
    }
    json_decref(set);
    return jwk;
}

static const char *header_of(cjose_jws_t *jws, const char *name)
{
    cjose_err err;
    cjose_header_t *hdr = cjose_jws_get_protected(jws);
    return hdr ? cjose_header_get(hdr, name, &err) : NULL;
}

int line_jwks_has_kid(const char *jwks, const char *token)
{
    cjose_err err;
    cjose_jws_t *jws = token ? cjose_jws_import(token, strlen(token), &err) : NULL;
    cjose_jwk_t *k = jws && jwks ? jwks_key(jwks, header_of(jws, CJOSE_HDR_KID)) : NULL;
    int found = k != NULL;
    cjose_jwk_release(k);
    cjose_jws_release(jws);
    return found;
}

int line_idtoken_verify(const char *token, const line_expect *e, line_claims *out, const char **why)
{
    cjose_err err;
    cjose_jws_t *jws = NULL;
    cjose_jwk_t *jwk = NULL;
    const char *alg, *want = e->jwks ? CJOSE_HDR_ALG_ES256 : CJOSE_HDR_ALG_HS256;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    json_t *claims = NULL;
    int rc = -1;

    *why = "malformed";
    if (token == NULL || strlen(token) > LINE_TOKEN_MAX || (!e->jwks && e->secret_len == 0))
        goto done;
    if ((jws = cjose_jws_import(token, strlen(token), &err)) == NULL)
        goto done;
    alg = header_of(jws, CJOSE_HDR_ALG);
    if (alg == NULL || strcmp(alg, want) != 0) {
        *why = "alg";
        goto done;
    }
    *why = "signature";
    jwk = e->jwks ? jwks_key(e->jwks, header_of(jws, CJOSE_HDR_KID))
                  : cjose_jwk_create_oct_spec((const uint8_t *)e->secret, e->secret_len, &err);
    if (jwk == NULL || !cjose_jws_verify(jws, jwk, &err))
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
