/*
 * tanomu/api.h - the function table through which a plugin reaches the host.
 *
 * The host passes a `const tn_api *` to the plugin's init().  The table
 * starts with its size and ABI version; functions are only ever appended
 * (taking the place of a reserved slot, or after the slots), so no member
 * ever moves (tests/sdk/abi_layout.txt holds every offset), a plugin built
 * against an older SDK keeps working, and a plugin can detect an optional
 * function with TN_API_HAS() before calling it.  Modelled on SQLite's
 * sqlite3_api_routines.
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
/* ABI 1.2 */
typedef struct tn_tx tn_tx;           /* a tenant-bound transaction outside a request */
typedef struct tn_call tn_call;       /* one outbound call in flight */
typedef struct tn_limit tn_limit;     /* a rate-limit zone shared by the node's workers */
typedef struct tn_job_run tn_job_run; /* one run of a scheduled job */
typedef struct tn_command tn_command; /* one run of a plugin's CLI command */

/* Return codes of API calls: 0 is success, negative is an error. */
#define TN_OK 0
#define TN_EINVAL -1 /* bad argument (e.g. CR or LF in a header value) */
#define TN_ENOMEM -2
#define TN_ESTATE -3 /* not allowed now (e.g. header after body sent) */
#define TN_EEXIST -4 /* already registered */
#define TN_ENOTFOUND -5
#define TN_ECANCELED -6 /* work cancelled (the worker is stopping) */
/* Database results (ABI 1.1), see db_status(). */
/* No connection now (down, pool full, wait timed out): answer 503, retry
 * later. */
#define TN_EDB_UNAVAILABLE -10
/* The server refused the statement: see db_sqlstate(); the transaction is
 * aborted. */
#define TN_EDB_QUERY -11
#define TN_EDB_ABORTED -12 /* commit of a failed transaction: rolled back */
/* The connection was lost during commit: the transaction MAY HAVE
 * COMMITTED.  Do not treat it as "nothing happened"; resp_db_error() answers
 * 500 "commit_unknown" (no Retry-After).  Make such writes idempotent (see
 * db_commit). */
#define TN_EDB_UNKNOWN -13

/* Outbound calls and secrets (ABI 1.2); see http_call(), secret_unseal(). */
#define TN_EPOLICY -20   /* refused by the egress policy (scheme, address, port) */
#define TN_ETIMEDOUT -21 /* the call's timeout passed */
#define TN_ETOOBIG -22   /* the response passed the size cap: cut, not delivered */
#define TN_ENETWORK -23  /* DNS, connect, TLS or protocol failure: see the message */
#define TN_EBUSY -24     /* the plugin's outbound queue is full: try later */
/* A sealed value does not open: wrong tenant, plugin or key, or tampered
 * with; or no usable key. */
#define TN_ESEAL -25

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

/* ---- ABI 1.2 types ------------------------------------------------------ */

/* A statement's result in a transaction outside a request (tx_*). */
typedef void (*tn_tx_fn)(tn_tx *tx, const tn_db_result *res, void *ud);

/* One HTTP header, for outbound requests and responses. */
typedef struct tn_http_header {
    const char *name;
    const char *value;
} tn_http_header;

/* An outbound HTTP(S) request.  Copied by http_call(): nothing needs to
 * outlive the call to http_call() itself.  Zero members take defaults. */
typedef struct tn_http_request {
    uint32_t size;      /* sizeof(tn_http_request) */
    const char *method; /* NULL: GET, or POST when there is a body */
    const char *url;    /* https://... (others only through outbound.allow) */
    const tn_http_header *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
    uint32_t timeout_ms;     /* whole call; 0: 10 s; capped by outbound.max_timeout_ms */
    size_t max_response;     /* body cap in bytes; 0: outbound.max_response */
    uint32_t max_redirects;  /* 0: redirects are answers; else follow up to this
                                many, each hop re-checked by the egress policy */
    const char *tenant_id;   /* for the log line and metrics; may be NULL */
    const void *reserved[4]; /* zero */
} tn_http_request;

