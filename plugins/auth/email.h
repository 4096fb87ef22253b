/*
 * email.h - e-mail addresses on accounts (migration 0004_auth_email.sql):
 * the one validation and normalisation every way in uses (the invitation
 * in /auth/users, `tanomu user add --email`, PUT /auth/me/email), and the
 * route by which users change their own address.
 */
#ifndef AUTH_EMAIL_H
#define AUTH_EMAIL_H

#include <stddef.h>

#define AUTH_EMAIL_MAX 254 /* bytes, RFC 5321's path limit less the brackets */
#define AUTH_EMAIL_LOCAL_MAX 64

/* Validates an address of len bytes and writes its normal form to out
 * (AUTH_EMAIL_MAX + 1 bytes): the local part as given, the domain in
 * lower case.  Accepted: a dot-atom local part (A-Z a-z 0-9 and
 * !#$%&'*+/=?^_`{|}~- with single dots inside, 1 to 64 bytes), one '@', a
 * domain of two or more labels of letters, digits and inner hyphens (1 to
 * 63 each; internationalised domains in their xn-- form), 3 to 254 bytes
 * in all.  0, or -1 (out untouched but for a NUL). */
int auth_email_normalize(const char *in, size_t len, char *out);

#endif
