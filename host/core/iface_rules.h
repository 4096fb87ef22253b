/*
 * iface_rules.h - the rules of iface_export() and iface_get() (ABI 1.2)
 * that the host and the testkit share: what an export must carry, and
 * which exporter a caller may reach.  The registries themselves (who
 * exports what) stay with each side; only the decisions live here, so a
 * plugin's unit tests are refused exactly as production refuses them.
 */
#ifndef HOST_IFACE_RULES_H
#define HOST_IFACE_RULES_H

#include <stddef.h>
#include <stdint.h>

/* iface_export's checks on name, version and table, in the host's order:
 * TN_OK, or TN_EINVAL with the message for api->last_error in why. */
int host_iface_export_check(const char *name, uint32_t version, const void *table, char *why,
                            size_t whylen);

/*
 * iface_get's answer once the caller self_name has looked up the exporter
 * of a valid name: prov_name NULL when none exports it, own 1 when the
 * caller is the exporter.  TN_OK; TN_ENOTFOUND (none, or older than
 * min_version) or TN_ESTATE (the exporter is not in self_depends), with
 * the message for api->last_error in why.
 */
int host_iface_reach(const char *name, uint32_t min_version, const char *self_name,
                     const char *const *self_depends, const char *prov_name, int own,
                     uint32_t prov_version, char *why, size_t whylen);

#endif
