/*
 * database.h - the database as plugins see it: each request gets one
 * transaction, begun on its first statement and bound to its tenant, on a
 * connection of the worker's pool (db_pool.c).  Durable events and audit
 * entries written through the request ride in the same transaction.
 */
#ifndef HOST_DATABASE_H
#define HOST_DATABASE_H

#include <tanomu/tanomu.h>

#include "db_pool.h"

struct host_worker;

struct tn_db_result {
    int status;                /* TN_OK or TN_EDB_* */
    const host_db_result *res; /* NULL when no statement ran */
};

/* Opens the worker's pool if database.url is set; 0, or -1 on bad options. */
int host_database_open(struct host_worker *w);
void host_database_close(struct host_worker *w);
/* 1 when no database is configured or a connection is up. */
int host_database_ready(const struct host_worker *w);

/* The request ended (sent or aborted): roll back what was not committed. */
void host_database_request_end(tn_request *req);

int host_tn_status(int db_status);

/* tn_api members. */
int host_api_db_query(tn_request *req, const char *sql, int nparams, const char *const *params,
                      tn_db_fn cb, void *ud);
int host_api_db_commit(tn_request *req, tn_db_fn cb, void *ud);
int host_api_db_rollback(tn_request *req, tn_db_fn cb, void *ud);
int host_api_db_status(const tn_db_result *res);
const char *host_api_db_sqlstate(const tn_db_result *res);
const char *host_api_db_message(const tn_db_result *res);
int host_api_db_rows(const tn_db_result *res);
int host_api_db_cols(const tn_db_result *res);
const char *host_api_db_colname(const tn_db_result *res, int col);
const char *host_api_db_value(const tn_db_result *res, int row, int col);
int64_t host_api_db_affected(const tn_db_result *res);
int host_api_resp_db_error(tn_request *req, const tn_db_result *res);
int host_api_db_publish(tn_request *req, const char *name, const char *payload_json);
int host_api_db_audit(tn_request *req, const char *action, const char *target_type,
                      const char *target_id, const char *result);

#endif
