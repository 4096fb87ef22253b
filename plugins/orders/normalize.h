/*
 * normalize.h - how the ordering plugin compares what people type: codes
 * (so full-width "ＡＢ－１" and "AB-1" are one code), search text (so
 * "りんご", "リンゴ" and "ﾘﾝｺﾞ" all find 林檎's kana), and the small
 * field checks master data shares (kana, postal code, phone, e-mail).
 *
 * Pure functions over UTF-8 (libunistring): no SDK, no state, unit-tested
 * in tests/test_normalize.c.
 */
#ifndef ORDERS_NORMALIZE_H
#define ORDERS_NORMALIZE_H

#include <stddef.h>

#define ORDERS_CODE_MAX 64

/* A code as stored and compared: NFKC, dash look-alikes (U+2010..U+2015,
 * U+2212) as '-', ASCII white space trimmed, ASCII letters upper-cased;
 * then it must be 1..64 characters of [0-9A-Z._-] starting with a letter
 * or digit ('/' is refused: a code is a path segment of the API).
 * out (ORDERS_CODE_MAX + 1 bytes) gets it; NULL, or the reason refused. */
const char *orders_code_normalize(const char *in, char out[ORDERS_CODE_MAX + 1]);

/* NFKC of in, trimmed of white space (ASCII and what NFKC makes of
 * U+3000); malloc'd; NULL when in is not UTF-8 or memory ran out. */
char *orders_nfkc_trim(const char *in);

/* in trimmed of ASCII white space and U+3000 (ideographic space) at both
 * ends, otherwise as typed (names keep their ㈱ and full-width brackets);
 * malloc'd; NULL when in is not UTF-8 or memory ran out. */
char *orders_text_trim(const char *in);

/* Text folded for search: NFKC, lower case, hiragana as katakana.
 * malloc'd; NULL when in is not UTF-8 or memory ran out. */
char *orders_search_fold(const char *in);

/* Characters (code points) in UTF-8 text, or -1 when it is not UTF-8 or
 * holds a control character (C0, DEL, C1). */
long orders_text_chars(const char *in);

/* Field checks on NFKC'd text: 1 good, 0 not. */
int orders_kana_valid(const char *nfkc);   /* katakana, hiragana, ー, ・, space */
int orders_postal_valid(const char *nfkc); /* "", NNN-NNNN or NNNNNNN */
int orders_phone_valid(const char *nfkc);  /* [0-9+() -]{0,32} */
int orders_email_valid(const char *s);     /* local@domain.tld, ASCII, <= 254 */

#endif
