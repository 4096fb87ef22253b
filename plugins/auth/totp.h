/*
 * totp.h - TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, Unix epoch)
 * through liboath, and recovery codes (S13).  Pure functions: no API, no
 * database.  Replay is refused by the caller, which records the accepted
 * step atomically (last_used_step only moves forward).
 */
#ifndef AUTH_TOTP_H
#define AUTH_TOTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define AUTH_TOTP_SECRET_BYTES 20 /* 160 bits, RFC 4226's recommendation */
#define AUTH_TOTP_B32_LEN 32      /* base32 of 20 bytes, no padding */
#define AUTH_TOTP_STEP_S 30
#define AUTH_TOTP_DIGITS 6
#define AUTH_TOTP_WINDOW 1 /* steps either side accepted: clock drift */
#define AUTH_RECOVERY_CODES 10
#define AUTH_RECOVERY_LEN 32 /* hex of 128 random bits */

/* liboath's global set-up; once per process, 0 or -1. */
int auth_totp_init(void);

/* A new random secret and its base32 text (NUL-terminated). */
void auth_totp_new(unsigned char secret[AUTH_TOTP_SECRET_BYTES], char b32[AUTH_TOTP_B32_LEN + 1]);

/* The otpauth:// URI of a secret (issuer and login percent-encoded); 0,
 * or -1 when it does not fit. */
int auth_totp_uri(char *out, size_t len, const char *issuer, const char *login, const char *b32);

/* When code (exactly 6 ASCII digits) is the secret's code for a step
 * within AUTH_TOTP_WINDOW of now's: 0 with *step set; else -1. */
int auth_totp_check(const unsigned char *secret, size_t len, time_t now, const char *code,
                    int64_t *step);

/* A new recovery code (32 lowercase hex digits) and its stored hash. */
void auth_recovery_new(char code[AUTH_RECOVERY_LEN + 1], char hash[65]);
/* The stored hash of a code the user typed (case and '-' or ' ' ignored);
 * -1 when it is not 32 hex digits. */
int auth_recovery_hash(const char *typed, char hash[65]);

#endif
