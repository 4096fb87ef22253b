/*
 * cli_jobs.c - `tanomu jobs`: the history of scheduled job runs, and a run
 * asked for now.
 *
 *   tanomu jobs -c FILE [--tenant T] [--failed] [--limit N]
 *   tanomu jobs -c FILE --run NAME [--tenant T] [--wait SECONDS]
 *
 * History is read as the owner (database.owner_url), whose owner_scan
 * policy reads across tenants.  A run now is a row, not a signal: the
 * command inserts a manual run (result 'pending', lease already lapsed)
 * in a transaction bound to the tenant, and the workers' sweep, which
 * looks for open runs with a lapsed lease every second on every worker of
 * every node, claims it exactly once, like a run whose worker died.  So it
 * needs no pid file, works from any machine that reaches the database, and
 * a request made while every server is down runs when one starts.  The
 * command waits for the end (--wait, default 60 s) and prints it.  It
 * loads the configured plugins, as `tanomu plugins` does, to check that
 * the job exists and whether it takes a tenant.
 */
#include "cli_jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <uv.h>

#include "generation.h"
#include "jobs.h"
#include "log.h"
#include "names.h"
#include "outbox.h"

#define WAIT_DEFAULT_S 60

static const char usage[] =
    "usage: tanomu jobs -c FILE [--tenant ID] [--failed] [--limit N]\n"
    "       tanomu jobs -c FILE --run NAME [--tenant ID] [--wait SECONDS]\n\n"
    "Prints the newest scheduled job runs (start, end, job, tenant, tick,\n"
    "attempt, result, error), all tenants' and the global jobs', or one\n"
    "tenant's, or only the failed ones.  --run asks for a run of NAME\n"
    "(PLUGIN.JOB, or JOB if one plugin has it) now, for tenant ID if the job\n"
    "runs per tenant: a worker of any running server picks it up within a\n"
    "second or so; the command waits for its end and exits 0 if it ended ok.\n";

typedef struct jobs_args {
    const char *conf;
    const char *tenant;
    const char *run;
    int failed;
    int limit;
    int wait_s;
} jobs_args;

static int parse(int argc, char **argv, jobs_args *a)
{
    int i;

    memset(a, 0, sizeof *a);
    a->conf = "config/tanomu.conf";
    a->limit = 50;
    a->wait_s = WAIT_DEFAULT_S;
    for (i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0)
            return 1;
        if (strcmp(o, "--failed") == 0) {
            a->failed = 1;
            continue;
        }
        if (!v)
            return -1;
        if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0)
            a->conf = v;
        else if (strcmp(o, "--tenant") == 0)
            a->tenant = v;
        else if (strcmp(o, "--run") == 0)
            a->run = v;
        else if (strcmp(o, "--limit") == 0 && (a->limit = atoi(v)) > 0)
            ;
        else if (strcmp(o, "--wait") == 0 && (a->wait_s = atoi(v)) > 0)
            ;
        else
            return -1;
        i++;
    }
    if (a->tenant && !host_tenant_id_valid(a->tenant))
        return -1;
    return a->run && a->failed ? -1 : 0;
}

