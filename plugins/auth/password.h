/*
 * password.h - the auth plugin's password rules: NFKC normalisation, the
 * tenant's policy (S12), and Argon2id hashing through libsodium.
 *
 * Everything here is safe to call from the thread pool: the policy keeps
 * its read-only list of common passwords, and the one library that is not
 * reentrant (cracklib, through libpwquality) runs under the context's lock.
 */
#ifndef AUTH_PASSWORD_H
#define AUTH_PASSWORD_H

#include <pthread.h>
#include <stddef.h>

#include <sodium.h>

/* OWASP's Argon2id floor: m=19 MiB, t=2, p=1 (libsodium always uses p=1). */
#define AUTH_PW_OPSLIMIT 2ULL
#define AUTH_PW_MEMLIMIT ((size_t)19456 * 1024)
#define AUTH_PW_HASH_MAX crypto_pwhash_STRBYTES
#define AUTH_PW_MIN_FLOOR 8    /* no tenant goes below this (S12) */
#define AUTH_PW_MAX_CHARS 1024 /* at least 128 must be accepted; we take 1024 */
#define AUTH_PW_MAX_BYTES 4096 /* raw input, before normalisation */

typedef struct auth_pw_ctx {
    char **common; /* open-addressing set of lower-case common passwords */
    size_t common_cap;
    size_t common_n;
    void *pwq; /* pwquality_settings_t * */
    pthread_mutex_t pwq_lock;
    char dummy_hash[AUTH_PW_HASH_MAX]; /* verified against for unknown users */
} auth_pw_ctx;

/* A tenant's policy for one check: all strings borrowed. */
typedef struct auth_policy {
    int min_length;    /* code points after NFKC; raised to AUTH_PW_MIN_FLOOR */
    const char *login; /* the account's login ID */
    const char *email; /* the account's e-mail address, or NULL */
    const char *words; /* the tenant's own words, comma-separated; may be NULL */
} auth_policy;

/* Loads the common-password list (one a line, "#!comment" lines skipped)
 * and sets up libpwquality and the dummy hash.  0, or -1 with err set. */
int auth_pw_init(auth_pw_ctx *pw, const char *common_path, char *err, size_t errlen);
void auth_pw_free(auth_pw_ctx *pw);

/* NFKC of len bytes of UTF-8: a NUL-terminated malloc'd copy (*out_len
 * bytes), or NULL with *reason "invalid_utf8", "too_long" or "empty". */
char *auth_pw_normalize(const char *pw, size_t len, size_t *out_len, const char **reason);

/* NULL when the normalised password passes the policy, else the reason:
 * too_short, too_long, contains_login, contains_email, digits_only, common_password,
 * dictionary_word, tenant_word. */
const char *auth_pw_check(auth_pw_ctx *pw, const auth_policy *pol, const char *norm, size_t len);

/* Argon2id PHC string of norm into out.  0 or -1 (out of memory). */
int auth_pw_hash(const char *norm, size_t len, char out[AUTH_PW_HASH_MAX]);
/* 1 when norm matches hash, else 0 (malformed hashes too). */
int auth_pw_verify(const char *hash, const char *norm, size_t len);
/* 1 when hash was made with other parameters (or another algorithm). */
int auth_pw_needs_rehash(const char *hash);

/* Whether a reason code is one of the above (for tests and docs). */
const char *auth_pw_reason_message(const char *reason);

#endif
