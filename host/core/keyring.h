/*
 * keyring.h - the keyring directory on disk (S18), and secret files.
 *
 * A keyring directory (secrets.keyring_dir) holds one file per key,
 * ID.key, of exactly 32 random bytes, and a file `active` whose one line is
 * the ID new values are sealed under.  Older keys stay so that what was
 * sealed under them still opens.  Every key file must be a regular file
 * owned by the process's user (or root) with no group or other permission
 * bits (0600 or stricter); the directory must not be writable by group or
 * others.  Anything else refuses the whole keyring with one clear message,
 * so `tanomu check` and start stop rather than run without their keys.
 */
#ifndef HOST_KEYRING_H
#define HOST_KEYRING_H

#include <stddef.h>

#include "sealed.h"

#define HOST_KEYRING_ACTIVE_FILE "active"
#define HOST_SECRET_FILE_MAX (64 * 1024)

/* Loads dir: 0 with *out, or -1 with err filled in. */
int host_keyring_load(const char *dir, host_keyring **out, char *err, size_t errlen);

/*
 * Adds a key with a fresh ID (kYYYYMMDD-<8 hex>) to dir (created 0700 if
 * missing), written 0600 with O_EXCL, then makes it active by replacing the
 * `active` file atomically (a temporary file, fsync, rename, fsync of the
 * directory).  0 with id (at least HOST_KEY_ID_MAX + 1 bytes), or -1.
 */
int host_keyring_rotate(const char *dir, char *id, char *err, size_t errlen);

/*
 * Reads a secret from a file (a setting written as file:PATH): a regular
 * file with no group or other permission bits, at most
 * HOST_SECRET_FILE_MAX bytes; one trailing newline is dropped.  0 with *out
 * (malloc'd, NUL-terminated; release with host_secret_free), or -1.
 */
int host_secret_file_read(const char *path, char **out, char *err, size_t errlen);

#endif
