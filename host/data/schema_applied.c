/*
 * schema_applied.c - asks the database which migrations are applied.  See
 * schema_applied.h.  Values go as parameters only (S1).
 */
#include "schema_applied.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

/* libpq's messages end with a newline: one line in the host's log. */
static void set_err(char *err, size_t cap, const char *what, const char *msg)
{
    size_t n;

    snprintf(err, cap, "%s: %s", what, msg ? msg : "");
    n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

int host_schema_applied(const char *conninfo, const char *const *scopes, const char *const *names,
                        int n, int *applied, char *err, size_t errcap)
{
    const char *const keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {conninfo, HOST_SCHEMA_CONNECT_TIMEOUT, NULL};
    PGconn *c;
    PGresult *res = NULL;
    int i, rc = -1;

    for (i = 0; i < n; i++)
        applied[i] = 0;
    /* expand_dbname: conninfo is a URL or key=value string. */
    c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        set_err(err, errcap, "cannot connect", c ? PQerrorMessage(c) : "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        const char *p[2] = {scopes[i], names[i]};
        const char *state;
        res = PQexecParams(c, "SELECT schema_applied($1, $2)", 2, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            applied[i] = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        } else {
            /* 42883: no schema_applied() yet, so the core migrations that
             * bring it are not applied either: nothing counts as applied. */
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (!state || strcmp(state, "42883") != 0) {
                set_err(err, errcap, "schema_applied", PQerrorMessage(c));
                goto out;
            }
        }
        PQclear(res);
        res = NULL;
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(c);
    return rc;
}
