/*
 * idtoken.h - verification of a LINE Login ID token: web login, a JWS
 * HS256-signed with the channel secret; native apps, ES256 by a key of
 * LINE's JWKS chosen by kid.  The algorithm is pinned per path by the
 * caller.  Pure: no API, no clock of its own (the caller passes now).
 */
#ifndef SSO_LINE_IDTOKEN_H
#define SSO_LINE_IDTOKEN_H

#include <stddef.h>

#define LINE_SUB_MAX 128

typedef struct line_expect {
    const char *secret; /* HS256: the channel secret */
    size_t secret_len;
    const char *jwks;     /* ES256 (when non-NULL): LINE's JWKS, JSON text */
    const char *issuer;   /* iss, exactly */
    const char *audience; /* aud: the channel ID */
    const char *nonce;    /* the nonce this flow sent; NULL: any, returned */
    long long now;        /* Unix seconds */
    long long skew_s;     /* clock difference tolerated for exp and iat */
    long long max_age_s;  /* iat at most this old */
} line_expect;

typedef struct line_claims {
    char sub[LINE_SUB_MAX + 1];
    char nonce[LINE_SUB_MAX + 1]; /* as the token says */
} line_claims;

/* 0 and the claims when the token is an HS256 JWS by the secret (or with
 * e->jwks, an ES256 JWS by the JWKS key its kid names) with the
 * expected iss, aud and nonce, not expired and issued within the window;
 * else -1 with *why a short static reason ("alg", "signature",
 * "audience", ...) that never quotes the token. */
int line_idtoken_verify(const char *token, const line_expect *e, line_claims *out,
                        const char **why);
/* 1 when the JWKS (JSON text) has a key for the token's kid. */
int line_jwks_has_kid(const char *jwks, const char *token);

#endif
