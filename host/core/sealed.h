/*
 * sealed.h - sealed secrets (S18): a keyring of 32-byte keys held in
 * guarded, locked memory, and the text format of a value sealed under one
 * of them.
 *
 *     tnsec:v1:<key id>:<base64url(nonce || ciphertext || tag)>
 *
 * The cipher is libsodium's XChaCha20-Poly1305 (IETF), with a random
 * 24-byte nonce per value.  The associated data binds a value to where it
 * belongs: the format and key ID, the tenant ID ("" for a plugin-wide
 * value), the plugin name and a purpose ("" for data a plugin seals through
 * the API, "setting:KEY" for a setting).  A value copied into another
 * tenant's row, another plugin's column or another setting does not open.
 *
 * Pure logic on memory: no files (keyring.c reads and writes the keyring
 * directory).  The testkit compiles this file in, so its secret_seal and
 * secret_unseal are the host's cipher and format.
 */
#ifndef HOST_SEALED_H
#define HOST_SEALED_H

#include <stddef.h>

#define HOST_KEY_BYTES 32
#define HOST_KEY_ID_MAX 40  /* [a-z0-9][a-z0-9_-]{0,39} */
#define HOST_KEYRING_MAX 64 /* keys one keyring holds */
#define HOST_SEALED_PREFIX "tnsec:"
#define HOST_SEALED_MAX_PLAIN (1024 * 1024)
/* The purpose a sealed setting is bound to: "setting:KEY" (the API's
 * values have the purpose ""). */
#define HOST_SEALED_SETTING_PURPOSE "setting:"

typedef struct host_keyring host_keyring;

/* Is id a valid key ID (it names the file ID.key)? */
int host_key_id_valid(const char *id);

/* An empty keyring; NULL if out of memory or libsodium does not start. */
host_keyring *host_keyring_new(void);
/* Wipes the keys and frees; NULL is fine. */
void host_keyring_free(host_keyring *kr);
/* Adds a copy of key under id: 0, or -1 (bad or duplicate ID, full). */
int host_keyring_add(host_keyring *kr, const char *id, const unsigned char key[HOST_KEY_BYTES]);
/* Makes id the key new values are sealed under: 0, or -1 if unknown. */
int host_keyring_set_active(host_keyring *kr, const char *id);
const char *host_keyring_active(const host_keyring *kr); /* NULL: none */
int host_keyring_count(const host_keyring *kr);
const char *host_keyring_id_at(const host_keyring *kr, int i);
/* Locks the keys' memory again in a forked child (a lock is not
 * inherited across fork()); NULL is fine. */
void host_keyring_lock(const host_keyring *kr);
/* A copy (its own locked memory); NULL if kr is NULL or out of memory. */
host_keyring *host_keyring_dup(const host_keyring *kr);

/* Does text look like a sealed value (starts with "tnsec:")? */
int host_sealed_is(const char *text);

/*
 * Seals len bytes of plain under the active key for (tenant, plugin,
 * purpose); tenant NULL is a plugin-wide value, purpose NULL is "".
 * Returns TN_OK with *out (malloc'd, NUL-terminated), or TN_ESEAL (no
 * active key), TN_EINVAL (too long) or TN_ENOMEM, with why filled in.
 */
int host_seal(const host_keyring *kr, const char *tenant, const char *plugin, const char *purpose,
              const void *plain, size_t len, char **out, char *why, size_t whylen);

/*
 * Opens a sealed value.  TN_OK with *out (malloc'd, NUL-terminated, *len
 * bytes before the NUL; release it with host_secret_free) and *stale 1 when
 * the key is not the active one; else TN_ESEAL (not a sealed value, an
 * unknown key, altered, or sealed for another tenant, plugin or purpose)
 * or TN_ENOMEM, with why filled in.  why never quotes the value.
 */
int host_unseal(const host_keyring *kr, const char *tenant, const char *plugin, const char *purpose,
                const char *sealed, char **out, size_t *len, int *stale, char *why, size_t whylen);

/*
 * secret_seal and secret_unseal as the plugin API defines them, the one
 * body of the host's and the testkit's: the outputs cleared, the
 * arguments checked (tenant_id NULL is a plugin-wide value, anything else
 * must be a tenant ID), then host_seal/host_unseal with the purpose "" for
 * plugin, so a value sealed here never opens as a setting and a sealed
 * setting never opens here.  plugin NULL (no caller) is TN_EINVAL with no
 * message: there is no one to tell.  Any other failure leaves in why the
 * whole message for api->last_error ("secret_seal: ...").
 */
int host_secret_seal(const host_keyring *kr, const char *plugin, const char *tenant_id,
                     const void *plain, size_t len, char **out, char *why, size_t whylen);
int host_secret_unseal(const host_keyring *kr, const char *plugin, const char *tenant_id,
                       const char *sealed, void **out, size_t *len, int *stale, char *why,
                       size_t whylen);

/* free() that wipes the whole block first: for memory that held a secret.
 * Any malloc'd pointer (or NULL) may be passed. */
void host_secret_free(void *p);

#endif
