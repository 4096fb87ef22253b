/*
 * keyring.c - reading and rotating the keyring directory, and reading
 * secret files.  See keyring.h.
 *
 * Files are opened with O_NOFOLLOW and checked with fstat() on the open
 * descriptor, so what is checked is what is read.
 */
#include "keyring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"

#define KEY_SUFFIX ".key"

/* Opens path read-only and checks it is a private regular file. */
static int open_private(const char *path, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        goto fail;
    }
    if (st->st_mode & 077) {
        snprintf(err, errlen,
                 "%s is readable or writable by group or others (mode %03o): "
                 "chmod 600 it",
                 path, (unsigned)(st->st_mode & 0777));
        goto fail;
    }
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        snprintf(err, errlen, "%s is owned by another user (uid %u)", path, (unsigned)st->st_uid);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Reads exactly n bytes (a short file is an error). */
static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int load_key(host_keyring *kr, const char *dir, const char *id, char *err, size_t errlen)
{
    unsigned char key[HOST_KEY_BYTES];
    host_buf path;
    struct stat st;
    int fd, rc = -1;

    host_buf_init(&path);
    host_buf_printf(&path, "%s/%s%s", dir, id, KEY_SUFFIX);
    if (!path.data || (fd = open_private(path.data, &st, err, errlen)) < 0)
        goto out;
    if (st.st_size != HOST_KEY_BYTES || read_full(fd, key, sizeof key) != 0)
        snprintf(err, errlen, "%s must hold exactly %d bytes", path.data, HOST_KEY_BYTES);
    else if (host_keyring_add(kr, id, key) != 0)
        snprintf(err, errlen, "%s: more than %d keys, or a duplicate", path.data, HOST_KEYRING_MAX);
    else
        rc = 0;
    sodium_memzero(key, sizeof key);
    close(fd);
out:
    host_buf_free(&path);
    return rc;
}

/* The ID in DIR/active: 0, or -1 with err. */
static int read_active(const char *dir, char *id, char *err, size_t errlen)
{
    char buf[HOST_KEY_ID_MAX + 3];
    host_buf path;
    struct stat st;
    ssize_t n;
    int fd, rc = -1;

    host_buf_init(&path);
    host_buf_printf(&path, "%s/%s", dir, HOST_KEYRING_ACTIVE_FILE);
    if (!path.data || (fd = open_private(path.data, &st, err, errlen)) < 0)
        goto out;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) > HOST_KEY_ID_MAX || !host_key_id_valid(buf)) {
        snprintf(err, errlen, "%s must hold one key ID", path.data);
        goto out;
    }
    memcpy(id, buf, strlen(buf) + 1);
    rc = 0;
out:
    host_buf_free(&path);
    return rc;
}

int host_keyring_load(const char *dir, host_keyring **out, char *err, size_t errlen)
{
    char active[HOST_KEY_ID_MAX + 1];
    host_keyring *kr = NULL;
    struct dirent *de;
    struct stat st;
    DIR *d = NULL;
    int rc = -1;

    *out = NULL;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen,
                 "keyring %s: not a directory (create one with `tanomu secret "
                 "rotate`)",
                 dir);
        return -1;
    }
    if (st.st_mode & 022) {
        snprintf(err, errlen, "keyring %s is writable by group or others (mode %03o): chmod 700 it",
                 dir, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    if (!(kr = host_keyring_new()) || !(d = opendir(dir))) {
        snprintf(err, errlen, "keyring %s: %s", dir, kr ? strerror(errno) : "out of memory");
        goto fail;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name), sl = strlen(KEY_SUFFIX);
        char id[HOST_KEY_ID_MAX + 1];
        if (de->d_name[0] == '.' || len <= sl || strcmp(de->d_name + len - sl, KEY_SUFFIX) != 0)
            continue;
        if (len - sl > HOST_KEY_ID_MAX) {
            snprintf(err, errlen, "keyring %s: %s: the key ID is too long", dir, de->d_name);
            goto fail;
        }
        memcpy(id, de->d_name, len - sl);
        id[len - sl] = '\0';
        if (!host_key_id_valid(id)) {
            snprintf(err, errlen, "keyring %s: %s: a key ID must match [a-z0-9][a-z0-9_-]*", dir,
                     de->d_name);
            goto fail;
        }
        if (load_key(kr, dir, id, err, errlen) != 0)
            goto fail;
    }
    if (read_active(dir, active, err, errlen) != 0)
        goto fail;
    if (host_keyring_set_active(kr, active) != 0) {
        snprintf(err, errlen, "keyring %s: the active key '%s' has no file %s%s", dir, active,
                 active, KEY_SUFFIX);
        goto fail;
    }
    *out = kr;
    kr = NULL;
    rc = 0;
fail:
    if (d)
        closedir(d);
    host_keyring_free(kr);
    return rc;
}

