/*
 * session.h - session tokens, the session cookie, and the CSRF and Origin
 * rules (S4).  Pure functions: no API, no database.
 *
 * A session token is 32 bytes from the OS CSPRNG, sent base64url (43
 * characters) in the cookie only.  The database keeps its SHA-256 (hex),
 * so a read of the sessions table yields nothing usable.  The CSRF token
 * is HMAC-SHA256 keyed by the session token: only the holder of the
 * cookie can compute it, the server recomputes it from the cookie, and a
 * new session (login) brings a new one.
 */
#ifndef AUTH_SESSION_H
#define AUTH_SESSION_H

#include <stddef.h>

#define AUTH_COOKIE "__Host-tanomu_sid"
#define AUTH_TOKEN_BYTES 32
#define AUTH_TOKEN_LEN 43 /* base64url, no padding */
#define AUTH_SID_LEN 64   /* hex SHA-256 */

typedef struct auth_token {
    unsigned char raw[AUTH_TOKEN_BYTES];
    char text[AUTH_TOKEN_LEN + 1]; /* the cookie value */
    char sid[AUTH_SID_LEN + 1];    /* what the database stores */
} auth_token;

/* A new random token. */
void auth_token_new(auth_token *t);
/* The token of a cookie value; -1 if it is not one of ours. */
int auth_token_parse(auth_token *t, const char *cookie);
/* Wipes the raw token and its text. */
void auth_token_wipe(auth_token *t);

/* The session's CSRF token (base64url, 43 characters + NUL). */
void auth_csrf_token(const auth_token *t, char out[AUTH_TOKEN_LEN + 1]);
/* 1 when header is the session's CSRF token (constant time), else 0. */
int auth_csrf_ok(const auth_token *t, const char *header);

/* The value of field `name` in an application/x-www-form-urlencoded body,
 * for the CSRF token of an HTML form: copied to out (NUL-terminated) only
 * when it is 1..outlen-1 characters of base64url, which need no decoding.
 * 0, or -1 when absent or not such a value. */
int auth_form_token(const char *body, size_t len, const char *name, char *out, size_t outlen);

/* The same for a multipart/form-data body (RFC 7578): the part whose
 * Content-Disposition is form-data with name="<name>" and no filename,
 * its value up to the next delimiter.  content_type is the request's
 * header, which gives the boundary (1 to 70 characters, quoted or not).
 * The first such part counts.  0, or -1 when absent, malformed, or not
 * such a value. */
int auth_multipart_token(const char *body, size_t len, const char *content_type, const char *name,
                         char *out, size_t outlen);

/* Set-Cookie values: the session, and its removal. */
int auth_cookie_set(char *buf, size_t len, const auth_token *t);
const char *auth_cookie_clear(void);

/* 1 when a state-changing method (anything but GET, HEAD, OPTIONS). */
int auth_method_changes_state(const char *method);
/* 1 when Origin is the request's own host (http or https, same authority
 * as Host, ignoring case) or one of the comma-separated allowed origins. */
int auth_origin_allowed(const char *origin, const char *host, const char *allowed);

#endif
