/*
 * cli_plugin_new.c - `tanomu plugin new NAME [DIR]`: writes an out-of-tree
 * plugin from the SDK's template, with every "myplugin" in file names and
 * contents replaced by NAME.
 *
 * Where the template is: the installed one first,
 * BIN/../share/tanomu/template, BIN being the directory of this very
 * executable (/proc/self/exe), so an installed tanomu uses the template
 * installed with it; else the sdk/template of the source tree this binary
 * was built from (TANOMU_SOURCE_TEMPLATE, for a build tree).  Neither comes
 * from input (S3).
 *
 * DIR (default ./NAME) must not exist: it is created, and every file in it
 * with O_EXCL, so nothing is ever overwritten.  The template is read without
 * following symbolic links, regular files and directories only, bounded in
 * size and depth.  A failure leaves what was written and says where.
 */
#include "cli_plugin_new.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "names.h"

#ifndef TANOMU_DATADIR_REL
#define TANOMU_DATADIR_REL "share"
#endif

#define TEMPLATE_WORD "myplugin"
#define MAX_FILE (1u << 20)
#define MAX_DEPTH 8

static const char usage[] = "usage: tanomu plugin new NAME [DIR]\n";

/* [a-z][a-z0-9_]{0,31}: a plugin name that is also a C identifier. */
static int new_name_valid(const char *name)
{
    return name && name[0] >= 'a' && name[0] <= 'z' && host_plugin_name_valid(name);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The installed template beside this executable, else the source tree's. */
static int find_template(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash;

    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            if ((size_t)snprintf(out, cap, "%s/../%s/tanomu/template", exe, TANOMU_DATADIR_REL) <
                    cap &&
                is_dir(out))
                return 0;
        }
    }
#ifdef TANOMU_SOURCE_TEMPLATE
    if ((size_t)snprintf(out, cap, "%s", TANOMU_SOURCE_TEMPLATE) < cap && is_dir(out))
        return 0;
#endif
    return -1;
}

/* s with every TEMPLATE_WORD replaced by name, into b. */
static void substitute(host_buf *b, const char *s, size_t len, const char *name)
{
    size_t wl = strlen(TEMPLATE_WORD), i = 0, start = 0;

    while (i + wl <= len) {
        if (memcmp(s + i, TEMPLATE_WORD, wl) == 0) {
            host_buf_append(b, s + start, i - start);
            host_buf_puts(b, name);
            i += wl;
            start = i;
        } else {
            i++;
        }
    }
    host_buf_append(b, s + start, len - start);
}

static int read_all(int fd, host_buf *b, const char *label)
{
    char chunk[8192];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "tanomu plugin new: %s: %s\n", label, strerror(errno));
            return -1;
        }
        host_buf_append(b, chunk, (size_t)n);
        if (b->len > MAX_FILE) {
            fprintf(stderr, "tanomu plugin new: %s: larger than %u bytes\n", label, MAX_FILE);
            return -1;
        }
    }
    return host_buf_failed(b) ? -1 : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One template file: sfd/sname read, dfd/dname created (O_EXCL). */
