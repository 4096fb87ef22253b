/*
 * migrate.c - the migration runner.  See migrate.h.
 *
 * Everything is read and checked before the database is touched, so a bad
 * file name or an unreadable file changes nothing.  Values reach SQL only
 * as parameters (S1); the migration files themselves are trusted code
 * shipped with the core and the plugins, run as the owner role.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "names.h"

/* A migration file is code, not data: anything this big is a mistake. */
#define MIG_MAX_FILE (16u * 1024 * 1024)
#define MIG_MAX_NAME 128
#define MIG_MAX_SCOPE 63
/* pg_advisory_lock key: "tanomu" in ASCII, shared by every runner. */
#define MIG_LOCK_KEY "127978384385397"

typedef struct mig_file {
    int src; /* index into the sources */
    char name[MIG_MAX_NAME + 1];
    char *sql;
    size_t len;
    char sha[65];
    int applied; /* recorded in schema_migrations */
    char applied_at[40];
} mig_file;

typedef struct mig_row {
    char *scope;
    char *name;
    char *sha;
    char *at;
    int has_file;
} mig_row;

typedef struct mig_run {
    const host_migrate_src *srcs;
    int nsrcs;
    FILE *out;
    FILE *err;
    mig_file *files;
    int nfiles;
    int capfiles;
    mig_row *rows;
    int nrows;
    PGconn *pg;
} mig_run;

