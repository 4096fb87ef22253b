/*
 * secret_api.h - the tn_api members secret_seal and secret_unseal (S18):
 * a plugin's data sealed with the worker's keyring, bound to the tenant
 * and the plugin.  The cipher and format are core/sealed.c's.
 */
#ifndef HOST_SECRET_API_H
#define HOST_SECRET_API_H

#include <stddef.h>

#include <tanomu/tanomu.h>

int host_api_secret_seal(tn_plugin *p, const char *tenant_id, const void *plain, size_t len,
                         char **out);
int host_api_secret_unseal(tn_plugin *p, const char *tenant_id, const char *sealed, void **out,
                           size_t *len, int *stale);
/* api->free: wipes the block before freeing it, as it may hold a secret. */
void host_api_free(void *ptr);

#endif
