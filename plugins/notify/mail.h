/*
 * mail.h - the e-mail message, built by the program (pure C, no SDK):
 * strict address validation, RFC 2047 encoded words, a fixed header set
 * and a base64 UTF-8 body.  Free text never reaches a header unencoded
 * and addresses are plain addr-specs, so a header cannot be injected by
 * construction (libcurl passes CR/LF through in MAIL_RCPT: this is the
 * only check between a stored address and the SMTP envelope).
 */
#ifndef NOTIFY_MAIL_H
#define NOTIFY_MAIL_H

#include <stddef.h>
#include <time.h>

#define MAIL_ADDR_MAX 254
#define MAIL_LOCAL_MAX 64

/* 1: s is a plain addr-spec: a dot-atom local part (A-Z a-z 0-9 and
 * !#$%&'*+/=?^_`{|}~- with single inner dots, 1..64 bytes), one '@', a
 * domain of two or more labels of letters, digits and inner hyphens (1..63
 * each), 3..254 bytes in all.  Quoted strings, comments, brackets, spaces,
 * controls and non-ASCII are refused (0). */
int mail_addr_ok(const char *s);

/* A growing NUL-terminated text. */
typedef struct mail_buf {
    char *p;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} mail_buf;

void mail_buf_free(mail_buf *b);
void mail_buf_add(mail_buf *b, const char *s, size_t n);
void mail_buf_str(mail_buf *b, const char *s);

/* Appends "Name: " and text as RFC 2047 B encoded words (UTF-8), folded so
 * that no line passes 76 characters, and CRLF.  Words never split a UTF-8
 * character.  Invalid UTF-8 bytes and controls are replaced by U+FFFD /
 * dropped first (mail_clean_text), so every word decodes. */
void mail_header_encoded(mail_buf *b, const char *name, const char *text);

/* Copies text keeping valid UTF-8 only; controls other than LF (and tab
 * when keep_lf) are dropped, CR is dropped, LF kept only when keep_lf.
 * malloc'd; NULL when out of memory. */
char *mail_clean_text(const char *text, int keep_lf);

typedef struct mail_msg {
    const char *from_addr; /* validated */
    const char *from_name; /* may be NULL or "" */
    const char *to_addr;   /* validated */
    const char *to_name;   /* may be NULL or "" */
    const char *subject;   /* UTF-8 */
    const char *body;      /* UTF-8, LF or CRLF line ends */
    const char *msg_id;    /* "<...@...>": [A-Za-z0-9.@<>_-] only */
    time_t date;
} mail_msg;

/* Builds the RFC 5322 message with CRLF line ends into out (initialised
 * empty).  0, or -1 (an address or the Message-ID refused, or out of
 * memory; out is freed). */
int mail_build(const mail_msg *m, mail_buf *out);

/* The masked form of an address for logs and the delivery log:
 * "a***@example.jp".  out has MAIL_ADDR_MAX + 1 bytes. */
void mail_mask(const char *addr, char *out, size_t cap);

/* The domain of a validated address (after '@'). */
const char *mail_domain(const char *addr);

#endif