static void mig_error(mig_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mig_error(mig_run *r, const char *fmt, ...)
{
    va_list ap;

    fputs("migrate: ", r->err);
    va_start(ap, fmt);
    vfprintf(r->err, fmt, ap);
    va_end(ap);
    fputc('\n', r->err);
}

/* libpq messages end with a newline; ours add their own. */
static const char *trim_msg(const char *m, char *buf, size_t cap)
{
    size_t n;

    snprintf(buf, cap, "%s", m ? m : "");
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

int host_migrate_name_valid(const char *name)
{
    size_t n = strlen(name), i;

    /* NNNN_x.sql at least; bounded so names fit the record and a line. */
    if (n < 10 || n > MIG_MAX_NAME)
        return 0;
    for (i = 0; i < 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    if (name[4] != '_' || strcmp(name + n - 4, ".sql") != 0)
        return 0;
    for (i = 5; i < n - 4; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int scope_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0, i;

    if (n == 0 || n > MIG_MAX_SCOPE)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static int ends_with_sql(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && strcmp(name + n - 4, ".sql") == 0;
}

static int cmp_file(const void *a, const void *b)
{
    const mig_file *x = a, *y = b;

    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    static const char hex[] = "0123456789abcdef";

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -1;
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* Reads dirfd/name: a regular file, no symlink, bounded, no NUL bytes
 * (libpq would silently cut the text there). */
static int read_file(mig_run *r, int dfd, const char *label, mig_file *f)
{
    struct stat st;
    int fd;
    size_t got = 0;

    fd = openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        mig_error(r, "%s: %s", label, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        mig_error(r, "%s: not a regular file", label);
        goto fail;
    }
    if ((uintmax_t)st.st_size > MIG_MAX_FILE) {
        mig_error(r, "%s: larger than %u bytes", label, MIG_MAX_FILE);
        goto fail;
    }
    f->sql = malloc((size_t)st.st_size + 1);
    if (!f->sql) {
        mig_error(r, "%s: out of memory", label);
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, f->sql + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            mig_error(r, "%s: read: %s", label, n < 0 ? strerror(errno) : "short read");
            goto fail;
        }
        got += (size_t)n;
    }
    f->sql[got] = '\0';
    f->len = got;
    if (memchr(f->sql, '\0', got)) {
        mig_error(r, "%s: contains a NUL byte", label);
        goto fail;
    }
    if (sha256_hex(f->sql, f->len, f->sha) != 0) {
        mig_error(r, "%s: sha256 failed", label);
        goto fail;
    }
    close(fd);
    return 0;
fail:
    close(fd);
    return -1;
}

static int collect_source(mig_run *r, int si)
{
    const host_migrate_src *s = &r->srcs[si];
    DIR *d = NULL;
    struct dirent *de;
    int first = r->nfiles, i;
    char label[MIG_MAX_SCOPE + MIG_MAX_NAME + 2];

    if (!scope_valid(s->scope)) {
        mig_error(r, "bad scope '%s' (want [a-z0-9_]{1,63})", s->scope ? s->scope : "");
        return -1;
    }
    for (i = 0; i < si; i++) {
        if (strcmp(r->srcs[i].scope, s->scope) == 0) {
            mig_error(r, "scope '%s' given twice", s->scope);
            return -1;
        }
    }
    d = s->dir ? opendir(s->dir) : NULL;
    if (!d) {
        mig_error(r, "%s: cannot open migrations directory %s: %s", s->scope,
                  s->dir ? s->dir : "(null)", strerror(s->dir ? errno : EINVAL));
        return -1;
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        mig_file *f;

        if (de->d_name[0] == '.' || !ends_with_sql(de->d_name))
            continue;
        if (!host_migrate_name_valid(de->d_name)) {
            mig_error(r, "%s/%s: bad migration file name (want NNNN_name.sql, name in [a-z0-9_])",
                      s->dir, de->d_name);
            goto fail;
        }
        if (r->nfiles == r->capfiles) {
            int cap = r->capfiles ? r->capfiles * 2 : 16;
            mig_file *nf = realloc(r->files, (size_t)cap * sizeof *nf);
            if (!nf) {
                mig_error(r, "out of memory");
                goto fail;
            }
            r->files = nf;
            r->capfiles = cap;
        }
        f = &r->files[r->nfiles++];
        memset(f, 0, sizeof *f);
        f->src = si;
        memcpy(f->name, de->d_name, strlen(de->d_name) + 1); /* checked: <= MIG_MAX_NAME */
    }
    if (errno != 0) {
        mig_error(r, "%s: readdir: %s", s->dir, strerror(errno));
        goto fail;
    }
    qsort(r->files + first, (size_t)(r->nfiles - first), sizeof *r->files, cmp_file);
    for (i = first; i < r->nfiles; i++) {
        mig_file *f = &r->files[i];
        /* Two files with one number: which runs first would be an accident. */
        if (i > first && memcmp(f->name, r->files[i - 1].name, 4) == 0) {
            mig_error(r, "%s: %s and %s share the number %.4s", s->dir, r->files[i - 1].name,
                      f->name, f->name);
            goto fail;
        }
        snprintf(label, sizeof label, "%s/%s", s->scope, f->name);
        if (read_file(r, dirfd(d), label, f) != 0)
            goto fail;
    }
    closedir(d);
    return 0;
fail:
    closedir(d);
    return -1;
}

/* Runs a parameterised statement; returns the result if its status is the
 * expected one, else reports and returns NULL. */
static PGresult *q(mig_run *r, const char *what, const char *sql, int n, const char *const *params,
                   ExecStatusType want)
{
    PGresult *res = PQexecParams(r->pg, sql, n, NULL, params, NULL, NULL, 0);
    char buf[1024];

    if (res && PQresultStatus(res) == want)
        return res;
    mig_error(r, "%s: %s", what,
              trim_msg(res ? PQresultErrorMessage(res) : PQerrorMessage(r->pg), buf, sizeof buf));
    PQclear(res);
    return NULL;
}

/* A statement without rows: 0, or -1 with the error reported. */
static int exec_cmd(mig_run *r, const char *what, const char *sql)
{
    PGresult *res = q(r, what, sql, 0, NULL, PGRES_COMMAND_OK);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

static void notice_to_err(void *arg, const char *message)
{
    FILE *err = arg;
    fprintf(err, "migrate: %s", message);
}

static int connect_owner(mig_run *r, const char *conninfo)
{
    PGresult *res;
    char buf[1024];

    r->pg = PQconnectdb(conninfo ? conninfo : "");
    if (!r->pg || PQstatus(r->pg) != CONNECTION_OK) {
        mig_error(r, "cannot connect: %s",
                  trim_msg(r->pg ? PQerrorMessage(r->pg) : "out of memory", buf, sizeof buf));
        return -1;
    }
    PQsetNoticeProcessor(r->pg, notice_to_err, r->err);
    /* Pin where unqualified names go, whatever the role's defaults are,
     * and keep "already exists, skipping" chatter out of the output. */
    res = q(r, "session setup",
            "SELECT set_config('search_path', 'public', false),"
            " set_config('client_min_messages', 'warning', false),"
            " r.rolsuper FROM pg_roles r WHERE r.rolname = current_user",
            0, NULL, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 2), "t") == 0)
        fprintf(r->err, "migrate: warning: connected as a superuser; the tables will belong "
                        "to it and not to tanomu_owner\n");
    PQclear(res);
    return 0;
}

static int lock_runner(mig_run *r)
{
    const char *key[1] = {MIG_LOCK_KEY};
    PGresult *res;
    int got;

    res = q(r, "advisory lock", "SELECT pg_try_advisory_lock($1::bigint)", 1, key, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got)
        return 0;
    fprintf(r->out, "migrate: another run holds the migration lock; waiting\n");
    fflush(r->out);
    res = q(r, "advisory lock", "SELECT pg_advisory_lock($1::bigint)", 1, key, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

static int load_applied(mig_run *r, int status_only)
{
    PGresult *res;
    int i;

    if (status_only) {
        /* Status changes nothing, not even by creating the table. */
        res = q(r, "schema_migrations", "SELECT to_regclass('public.schema_migrations') IS NULL", 0,
                NULL, PGRES_TUPLES_OK);
        if (!res)
            return -1;
        i = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (i)
            return 0;
    } else if (exec_cmd(r, "create schema_migrations",
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " scope text NOT NULL,"
                        " name text NOT NULL,"
                        " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
                        " applied_at timestamptz NOT NULL DEFAULT now(),"
                        " PRIMARY KEY (scope, name))") != 0) {
        return -1;
    }
    res = q(r, "read schema_migrations",
            "SELECT scope, name, checksum,"
            " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            " FROM schema_migrations ORDER BY scope, name",
            0, NULL, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    r->nrows = PQntuples(res);
    r->rows = calloc((size_t)r->nrows + 1, sizeof *r->rows);
    if (!r->rows) {
        PQclear(res);
        r->nrows = 0;
        mig_error(r, "out of memory");
        return -1;
    }
    for (i = 0; i < r->nrows; i++) {
        mig_row *w = &r->rows[i];
        w->scope = strdup(PQgetvalue(res, i, 0));
        w->name = strdup(PQgetvalue(res, i, 1));
        w->sha = strdup(PQgetvalue(res, i, 2));
        w->at = strdup(PQgetvalue(res, i, 3));
        if (!w->scope || !w->name || !w->sha || !w->at) {
            PQclear(res);
            mig_error(r, "out of memory");
            return -1;
        }
    }
    PQclear(res);
    return 0;
}

/* Matches files with records; refuses changed checksums and pending files
 * that sort before an applied one of their scope.  Returns the number of
 * problems found (all reported). */
/* Matches files to recorded rows; reports every edited or out-of-order
 * file.  0 when there is none, else -1. */
static int reconcile(mig_run *r)
{
    int i, j, bad = 0;

    for (i = 0; i < r->nfiles; i++) {
        mig_file *f = &r->files[i];
        const char *scope = r->srcs[f->src].scope;

        for (j = 0; j < r->nrows; j++) {
            mig_row *w = &r->rows[j];
            if (strcmp(w->scope, scope) != 0 || strcmp(w->name, f->name) != 0)
                continue;
            w->has_file = 1;
            f->applied = 1;
            snprintf(f->applied_at, sizeof f->applied_at, "%s", w->at);
            if (strcmp(w->sha, f->sha) != 0) {
                mig_error(r,
                          "%s/%s (%s/%s) was changed after it was applied: recorded sha256 %s, "
                          "file now %s; restore it and add a new migration instead",
                          scope, f->name, r->srcs[f->src].dir, f->name, w->sha, f->sha);
                bad++;
            }
        }
    }
    for (i = 0; i < r->nfiles; i++) {
        mig_file *f = &r->files[i];
        const char *scope = r->srcs[f->src].scope;

        if (f->applied)
            continue;
        for (j = 0; j < r->nrows; j++) {
            mig_row *w = &r->rows[j];
            if (strcmp(w->scope, scope) == 0 && strcmp(w->name, f->name) > 0) {
                mig_error(r,
                          "%s/%s is pending but sorts before the applied %s/%s; "
                          "renumber it to come last",
                          scope, f->name, scope, w->name);
                bad++;
                break;
            }
        }
    }
    return bad ? -1 : 0;
}

static void print_status(mig_run *r)
{
    int s, i, j, napplied = 0, npending = 0;

    for (s = 0; s < r->nsrcs; s++) {
        const char *scope = r->srcs[s].scope;
        for (i = 0; i < r->nfiles; i++) {
            mig_file *f = &r->files[i];
            if (f->src != s)
                continue;
            if (f->applied) {
                fprintf(r->out, "applied  %s/%s  %s\n", scope, f->name, f->applied_at);
                napplied++;
            } else {
                fprintf(r->out, "pending  %s/%s\n", scope, f->name);
                npending++;
            }
        }
        for (j = 0; j < r->nrows; j++) {
            mig_row *w = &r->rows[j];
            if (!w->has_file && strcmp(w->scope, scope) == 0)
                fprintf(r->out, "applied  %s/%s  %s  (file missing)\n", scope, w->name, w->at);
        }
    }
    fprintf(r->out, "%d applied, %d pending\n", napplied, npending);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The 1-based line of a 1-based character position (the server counts
 * characters, not bytes; the files are UTF-8). */
static int line_of(const char *sql, long pos)
{
    long chars = 0;
    int line = 1;
    const unsigned char *p;

    for (p = (const unsigned char *)sql; *p && chars < pos - 1; p++) {
        if ((*p & 0xC0) != 0x80)
            chars++;
        if (*p == '\n')
            line++;
    }
    return line;
}

/* Every table with a tenant_id column must have row-level security
 * enabled and forced (S21): without FORCE the owner, and without ENABLE
 * everyone, reads across tenants.  Checked inside each file's transaction,
 * so a file that breaks the rule is rolled back and not recorded, and once
 * more at the end of every run.  Reports each table; -1 if there is one. */
static int rls_guard(mig_run *r, const char *scope, const char *file)
{
    PGresult *res;
    int i, n;

    res = q(r, "row-level security check",
            "SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity"
            " FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p')"
            " AND s.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND s.nspname NOT LIKE 'pg\\_%'"
            " AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"
            " AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
            " AND a.attname = 'tenant_id' AND a.attnum > 0 AND NOT a.attisdropped)"
            " ORDER BY 1",
            0, NULL, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    n = PQntuples(res);
    for (i = 0; i < n; i++) {
        const char *t = PQgetvalue(res, i, 0);
        int enabled = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        mig_error(r,
                  "%s%s%s%stable %s has a tenant_id column but row-level security is not %s: "
                  "add ALTER TABLE %s ENABLE ROW LEVEL SECURITY; ALTER TABLE %s FORCE ROW "
                  "LEVEL SECURITY; and a policy on current_setting('app.tenant_id', true)",
                  scope ? scope : "", scope ? "/" : "", file ? file : "", file ? ": " : "", t,
                  enabled ? "forced" : "enabled and forced", t, t);
    }
    PQclear(res);
    return n ? -1 : 0;
}

static int apply_one(mig_run *r, mig_file *f)
{
    const char *scope = r->srcs[f->src].scope;
    const char *params[3] = {scope, f->name, f->sha};
    PGresult *res = NULL;
    char buf[2048];
    int64_t t0 = now_ms();

    if (exec_cmd(r, "BEGIN", "BEGIN") != 0)
        return -1;
    /* Simple-query protocol: the file may hold many statements. */
    res = PQexec(r->pg, f->sql);
    if (!res ||
        (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK &&
         PQresultStatus(res) != PGRES_EMPTY_QUERY)) {
        const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
        trim_msg(res ? PQresultErrorMessage(res) : PQerrorMessage(r->pg), buf, sizeof buf);
        if (pos)
            mig_error(r, "%s/%s failed at line %d: %s", scope, f->name,
                      line_of(f->sql, strtol(pos, NULL, 10)), buf);
        else
            mig_error(r, "%s/%s failed: %s", scope, f->name, buf);
        goto fail;
    }
    PQclear(res);
    res = NULL;
    if (PQtransactionStatus(r->pg) != PQTRANS_INTRANS) {
        /* The file ended our transaction itself: whatever ran before its
         * COMMIT is in, unrecorded.  Say so plainly. */
        mig_error(r,
                  "%s/%s must not contain COMMIT, ROLLBACK or BEGIN: it ended the "
                  "runner's transaction, so part of it may have been committed without "
                  "being recorded; check the database by hand",
                  scope, f->name);
        goto fail;
    }
    if (rls_guard(r, scope, f->name) != 0)
        goto fail;
    res = q(r, "record migration",
            "INSERT INTO schema_migrations (scope, name, checksum) VALUES ($1, $2, $3)", 3, params,
            PGRES_COMMAND_OK);
    if (!res)
        goto fail;
    PQclear(res);
    res = NULL;
    if (exec_cmd(r, "COMMIT", "COMMIT") != 0)
        goto fail;
    fprintf(r->out, "migrate: applied %s/%s (%lld ms)\n", scope, f->name,
            (long long)(now_ms() - t0));
    fflush(r->out);
    return 0;
fail:
    PQclear(res);
    if (PQtransactionStatus(r->pg) != PQTRANS_IDLE) {
        res = PQexec(r->pg, "ROLLBACK");
        PQclear(res);
    }
    return -1;
}

static void run_free(mig_run *r)
{
    int i;

    for (i = 0; i < r->nfiles; i++)
        free(r->files[i].sql);
    free(r->files);
    for (i = 0; i < r->nrows; i++) {
        free(r->rows[i].scope);
        free(r->rows[i].name);
        free(r->rows[i].sha);
        free(r->rows[i].at);
    }
    free(r->rows);
    if (r->pg)
        PQfinish(r->pg); /* also releases the advisory lock */
}

int host_migrate(const char *owner_conninfo, const host_migrate_src *srcs, int nsrcs,
                 int status_only, FILE *out, FILE *err)
{
    mig_run r;
    int i, napplied = 0, rc = -1;

    memset(&r, 0, sizeof r);
    r.srcs = srcs;
    r.nsrcs = nsrcs;
    r.out = out ? out : stdout;
    r.err = err ? err : stderr;
    if (!srcs || nsrcs <= 0) {
        mig_error(&r, "no migration sources");
        return -1;
    }
    for (i = 0; i < nsrcs; i++)
        if (collect_source(&r, i) != 0)
            goto done;
    if (connect_owner(&r, owner_conninfo) != 0)
        goto done;
    if (!status_only && lock_runner(&r) != 0)
        goto done;
    /* Read what is applied only once we hold the lock: a run that waited
     * sees the work of the one before it. */
    if (load_applied(&r, status_only) != 0)
        goto done;
    if (status_only) {
        rc = reconcile(&r);
        print_status(&r);
        goto done;
    }
    if (reconcile(&r) != 0) {
        mig_error(&r, "nothing applied");
        goto done;
    }
    for (i = 0; i < r.nfiles; i++) {
        if (r.files[i].applied)
            continue;
        if (apply_one(&r, &r.files[i]) != 0) {
            mig_error(&r, "stopped; %d migration(s) applied before the failure", napplied);
            goto done;
        }
        napplied++;
    }
    if (rls_guard(&r, NULL, NULL) != 0) {
        mig_error(&r, "a tenant table without forced row-level security; fix it with a new "
                      "migration");
        goto done;
    }
    if (napplied == 0)
        fprintf(r.out, "migrate: up to date (%d migrations)\n", r.nfiles);
    rc = 0;
done:
    run_free(&r);
    return rc;
}

int host_migrate_tenants(const char *owner_conninfo, const char *const *ids, int nids, FILE *out,
                         FILE *err)
{
    mig_run r;
    int i, rc = -1;
    PGresult *res;

    memset(&r, 0, sizeof r);
    r.out = out ? out : stdout;
    r.err = err ? err : stderr;
    for (i = 0; i < nids; i++) {
        if (!host_tenant_id_valid(ids[i])) {
            mig_error(&r, "bad tenant id '%s' (want [a-z0-9][a-z0-9_-]{0,62})",
                      ids[i] ? ids[i] : "");
            return -1;
        }
    }
    if (connect_owner(&r, owner_conninfo) != 0)
        goto done;
    if (exec_cmd(&r, "BEGIN", "BEGIN") != 0)
        goto done;
    for (i = 0; i < nids; i++) {
        const char *p[1] = {ids[i]};
        /* tenants has FORCE ROW LEVEL SECURITY: even the owner writes a
         * tenant's row only as that tenant. */
        res = q(&r, "set tenant", "SELECT set_config('app.tenant_id', $1, true)", 1, p,
                PGRES_TUPLES_OK);
        if (!res)
            goto rollback;
        PQclear(res);
        res = q(&r, "add tenant",
                "INSERT INTO tenants (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", 1, p,
                PGRES_COMMAND_OK);
        if (!res)
            goto rollback;
        if (strcmp(PQcmdTuples(res), "1") == 0)
            fprintf(r.out, "migrate: tenant %s added\n", ids[i]);
        PQclear(res);
    }
    if (exec_cmd(&r, "COMMIT", "COMMIT") != 0)
        goto done;
    rc = 0;
    goto done;
rollback:
    res = PQexec(r.pg, "ROLLBACK");
    PQclear(res);
done:
    run_free(&r);
    return rc;
}
