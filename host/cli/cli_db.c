/*
 * cli_db.c - the database commands of the CLI: migrate, events, audit.
 *
 * They run as the owner role (database.owner_url) with blocking libpq: a
 * command-line tool, never the event loop.  Every value goes to the server
 * as a parameter (S1).
 */
#include "cli_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "cli_migrate_order.h"
#include "csv.h"
#include "migrate.h"
#include "names.h"

static int need_owner(const host_config *conf)
{
    if (conf->server.db.owner_url)
        return 0;
    fprintf(stderr, "%s: database.owner_url (or owner_url_file) is not set\n", conf->path);
    return -1;
}

int host_cli_migrate(const host_config *conf, int status_only)
{
    const host_db_conf *d = &conf->server.db;
    host_migrate_src *srcs = NULL;
    const char **ids = NULL, **order = NULL;
    char **dirs = NULL;
    int i, n = 0, nids = 0, norder, rc = 1;
    struct stat st;

    if (need_owner(conf) != 0)
        return 1;
    srcs = calloc((size_t)conf->server.plugin_load.n + 1, sizeof *srcs);
    dirs = calloc((size_t)conf->server.plugin_load.n + 1, sizeof *dirs);
    ids = calloc((size_t)conf->ntenants + 1, sizeof *ids);
    order = calloc((size_t)conf->server.plugin_load.n + 1, sizeof *order);
    if (!srcs || !dirs || !ids || !order)
        goto out;
    norder = host_cli_migrate_order(conf, order, stderr);
    srcs[n].scope = "core";
    srcs[n++].dir = d->migrations_dir;
    /* A plugin's migrations: PLUGIN_MIGRATIONS_DIR/NAME/migrations, by the
     * checked plugin name only (S3), after those of what it depends on. */
    for (i = 0; i < norder; i++) {
        const char *name = order[i];
        size_t len = strlen(d->plugin_migrations_dir) + strlen(name) + 16;
        if (!host_plugin_name_valid(name) || !(dirs[i] = malloc(len)))
            continue;
        snprintf(dirs[i], len, "%s/%s/migrations", d->plugin_migrations_dir, name);
        if (stat(dirs[i], &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        srcs[n].scope = name;
        srcs[n++].dir = dirs[i];
    }
    if (host_migrate(d->owner_url, srcs, n, status_only, stdout, stderr) != 0)
        goto out;
    if (!status_only) {
        for (i = 0; i < conf->ntenants; i++)
            if (conf->tenants[i].id)
                ids[nids++] = conf->tenants[i].id;
        if (host_migrate_tenants(d->owner_url, ids, nids, stdout, stderr) != 0)
            goto out;
    }
    rc = 0;
out:
    for (i = 0; dirs && i < conf->server.plugin_load.n; i++)
        free(dirs[i]);
    free(dirs);
    free(srcs);
    free(ids);
    free(order);
    return rc;
}

static PGconn *connect_owner(const host_config *conf)
{
    PGconn *c = PQconnectdb(conf->server.db.owner_url);

    if (PQstatus(c) != CONNECTION_OK) {
        /* libpq's message names host and user, never the password. */
        fprintf(stderr, "database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int ok(PGconn *c, PGresult *r, ExecStatusType want)
{
    if (PQresultStatus(r) == want)
        return 1;
    fprintf(stderr, "database: %s", PQerrorMessage(c));
    return 0;
}

/* FORCE RLS binds the owner too: work on a tenant's rows happens in a
 * transaction bound to that tenant, as a request's would. */
static int begin_tenant(PGconn *c, const char *begin, const char *tenant)
{
    const char *p[1] = {tenant};
    PGresult *r = PQexec(c, begin);
    int good = ok(c, r, PGRES_COMMAND_OK);

    PQclear(r);
    if (!good)
        return -1;
    r = PQexecParams(c, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL, p, NULL, NULL, 0);
    good = ok(c, r, PGRES_TUPLES_OK);
    PQclear(r);
    return good ? 0 : -1;
}

int host_cli_events_dead(const host_config *conf)
{
    PGconn *c;
    PGresult *r;
    int i, rc = 1;

    if (need_owner(conf) != 0 || !(c = connect_owner(conf)))
        return 1;
    r = PQexecParams(c,
                     "SELECT id, tenant_id, name, attempts, coalesce(last_error, ''), "
                     "to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF') FROM outbox "
                     "WHERE state = 'dead' ORDER BY id",
                     0, NULL, NULL, NULL, NULL, 0);
    if (ok(c, r, PGRES_TUPLES_OK)) {
        printf("%-10s %-16s %-32s %-8s %-25s %s\n", "ID", "TENANT", "EVENT", "ATTEMPTS", "CREATED",
               "LAST ERROR");
        for (i = 0; i < PQntuples(r); i++)
            printf("%-10s %-16s %-32s %-8s %-25s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 5),
                   PQgetvalue(r, i, 4));
        rc = 0;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* The row's tenant first (the owner may read across tenants), then the
 * update inside a transaction bound to that tenant, as RLS requires. */
int host_cli_events_retry(const host_config *conf, const char *id)
{
    const char *p[2];
    PGconn *c;
    PGresult *r;
    char tenant[128];
    int rc = 1;

    if (need_owner(conf) != 0 || !(c = connect_owner(conf)))
        return 1;
    p[0] = id;
    r = PQexecParams(c, "SELECT tenant_id FROM outbox WHERE id = $1::bigint AND state = 'dead'", 1,
                     NULL, p, NULL, NULL, 0);
    if (!ok(c, r, PGRES_TUPLES_OK))
        goto out;
    if (PQntuples(r) != 1) {
        fprintf(stderr, "no dead event with id %s\n", id);
        goto out;
    }
    snprintf(tenant, sizeof tenant, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (begin_tenant(c, "BEGIN", tenant) != 0)
        goto out;
    p[0] = id;
    r = PQexecParams(c,
                     "UPDATE outbox SET state = 'pending', attempts = 0, last_error = NULL, "
                     "next_attempt_at = now() WHERE id = $1::bigint AND state = 'dead'",
                     1, NULL, p, NULL, NULL, 0);
    if (!ok(c, r, PGRES_COMMAND_OK))
        goto out;
    PQclear(r);
    r = PQexec(c, "COMMIT");
    if (!ok(c, r, PGRES_COMMAND_OK))
        goto out;
    printf("event %s will be delivered again\n", id);
    rc = 0;
out:
    PQclear(r);
    PQfinish(c);
    return rc;
}

int host_cli_audit(const host_config *conf, const char *tenant, const char *from, const char *to)
{
    static const char *const cols[] = {"at",        "tenant_id",   "user_id",
                                       "action",    "target_type", "target_id",
                                       "client_ip", "request_id",  "result"};
    const char *p[3];
    PGconn *c;
    PGresult *r = NULL;
    host_buf line;
    int i, j, rc = 1;

    if (need_owner(conf) != 0 || !(c = connect_owner(conf)))
        return 1;
    host_buf_init(&line);
    if (begin_tenant(c, "BEGIN READ ONLY", tenant) != 0)
        goto out;
    p[0] = from ? from : "-infinity";
    p[1] = to ? to : "infinity";
    r = PQexecParams(c,
                     "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
                     "tenant_id, user_id, action, target_type, target_id, host(client_ip), "
                     "request_id, result FROM audit_log "
                     "WHERE at >= $1::timestamptz AND at < $2::timestamptz ORDER BY at, id",
                     2, NULL, p, NULL, NULL, 0);
    if (!ok(c, r, PGRES_TUPLES_OK))
        goto out;
    for (j = 0; j < 9; j++)
        host_csv_field(&line, cols[j], j == 0);
    host_buf_puts(&line, "\r\n");
    for (i = 0; i < PQntuples(r); i++) {
        for (j = 0; j < 9; j++)
            host_csv_field(&line, PQgetisnull(r, i, j) ? "" : PQgetvalue(r, i, j), j == 0);
        host_buf_puts(&line, "\r\n");
        if (line.len > 65536) {
            fwrite(line.data, 1, line.len, stdout);
            host_buf_reset(&line);
        }
    }
    if (line.len)
        fwrite(line.data, 1, line.len, stdout);
    rc = host_buf_failed(&line) ? 1 : 0;
out:
    host_buf_free(&line);
    PQclear(r);
    PQfinish(c);
    return rc;
}
