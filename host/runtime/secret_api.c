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
#include "names.h"
#include "sealed.h"

static const host_keyring *keyring_of(const tn_plugin *p)
{
    return p && p->worker ? p->worker->conf.server.secrets.keyring : NULL;
}

/* tenant_id NULL is a plugin-wide value; anything else must be a tenant ID. */
static int tenant_ok(const char *tenant_id)
{
    return !tenant_id || host_tenant_id_valid(tenant_id);
}

int host_api_secret_seal(tn_plugin *p, const char *tenant_id, const void *plain, size_t len,
                         char **out)
{
    char why[256];
    int rc;

    if (out)
        *out = NULL;
    if (!p)
        return TN_EINVAL;
    if (!out || (!plain && len > 0) || !tenant_ok(tenant_id))
        return host_plugin_fail(p, TN_EINVAL, "secret_seal: %s",
                                !out                    ? "out is NULL"
                                : !tenant_ok(tenant_id) ? "not a tenant ID"
                                                        : "plain is NULL");
    rc = host_seal(keyring_of(p), tenant_id, p->name, "", plain, len, out, why, sizeof why);
    return rc == TN_OK ? TN_OK : host_plugin_fail(p, rc, "secret_seal: %s", why);
}

int host_api_secret_unseal(tn_plugin *p, const char *tenant_id, const char *sealed, void **out,
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
    if (!p)
        return TN_EINVAL;
    if (!out || !sealed || !tenant_ok(tenant_id))
        return host_plugin_fail(p, TN_EINVAL, "secret_unseal: %s",
                                !out      ? "out is NULL"
                                : !sealed ? "sealed is NULL"
                                          : "not a tenant ID");
    rc = host_unseal(keyring_of(p), tenant_id, p->name, "", sealed, &plain, &n, &st, why,
                     sizeof why);
    if (rc != TN_OK)
        return host_plugin_fail(p, rc, "secret_unseal: %s", why);
    *out = plain;
    if (len)
        *len = n;
    if (stale)
        *stale = st;
    return TN_OK;
}

void host_api_free(void *ptr)
{
    host_secret_free(ptr);
}