/* What an outbound call gives its callback.  Valid during the call only. */
typedef struct tn_http_response {
    uint32_t size;                 /* sizeof(tn_http_response) as the host built it */
    int result;                    /* TN_OK (any HTTP status), or TN_EPOLICY, TN_ETIMEDOUT,
                                      TN_ETOOBIG, TN_ENETWORK, TN_ECANCELED */
    const char *error;             /* why, when result is not TN_OK (curl's message or
                                      the policy's reason); "" otherwise */
    int status;                    /* HTTP status of the last hop; 0 if none */
    const tn_http_header *headers; /* of the last hop, names lower-case */
    size_t nheaders;
    const char *body; /* NUL-terminated for convenience; body_len excludes it */
    size_t body_len;
    uint64_t duration_ms;
} tn_http_response;

typedef void (*tn_http_fn)(tn_plugin *self, const tn_http_response *res, void *ud);
/* A libcurl easy handle the host ran for the plugin (curl_run).  result is
 * TN_OK, TN_EPOLICY, TN_ETIMEDOUT, TN_ENETWORK or TN_ECANCELED; curl_code
 * is libcurl's own CURLcode.  The handle is the plugin's again: it frees it. */
typedef void (*tn_curl_fn)(tn_plugin *self, void *easy, int result, int curl_code,
                           const char *error, void *ud);

/* A scheduled job.  Either every_s (an interval, ticks aligned to the
 * epoch) or at (calendar: "HH:MM" daily, or "wed HH:MM" weekly) in tz. */
typedef struct tn_job_spec {
    uint32_t size;    /* sizeof(tn_job_spec) */
    const char *name; /* [a-z][a-z0-9_]{0,47}, unique in the plugin */
    uint32_t every_s; /* interval in seconds, or 0 for `at` */
    const char *at;   /* calendar rule, or NULL */
    const char *tz;   /* IANA zone for `at`; NULL: Asia/Tokyo */
    int per_tenant;   /* 0: one run per tick; 1: one per enabling tenant */
    uint32_t lease_s; /* a run not ended by then is retried; 0: 300 */
    const void *reserved[4];
} tn_job_spec;

/* A job's run: TN_CONTINUE ended ok, TN_ERROR failed (the error is what
 * last_error or job_done gives), TN_SUSPEND "I will call job_done()". */
typedef tn_status (*tn_job_fn)(tn_plugin *self, tn_job_run *run, void *ud);

/* Called for each request header, in arrival order; non-zero stops. */
typedef int (*tn_header_fn)(const char *name, const char *value, void *ud);

/* ---- ABI 1.2: CLI commands ------------------------------------------------ */

/* command_add flag: read standard input fully (at most TN_COMMAND_STDIN_MAX
 * bytes) before the run.  A secret comes this way, never through argv. */
#define TN_COMMAND_STDIN 1u
#define TN_COMMAND_STDIN_MAX (64 * 1024)

/* What `tanomu NAME ARGS...` gives the command.  Valid during the run,
 * until command_done (or the fn's non-suspending return). */
typedef struct tn_command_args {
    uint32_t size;           /* sizeof(tn_command_args) as the host built it */
    int argc;                /* the arguments after the command's name */
    const char *const *argv; /* argv[argc] is NULL */
    const char *stdin_data;  /* with TN_COMMAND_STDIN: what stdin held, NUL-
                                 terminated (stdin_len excludes it); else NULL */
    size_t stdin_len;
    const void *reserved[4]; /* zero */
} tn_command_args;

/* A command's run, on the CLI process's loop with the plugin initialised
 * and a database pool: tx_*, work_queue, timers work as in a worker.
 * TN_CONTINUE succeeded, TN_ERROR failed (the message: last_error), or
 * TN_SUSPEND "I will call command_done()". */
typedef tn_status (*tn_command_fn)(tn_plugin *self, tn_command *cmd, const tn_command_args *args,
                                   void *ud);

/* ---- ABI 1.2: how the principal authenticated, and route options ------- */

/* A name and a value (an attribute of the principal). */
typedef struct tn_attr {
    const char *name;
    const char *value;
} tn_attr;

#define TN_AUTH_MAX_ATTRS 16

