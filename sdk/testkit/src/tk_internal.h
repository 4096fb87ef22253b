/*
 * tk_internal.h - the testkit's private structures, shared by its files.
 *
 * The testkit plays the host for plugins under test.  Everything it knows
 * hangs off one context, struct tk_kit: loaded plugins, what they
 * registered, the tenants' settings, requests, the virtual clock, what the
 * loop would run later, the fake database, metrics and the captured log.
 * Nothing is global.
 *
 * Where the host's rules are pure they are the host's own code, compiled
 * into the testkit from host/core: router.c (routes), schema.c (settings
 * and struct tn_config), http_util.c (headers, cookies, query strings,
 * error bodies, database answers), names.c (plugin, event, metric names),
 * access.c (route access, role lists) and buf.c.  This file keeps only
 * what a fake host needs on top.
 */
#ifndef TK_INTERNAL_H
#define TK_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tanomu/testkit.h"

#include "access.h"
#include "buf.h"
#include "http_util.h"
#include "names.h"
#include "rate_limit.h"
#include "router.h"
#include "schema.h"

/* A growable array of pointers; items keep their address when it grows. */
typedef struct tk_list {
    void **items;
    size_t n;
    size_t cap;
} tk_list;

int tk_list_push(tk_list *l, void *item);
void tk_list_remove_at(tk_list *l, size_t i);
void tk_list_clear(tk_list *l); /* frees the array, not the items */

