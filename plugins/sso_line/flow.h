/*
 * flow.h - one LINE sign-in in progress: its pre-login cookie and what is
 * derived from it.  Pure functions: no API, no database.
 *
 * The cookie carries 32 random bytes; the database keeps only their
 * SHA-256 (the flow row's id), so a read of the table gives nothing
 * usable.  state, nonce and the PKCE code_verifier are HMAC-SHA256 of
 * fixed labels keyed by those bytes: only the browser that started the
 * flow can finish it, and nothing of them needs storing.
 */
#ifndef SSO_LINE_FLOW_H
#define SSO_LINE_FLOW_H

#include <stddef.h>

#define LINE_COOKIE "__Host-tanomu_line"
#define LINE_FLOW_TTL_S 600 /* LINE's authorization code lives 10 minutes */
#define LINE_B64_LEN 43     /* base64url of 32 bytes, no padding */

typedef struct line_flow {
    unsigned char raw[32];
    char text[LINE_B64_LEN + 1]; /* the cookie value */
    char id[65];                 /* hex SHA-256 of raw: the row */
    char state[LINE_B64_LEN + 1], nonce[LINE_B64_LEN + 1];
    char verifier[LINE_B64_LEN + 1], challenge[LINE_B64_LEN + 1];
} line_flow;

void line_flow_new(line_flow *f);
/* The flow of a cookie value; -1 if it is not one of ours. */
int line_flow_parse(line_flow *f, const char *cookie);
void line_flow_wipe(line_flow *f);
/* 1 when s is the flow's state (constant time). */
int line_flow_state_ok(const line_flow *f, const char *s);

int line_cookie_set(char *buf, size_t len, const line_flow *f);
const char *line_cookie_clear(void);

/* Appends "&name=value" (no "&" when *len is 0) with value
 * percent-encoded; -1 when it does not fit. */
int line_form_add(char *buf, size_t cap, size_t *len, const char *name, const char *value);

#endif