static int write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Creates path (O_EXCL, 0600) holding data, synced. */
static int write_new(const char *path, const void *data, size_t n, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, n) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void fresh_id(char *id)
{
    unsigned char rnd[4];
    time_t now = time(NULL);
    struct tm tm;

    randombytes_buf(rnd, sizeof rnd);
    gmtime_r(&now, &tm);
    snprintf(id, HOST_KEY_ID_MAX + 1, "k%04d%02d%02d-%02x%02x%02x%02x", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, rnd[0], rnd[1], rnd[2], rnd[3]);
}

int host_keyring_rotate(const char *dir, char *id, char *err, size_t errlen)
{
    unsigned char key[HOST_KEY_BYTES];
    host_buf kpath, tmp, apath;
    char line[HOST_KEY_ID_MAX + 2];
    int rc = -1;

    host_buf_init(&kpath);
    host_buf_init(&tmp);
    host_buf_init(&apath);
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium does not start");
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the keyring %s: %s", dir, strerror(errno));
        return -1;
    }
    fresh_id(id);
    randombytes_buf(key, sizeof key);
    host_buf_printf(&kpath, "%s/%s%s", dir, id, KEY_SUFFIX);
    host_buf_printf(&tmp, "%s/.%s.%ld.tmp", dir, HOST_KEYRING_ACTIVE_FILE, (long)getpid());
    host_buf_printf(&apath, "%s/%s", dir, HOST_KEYRING_ACTIVE_FILE);
    if (!kpath.data || !tmp.data || !apath.data) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (write_new(kpath.data, key, sizeof key, err, errlen) != 0)
        goto out;
    sync_dir(dir); /* the key is on disk before anything names it */
    snprintf(line, sizeof line, "%s\n", id);
    unlink(tmp.data);
    if (write_new(tmp.data, line, strlen(line), err, errlen) != 0)
        goto out;
    if (rename(tmp.data, apath.data) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", apath.data, strerror(errno));
        unlink(tmp.data);
        goto out;
    }
    sync_dir(dir);
    rc = 0;
out:
    sodium_memzero(key, sizeof key);
    host_buf_free(&kpath);
    host_buf_free(&tmp);
    host_buf_free(&apath);
    return rc;
}

int host_secret_file_read(const char *path, char **out, char *err, size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t n;
    int fd, rc = -1;

    *out = NULL;
    if ((fd = open_private(path, &st, err, errlen)) < 0)
        return -1;
    if (st.st_size > HOST_SECRET_FILE_MAX) {
        snprintf(err, errlen, "%s is larger than %d bytes", path, HOST_SECRET_FILE_MAX);
        goto out;
    }
    n = (size_t)st.st_size;
    if (!(buf = malloc(n + 1)) || read_full(fd, buf, n) != 0) {
        snprintf(err, errlen, "cannot read %s", path);
        goto out;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        snprintf(err, errlen, "%s holds a NUL byte", path);
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    host_secret_free(buf);
    close(fd);
    return rc;
}
