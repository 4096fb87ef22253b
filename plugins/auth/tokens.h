/*
 * tokens.h - API tokens for a tenant's own systems (issue 8, "API
 * tokens"): made by a tenant admin with a name, roles (never more than
 * the admin's) and an expiry, shown once, stored as a SHA-256, listed,
 * revoked, and presented as `Authorization: Bearer tnk_<id>_<secret>`.
 * The routes and the authenticate step are in tokens.c; the token text
 * itself (pure functions, no API) is here so the tests can reach it.
 */
#ifndef AUTH_TOKENS_H
#define AUTH_TOKENS_H

#include <stddef.h>

#include <tanomu/tanomu.h>

#define AUTH_TOK_PREFIX "tnk_"
#define AUTH_TOK_ID_LEN 36       /* a UUID, lower-case, with dashes */
#define AUTH_TOK_SECRET_BYTES 32 /* 256 bits from randombytes_buf */
#define AUTH_TOK_SECRET_LEN 43   /* base64url, no padding */
#define AUTH_TOK_LEN (4 + AUTH_TOK_ID_LEN + 1 + AUTH_TOK_SECRET_LEN)
#define AUTH_TOK_HASH_LEN 64 /* hex SHA-256 of the secret's bytes */
#define AUTH_TOK_MAX_DAYS 365
#define AUTH_TOK_DEFAULT_DAYS 90
#define AUTH_TOK_NAME_MAX 100
#define AUTH_TOK_BUYER_MAX 128 /* bytes of a buyer token's buyer_id */
#define AUTH_TOK_TOUCH_S 60    /* last_used_at is written at most this often */

typedef struct auth_tok {
    char id[AUTH_TOK_ID_LEN + 1];
    unsigned char raw[AUTH_TOK_SECRET_BYTES];
    char secret[AUTH_TOK_SECRET_LEN + 1];
    char hash[AUTH_TOK_HASH_LEN + 1];
    char text[AUTH_TOK_LEN + 1]; /* what the client is shown once */
} auth_tok;

/* A new random secret and its hash (id and text come once the row has
 * its ID: auth_tok_text). */
void auth_tok_new(auth_tok *t);
/* Fills t->id and t->text; -1 if id is not a lower-case UUID. */
int auth_tok_text(auth_tok *t, const char *id);
/* The token of a bearer value; -1 if it is not one of ours.  t->id is
 * set whenever the ID part is well formed (for the audit), even on -1. */
int auth_tok_parse(auth_tok *t, const char *bearer);
/* Wipes the secret, its bytes and the text. */
void auth_tok_wipe(auth_tok *t);

#endif
