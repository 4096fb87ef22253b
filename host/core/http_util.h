/*
 * http_util.h - the rules the host applies to HTTP text, with no request
 * or connection behind them: header names and values (S7), which
 * response headers a plugin may set, percent-decoding, a cookie in a
 * Cookie header, a parameter in a query string, the JSON shape of error
 * answers, and the answer to a failed database result.
 *
 * Pure functions on strings (jansson aside, for the JSON): request.c
 * applies them to the host's requests and the SDK testkit to its fake
 * ones, so plugins meet the same rules in unit tests as in production.
 */
#ifndef HOST_HTTP_UTIL_H
#define HOST_HTTP_UTIL_H

#include <stddef.h>

/* An HTTP token (RFC 9110 tchar), 1 to 256 bytes. */
int host_header_name_valid(const char *name);
/* No CR, LF or other control character but HTAB. */
int host_header_value_valid(const char *value);
/* TN_OK if a plugin may set this response header: a valid name, a valid
 * value of at most 8192 bytes, and not a header the host owns (framing,
 * Date, X-Request-Id, ...).  TN_EINVAL otherwise. */
int host_resp_header_allowed(const char *name, const char *value);

/* The request-line rules the host applies before any tenant or plugin
 * sees a request (the HTTP server answers them itself, no hook runs).
 * host_target_split: an origin-form target ("/" first) with no "." or ".."
 * path segment; a "#fragment" is dropped and "?" starts the query.  Splits
 * target in place (*path, *query: "" if none).  0, or -1 for 400.
 * host_method_status: 0 for a method the host serves (GET, HEAD, POST,
 * PUT, PATCH, DELETE, OPTIONS), 405 for TRACE (S5), else 501.  What each
 * status answers is in host_refusal_for(). */
int host_target_split(char *target, const char **path, const char **query);
int host_method_status(const char *method);
/* The code and message of the host's own answer for status (400, 405, 413,
 * 414, 417, 431, 501, 500); 400's for any other. */
void host_refusal_for(int status, const char **code, const char **message);

/* Decodes the n bytes at s into out (room for n + 1), NUL-terminated.
 * 0, or -1 on a broken escape or an encoded NUL: such input is refused,
 * not guessed at. */
int host_percent_decode_to(const char *s, size_t n, int plus_is_space, char *out);

/* Finds `name` in one Cookie header value ("a=1; sid=\"x\""): *value and
 * *len get its value, without surrounding double quotes.  0 if found, -1
 * if not; pairs without "=" are skipped. */
int host_cookie_find(const char *header, const char *name, const char **value, size_t *len);
/* Finds the first parameter `name` (compared as sent) in a raw query
 * string: *value and *len get its value, still encoded ("" when the
 * parameter has no "=").  0 if found, -1 if not. */
int host_query_find(const char *query, const char *name, const char **value, size_t *len);

/* {"error":{"code":...,"message":...}}, compact, every byte escaped
 * (malloc'd).  NULL if out of memory or a string is not UTF-8. */
char *host_error_json(const char *code, const char *message);

/* How the host answers a failed database result (resp_db_error): 503 with
 * Retry-After when the database is unavailable or cancelled the statement
 * (57014, statement_timeout), 400 for a data exception (class 22), 409 for a
 * unique violation (23505), 422 for a privilege (42501) or other integrity
 * (class 23) refusal, else 500. */
typedef struct host_db_answer {
    int status;       /* HTTP status: 503, 400, 409, 422 or 500 */
    const char *code; /* for host_error_json() */
    const char *message;
    const char *retry_after; /* the Retry-After value, or NULL */
    int log;                 /* log the status and SQLSTATE (only those:
                                   the server's message may quote values, S16) */
} host_db_answer;

/* 1 if a plugin may send this statement (db_query): not transaction
 * control, SET and the like (BEGIN, COMMIT, SET, RESET, LISTEN, DO, ...
 * as the first keyword, after blanks and comments), no set_config() and
 * no U& escapes, so nothing changes app.tenant_id behind row-level
 * security (S21).  A check on text: defence in depth, not a sandbox. */
int host_sql_allowed(const char *sql);

/* db_status is TN_OK or a TN_EDB_* code (TN_EDB_UNAVAILABLE for no result
 * at all), sqlstate the result's SQLSTATE ("" if none). */
void host_db_answer_for(int db_status, const char *sqlstate, host_db_answer *out);

#endif