static PGconn *connect_owner(const host_config *conf)
{
    PGconn *c;

    if (!conf->server.db.owner_url) {
        fprintf(stderr, "%s: database.owner_url (or owner_url_file) is not set\n", conf->path);
        return NULL;
    }
    c = PQconnectdb(conf->server.db.owner_url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "database: %s", PQerrorMessage(c)); /* no password in it */
        PQfinish(c);
        return NULL;
    }
    return c;
}

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static int history(const host_config *conf, const jobs_args *a)
{
    static const char sql[] = "SELECT coalesce(" ISO("started_at") ", '-'), coalesce(" ISO(
        "ended_at") ", '-'), "
                    "plugin || '.' || job, coalesce(tenant_id, '-'), " ISO(
                        "to_timestamp(tick)") ", "
                                              "CASE WHEN manual THEN 'manual' ELSE 'tick' END, "
                                              "attempt, result, coalesce(error, '') "
                                              "FROM job_runs WHERE ($1::text IS NULL OR tenant_id "
                                              "= $1) "
                                              "AND (NOT $2::bool OR result = 'failed') "
                                              "ORDER BY requested_at DESC, id DESC LIMIT $3::int";
    char limit[16];
    const char *p[3] = {a->tenant, a->failed ? "true" : "false", limit};
    PGconn *c = connect_owner(conf);
    PGresult *r;
    int i, rc = 1;

    if (!c)
        return 1;
    snprintf(limit, sizeof limit, "%d", a->limit);
    r = PQexecParams(c, sql, 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "database: %s", PQerrorMessage(c));
        goto out;
    }
    printf("%-20s %-20s %-32s %-16s %-20s %-6s %-7s %-7s %s\n", "STARTED", "ENDED", "JOB", "TENANT",
           "TICK", "KIND", "ATTEMPT", "RESULT", "ERROR");
    for (i = 0; i < PQntuples(r); i++)
        printf("%-20s %-20s %-32s %-16s %-20s %-6s %-7s %-7s %s\n", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
               PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8));
    rc = 0;
out:
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* The job by name among what the configured plugins schedule, checked
 * against the tenant: 0, or 1 after saying why not. */
static int resolve(const jobs_args *a, host_worker *w, char *plugin, size_t pcap, char *job,
                   size_t jcap)
{
    tn_plugin *p = NULL;
    const char *name = NULL;
    const host_tenant *t = NULL;
    int per_tenant = 0, i, found = host_jobs_find(w, a->run, &p, &name, &per_tenant);

    if (found <= 0) {
        fprintf(stderr, "tanomu jobs: %s job '%s' among the loaded plugins%s\n",
                found < 0 ? "more than one" : "no", a->run,
                found < 0 ? ": name it PLUGIN.JOB" : "");
        return 1;
    }
    if (per_tenant != (a->tenant != NULL)) {
        fprintf(stderr, "tanomu jobs: %s.%s %s\n", p->name, name,
                per_tenant ? "runs per tenant: give --tenant ID" : "is global: no --tenant");
        return 1;
    }
    for (i = 0; a->tenant && i < w->conf.ntenants; i++)
        if (w->conf.tenants[i].id && strcmp(w->conf.tenants[i].id, a->tenant) == 0)
            t = &w->conf.tenants[i];
    if (a->tenant && !host_worker_enabled(w, t, p)) {
        fprintf(stderr, "tanomu jobs: tenant '%s' %s\n", a->tenant,
                t ? "does not enable the plugin" : "is not configured");
        return 1;
    }
    snprintf(plugin, pcap, "%s", p->name);
    snprintf(job, jcap, "%s", name);
    return 0;
}

/* Inserts the request in a transaction bound to its tenant (RLS checks
 * the row as for the app role); its id, or -1. */
