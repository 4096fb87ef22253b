/*
 * sealed.c - the keyring in memory and the sealed value format.  See
 * sealed.h.
 *
 * The keys live in one sodium_malloc() region: guard pages around it,
 * locked out of swap where the system allows, read-only except while a key
 * is added, and wiped when freed.
 */
#include "sealed.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <tanomu/api.h>

#include "names.h"

#define SEALED_VERSION "v1"
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

typedef struct host_key_slot {
    char id[HOST_KEY_ID_MAX + 1];
    unsigned char key[HOST_KEY_BYTES];
} host_key_slot;

struct host_keyring {
    host_key_slot *slots; /* sodium_malloc'd, HOST_KEYRING_MAX of them */
    int n;
    int active; /* index, or -1 */
};

int host_key_id_valid(const char *id)
{
    size_t i;

    if (!id || !id[0])
        return 0;
    for (i = 0; id[i]; i++) {
        char c = id[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 (i > 0 && (c == '-' || c == '_'));
        if (!ok || i >= HOST_KEY_ID_MAX)
            return 0;
    }
    return 1;
}

host_keyring *host_keyring_new(void)
{
    host_keyring *kr;

    if (sodium_init() < 0 || !(kr = calloc(1, sizeof *kr)))
        return NULL;
    kr->slots = sodium_malloc(HOST_KEYRING_MAX * sizeof *kr->slots);
    if (!kr->slots) {
        free(kr);
        return NULL;
    }
    sodium_memzero(kr->slots, HOST_KEYRING_MAX * sizeof *kr->slots);
    sodium_mprotect_readonly(kr->slots);
    kr->active = -1;
    return kr;
}

void host_keyring_free(host_keyring *kr)
{
    if (!kr)
        return;
    sodium_free(kr->slots); /* wipes */
    free(kr);
}

static int find(const host_keyring *kr, const char *id)
{
    int i;

    for (i = 0; kr && id && i < kr->n; i++)
        if (strcmp(kr->slots[i].id, id) == 0)
            return i;
    return -1;
}

int host_keyring_add(host_keyring *kr, const char *id, const unsigned char key[HOST_KEY_BYTES])
{
    if (!kr || !host_key_id_valid(id) || find(kr, id) >= 0 || kr->n >= HOST_KEYRING_MAX)
        return -1;
    sodium_mprotect_readwrite(kr->slots);
    snprintf(kr->slots[kr->n].id, sizeof kr->slots[kr->n].id, "%s", id);
    memcpy(kr->slots[kr->n].key, key, HOST_KEY_BYTES);
    sodium_mprotect_readonly(kr->slots);
    kr->n++;
    return 0;
}

int host_keyring_set_active(host_keyring *kr, const char *id)
{
    int i = find(kr, id);

    if (i < 0)
        return -1;
    kr->active = i;
    return 0;
}

const char *host_keyring_active(const host_keyring *kr)
{
    return kr && kr->active >= 0 ? kr->slots[kr->active].id : NULL;
}

int host_keyring_count(const host_keyring *kr)
{
    return kr ? kr->n : 0;
}

const char *host_keyring_id_at(const host_keyring *kr, int i)
{
    return kr && i >= 0 && i < kr->n ? kr->slots[i].id : NULL;
}

void host_keyring_lock(const host_keyring *kr)
{
    if (kr)
        sodium_mlock(kr->slots, HOST_KEYRING_MAX * sizeof *kr->slots); /* best effort */
}

host_keyring *host_keyring_dup(const host_keyring *kr)
{
    host_keyring *c;
    int i;

    if (!kr || !(c = host_keyring_new()))
        return NULL;
    for (i = 0; i < kr->n; i++)
        host_keyring_add(c, kr->slots[i].id, kr->slots[i].key);
    c->active = kr->active;
    return c;
}

int host_sealed_is(const char *text)
{
    return text && strncmp(text, HOST_SEALED_PREFIX, strlen(HOST_SEALED_PREFIX)) == 0;
}

/* The associated data: "tnsec:v1:ID" NUL tenant NUL plugin NUL purpose. */
static unsigned char *make_ad(const char *id, const char *tenant, const char *plugin,
                              const char *purpose, size_t *len)
{
    const char *parts[4] = {id, tenant ? tenant : "", plugin ? plugin : "", purpose ? purpose : ""};
    size_t n = strlen(HOST_SEALED_PREFIX SEALED_VERSION ":"), i, off;
    unsigned char *ad;

    for (i = 0; i < 4; i++)
        n += strlen(parts[i]) + 1;
    if (!(ad = malloc(n)))
        return NULL;
    off = strlen(HOST_SEALED_PREFIX SEALED_VERSION ":");
    memcpy(ad, HOST_SEALED_PREFIX SEALED_VERSION ":", off);
    for (i = 0; i < 4; i++) {
        size_t l = strlen(parts[i]);
        memcpy(ad + off, parts[i], l);
        off += l;
        if (i < 3)
            ad[off++] = '\0';
    }
    *len = off;
    return ad;
}

int host_seal(const host_keyring *kr, const char *tenant, const char *plugin, const char *purpose,
              const void *plain, size_t len, char **out, char *why, size_t whylen)
{
    const host_key_slot *k;
    unsigned char *ad = NULL, *box = NULL;
    size_t adlen, boxlen, b64len, head;
    unsigned long long clen;
    char *text = NULL;
    int rc = TN_ENOMEM;

    *out = NULL;
    if (!kr || kr->active < 0) {
        snprintf(why, whylen, "no keyring with an active key is configured (secrets.keyring_dir)");
        return TN_ESEAL;
    }
    if (len > HOST_SEALED_MAX_PLAIN || (!plain && len > 0)) {
        snprintf(why, whylen, "the value is longer than %d bytes", HOST_SEALED_MAX_PLAIN);
        return TN_EINVAL;
    }
    k = &kr->slots[kr->active];
    boxlen = NONCE_BYTES + len + TAG_BYTES;
    if (!(ad = make_ad(k->id, tenant, plugin, purpose, &adlen)) || !(box = malloc(boxlen)))
        goto fail;
    randombytes_buf(box, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_BYTES, &clen, plain, len, ad, adlen,
                                               NULL, box, k->key);
    head = strlen(HOST_SEALED_PREFIX SEALED_VERSION ":") + strlen(k->id) + 1;
    b64len = sodium_base64_ENCODED_LEN(boxlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (!(text = malloc(head + b64len)))
        goto fail;
    snprintf(text, head + 1, "%s%s:%s:", HOST_SEALED_PREFIX, SEALED_VERSION, k->id);
    sodium_bin2base64(text + head, b64len, box, boxlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *out = text;
    text = NULL;
    rc = TN_OK;
fail:
    if (rc == TN_ENOMEM)
        snprintf(why, whylen, "out of memory");
    free(text);
    free(box);
    free(ad);
    return rc;
}

static int refuse(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return TN_ESEAL;
}

int host_unseal(const host_keyring *kr, const char *tenant, const char *plugin, const char *purpose,
                const char *sealed, char **out, size_t *len, int *stale, char *why, size_t whylen)
{
    char id[HOST_KEY_ID_MAX + 1];
    const char *p, *colon, *b64;
    unsigned char *ad = NULL, *box = NULL, *plain = NULL;
    size_t adlen, b64len, boxlen, idlen;
    unsigned long long plen;
    int ki, rc = TN_ENOMEM;

    *out = NULL;
    *len = 0;
    *stale = 0;
    if (!host_sealed_is(sealed))
        return refuse(why, whylen, "not a sealed value (tnsec:v1:...)");
    p = sealed + strlen(HOST_SEALED_PREFIX);
    if (strncmp(p, SEALED_VERSION ":", strlen(SEALED_VERSION ":")) != 0)
        return refuse(why, whylen, "sealed in an unknown format version (this host reads v1)");
    p += strlen(SEALED_VERSION ":");
    colon = strchr(p, ':');
    idlen = colon ? (size_t)(colon - p) : 0;
    if (!colon || idlen == 0 || idlen > HOST_KEY_ID_MAX)
        return refuse(why, whylen, "a sealed value without a valid key ID");
    memcpy(id, p, idlen);
    id[idlen] = '\0';
    if (!host_key_id_valid(id))
        return refuse(why, whylen, "a sealed value without a valid key ID");
    if (!kr || (ki = find(kr, id)) < 0) {
        snprintf(why, whylen, "sealed under key '%s', which is not in the keyring", id);
        return TN_ESEAL;
    }
    b64 = colon + 1;
    b64len = strlen(b64);
    if (!(box = malloc(b64len + 1)))
        goto fail;
    if (sodium_base642bin(box, b64len + 1, b64, b64len, NULL, &boxlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        boxlen < NONCE_BYTES + TAG_BYTES) {
        rc = refuse(why, whylen, "a sealed value that is not valid base64url, or too short");
        goto fail;
    }
    if (!(ad = make_ad(id, tenant, plugin, purpose, &adlen)) ||
        !(plain = malloc(boxlen - NONCE_BYTES - TAG_BYTES + 1)))
        goto fail;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, box + NONCE_BYTES,
                                                   boxlen - NONCE_BYTES, ad, adlen, box,
                                                   kr->slots[ki].key) != 0) {
        rc = refuse(why, whylen,
                    "the sealed value does not open: sealed for another tenant, plugin or "
                    "setting, or altered");
        goto fail;
    }
    plain[plen] = '\0';
    *out = (char *)plain;
    *len = (size_t)plen;
    *stale = ki != kr->active;
    plain = NULL;
    rc = TN_OK;
fail:
    if (rc == TN_ENOMEM)
        snprintf(why, whylen, "out of memory");
    host_secret_free(plain);
    free(box);
    free(ad);
    return rc;
}

void host_secret_free(void *p)
{
    if (!p)
        return;
    sodium_memzero(p, malloc_usable_size(p));
    free(p);
}

/* ---- the plugin API's secret_seal and secret_unseal --------------------- */

static int tenant_ok(const char *tenant_id)
{
    return !tenant_id || host_tenant_id_valid(tenant_id);
}

int host_secret_seal(const host_keyring *kr, const char *plugin, const char *tenant_id,
                     const void *plain, size_t len, char **out, char *why, size_t whylen)
{
    char inner[256];
    int rc;

    if (out)
        *out = NULL;
    if (whylen > 0)
        why[0] = '\0';
    if (!plugin)
        return TN_EINVAL;
    if (!out || (!plain && len > 0) || !tenant_ok(tenant_id)) {
        snprintf(why, whylen, "secret_seal: %s",
                 !out                    ? "out is NULL"
                 : !tenant_ok(tenant_id) ? "not a tenant ID"
                                         : "plain is NULL");
        return TN_EINVAL;
    }
    rc = host_seal(kr, tenant_id, plugin, "", plain, len, out, inner, sizeof inner);
    if (rc != TN_OK)
        snprintf(why, whylen, "secret_seal: %s", inner);
    return rc;
}

int host_secret_unseal(const host_keyring *kr, const char *plugin, const char *tenant_id,
                       const char *sealed, void **out, size_t *len, int *stale, char *why,
                       size_t whylen)
{
    char inner[256], *plain = NULL;
    size_t n = 0;
    int st = 0, rc;

    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (stale)
        *stale = 0;
    if (whylen > 0)
        why[0] = '\0';
    if (!plugin)
        return TN_EINVAL;
    if (!out || !sealed || !tenant_ok(tenant_id)) {
        snprintf(why, whylen, "secret_unseal: %s",
                 !out      ? "out is NULL"
                 : !sealed ? "sealed is NULL"
                           : "not a tenant ID");
        return TN_EINVAL;
    }
    rc = host_unseal(kr, tenant_id, plugin, "", sealed, &plain, &n, &st, inner, sizeof inner);
    if (rc != TN_OK) {
        snprintf(why, whylen, "secret_unseal: %s", inner);
        return rc;
    }
    *out = plain;
    if (len)
        *len = n;
    if (stale)
        *stale = st;
    return TN_OK;
}
