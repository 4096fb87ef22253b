/*
 * tanomu/api.h - the function table through which a plugin reaches the host.
 *
 * The host passes a `const tn_api *` to the plugin's init().  The table
 * starts with its size and ABI version; functions are only ever appended
 * (taking the place of a reserved slot), so a plugin built against an older
 * SDK keeps working, and a plugin can detect an optional function with
 * TN_API_HAS() before calling it.  Modelled on SQLite's sqlite3_api_routines.
 *
 * Threading: every function runs on the worker's event loop thread, that is
 * from init(), a hook, a handler, a timer, an event handler or a work
 * completion callback.  A work function running in the thread pool must not
 * call into the table.
 */
#ifndef TANOMU_API_H
#define TANOMU_API_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_request tn_request; /* one HTTP request, valid until finished */
typedef struct tn_timer tn_timer;
typedef struct tn_metric tn_metric;
typedef struct tn_db_result tn_db_result; /* valid during the callback only */
typedef struct tn_delivery tn_delivery;   /* one durable event delivery */

/* Return codes of API calls: 0 is success, negative is an error. */
#define TN_OK 0
#define TN_EINVAL -1 /* bad argument (e.g. CR or LF in a header value) */
#define TN_ENOMEM -2
#define TN_ESTATE -3 /* not allowed now (e.g. header after body sent) */
#define TN_EEXIST -4 /* already registered */
#define TN_ENOTFOUND -5
#define TN_ECANCELED -6 /* work cancelled (the worker is stopping) */
/* Database results (ABI 1.1), see db_status(). */
#define TN_EDB_UNAVAILABLE                                                                         \
    -10 /* no connection now (down, pool full, wait
                                  timed out): answer 503, retry later */
#define TN_EDB_QUERY                                                                               \
    -11                    /* the server refused the statement: see
                                  db_sqlstate(); the transaction is aborted */
#define TN_EDB_ABORTED -12 /* commit of a failed transaction: rolled back */
#define TN_EDB_UNKNOWN                                                                             \
    -13 /* the connection was lost during commit: the
                                  transaction MAY HAVE COMMITTED.  Do not treat
                                  it as "nothing happened"; resp_db_error()
                                  answers 500 "commit_unknown" (no Retry-After).
                                  Make such writes idempotent (see db_commit). */

/* What a hook or handler tells the host. */
typedef enum tn_status {
    TN_CONTINUE = 0, /* go on with the next hook / phase */
    TN_DONE = 1,     /* the response is ready: skip to the response phase */
    TN_SUSPEND = 2,  /* I will call api->req_resume() later */
    TN_ERROR = 3     /* answer 500; the host logs it against the plugin */
} tn_status;

/* Request phases, in the order they run.  Within a phase, plugins run in
 * the order their before/after declarations give. */
typedef enum tn_phase {
    TN_PHASE_EARLY = 0,        /* before anything: WAF, rate limits */
    TN_PHASE_AUTHENTICATE = 1, /* establish the principal */
    TN_PHASE_AUTHORIZE = 2,    /* after the host's route access check */
    TN_PHASE_HANDLE = 3,       /* just before the route handler */
    TN_PHASE_RESPONSE = 4,     /* before the response head is sent */
    TN_PHASE_COUNT = 5
} tn_phase;

/* Who may call a route; enforced by the host after TN_PHASE_AUTHENTICATE,
 * failing closed: 401 without a principal, 403 without a listed role. */
typedef enum tn_access {
    TN_ACCESS_PUBLIC = 0,
    TN_ACCESS_AUTHENTICATED = 1,
    TN_ACCESS_ROLES = 2 /* roles: comma-separated, any one suffices */
} tn_access;

typedef enum tn_log_level {
    TN_LOG_DEBUG = 0,
    TN_LOG_INFO = 1,
    TN_LOG_WARN = 2,
    TN_LOG_ERROR = 3
} tn_log_level;

/* An event as delivered to a subscriber.  Read-only; valid during the call. */
typedef struct tn_event {
    uint32_t size; /* sizeof(tn_event) */
    const char *name;
    const char *tenant_id; /* NULL for events not bound to a tenant */
    const char *payload;   /* JSON text */
    size_t payload_len;
    /* ABI 1.1: read only if size says they are there. */
    int64_t id;  /* outbox id of a durable event, else 0 */
    int attempt; /* 1 for the first delivery */
} tn_event;

typedef tn_status (*tn_hook_fn)(tn_plugin *self, tn_request *req, void *ud);
typedef void (*tn_event_fn)(tn_plugin *self, const tn_event *ev, void *ud);
typedef void (*tn_timer_fn)(tn_plugin *self, void *ud);
typedef void (*tn_work_fn)(void *ud);                  /* thread pool */
typedef void (*tn_work_done_fn)(void *ud, int status); /* loop; status 0 or cancelled */
typedef void (*tn_write_done_fn)(tn_request *req, int status, void *ud);
/* A database statement's result; the request is still yours. */
typedef void (*tn_db_fn)(tn_request *req, const tn_db_result *res, void *ud);
/* A durable event: TN_CONTINUE delivered, TN_ERROR retry later,
 * TN_SUSPEND "I will call delivery_done()". */
