/*
 * secrets_conf.h - tanomu.conf's `secrets` section, and the value of a
 * setting flagged TN_KEY_SECRET as a tenant (or tanomu.conf) writes it.
 *
 *     secrets: {
 *       keyring_dir = "keys";     # relative to tanomu.conf; none: no keyring
 *       require_sealed = false;   # true: a secret in plain text is an error
 *     };
 *
 * The keyring is read once, with the rest of the snapshot (config.h), so
 * a worker restarted after a crash gets the keys its siblings run with;
 * each host_config keeps its own copy.
 */
#ifndef HOST_SECRETS_CONF_H
#define HOST_SECRETS_CONF_H

#include <libconfig.h>

#include "errors.h"
#include "sealed.h"

typedef struct host_secrets_conf {
    char *keyring_dir; /* NULL: no keyring, so no sealed value is accepted */
    int require_sealed;
    host_keyring *keyring; /* this configuration's copy; NULL without one */
    host_errors warnings;  /* secrets written in plain text, stale keys */
} host_secrets_conf;

/* At snapshot time: loads the keyring secrets.keyring_dir names (relative
 * to base).  0 (*out NULL when none is configured), or -1 with errs. */
int host_secrets_snapshot(config_t *cfg, const char *conf_path, const char *base,
                          host_keyring **out, host_errors *errs);

/* Parses the section of root (tanomu.conf) into out, copying the keyring
 * loaded at snapshot time.  0, or -1 with errs. */
int host_secrets_parse(config_setting_t *root, const char *file, const char *base,
                       const host_keyring *loaded, host_secrets_conf *out, host_errors *errs);
void host_secrets_conf_free(host_secrets_conf *sc);

/*
 * The one call that turns a setting's text, as written at file:line, into
 * the value a plugin reads with config_str (tenant NULL: a plugin-wide
 * setting of tanomu.conf).  For a secret (is_secret), text may be
 *   - a sealed value made by `tanomu secret seal --plugin P [--tenant T]
 *     --key KEY`: opened with (tenant, plugin, "setting:KEY");
 *   - file:PATH (relative to the directory of `file`): a private file's
 *     content (keyring.h, host_secret_file_read);
 *   - plain text: a warning in sc->warnings, or an error when
 *     secrets.require_sealed is true.
 * A sealed value given for a key that is not a secret is an error.
 * Returns 0 with *out (malloc'd; release it with host_secret_free), or 0
 * with *out NULL when text is to be used as it is, or -1 with the reason in
 * errs.  No message quotes the value.
 */
int host_secret_setting(host_secrets_conf *sc, const char *tenant, const char *plugin,
                        const char *key, int is_secret, const char *text, const char *file,
                        int line, host_errors *errs, char **out);

#endif