/* How and when the principal authenticated.  The authenticate hook that
 * set the principal passes it to req_set_auth(), which copies it; anyone
 * later reads the copy with req_auth().  The host enforces route options
 * (tn_route_opts) against auth_time and mfa_passed. */
typedef struct tn_auth_info {
    uint32_t size;            /* sizeof(tn_auth_info) */
    const char *method;       /* "password", "line", "api_token", ...: [a-z0-9_]{1,32} */
    int64_t auth_time;        /* when the user last proved who they are (login or
                                 re-authentication), Unix seconds; 0: unknown */
    int mfa_passed;           /* non-zero: a second factor was passed in this session */
    const char *session_hash; /* hex (at most 128 digits) of the session ID's hash, or NULL */
    const tn_attr *attrs;     /* e.g. {"buyer_id", "b-17"}: names [a-z][a-z0-9_]{0,47},
                                 unique; values printable (no CR, LF, NUL) */
    size_t nattrs;            /* at most TN_AUTH_MAX_ATTRS */
    const void *reserved[4];  /* zero */
} tn_auth_info;

/* The value of attribute `name` in a (NULL-safe), or NULL. */
static inline const char *tn_auth_attr(const tn_auth_info *a, const char *name)
{
    size_t i, k;

    for (i = 0; a && name && a->attrs && i < a->nattrs; i++) {
        const char *n = a->attrs[i].name;
        for (k = 0; n && n[k] && n[k] == name[k]; k++)
            ;
        if (n && n[k] == '\0' && name[k] == '\0')
            return a->attrs[i].value;
    }
    return NULL;
}

/* What a route demands of how the principal authenticated, beyond its
 * access level.  Zero members demand nothing.  A host that does not know
 * an option a plugin sets (a non-zero reserved slot, or a larger size with
 * non-zero bytes past what it knows) refuses the route: never ignored. */
