/*
 * idtoken.h - verification of a LINE Login ID token (web login: a JWS
 * HS256-signed with the channel secret).  Pure: no API, no clock of its
 * own (the caller passes now), no database.
 */
#ifndef SSO_LINE_IDTOKEN_H
#define SSO_LINE_IDTOKEN_H

#include <stddef.h>

#define LINE_SUB_MAX 128

typedef struct line_expect {
    const char *secret; /* the channel secret: the HS256 key */
    size_t secret_len;
    const char *issuer;   /* iss, exactly */
    const char *audience; /* aud: the channel ID */
    const char *nonce;    /* the nonce this flow sent */
    long long now;        /* Unix seconds */
    long long skew_s;     /* clock difference tolerated for exp and iat */
    long long max_age_s;  /* iat at most this old */
} line_expect;

typedef struct line_claims {
    char sub[LINE_SUB_MAX + 1];
} line_claims;

/* 0 and the claims when the token is an HS256 JWS by the secret with the
 * expected iss, aud and nonce, not expired and issued within the window;
 * else -1 with *why a short static reason ("alg", "signature",
 * "audience", ...) that never quotes the token. */
int line_idtoken_verify(const char *token, const line_expect *e, line_claims *out,
                        const char **why);

#endif