static int copy_file(int sfd, const char *sname, int dfd, const char *dname, const char *name,
                     const char *dest_label)
{
    host_buf in, out;
    int in_fd = -1, out_fd = -1, rc = -1;
    struct stat st;

    host_buf_init(&in);
    host_buf_init(&out);
    in_fd = openat(sfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in_fd < 0 || fstat(in_fd, &st) != 0) {
        fprintf(stderr, "tanomu plugin new: template %s: %s\n", sname, strerror(errno));
        goto out;
    }
    if (read_all(in_fd, &in, sname) != 0)
        goto out;
    substitute(&out, in.data ? in.data : "", in.len, name);
    if (host_buf_failed(&out)) {
        fprintf(stderr, "tanomu plugin new: out of memory\n");
        goto out;
    }
    /* Keep the executable bit of scripts; nothing else of the mode. */
    out_fd = openat(dfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    (st.st_mode & 0100) ? 0755 : 0644);
    if (out_fd < 0 || write_all(out_fd, out.data ? out.data : "", out.len) != 0) {
        fprintf(stderr, "tanomu plugin new: %s/%s: %s\n", dest_label, dname, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0 && close(out_fd) != 0 && rc == 0) {
        fprintf(stderr, "tanomu plugin new: %s/%s: %s\n", dest_label, dname, strerror(errno));
        rc = -1;
    }
    host_buf_free(&in);
    host_buf_free(&out);
    return rc;
}

/* Copies directory sfd into the (new, empty) directory dfd. */
static int copy_tree(int sfd, int dfd, const char *name, const char *dest_label, int depth)
{
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (depth > MAX_DEPTH) {
        fprintf(stderr, "tanomu plugin new: template nested deeper than %d\n", MAX_DEPTH);
        return -1;
    }
    if (!(d = fdopendir(dup(sfd)))) {
        fprintf(stderr, "tanomu plugin new: template: %s\n", strerror(errno));
        return -1;
    }
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        struct stat st;
        host_buf dname, label;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            continue; /* symbolic links and the rest: not part of a template */
        host_buf_init(&dname);
        host_buf_init(&label);
        substitute(&dname, de->d_name, strlen(de->d_name), name);
        host_buf_printf(&label, "%s/%s", dest_label, dname.data ? dname.data : "");
        if (host_buf_failed(&dname) || host_buf_failed(&label)) {
            rc = -1;
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(sfd, de->d_name, dfd, dname.data, name, dest_label);
        } else if (mkdirat(dfd, dname.data, 0755) != 0) {
            fprintf(stderr, "tanomu plugin new: %s: %s\n", label.data, strerror(errno));
            rc = -1;
        } else {
            int s2 = openat(sfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int d2 = openat(dfd, dname.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            rc = (s2 >= 0 && d2 >= 0) ? copy_tree(s2, d2, name, label.data, depth + 1) : -1;
            if (s2 < 0 || d2 < 0)
                fprintf(stderr, "tanomu plugin new: %s: %s\n", label.data, strerror(errno));
            if (s2 >= 0)
                close(s2);
            if (d2 >= 0)
                close(d2);
        }
        host_buf_free(&dname);
        host_buf_free(&label);
    }
    if (rc == 0 && errno != 0) {
        fprintf(stderr, "tanomu plugin new: template: %s\n", strerror(errno));
        rc = -1;
    }
    closedir(d);
    return rc;
}

static int plugin_new(const char *name, const char *dir)
{
    char tmpl[PATH_MAX];
    int sfd = -1, dfd = -1, rc = 1;

    if (!new_name_valid(name)) {
        fprintf(stderr, "tanomu plugin new: name '%s' is not [a-z][a-z0-9_]{0,31}\n",
                name ? name : "");
        return 2;
    }
    if (find_template(tmpl, sizeof tmpl) != 0) {
        fprintf(stderr, "tanomu plugin new: no template: neither the installed "
                        "share/tanomu/template beside this tanomu nor the source tree's "
                        "sdk/template is there\n");
        return 1;
    }
    /* mkdir fails on anything already there, a dangling link included. */
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "tanomu plugin new: cannot create %s: %s%s\n", dir, strerror(errno),
                errno == EEXIST ? " (it must not exist: nothing is overwritten)" : "");
        return 1;
    }
    sfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0 || dfd < 0) {
        fprintf(stderr, "tanomu plugin new: %s: %s\n", sfd < 0 ? tmpl : dir, strerror(errno));
        goto out;
    }
    if (copy_tree(sfd, dfd, name, dir, 0) != 0) {
        fprintf(stderr, "tanomu plugin new: stopped; %s is incomplete\n", dir);
        goto out;
    }
    printf("plugin %s written to %s (from %s)\n"
           "next:\n"
           "  cmake -S %s -B %s/build -DCMAKE_PREFIX_PATH=<tanomu sdk prefix>\n"
           "  cmake --build %s/build && ctest --test-dir %s/build\n"
           "see %s/README.md\n",
           name, dir, tmpl, dir, dir, dir, dir, dir);
    rc = 0;
out:
    if (sfd >= 0)
        close(sfd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

int host_cli_plugin(int argc, char **argv)
{
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(usage, stdout);
        fputs("\nWrites an out-of-tree plugin NAME ([a-z][a-z0-9_]{0,31}) into DIR (default\n"
              "./NAME, which must not exist) from the SDK's template: the source, CMake and\n"
              "make+pkg-config builds, a testkit test, a migrations folder and a tenant\n"
              "file.  The template is the installed share/tanomu/template beside this\n"
              "tanomu, else the sdk/template of the tree it was built from.\n",
              stdout);
        return 0;
    }
    if (argc < 4 || argc > 5 || strcmp(argv[2], "new") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    return plugin_new(argv[3], argc == 5 ? argv[4] : argv[3]);
}
