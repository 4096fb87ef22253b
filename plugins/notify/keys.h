/*
 * keys.h - derived values of the channels (keys.c): pure, libsodium only.
 */
#ifndef NOTIFY_KEYS_H
#define NOTIFY_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* Hex SHA-256 of "tenant\naddress-in-lower-case" into out[65]. */
void notify_hash_addr(const char *tenant, const char *addr, char out[65]);

/* The Standard Webhooks signature "v1,<base64>" of id "." ts "." body under
 * key (out: at least 48 bytes); 0 or -1. */
int notify_webhook_sign(const unsigned char *key, size_t key_len, const char *id, const char *ts,
                        const char *body, size_t body_len, char *out, size_t cap);

/* 1: s is a LINE user ID (U + 32 lower-case hex digits). */
int notify_line_user_ok(const char *s);

/* The X-Line-Retry-Key of (tenant, event, user): a UUID text (37 bytes
 * with the NUL) in the version-4 layout, the same on every retry. */
void notify_line_retry_key(const char *tenant, int64_t event_id, const char *user, char out[37]);

#endif