static long long request_run(PGconn *c, const char *plugin, const char *job, const char *tenant)
{
    static const char sql[] =
        "INSERT INTO job_runs (plugin, job, tenant_id, tick, manual, attempt, lease_until, "
        "result) VALUES ($1, $2, $3, extract(epoch FROM now())::bigint, true, 0, "
        "now() - interval '1 second', 'pending') "
        "ON CONFLICT ON CONSTRAINT job_runs_once DO NOTHING RETURNING id";
    const char *bind[1] = {tenant ? tenant : ""};
    const char *p[3] = {plugin, job, tenant};
    long long id = -1;
    PGresult *r = PQexec(c, "BEGIN");

    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        goto fail;
    PQclear(r);
    r = PQexecParams(c, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL, bind, NULL, NULL,
                     0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto fail;
    PQclear(r);
    r = PQexecParams(c, sql, 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto fail;
    if (PQntuples(r) == 1)
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    r = PQexec(c, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        goto fail;
    PQclear(r);
    if (id < 0)
        fprintf(stderr, "tanomu jobs: a run of %s.%s was asked for this second already\n", plugin,
                job);
    return id;
fail:
    fprintf(stderr, "database: %s", PQerrorMessage(c));
    PQclear(r);
    return -1;
}

static int wait_end(PGconn *c, long long id, int wait_s)
{
    char idtxt[32];
    const char *p[1] = {idtxt};
    time_t deadline = time(NULL) + wait_s;
    int rc = 1;

    snprintf(idtxt, sizeof idtxt, "%lld", id);
    for (;;) {
        PGresult *r = PQexecParams(c,
                                   "SELECT result, coalesce(error, ''), attempt, "
                                   "coalesce(worker, '') FROM job_runs WHERE id = $1::bigint "
                                   "AND ended_at IS NOT NULL",
                                   1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "database: %s", PQerrorMessage(c));
            PQclear(r);
            return 1;
        }
        if (PQntuples(r) == 1) {
            rc = strcmp(PQgetvalue(r, 0, 0), "ok") == 0 ? 0 : 1;
            printf("run %lld: %s%s%s (worker %s)\n", id, PQgetvalue(r, 0, 0), rc ? ": " : "",
                   rc ? PQgetvalue(r, 0, 1) : "", PQgetvalue(r, 0, 3));
            PQclear(r);
            return rc;
        }
        PQclear(r);
        if (time(NULL) >= deadline)
            break;
        usleep(200 * 1000);
    }
    fprintf(stderr,
            "tanomu jobs: run %lld has not ended within %d s; it stays asked for and runs when "
            "a server with the plugin picks it up (see tanomu jobs)\n",
            id, wait_s);
    return 1;
}

static int run_now(const jobs_args *a)
{
    host_worker w;
    uv_loop_t loop;
    host_snapshot snap;
    host_errors errs;
    char plugin[64], job[64];
    PGconn *c = NULL;
    long long id;
    int rc = 1;

    memset(&w, 0, sizeof w);
    memset(&snap, 0, sizeof snap);
    host_errors_init(&errs);
    if (uv_loop_init(&loop) != 0)
        return 1;
    if (host_config_snapshot(a->conf, &snap, &errs) != 0 ||
        host_generation_load(&w, &loop, &snap, 0, &errs) != 0 || !w.loaded) {
        host_errors_print(&errs, stderr);
        goto out;
    }
    if (resolve(a, &w, plugin, sizeof plugin, job, sizeof job) != 0 ||
        !(c = connect_owner(&w.conf)))
        goto out;
    if ((id = request_run(c, plugin, job, a->tenant)) < 0)
        goto out;
    printf("run %lld of %s.%s%s%s asked for; waiting up to %d s\n", id, plugin, job,
           a->tenant ? " for tenant " : "", a->tenant ? a->tenant : "", a->wait_s);
    fflush(stdout);
    rc = wait_end(c, id, a->wait_s);
out:
    if (c)
        PQfinish(c);
    host_generation_unload(&w);
    host_outbox_free(&w); /* durable subscriptions made by the plugins' init() */
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    host_snapshot_free(&snap);
    host_errors_free(&errs);
    return rc;
}

int host_cli_jobs(int argc, char **argv)
{
    host_snapshot snap;
    host_config conf;
    host_errors errs;
    jobs_args a;
    int rc = parse(argc, argv, &a);

    if (rc != 0) {
        fputs(usage, rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    host_log_to_stderr();
    host_log_setup(HOST_LOG_ERROR, 0, "jobs");
    if (a.run)
        return run_now(&a);
    host_errors_init(&errs);
    memset(&snap, 0, sizeof snap);
    if (host_config_snapshot(a.conf, &snap, &errs) != 0 ||
        host_config_parse(&snap, &conf, &errs) != 0) {
        host_errors_print(&errs, stderr);
        host_errors_free(&errs);
        host_snapshot_free(&snap);
        return 1;
    }
    rc = history(&conf, &a);
    host_config_free(&conf);
    host_snapshot_free(&snap);
    host_errors_free(&errs);
    return rc;
}
