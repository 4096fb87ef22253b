/*
 * secret_api.c - secret_seal and secret_unseal for plugins.  See
 * secret_api.h.
 *
 * Values a plugin seals through the API have the purpose "" in their
 * associated data, so they never open as a setting and a sealed setting
 * never opens here.  Memory handed out is plain malloc, released by
 * api->free, which wipes it first (host_secret_free).
 */
#include "secret_api.h"

#include "context.h"
#include "sealed.h"

static const host_keyring *keyring_of(const tn_plugin *p)
{
    return p && p->worker ? p->worker->conf.server.secrets.keyring : NULL;
}

/* The checks, the messages and the purpose live in host_secret_seal and
 * host_secret_unseal (host/core/sealed.c), shared with the testkit. */
int host_api_secret_seal(tn_plugin *p, const char *tenant_id, const void *plain, size_t len,
                         char **out)
{
    char why[256];
    int rc = host_secret_seal(keyring_of(p), p ? p->name : NULL, tenant_id, plain, len, out, why,
                              sizeof why);

    return rc == TN_OK ? TN_OK : host_plugin_fail(p, rc, "%s", why);
}

int host_api_secret_unseal(tn_plugin *p, const char *tenant_id, const char *sealed, void **out,
                           size_t *len, int *stale)
{
    char why[256];
    int rc = host_secret_unseal(keyring_of(p), p ? p->name : NULL, tenant_id, sealed, out, len,
                                stale, why, sizeof why);

    return rc == TN_OK ? TN_OK : host_plugin_fail(p, rc, "%s", why);
}

void host_api_free(void *ptr)
{
    host_secret_free(ptr);
}
