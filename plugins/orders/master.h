/*
 * master.h - what buyers.c and products.c share: one master-data resource
 * (a table with a code, a name, a kana and a version) described by a
 * master_kind, and the routes every such resource has, run by master.c:
 * list (search over search_text, ?active=, cursor by code), read, create
 * (201 + ETag + Location, 409 on a duplicate code) and update (If-Match,
 * 412 on a stale version, the version bumped only when something changed),
 * each write audited and published through the outbox in its transaction.
 */
#ifndef ORDERS_MASTER_H
#define ORDERS_MASTER_H

#include "normalize.h"
#include "orders.h"

typedef struct master_kind {
    const char *name;         /* "buyer": target type, messages */
    const char *path;         /* "/api/v1/buyers" */
    const char *audit_create; /* "orders.buyer.create" */
    const char *audit_update; /* "orders.buyer.update" */
    const char *event;        /* "buyer.changed" */
    orders_role list_min;     /* the weakest role that may list */
    int slot;                 /* 0 or 1: where master.c keeps its routes */
    int own_only;             /* a buyer reads only the object of its own code */
    /* Statements.  list: $1 q (folded, or NULL), $2 active ('true',
     * 'false' or NULL), $3 cursor code (or NULL), $4 page size + 1, then
     * $5 category and $6 the buyer's code when list_nparams says so;
     * columns (json text, code).  get: $1 code [, $2 buyer code]; one row
     * (json text, version).  lock: $1 code; (id, version, json of the
     * editable fields).  insert: $1 tenant, $2 the whole object as JSON;
     * update: $1 id, $2 the merged object; both return (json, version). */
    const char *sql_list;
    int list_nparams;
    const char *sql_get;
    int get_nparams;
    const char *sql_lock;
    const char *sql_insert;
    const char *sql_update;
    /* Checks in's fields (all required ones when create) and sets their
     * normalised values in out; each refusal added to *fields. */
    void (*validate)(const json_t *in, json_t *out, json_t **fields, int create);
    /* Values of fields create leaves out. */
    json_t *(*defaults)(void);
} master_kind;

/* Registers list, get, create and update of kind (routes need at least
 * the buyer role; each handler checks its own minimum).  0 or -1. */
int master_routes_add(orders_ctx *ctx, const master_kind *kind);

/* Validation helpers: each sets out[field] or adds a field error.
 * master_text keeps the text as typed (trimmed): names, addresses;
 * master_text_nfkc stores its NFKC (kana, postal code, phone, e-mail). */
void master_text(const json_t *in, json_t *out, json_t **fields, const char *field, int create,
                 long min, long max);
void master_text_nfkc(const json_t *in, json_t *out, json_t **fields, const char *field, int create,
                      long min, long max);
void master_kana(const json_t *in, json_t *out, json_t **fields, const char *field);
void master_code(const json_t *in, json_t *out, json_t **fields, int create);
void master_bool(const json_t *in, json_t *out, json_t **fields, const char *field);
/* A JSON integer (never a real or a string) from min to max. */
void master_int(const json_t *in, json_t *out, json_t **fields, const char *field, int create,
                long long min, long long max);

/* Answers 400 invalid_fields with fields (stolen). */
void master_invalid(orders_ctx *ctx, tn_request *req, json_t *fields);

/* The buyer code of a buyer caller, normalised, into out; 0, or -1 when
 * it is not a code (such a caller sees nothing). */
int master_own_code(const orders_caller *c, char out[ORDERS_CODE_MAX + 1]);

#endif