typedef struct tn_route_opts {
    uint32_t size;           /* sizeof(tn_route_opts) */
    int need_mfa;            /* non-zero: 401 "mfa_required" unless mfa_passed */
    uint32_t max_auth_age_s; /* non-zero: 401 "reauth_required" unless the
                                principal authenticated at most this long ago */
    const void *reserved[4]; /* zero */
} tn_route_opts;

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
     * with a tenant label (none at all for tenant_id NULL).  name matches
     * [a-z][a-z0-9_]{0,47}.  NULL: bad or taken name, or out of memory. */
    tn_metric *(*metric_counter)(tn_plugin *self, const char *name, const char *help);
    tn_metric *(*metric_gauge)(tn_plugin *self, const char *name, const char *help);

    /* -- anytime on the loop -------------------------------------------- */
    void (*metric_add)(tn_metric *m, const char *tenant_id, int64_t delta);
    void (*metric_set)(tn_metric *m, const char *tenant_id, int64_t value);
    /* Deliver asynchronously to every subscriber whose plugin the tenant
     * enables (tenant_id NULL: to every subscriber), in this worker
     * process only: other workers and nodes never see a plain event. */
    int (*event_publish)(tn_plugin *self, const char *tenant_id, const char *name,
                         const char *payload_json);
    /* A timer of this worker: every worker's init() starts its own, so it
     * fires once per worker (use a job for once per cluster).  A one-shot
     * timer stays allocated until timer_stop (or the worker ends). */
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
    /* Strings returned here live until the request finishes. */
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
    /* The principal: set by an authenticate hook, once (a second call, or
     * one outside TN_PHASE_AUTHENTICATE, is TN_ESTATE); checked by the host. */
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
     * events); NULL if the tenant does not exist.  Valid until fini(). */
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
     * (or encoded) by the plugin.  Transaction and session control (BEGIN,
     * COMMIT, SET, RESET, LISTEN, DO, ... as the first keyword), set_config
     * and U& escapes are the host's and are refused (TN_EINVAL). */
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
     * or write with INSERT ... ON CONFLICT DO NOTHING on a natural key.
     * With nothing begun, commit and rollback return TN_OK and cb still
     * runs later with TN_OK.  A statement, commit or rollback asked after
     * commit or rollback was asked, before its answer: TN_ESTATE at once,
     * and its cb never runs. */
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
    /* Answers a failed result, in this order: 500 "commit_unknown" (no
     * Retry-After) when the commit's outcome is unknown; 503
     * "database_unavailable" + Retry-After: 1 when unavailable; 503
     * "database_timeout" + Retry-After: 1 on a statement timeout (57014);
     * 400 "invalid_input" when the input does not fit (class 22); 409
     * "conflict" on a unique violation (23505); 422 "refused" when a
     * privilege (42501) or another integrity rule (class 23) refused the
     * change; else 500 "internal".  commit_unknown, database_timeout,
     * refused and internal are logged at error level with the request id:
     * the status and SQLSTATE only, never db_message() (S16). */
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

    /* -- ABI 1.2 ---------------------------------------------------------- */
    /* Every 1.2 call that fails sets the plugin's last error message: ""
     * if none; valid until the plugin's next failing 1.2 call. */
    const char *(*last_error)(const tn_plugin *self);
    /* Every request header in arrival order (a WAF inspects them all),
     * names as sent, repeats apart: fn's first non-zero return stops the
     * walk and is returned; else TN_OK.  TN_EINVAL: req or fn NULL. */
    int (*req_header_each)(const tn_request *req, tn_header_fn fn, void *ud);
    /* The plugin's own settings from tanomu.conf's plugins.NAME section
     * (plugin-wide, not per tenant), by desc->global_settings; never NULL
     * from init() on (no section: the defaults); valid until fini(). */
    const tn_config *(*plugin_config)(const tn_plugin *self);
    /* Free memory the host returned to the plugin (secret_seal/unseal). */
    void (*free)(void *p);

    /* Outbound calls (docs/sdk.md "Outbound calls").  cb runs once, later
     * on the loop, never inside http_call.  With req non-NULL the call
     * belongs to the request: a client that goes away cancels it (cb gets
     * TN_ECANCELED).  *out (may be NULL) can be passed to call_cancel until
     * cb runs. */
    int (*http_call)(tn_plugin *self, tn_request *req, const tn_http_request *r, tn_http_fn cb,
                     void *ud, tn_call **out);
    void (*call_cancel)(tn_call *call);
    /* Run a libcurl easy handle (CURL *) the plugin set up (SMTP, FTPS,
     * SFTP): the host sets the egress policy's options last, so they win. */
    int (*curl_run)(tn_plugin *self, tn_request *req, void *easy, tn_curl_fn cb, void *ud,
                    tn_call **out);

    /* Sealed secrets (S18), AEAD with tenant and plugin as associated
     * data.  *out is NUL-terminated text to store; free it with free(). */
    int (*secret_seal)(tn_plugin *self, const char *tenant_id, const void *plain, size_t len,
                       char **out);
    /* *out (free with free()) is NUL-terminated; *stale is set to 1 when
     * the value was sealed under an older key: seal it again on the next
     * write.  TN_ESEAL: it does not open. */
    int (*secret_unseal)(tn_plugin *self, const char *tenant_id, const char *sealed, void **out,
                         size_t *len, int *stale);

    /* Rate limits: a zone declared at init() (rate per second, burst,
     * memory), shared by the node's workers and kept across reloads. */
    tn_limit *(*limit_zone)(tn_plugin *self, const char *name, double rate, uint32_t burst,
                            size_t mem_bytes);
    /* 1 allowed (cost taken), 0 limited (*retry_ms: wait until allowed),
     * negative on error.  tenant_id may be NULL. */
    int (*limit_take)(tn_limit *zone, const char *tenant_id, const char *key, uint32_t cost,
                      uint64_t *retry_ms);

    /* Transactions outside a request (timers, jobs, deliveries): bound to
     * tenant_id (NULL: to no tenant, so RLS shows no tenant rows), begun on
     * the first statement, rolled back unless committed.  tx_commit and
     * tx_rollback end the handle after their callback. */
    int (*tx_begin)(tn_plugin *self, const char *tenant_id, tn_tx **out);
    int (*tx_query)(tn_tx *tx, const char *sql, int nparams, const char *const *params, tn_tx_fn cb,
                    void *ud);
    int (*tx_commit)(tn_tx *tx, tn_tx_fn cb, void *ud);
    int (*tx_rollback)(tn_tx *tx, tn_tx_fn cb, void *ud);
    int (*tx_publish)(tn_tx *tx, const char *name, const char *payload_json);
    /* The delivery's own transaction: what it runs commits together with
     * the acknowledgement in delivery_done(d, 1, ...), or not at all. */
    tn_tx *(*delivery_tx)(tn_delivery *d);

    /* Scheduled jobs, run once per tick across every worker and node. */
    int (*job_schedule)(tn_plugin *self, const tn_job_spec *spec, tn_job_fn fn, void *ud);
    const char *(*job_tenant)(const tn_job_run *run); /* NULL for a global job */
    int64_t (*job_tick)(const tn_job_run *run);       /* the tick, Unix seconds */
    void (*job_done)(tn_job_run *run, int ok, const char *error);
    /* The plugin's own run history in tx (newest first): columns job,
     * tenant_id, tick, started_at, ended_at, result, error. */
    int (*job_history)(tn_tx *tx, tn_plugin *self, const char *job, int limit, tn_tx_fn cb,
                       void *ud);

    /* Interfaces one plugin serves to others (from init()).  table starts
     * with a uint32_t size; the consumer lists the provider in depends. */
    int (*iface_export)(tn_plugin *self, const char *name, uint32_t version, const void *table);
    const void *(*iface_get)(tn_plugin *self, const char *name, uint32_t min_version);

    /* Authentication details and route options (docs/sdk.md).  As
     * route_add, plus opts (NULL: none).  Options need an access level
     * other than TN_ACCESS_PUBLIC (TN_EINVAL): they are checked after the
     * access check, so an anonymous request stays 401 "unauthenticated". */
    int (*route_add_opts)(tn_plugin *self, const char *method, const char *pattern,
                          tn_access access, const char *roles, tn_hook_fn handler, void *ud,
                          const tn_route_opts *opts);
    /* From TN_PHASE_AUTHENTICATE, once, after req_set_principal (else
     * TN_ESTATE): how the principal authenticated, copied into the request.
     * TN_EINVAL: info NULL, too small a size, or a field out of its rules.
     * Without it, a route with options refuses the principal (fail closed). */
    int (*req_set_auth)(tn_request *req, const tn_auth_info *info);
    /* The request's copy (size as the host built it), valid until the
     * request finishes; NULL when none was set. */
    const tn_auth_info *(*req_auth)(const tn_request *req);

    /* CLI commands (docs/sdk.md "CLI commands").  From init() only:
     * `tanomu NAME ...` runs fn when NAME is not a built-in command
     * (TN_EEXIST for a built-in's name or one another plugin took).  name:
     * [a-z][a-z0-9-]{0,31}; usage: one line for `tanomu help`; flags:
     * TN_COMMAND_STDIN or 0. */
    int (*command_add)(tn_plugin *self, const char *name, const char *usage, unsigned flags,
                       tn_command_fn fn, void *ud);
    /* Ends a run: ok (exit status 0) or not (1); message (may be NULL) is
     * printed, on stdout when ok, on stderr when not.  Once; from the fn
     * itself or later on the loop. */
    void (*command_done)(tn_command *cmd, int ok, const char *message);

    /* An operation log entry (S20) in a transaction outside a request
     * (tx_begin, delivery_tx): tenant from the transaction (TN_EINVAL
     * without one), user_id = actor (may be NULL), no client address or
     * request id.  Written if and only if tx commits.  TN_EINVAL: action
     * empty or over 128 bytes, result not "ok", "denied" or "failed". */
    int (*tx_audit)(tn_tx *tx, const char *actor, const char *action, const char *target_type,
                    const char *target_id, const char *result);

    /* Spare slots: later minors put functions here.  A table that grows
     * past them only grows: members never move (see the ABI layout test). */
    void (*reserved[10])(void);
};

/* True if the host's table has member `fn` and it is filled in. */
#define TN_API_HAS(api, fn)                                                                        \
    ((api)->size >= offsetof(tn_api, fn) + sizeof((api)->fn) && (api)->fn != NULL)

#ifdef __cplusplus
}
#endif
#endif
