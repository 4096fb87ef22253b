/*
 * mail.c - the e-mail message (see mail.h).  Every header value is either
 * a validated address, a Message-ID of a fixed alphabet, a date we format,
 * or free text that only ever appears as base64 inside RFC 2047 encoded
 * words; the body is base64 too, so neither CR/LF injection nor a lone
 * "." line (SMTP end of data) can come from a template or a name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void mail_buf_free(mail_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void mail_buf_add(mail_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void mail_buf_str(mail_buf *b, const char *s)
{
    mail_buf_add(b, s, strlen(s));
}

static void add_b64(mail_buf *b, const unsigned char *s, size_t n)
{
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        q[0] = b64[(v >> 18) & 63];
        q[1] = b64[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? b64[v & 63] : '=';
        mail_buf_add(b, q, 4);
    }
}

/* ---- addresses ----------------------------------------------------------- */

static int atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static int alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int local_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAIL_LOCAL_MAX || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(atext((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] != '.')))
            return 0;
    return 1;
}

static int domain_ok(const char *s, size_t n)
{
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!(alnum((unsigned char)s[i]) || s[i] == '-'))
                return 0;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        start = i + 1;
    }
    return labels >= 2;
}

int mail_addr_ok(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = strnlen(s, MAIL_ADDR_MAX + 1);
    const char *at = memchr(s, '@', n);
    if (n < 3 || n > MAIL_ADDR_MAX || at == NULL || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return 0;
    return local_ok(s, (size_t)(at - s)) && domain_ok(at + 1, n - (size_t)(at - s) - 1);
}

const char *mail_domain(const char *addr)
{
    const char *at = strchr(addr, '@');
    return at ? at + 1 : "";
}

void mail_mask(const char *addr, char *out, size_t cap)
{
    const char *at = addr ? strchr(addr, '@') : NULL;
    if (cap == 0)
        return;
    if (at == NULL || at == addr) {
        snprintf(out, cap, "***");
        return;
    }
    snprintf(out, cap, "%c***%s", addr[0], at);
}

/* ---- text ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))
            return 0; /* overlong, surrogate */
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

char *mail_clean_text(const char *text, int keep_lf)
{
    mail_buf b = {0};
    const unsigned char *s = (const unsigned char *)(text ? text : "");

    mail_buf_add(&b, "", 0);
    while (*s) {
        size_t n = utf8_len(s);
        if (n == 0) {
            mail_buf_add(&b, "\xEF\xBF\xBD", 3); /* U+FFFD */
            s++;
            continue;
        }
        if (n == 1 && (s[0] < 0x20 || s[0] == 0x7F)) {
            if (keep_lf && (s[0] == '\n' || s[0] == '\t'))
                mail_buf_add(&b, (const char *)s, 1);
            else if (!keep_lf && (s[0] == '\n' || s[0] == '\t'))
                mail_buf_add(&b, " ", 1);
            s++;
            continue;
        }
        /* C1 controls (U+0080..U+009F) and line/paragraph separators. */
        if ((n == 2 && s[0] == 0xC2 && s[1] < 0xA0) ||
            (n == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9))) {
            s += n;
            continue;
        }
        mail_buf_add(&b, (const char *)s, n);
        s += n;
    }
    if (b.failed) {
        mail_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* Raw bytes per encoded word: 39 bytes -> 52 base64 characters, so
 * "=?UTF-8?B?" + 52 + "?=" is 64 and a line " " + word stays under 76. */
#define WORD_RAW 39

void mail_header_encoded(mail_buf *b, const char *name, const char *text)
{
    char *clean = mail_clean_text(text, 0);
    const unsigned char *s = (const unsigned char *)(clean ? clean : "");
    size_t left = strlen((const char *)s);
    int first = 1;

    if (clean == NULL)
        b->failed = 1;
    mail_buf_str(b, name);
    mail_buf_str(b, ":");
    if (left == 0)
        mail_buf_str(b, " ");
    while (left > 0) {
        size_t take = 0;
        while (take < left) {
            size_t n = utf8_len(s + take);
            if (n == 0 || take + n > WORD_RAW)
                break;
            take += n;
        }
        if (take == 0) /* cannot happen after mail_clean_text */
            break;
        mail_buf_str(b, first ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
        add_b64(b, s, take);
        mail_buf_str(b, "?=");
        s += take;
        left -= take;
        first = 0;
    }
    mail_buf_str(b, "\r\n");
    free(clean);
}

/* ---- the message ---------------------------------------------------------- */

static int msg_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 5 || n > 250 || s[0] != '<' || s[n - 1] != '>' || !strchr(s, '@'))
        return 0;
    for (size_t i = 1; i + 1 < n; i++)
        if (!(alnum((unsigned char)s[i]) || strchr(".@_-", s[i])))
            return 0;
    return 1;
}

static void add_mailbox(mail_buf *b, const char *name, const char *display, const char *addr)
{
    if (display != NULL && display[0] != '\0') {
        mail_header_encoded(b, name, display);
        if (b->failed || b->len < 2)
            return;
        b->len -= 2; /* reopen the line: " <addr>" follows the words */
        b->p[b->len] = '\0';
        mail_buf_str(b, "\r\n <");
    } else {
        mail_buf_str(b, name);
        mail_buf_str(b, ": <");
    }
    mail_buf_str(b, addr);
    mail_buf_str(b, ">\r\n");
}

static void add_body(mail_buf *b, const char *body)
{
    char *clean = mail_clean_text(body, 1);
    mail_buf crlf = {0};

    if (clean == NULL) {
        b->failed = 1;
        return;
    }
    for (const char *p = clean; *p; p++) {
        if (*p == '\n')
            mail_buf_add(&crlf, "\r\n", 2);
        else
            mail_buf_add(&crlf, p, 1);
    }
    if (crlf.len == 0 || crlf.p[crlf.len - 1] != '\n')
        mail_buf_add(&crlf, "\r\n", 2);
    if (crlf.failed)
        b->failed = 1;
    for (size_t i = 0; !crlf.failed && i < crlf.len; i += 57) { /* 76 characters a line */
        add_b64(b, (const unsigned char *)crlf.p + i, crlf.len - i < 57 ? crlf.len - i : 57);
        mail_buf_str(b, "\r\n");
    }
    mail_buf_free(&crlf);
    free(clean);
}

int mail_build(const mail_msg *m, mail_buf *out)
{
    static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char date[64];
    struct tm tm;

    if (!mail_addr_ok(m->from_addr) || !mail_addr_ok(m->to_addr) || !msg_id_ok(m->msg_id) ||
        gmtime_r(&m->date, &tm) == NULL)
        return -1;
    snprintf(date, sizeof date, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
             wday[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    mail_buf_str(out, date);
    add_mailbox(out, "From", m->from_name, m->from_addr);
    add_mailbox(out, "To", m->to_name, m->to_addr);
    mail_header_encoded(out, "Subject", m->subject);
    mail_buf_str(out, "Message-ID: ");
    mail_buf_str(out, m->msg_id);
    mail_buf_str(out, "\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: text/plain; charset=UTF-8\r\n"
                      "Content-Transfer-Encoding: base64\r\n"
                      "Auto-Submitted: auto-generated\r\n\r\n");
    add_body(out, m->body);
    if (out->failed) {
        mail_buf_free(out);
        return -1;
    }
    return 0;
}
