/*
 * secrets.c - secret_seal and secret_unseal in the testkit (S18).
 *
 * The real thing: the host's own cipher and format (host/core/sealed.c,
 * compiled in) under a key the kit draws at random when first needed, so
 * a plugin's tests see exactly what production gives it: a tnsec:v1 value
 * that opens only for the same tenant and plugin, TN_ESEAL for anything
 * else, and the stale flag after tk_keyring_rotate().  A secret setting a
 * test sets to a value from tk_seal_setting() opens as the host opens it
 * (file:PATH and plain text are taken as written: a test sets plaintext).
 */
#include <stdio.h>
#include <stdlib.h>
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

/* The checks, the messages and the purpose are host_secret_seal's and
 * host_secret_unseal's (host/core/sealed.c): the host's own. */
int tk_api_secret_seal(tn_plugin *self, const char *tenant_id, const void *plain, size_t len,
                       char **out)
{
    char why[256];
    int rc = host_secret_seal(self ? keyring(self->tk) : NULL, self ? self->desc.name : NULL,
                              tenant_id, plain, len, out, why, sizeof why);

    return rc == TN_OK ? TN_OK : tk_plugin_fail(self, rc, "%s", why);
}

int tk_api_secret_unseal(tn_plugin *self, const char *tenant_id, const char *sealed, void **out,
                         size_t *len, int *stale)
{
    char why[256];
    int rc = host_secret_unseal(self ? keyring(self->tk) : NULL, self ? self->desc.name : NULL,
                                tenant_id, sealed, out, len, stale, why, sizeof why);

    return rc == TN_OK ? TN_OK : tk_plugin_fail(self, rc, "%s", why);
}

char *tk_seal_setting(tk_kit *tk, const char *tenant, const char *plugin, const char *key,
                      const char *plaintext)
{
    char why[256], *purpose, *out = NULL;

    if (!tk || !plugin || !key || !plaintext ||
        !(purpose = tk_format("%s%s", HOST_SEALED_SETTING_PURPOSE, key)))
        return NULL;
    if (host_seal(keyring(tk), tenant, plugin, purpose, plaintext, strlen(plaintext), &out, why,
                  sizeof why) != TN_OK)
        out = NULL;
    free(purpose);
    return out;
}

int tk_secret_setting(tk_kit *tk, const char *tenant, const tn_plugin *p, const tn_config_key *k,
                      host_value *v, char **why)
{
    char msg[256], *purpose, *plain = NULL;
    size_t len;
    int stale, rc;

    *why = NULL;
    if (k->type != TN_TYPE_STRING || !v->s || !host_sealed_is(v->s))
        return 0;
    if (!(k->flags & TN_KEY_SECRET)) {
        *why = tk_strdup("is not a secret setting: a sealed value is accepted only for secrets");
        return -1;
    }
    if (!(purpose = tk_format("%s%s", HOST_SEALED_SETTING_PURPOSE, k->name)))
        return -1;
    rc = host_unseal(keyring(tk), tenant, p->desc.name, purpose, v->s, &plain, &len, &stale, msg,
                     sizeof msg);
    free(purpose);
    if (rc != TN_OK || strlen(plain) != len) {
        *why = tk_strdup(rc != TN_OK ? msg : "the sealed value holds a NUL byte");
        host_secret_free(plain);
        return -1;
    }
    free(v->s);
    v->s = plain;
    return 0;
}