/* Text helpers (util.c). */
char *tk_strdup(const char *s);
char *tk_strndup(const char *s, size_t n);
char *tk_vformat(const char *fmt, va_list ap);
char *tk_format(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* -- plugins ------------------------------------------------------------- */

struct tn_plugin {
    tk_kit *tk;
    tn_plugin_desc desc; /* what the plugin gave, at most desc.size bytes */
    size_t load_index;
    int failed; /* init() refused: treated as disabled everywhere */
    char last_error[256]; /* api->last_error(): the last failed 1.2 call */
    /* iface.c: the interfaces it exported */
    struct tk_iface *ifaces;
    /* api->plugin_config(), bound by plugin_settings.c */
    tn_config *global_cfg;
};

/* Records why a 1.2 call of plugin p failed, as the host's
 * host_plugin_fail does, and returns rc (last_error.c). */
int tk_plugin_fail(tn_plugin *p, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
const char *tk_api_last_error(const tn_plugin *p);
void tk_api_free(void *ptr);

/* -- registrations ------------------------------------------------------- */

typedef struct tk_hook {
    tn_plugin *plugin;
    tn_phase phase;
    tn_hook_fn fn;
    void *ud;
} tk_hook;

typedef struct tk_sub {
    tn_plugin *plugin;
    char *name;
    tn_event_fn fn;        /* event_subscribe() */
    tn_durable_fn durable; /* event_subscribe_durable() */
    void *ud;
} tk_sub;

typedef struct tk_series {
    char *tenant; /* NULL: no tenant label */
    int64_t value;
} tk_series;

struct tn_metric {
    tk_kit *tk;
    tn_plugin *plugin;
    char *name; /* exported: tanomu_plugin_<plugin>_<name> */
    int is_gauge;
    tk_list series;
};

struct tn_timer {
    tk_kit *tk;
    tn_plugin *plugin; /* NULL: the kit's own (delivery timeouts) */
    uint64_t due_ms;
    uint64_t repeat_ms;
    uint64_t seq; /* creation order breaks ties */
    int active;
    int stopped; /* timer_stop() was called: the handle is dead */
    tn_timer_fn fn;
    void *ud;
};

typedef struct tk_event_rec {
    char *name;
    char *tenant;
    char *payload;
} tk_event_rec;

/* -- what the loop runs later -------------------------------------------- */

typedef enum tk_pending_kind { TK_PENDING_WORK, TK_PENDING_WRITE, TK_PENDING_DB } tk_pending_kind;

typedef struct tk_db_op tk_db_op;

typedef struct tk_pending {
    tk_pending_kind kind;
    tn_plugin *plugin;        /* whose callback runs (NULL: the kit's) */
    tn_request *req;          /* WRITE, DB */
    tn_work_fn work;          /* WORK */
    tn_work_done_fn done;     /* WORK */
    tn_write_done_fn written; /* WRITE */
    tk_db_op *op;             /* DB */
    tn_tx *tx;                /* DB of a transaction outside a request */
    void *ud;
} tk_pending;

/* -- the database -------------------------------------------------------- */

/* A durable event: a row of the host's outbox table. */
typedef struct tk_outbox_row {
    tk_outbox_event ev; /* what the test reads; its strings are these: */
    char *tenant;
    char *name;
    char *payload;
    char *error; /* last_error */
    tk_kit *tk;
    /* while claimed by a tk_run_events() call, as one host batch */
    int claimed;
    int outstanding; /* deliveries not finished */
    int failed;      /* one of them failed */
    char *round_error;
    uint64_t last_run; /* the tk_run_events() call that claimed it last */
    tn_timer *timeout;
    tk_list deliveries; /* tn_delivery *, all rounds, freed with the row */
    tk_list acked;      /* tk_sub * whose delivery_tx committed with its ack */
} tk_outbox_row;

struct tn_delivery {
    tk_outbox_row *row;
    int done;
    void *sub; /* tk_sub *: the subscriber */
    tn_tx *tx; /* delivery_tx(), freed with the delivery */
};

typedef struct tk_audit_row {
    tk_audit_entry entry; /* points into text */
    char *text;           /* the entry's strings, one allocation */
} tk_audit_row;

/* A statement as the database received it. */
typedef struct tk_stmt {
    tk_db_stmt view; /* what the test reads; its strings are these: */
    char *tenant;
    char *sql;
    char **params;
} tk_stmt;

struct tn_db_result {
    int status; /* TN_OK or TN_EDB_* (TN_ESTATE: asked too late) */
    int ran;    /* a statement ran: the fields below mean something */
    char *sqlstate;
    char *message;
    int ncols;
    char **colnames;
    tk_list rows; /* char **, ncols values each (NULL: SQL NULL) */
    int64_t affected;
    int affected_set;
};

/* The request's transaction; it begins with the first statement. */
typedef struct tk_tx {
    int open;
    int ending;    /* commit or rollback asked */
    int failed;    /* 0, or how a statement failed: TN_EDB_QUERY or
                             TN_EDB_UNAVAILABLE */
    tk_list rows;  /* tk_outbox_row *, written in it */
    tk_list audit; /* tk_audit_row * */
} tk_tx;

/* A transaction outside a request (tx_begin, delivery_tx): tx.c. */
struct tn_tx {
    tk_kit *tk;
    tn_plugin *plugin;
    char *tenant; /* NULL: no tenant bound */
    tk_tx state;
    size_t pending; /* statements queued */
    int used;       /* a statement was accepted */
    int ended;      /* commit or rollback asked */
    tn_delivery *d; /* delivery_tx(): the host ends it with the delivery */
    int settle_ok;  /* the delivery's outcome being committed (1) or not */
};

/* -- settings ------------------------------------------------------------ */

/* One plugin's section of one tenant, as the test wrote it. */
typedef struct tk_section {
    tn_plugin *plugin;
    char *tenant;
    tk_list keys;   /* char *, in the order first set */
    tk_list values; /* char *, same index */
} tk_section;

/* One plugin for one tenant, as the host's host_feature: every tenant a
 * section names gets one for every plugin. */
typedef struct tk_feature {
    tn_plugin *plugin;
    char *tenant; /* cfg->tenant_id points here */
    int enabled;
    tn_config *cfg; /* NULL when its section had errors */
} tk_feature;

typedef struct tk_generation {
    tk_list features; /* tk_feature * */
} tk_generation;

typedef struct tk_cfg_error {
    char *plugin;
    char *tenant;
    char *key; /* NULL: the section as a whole */
    char *message;
} tk_cfg_error;

struct tn_check {
    tk_kit *tk;
    tn_plugin *plugin;
    const char *tenant;
    size_t reported;
};

/* -- requests ------------------------------------------------------------ */

typedef enum tk_req_state {
    TK_REQ_NEW,
    TK_REQ_RUNNING,
    TK_REQ_SUSPENDED,
    TK_REQ_STREAMING, /* dispatch is over, the stream is still open */
    TK_REQ_FINISHED
} tk_req_state;

typedef enum tk_step {
    TK_STEP_EARLY,
    TK_STEP_ROUTE,
    TK_STEP_AUTHENTICATE,
    TK_STEP_ACCESS,
    TK_STEP_AUTHORIZE,
    TK_STEP_HANDLE,
    TK_STEP_HANDLER,
    TK_STEP_RESPONSE,
    TK_STEP_FINISH
} tk_step;

typedef struct tk_pair {
    char *name;
    char *value;
} tk_pair;

typedef struct tk_block {
    struct tk_block *next;
    max_align_t data[];
} tk_block;

struct tn_request {
    tk_kit *tk;
    char *tenant;
    char *method;
    char *target;
    char *path;
    char *query;
    char *id;
    char *client_addr;
    int is_tls;
    int refused;     /* the host's server answers this status itself
                            (bad target, method it does not serve): no hook */
    tk_list headers; /* tk_pair * */
    char *body;
    size_t body_len;

    /* filled by dispatch */
    tk_generation *gen;
    tk_list hooks[TN_PHASE_COUNT];       /* tk_hook *, enabled ones, in order */
    host_match match;                    /* the route, by the host's router */
    char *params[HOST_ROUTE_MAX_PARAMS]; /* decoded, in the arena */
    char *user;
    char *roles;
    const tn_auth_info *auth; /* req_set_auth's copy, in the arena (ABI 1.2) */

    tk_req_state state;
    tk_step step;
    size_t hook_i;
    tn_plugin *in_call; /* the plugin whose hook runs on this request now */
    int early_resume;
    tn_status resume_status;
    int aborted;
    int released;   /* tk_req_free() was called while still in use */
    size_t pending; /* queued write callbacks and database statements */
    tk_tx tx;
    tk_block *arena;

    /* the response */
    int status;
    tk_list resp_headers; /* tk_pair * */
    host_buf resp_body;
    int head_sent;       /* streaming began */
    int resp_phase_done; /* RESPONSE hooks ran early, for a stream */
    int ended;           /* resp_end() was called */
    int broken;          /* an error after the head was sent */
};

/* -- the context --------------------------------------------------------- */

struct tk_kit {
    tn_api api;
    tk_list plugins;        /* tn_plugin *, load order */
    tk_list order;          /* tn_plugin *, order of before/after */
    tn_plugin *registering; /* the plugin whose init() runs */
    tn_plugin *current;     /* the plugin whose code runs now */

    host_router router;
    tk_list hooks;   /* tk_hook * */
    tk_list subs;    /* tk_sub *, event_subscribe() */
    tk_list dsubs;   /* tk_sub *, event_subscribe_durable() */
    tk_list metrics; /* tn_metric * */
    tk_list timers;  /* tn_timer * */
    tk_list pending; /* tk_pending *, in the order queued */
    tk_list events;  /* tk_event_rec *, every one published */
    size_t events_delivered;
    uint64_t event_runs; /* tk_run_events() calls */
    uint64_t now_ms;
    uint64_t timer_seq;

    tk_list sections; /* tk_section * */
    int dirty;        /* settings changed since the last tk_check() */
    tk_generation *live;
    tk_list generations; /* every generation, freed with the kit */
    tk_list errors;      /* tk_cfg_error *, of the last tk_check() */

    tk_list requests; /* tn_request * */
    uint64_t next_req_id;

    tk_db_fn db_fn;
    void *db_ud;
    tk_list txs;        /* tn_tx *, open, outside requests (tx.c) */
    tk_list stmts;      /* tk_stmt *, as received */
    tk_list outbox;     /* tk_outbox_row *, committed, by id */
    int64_t outbox_seq; /* the last id given, as a bigserial */
    int outbox_max_attempts;
    tk_list audit; /* tk_audit_row *, committed */

    tk_list logs; /* char * */
    int log_echo;
    struct host_keyring *keyring; /* secrets.c: made on first use */
    tk_list limits; /* tn_limit *, limits.c */
    struct tk_jobs *jobs; /* jobs.c: scheduled jobs and their runs */
    tk_list plugin_settings; /* tk_global_value *, tk_plugin_set() */
    struct tk_outbound *outbound; /* outbound.c: scripts and what was sent */
    tk_list commands;             /* commands.c: tk_command *, registered */
    tk_list command_runs;         /* commands.c: tn_command *, never ended */
    char *command_message;        /* commands.c: the last run's message */
};

/* kit.c: calling into plugin code.  Every call goes between enter and
 * leave so that the kit knows whose code runs (for req_log()). */
void tk_enter(tk_kit *tk, tn_plugin *p, tn_plugin **saved);
void tk_leave(tk_kit *tk, tn_plugin *saved);
tn_plugin *tk_find_plugin(tk_kit *tk, const char *name);

/* api.c */
void tk_api_fill(tn_api *api);

/* log.c */
void tk_log_kit(tk_kit *tk, tn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A line of the kit's about one request: "<level> testkit <id>: ...". */
void tk_log_req(tn_request *r, tn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void tk_logs_free(tk_kit *tk);
void tk_api_log(tn_plugin *self, tn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void tk_api_req_log(tn_request *req, tn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* settings.c */
int tk_schema_validate(tk_kit *tk, const tn_plugin_desc *d);
/* tk_check() if settings changed since the last one. */
void tk_settings_apply(tk_kit *tk);
int tk_enabled(const tk_generation *gen, const tn_plugin *p, const char *tenant);
int tk_tenant_known(const tk_generation *gen, const char *tenant);
void tk_settings_free(tk_kit *tk);
const char *tk_api_config_str(const tn_config *cfg, const char *key);
int64_t tk_api_config_int(const tn_config *cfg, const char *key);
int tk_api_config_bool(const tn_config *cfg, const char *key);
double tk_api_config_float(const tn_config *cfg, const char *key);
void tk_api_check_error(tn_check *chk, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
const tn_config *tk_api_req_config(tn_request *req, const tn_plugin *self);
const tn_config *tk_api_tenant_config(const tn_plugin *self, const char *tenant_id);

/* routes.c */
int tk_api_route_add(tn_plugin *self, const char *method, const char *pattern, tn_access access,
                     const char *roles, tn_hook_fn handler, void *ud);
int tk_api_hook_add(tn_plugin *self, tn_phase phase, tn_hook_fn fn, void *ud);
/* Routes r as the host does: 0 with r->match and r->params set, or -1
 * with the answer made (404, 405 with Allow, 400 for a bad parameter). */
int tk_route(tn_request *r);
void tk_routes_free(tk_kit *tk);

/* request.c */
void tk_request_destroy(tn_request *r);
int tk_req_usable(const tn_request *r); /* not finished: API may act on it */
/* The request is over: finished, and its transaction ended. */
void tk_req_end(tn_request *r);
void *tk_req_arena_alloc(tn_request *r, size_t n);
const char *tk_api_req_method(const tn_request *req);
const char *tk_api_req_path(const tn_request *req);
const char *tk_api_req_query(const tn_request *req);
const char *tk_api_req_query_param(tn_request *req, const char *name);
const char *tk_api_req_header(const tn_request *req, const char *name);
const char *tk_api_req_cookie(tn_request *req, const char *name);
const char *tk_api_req_param(const tn_request *req, const char *name);
const void *tk_api_req_body(const tn_request *req, size_t *len);
const char *tk_api_req_tenant(const tn_request *req);
const char *tk_api_req_id(const tn_request *req);
const char *tk_api_req_client_addr(const tn_request *req);
const char *tk_api_req_route(const tn_request *req);
int tk_api_req_is_tls(const tn_request *req);
int tk_api_req_set_principal(tn_request *req, const char *user_id, const char *roles);
const char *tk_api_req_principal(const tn_request *req);
int tk_api_req_has_role(const tn_request *req, const char *role);
void *tk_api_req_alloc(tn_request *req, size_t n);
char *tk_api_req_strdup(tn_request *req, const char *s);
int tk_api_req_is_aborted(const tn_request *req);

/* dispatch.c */
void tk_api_req_resume(tn_request *req, tn_status status);
/* Runs the RESPONSE phase now, for a stream's head.  As on the host, what
 * the hooks return does not stop the head (the testkit logs a TN_ERROR or
 * TN_SUSPEND there as a plugin bug); TN_DONE ends the phase. */
int tk_run_response_hooks(tn_request *r);

/* response.c */
int tk_api_resp_status(tn_request *req, int status);
int tk_api_resp_header(tn_request *req, const char *name, const char *value);
int tk_api_resp_body(tn_request *req, const void *data, size_t len);
int tk_api_resp_json(tn_request *req, int status, const char *json);
int tk_api_resp_error(tn_request *req, int status, const char *code, const char *message);
int tk_api_resp_stream_begin(tn_request *req);
int tk_api_resp_write(tn_request *req, const void *data, size_t len, tn_write_done_fn done,
                      void *ud);
int tk_api_resp_end(tn_request *req);
/* What the host's response head adds when it leaves: status 200 when the
 * plugin set none, and the JSON Content-Type when it set none. */
void tk_resp_head_defaults(tn_request *r);
/* Answers with {"error": ...}; for the host's own answers (404, 401...). */
void tk_resp_fail(tn_request *r, int status, const char *code, const char *message);

/* db.c */
int tk_api_db_query(tn_request *req, const char *sql, int nparams, const char *const *params,
                    tn_db_fn cb, void *ud);
int tk_api_db_commit(tn_request *req, tn_db_fn cb, void *ud);
int tk_api_db_rollback(tn_request *req, tn_db_fn cb, void *ud);
int tk_api_db_status(const tn_db_result *res);
const char *tk_api_db_sqlstate(const tn_db_result *res);
const char *tk_api_db_message(const tn_db_result *res);
int tk_api_db_rows(const tn_db_result *res);
int tk_api_db_cols(const tn_db_result *res);
const char *tk_api_db_colname(const tn_db_result *res, int col);
const char *tk_api_db_value(const tn_db_result *res, int row, int col);
int64_t tk_api_db_affected(const tn_db_result *res);
int tk_api_resp_db_error(tn_request *req, const tn_db_result *res);
int tk_api_db_publish(tn_request *req, const char *name, const char *payload_json);
int tk_api_db_audit(tn_request *req, const char *action, const char *target_type,
                    const char *target_id, const char *result);
/* Runs one queued statement (from tk_run_pending()); frees the op. */
void tk_db_run(tk_kit *tk, tk_pending *p);
/* Drops one queued statement (the kit goes); a tn_tx's hears TN_ECANCELED. */
void tk_db_cancel(tk_pending *p);
void tk_db_op_free(tk_db_op *op);
/* The request finished: an open transaction is rolled back. */
void tk_db_request_end(tn_request *r);
void tk_tx_clear(tk_tx *tx);
void tk_db_free(tk_kit *tk);
/* For tx.c: statements of a tn_tx, with the request path's rules. */
int tk_db_tx_query(tn_tx *t, const char *sql, int nparams, const char *const *params, tn_tx_fn cb,
                   void *ud);
int tk_db_tx_end(tn_tx *t, int commit, tn_tx_fn cb, void *ud);
int tk_db_tx_publish(tn_tx *t, const char *name, const char *payload_json);
int tk_db_tx_audit(tn_tx *t, const char *actor, const char *action, const char *target_type,
                   const char *target_id, const char *result);

/* tx.c */
int tk_api_tx_begin(tn_plugin *self, const char *tenant_id, tn_tx **out);
int tk_api_tx_query(tn_tx *tx, const char *sql, int nparams, const char *const *params, tn_tx_fn cb,
                    void *ud);
int tk_api_tx_commit(tn_tx *tx, tn_tx_fn cb, void *ud);
int tk_api_tx_rollback(tn_tx *tx, tn_tx_fn cb, void *ud);
int tk_api_tx_publish(tn_tx *tx, const char *name, const char *payload_json);
int tk_api_tx_audit(tn_tx *tx, const char *actor, const char *action, const char *target_type,
                    const char *target_id, const char *result);
tn_tx *tk_api_delivery_tx(tn_delivery *d);
/* A tn_tx statement ran (from tk_db_run), or was cancelled (res status
 * TN_ECANCELED): its callback; an end also ends the handle. */
void tk_tx_answer(tn_tx *t, int end, tn_tx_fn cb, const tn_db_result *res, void *ud);
/* Ends a delivery's transaction: 1 if tk_delivery_settled() follows. */
int tk_tx_settle(tn_tx *t, int ok);
void tk_tx_free(tn_tx *t);
/* tk_free(), after fini(): what the plugins left open is rolled back. */
void tk_txs_free(tk_kit *tk);

/* events.c */
int tk_api_event_subscribe(tn_plugin *self, const char *name, tn_event_fn fn, void *ud);
int tk_api_event_publish(tn_plugin *self, const char *tenant_id, const char *name,
                         const char *payload_json);
int tk_api_event_subscribe_durable(tn_plugin *self, const char *name, tn_durable_fn fn, void *ud);
void tk_api_delivery_done(tn_delivery *d, int ok, const char *error);
/* The delivery's transaction ended (tx.c): committed with its ack, or not. */
void tk_delivery_settled(tn_delivery *d, int ok, const char *error);
void tk_outbox_row_free(tk_outbox_row *row);
void tk_events_free(tk_kit *tk);

/* timers.c */
tn_timer *tk_api_timer_start(tn_plugin *self, uint64_t after_ms, uint64_t repeat_ms, tn_timer_fn fn,
                             void *ud);
void tk_api_timer_stop(tn_timer *timer);
/* A one-shot timer of the kit's own (plugin NULL), stopped quietly. */
tn_timer *tk_timer_kit(tk_kit *tk, uint64_t after_ms, tn_timer_fn fn, void *ud);
void tk_timers_free(tk_kit *tk);

/* pending.c */
int tk_api_work_queue(tn_plugin *self, tn_work_fn work, tn_work_done_fn done, void *ud);
int tk_queue_write_done(tn_request *r, tn_write_done_fn fn, void *ud);
/* Queues a database statement of r (r->pending counts it). */
int tk_queue_db(tn_request *r, tn_plugin *plugin, tk_db_op *op);
void tk_pending_cancel_all(tk_kit *tk);

/* metrics.c */
tn_metric *tk_api_metric_counter(tn_plugin *self, const char *name, const char *help);
tn_metric *tk_api_metric_gauge(tn_plugin *self, const char *name, const char *help);
void tk_api_metric_add(tn_metric *m, const char *tenant_id, int64_t delta);
void tk_api_metric_set(tn_metric *m, const char *tenant_id, int64_t value);
void tk_metrics_free(tk_kit *tk);

/* secrets.c (ABI 1.2, S18): the host's sealed format (sealed.c) under
 * the kit's random keys. */
#include "sealed.h"
int tk_api_secret_seal(tn_plugin *self, const char *tenant_id, const void *plain, size_t len,
                       char **out);
int tk_api_secret_unseal(tn_plugin *self, const char *tenant_id, const char *sealed, void **out,
                         size_t *len, int *stale);
void tk_secrets_free(tk_kit *tk);
/* A string setting written sealed, opened in place as the host does:
 * 0, or -1 with *why (malloc'd) for the error list. */
int tk_secret_setting(tk_kit *tk, const char *tenant, const tn_plugin *p, const tn_config_key *k,
                      host_value *v, char **why);
/* limits.c: rate-limit zones (ABI 1.2) */
tn_limit *tk_api_limit_zone(tn_plugin *self, const char *name, double rate, uint32_t burst,
                            size_t mem_bytes);
int tk_api_limit_take(tn_limit *zone, const char *tenant_id, const char *key, uint32_t cost,
                      uint64_t *retry_ms);
void tk_limits_free(tk_kit *tk);

/* jobs.c: scheduled jobs (ABI 1.2) */
typedef struct tk_jobs tk_jobs;
int tk_api_job_schedule(tn_plugin *self, const tn_job_spec *spec, tn_job_fn fn, void *ud);
const char *tk_api_job_tenant(const tn_job_run *run);
int64_t tk_api_job_tick(const tn_job_run *run);
void tk_api_job_done(tn_job_run *run, int ok, const char *error);
int tk_api_job_history(tn_tx *tx, tn_plugin *self, const char *job, int limit, tn_tx_fn cb,
                       void *ud);
/* 1 if the statement is job_history()'s, answered from the kit's runs. */
int tk_jobs_answer(tk_kit *tk, const char *tenant, const char *sql, int nparams,
                   const char *const *params, tn_db_result *res);
void tk_jobs_free(tk_kit *tk); /* after the plugins' fini() */
/* iface.c: interfaces between plugins (ABI 1.2) */
int tk_api_iface_export(tn_plugin *self, const char *name, uint32_t version, const void *table);
const void *tk_api_iface_get(tn_plugin *self, const char *name, uint32_t min_version);
void tk_ifaces_free(tn_plugin *p);

/* request.c, ABI 1.2 (sdkmisc) */
int tk_api_req_header_each(const tn_request *req, tn_header_fn fn, void *ud);

/* plugin_settings.c, ABI 1.2 (sdkmisc): plugins.NAME as tk_plugin_set()
 * wrote it, bound to p->global_cfg by tk_load() before init(). */
int tk_plugin_settings_bind(tk_kit *tk, tn_plugin *p);
void tk_plugin_settings_free(tk_kit *tk); /* the values and every global_cfg */
const tn_config *tk_api_plugin_config(const tn_plugin *p);
/* How many TN_KEY_SECRET values set with tk_plugin_set() appear in the log. */
size_t tk_plugin_settings_leaks(const tk_kit *tk);
/* outbound.c (ABI 1.2): http_call, call_cancel, curl_run. */
int tk_api_http_call(tn_plugin *self, tn_request *req, const tn_http_request *r, tn_http_fn cb,
                     void *ud, tn_call **out);
void tk_api_call_cancel(tn_call *call);
int tk_api_curl_run(tn_plugin *self, tn_request *req, void *easy, tn_curl_fn cb, void *ud,
                    tn_call **out);
void tk_outbound_free(tk_kit *tk);

/* ABI 1.2: authentication details and route options (auth.c, routes.c) */
int tk_api_route_add_opts(tn_plugin *self, const char *method, const char *pattern,
                          tn_access access, const char *roles, tn_hook_fn handler, void *ud,
                          const tn_route_opts *opts);
int tk_api_req_set_auth(tn_request *req, const tn_auth_info *info);
const tn_auth_info *tk_api_req_auth(const tn_request *req);

/* commands.c (ABI 1.2): plugins' CLI commands */
int tk_api_command_add(tn_plugin *self, const char *name, const char *usage, unsigned flags,
                       tn_command_fn fn, void *ud);
void tk_api_command_done(tn_command *cmd, int ok, const char *message);
void tk_commands_free(tk_kit *tk);

#endif
