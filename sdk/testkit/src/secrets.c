/*
 * secrets.c - secret_seal and secret_unseal in the testkit (S18).
 *
 * The real thing: the host's own cipher and format (host/core/sealed.c,
 * compiled in) under a key the kit draws at random when first needed, so
 * a plugin's tests see exactly what production gives it: a tnsec:v1 value
 * that opens only for the same tenant and plugin, TN_ESEAL for anything
 * else, and the stale flag after tk_keyring_rotate().
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "tk_internal.h"

static host_keyring *keyring(tk_kit *tk)
{
    if (!tk->keyring && (tk->keyring = host_keyring_new()) != NULL && tk_keyring_rotate(tk) != 0) {
        host_keyring_free(tk->keyring);
        tk->keyring = NULL;
    }
    return tk->keyring;
}

int tk_keyring_rotate(tk_kit *tk)
{
    unsigned char key[HOST_KEY_BYTES];
    char id[16];
    int rc;

    if (!tk || (!tk->keyring && !keyring(tk)))
        return TN_ENOMEM;
    snprintf(id, sizeof id, "tk%d", host_keyring_count(tk->keyring) + 1);
    randombytes_buf(key, sizeof key);
    rc = host_keyring_add(tk->keyring, id, key) == 0 &&
                 host_keyring_set_active(tk->keyring, id) == 0
             ? TN_OK
             : TN_ENOMEM;
    sodium_memzero(key, sizeof key);
    return rc;
}

const char *tk_keyring_active(tk_kit *tk)
{
    return host_keyring_active(keyring(tk));
}

void tk_secrets_free(tk_kit *tk)
{
    host_keyring_free(tk->keyring);
    tk->keyring = NULL;
}

static int tenant_ok(const char *tenant_id)
{
    return !tenant_id || host_tenant_id_valid(tenant_id);
}

int tk_api_secret_seal(tn_plugin *self, const char *tenant_id, const void *plain, size_t len,
                       char **out)
{
    char why[256];
    int rc;

    if (out)
        *out = NULL;
    if (!self)
        return TN_EINVAL;
    if (!out || (!plain && len > 0) || !tenant_ok(tenant_id))
        return tk_plugin_fail(self, TN_EINVAL, "secret_seal: %s",
                              !out                    ? "out is NULL"
                              : !tenant_ok(tenant_id) ? "not a tenant ID"
                                                      : "plain is NULL");
    rc = host_seal(keyring(self->tk), tenant_id, self->desc.name, "", plain, len, out, why,
                   sizeof why);
    return rc == TN_OK ? TN_OK : tk_plugin_fail(self, rc, "secret_seal: %s", why);
}

int tk_api_secret_unseal(tn_plugin *self, const char *tenant_id, const char *sealed, void **out,
                         size_t *len, int *stale)
{
    char why[256], *plain = NULL;
    size_t n = 0;
    int st = 0, rc;

    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (stale)
        *stale = 0;
    if (!self)
        return TN_EINVAL;
    if (!out || !sealed || !tenant_ok(tenant_id))
        return tk_plugin_fail(self, TN_EINVAL, "secret_unseal: %s",
                              !out      ? "out is NULL"
                              : !sealed ? "sealed is NULL"
                                        : "not a tenant ID");
    rc = host_unseal(keyring(self->tk), tenant_id, self->desc.name, "", sealed, &plain, &n, &st,
                     why, sizeof why);
    if (rc != TN_OK)
        return tk_plugin_fail(self, rc, "secret_unseal: %s", why);
    *out = plain;
    if (len)
        *len = n;
    if (stale)
        *stale = st;
    return TN_OK;
}