typedef tn_status (*tn_durable_fn)(tn_plugin *self, const tn_event *ev, tn_delivery *d, void *ud);

struct tn_api {
    uint32_t size; /* sizeof(tn_api) as the host built it */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* -- about the host and the plugin ---------------------------------- */
    const char *(*host_version)(void);
    const char *(*plugin_name)(const tn_plugin *self);
    void (*log)(tn_plugin *self, tn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /* -- registration (from init() only) -------------------------------- */
    /* method: "GET", "POST", ...; pattern: "/orders/:id" binds a segment,
     * a last segment "*name" binds the rest of the path.  A route answers
     * only for tenants that enable the plugin. */
    int (*route_add)(tn_plugin *self, const char *method, const char *pattern, tn_access access,
                     const char *roles, tn_hook_fn handler, void *ud);
    int (*hook_add)(tn_plugin *self, tn_phase phase, tn_hook_fn fn, void *ud);
    int (*event_subscribe)(tn_plugin *self, const char *name, tn_event_fn fn, void *ud);
    /* Counters and gauges: exported as tanomu_plugin_<plugin>_<name>
     * with a tenant label.  name matches [a-z][a-z0-9_]{0,47}. */
    tn_metric *(*metric_counter)(tn_plugin *self, const char *name, const char *help);
    tn_metric *(*metric_gauge)(tn_plugin *self, const char *name, const char *help);

    /* -- anytime on the loop -------------------------------------------- */
    void (*metric_add)(tn_metric *m, const char *tenant_id, int64_t delta);
    void (*metric_set)(tn_metric *m, const char *tenant_id, int64_t value);
    /* Deliver asynchronously to every subscriber whose plugin the tenant
     * enables (tenant_id NULL: to every subscriber). */
    int (*event_publish)(tn_plugin *self, const char *tenant_id, const char *name,
                         const char *payload_json);
    tn_timer *(*timer_start)(tn_plugin *self, uint64_t after_ms, uint64_t repeat_ms, tn_timer_fn fn,
                             void *ud);
    void (*timer_stop)(tn_timer *timer);
    /* Run work(ud) in the thread pool, then done(ud, status) on the loop. */
    int (*work_queue)(tn_plugin *self, tn_work_fn work, tn_work_done_fn done, void *ud);

    /* -- settings ------------------------------------------------------- */
    const tn_config *(*req_config)(tn_request *req, const tn_plugin *self);
    const char *(*config_tenant)(const tn_config *cfg);
    const char *(*config_str)(const tn_config *cfg, const char *key);
    int64_t (*config_int)(const tn_config *cfg, const char *key);
    int (*config_bool)(const tn_config *cfg, const char *key);
    double (*config_float)(const tn_config *cfg, const char *key);
    int (*config_is_set)(const tn_config *cfg, const char *key);
    /* From check(): report an error at the line of `key` (NULL: section). */
    void (*check_error)(tn_check *chk, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /* -- the request ---------------------------------------------------- */
    const char *(*req_method)(const tn_request *req);
    const char *(*req_path)(const tn_request *req);  /* no query string */
    const char *(*req_query)(const tn_request *req); /* raw, "" if none */
    /* Percent-decoded query parameter; NULL if absent or not valid. */
    const char *(*req_query_param)(tn_request *req, const char *name);
    const char *(*req_header)(const tn_request *req, const char *name);
    const char *(*req_cookie)(tn_request *req, const char *name);
    const char *(*req_param)(const tn_request *req, const char *name);
    const void *(*req_body)(const tn_request *req, size_t *len);
    const char *(*req_tenant)(const tn_request *req);
    const char *(*req_id)(const tn_request *req);
    const char *(*req_client_addr)(const tn_request *req);
    const char *(*req_route)(const tn_request *req); /* matched pattern */
    int (*req_is_tls)(const tn_request *req);
    /* The principal: set by an authenticate hook, checked by the host. */
    int (*req_set_principal)(tn_request *req, const char *user_id, const char *roles);
    const char *(*req_principal)(const tn_request *req);
    int (*req_has_role)(const tn_request *req, const char *role);
    /* Memory freed with the request. */
    void *(*req_alloc)(tn_request *req, size_t n);
    char *(*req_strdup)(tn_request *req, const char *s);
    void (*req_log)(tn_request *req, tn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Continue a request whose hook returned TN_SUSPEND.  Exactly once.  It
     * runs the rest of the request before it returns: do not touch req
     * afterwards.  Called from inside the hook, it takes effect when the
     * hook returns. */
    void (*req_resume)(tn_request *req, tn_status status);
    /* True once the client has gone; the request still needs its resume. */
    int (*req_is_aborted)(const tn_request *req);

    /* -- the response --------------------------------------------------- */
    int (*resp_status)(tn_request *req, int status);
    /* Rejects names that are not HTTP tokens and values with CR, LF or
     * NUL (S7), and headers the host owns (Content-Length, Date, ...). */
    int (*resp_header)(tn_request *req, const char *name, const char *value);
    /* Appends to the body.  Status is 200..599.  Content-Type may be set
     * once; a charset is added if it has none (S5). */
    int (*resp_body)(tn_request *req, const void *data, size_t len);
    /* Sets status, Content-Type: application/json; charset=utf-8, body. */
    int (*resp_json)(tn_request *req, int status, const char *json);
    /* {"error": {"code": code, "message": message}}, escaped. */
    int (*resp_error)(tn_request *req, int status, const char *code, const char *message);
    /* Streaming: send the head now (chunked), then write pieces, then end.
     * done (optional) runs when the piece has left the process. */
    int (*resp_stream_begin)(tn_request *req);
    int (*resp_write)(tn_request *req, const void *data, size_t len, tn_write_done_fn done,
                      void *ud);
    int (*resp_end)(tn_request *req);

    /* -- ABI 1.1 ---------------------------------------------------------- */
    /* A tenant's settings for this plugin outside a request (timers,
     * events); NULL if the tenant does not exist. */
    const tn_config *(*tenant_config)(const tn_plugin *self, const char *tenant_id);

    /* The database.  Statements run in the request's transaction, which the
     * host begins on first use and binds to the request's tenant, so
     * row-level security confines every statement to that tenant (S21).
     * Values travel only as $1..$n parameters: there is no call that puts
     * a value into SQL text (S1).  cb runs later on the loop (never inside
     * db_query); the handler typically returns TN_SUSPEND and calls
     * req_resume() from the last callback.  A transaction not committed
     * when the request ends is rolled back. */
    /* Parameters are C strings: a value with a NUL byte must be refused
     * (or encoded) by the plugin.  Transaction control, SET and set_config
     * are the host's and are refused (TN_EINVAL). */
    int (*db_query)(tn_request *req, const char *sql, int nparams, const char *const *params,
                    tn_db_fn cb, void *ud);
    /* Commit outcomes: TN_OK committed; TN_EDB_ABORTED, TN_EDB_QUERY (e.g.
     * a deferred constraint) and TN_EDB_UNAVAILABLE (lost before COMMIT was
     * sent) rolled back; TN_EDB_UNKNOWN: the connection broke during
     * COMMIT and nobody can tell whether it was applied.  A client that
     * retries after that may apply the change twice, so make writes
     * idempotent: take an idempotency key from the client (a header or a
     * field) and store it under a unique constraint in the same
     * transaction, so a repeat finds it (23505) instead of writing again;
     * or write with INSERT ... ON CONFLICT DO NOTHING on a natural key. */
    int (*db_commit)(tn_request *req, tn_db_fn cb, void *ud);
    int (*db_rollback)(tn_request *req, tn_db_fn cb, void *ud);
    int (*db_status)(const tn_db_result *res);           /* TN_OK or TN_EDB_* */
    const char *(*db_sqlstate)(const tn_db_result *res); /* "" if none */
    const char *(*db_message)(const tn_db_result *res);  /* "" if none */
    int (*db_rows)(const tn_db_result *res);
    int (*db_cols)(const tn_db_result *res);
    const char *(*db_colname)(const tn_db_result *res, int col);
    const char *(*db_value)(const tn_db_result *res, int row, int col); /* NULL: SQL NULL */
    int64_t (*db_affected)(const tn_db_result *res);
    /* Answers a failed result: 503 + Retry-After when unavailable or on a
     * statement timeout, 500 "commit_unknown" (no Retry-After) when the
     * commit's outcome is unknown, 400 when the input does not fit
     * (SQLSTATE class 22), 409 on a unique violation, 422 when a privilege
     * or integrity rule refused the change, else 500.  Only the SQLSTATE is
     * logged. */
    int (*resp_db_error)(tn_request *req, const tn_db_result *res);
    /* A durable event, written to the outbox in the request's transaction:
     * it exists if and only if the transaction commits, and is delivered at
     * least once to durable subscribers, with retries. */
    int (*db_publish)(tn_request *req, const char *name, const char *payload_json);
    /* An operation log entry (S20) in the request's transaction: tenant,
     * user, client address and request id come from the request. */
    int (*db_audit)(tn_request *req, const char *action, const char *target_type,
                    const char *target_id, const char *result);
    int (*event_subscribe_durable)(tn_plugin *self, const char *name, tn_durable_fn fn, void *ud);
    /* Ends a delivery suspended with TN_SUSPEND: ok, or retry later. */
    void (*delivery_done)(tn_delivery *d, int ok, const char *error);

    /* Spare slots: later minors put functions here, so sizeof(tn_api)
     * stays the same and older plugins keep their offsets. */
    void (*reserved[22])(void);
};

/* True if the host's table has member `fn` and it is filled in. */
#define TN_API_HAS(api, fn)                                                                        \
    ((api)->size >= offsetof(tn_api, fn) + sizeof((api)->fn) && (api)->fn != NULL)

#ifdef __cplusplus
}
#endif
#endif
