/*
 * tk_internal.h - the testkit's private structures, shared by its files.
 *
 * The testkit plays the host for plugins under test.  Everything it knows
 * hangs off one context, struct tk_kit: loaded plugins, what they
 * registered, the tenants' settings, requests, the virtual clock, queued
 * events and work, metrics and the captured log.  Nothing is global.
 */
#ifndef TK_INTERNAL_H
#define TK_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tanomu/testkit.h"

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
int tk_is_token(const char *s);        /* an HTTP token (RFC 9110) */
int tk_is_field_value(const char *s);  /* no CTL but HTAB */
/* Percent-decodes n bytes of src into a new string; plus_is_space for
 * query strings.  NULL on a bad escape, on %00 or on allocation failure. */
char *tk_percent_decode(const char *src, size_t n, int plus_is_space);
int tk_name_ok(const char *s, size_t max, const char *more); /* [a-z][a-z0-9 more]* */

/* -- plugins ------------------------------------------------------------- */

struct tn_plugin {
    tk_kit *tk;
    tn_plugin_desc desc;  /* what the plugin gave, at most desc.size bytes */
    size_t load_index;
    int failed;           /* init() refused: treated as disabled everywhere */
};

/* -- registrations ------------------------------------------------------- */

typedef enum tk_seg_kind { TK_SEG_STATIC, TK_SEG_PARAM, TK_SEG_REST } tk_seg_kind;

typedef struct tk_seg {
    tk_seg_kind kind;
    char *text;  /* the literal, or the parameter's name */
} tk_seg;

typedef struct tk_route {
    tn_plugin *plugin;
    char *method;
    char *pattern;
    tk_seg *segs;
    size_t nsegs;
    tn_access access;
    char *roles;
    tn_hook_fn handler;
    void *ud;
} tk_route;

typedef struct tk_hook {
    tn_plugin *plugin;
    tn_phase phase;
    tn_hook_fn fn;
    void *ud;
} tk_hook;

typedef struct tk_sub {
    tn_plugin *plugin;
    char *name;
    tn_event_fn fn;
    void *ud;
} tk_sub;

typedef struct tk_series {
    char *tenant;  /* NULL: no tenant label */
    int64_t value;
} tk_series;

struct tn_metric {
    tk_kit *tk;
    tn_plugin *plugin;
    char *name;    /* exported: tanomu_plugin_<plugin>_<name> */
    int is_gauge;
    tk_list series;
};

struct tn_timer {
    tk_kit *tk;
    tn_plugin *plugin;
    uint64_t due_ms;
    uint64_t repeat_ms;
    uint64_t seq;  /* creation order breaks ties */
    int active;
    tn_timer_fn fn;
    void *ud;
};

typedef struct tk_work {
    tn_plugin *plugin;
    tn_work_fn work;
    tn_work_done_fn done;
    void *ud;
} tk_work;

typedef struct tk_write_done {
    tn_request *req;
    tn_plugin *plugin;
    tn_write_done_fn fn;
    void *ud;
} tk_write_done;

typedef struct tk_event_rec {
    char *name;
    char *tenant;
    char *payload;
} tk_event_rec;

/* -- settings ------------------------------------------------------------ */

typedef struct tk_section {
    tn_plugin *plugin;
    char *tenant;
    tk_list keys;    /* char *, in the order first set */
    tk_list values;  /* char *, same index */
} tk_section;

typedef struct tk_value {
    int is_set;      /* the tenant wrote it (not a default) */
    char *text;      /* STRING values */
    int64_t i;
    double f;
    int b;
} tk_value;

struct tn_config {
    tk_kit *tk;
    tn_plugin *plugin;
    char *tenant;
    int enabled;
    tk_value *vals;  /* one per key of plugin->desc.settings */
    size_t nvals;
};

typedef struct tk_generation {
    tk_list configs;  /* tn_config * */
} tk_generation;

typedef struct tk_cfg_error {
    char *plugin;
    char *tenant;
    char *key;       /* NULL: the section as a whole */
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
    TK_REQ_RESUMED,    /* resumed, its continuation queued */
    TK_REQ_STREAMING,  /* dispatch is over, the stream is still open */
    TK_REQ_FINISHED
} tk_req_state;

typedef enum tk_step {
    TK_STEP_EARLY,
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
    tk_list headers;     /* tk_pair * */
    char *body;
    size_t body_len;

    /* filled by dispatch */
    tk_generation *gen;
    tk_list hooks[TN_PHASE_COUNT]; /* tk_hook *, enabled ones, in order */
    tk_route *route;
    char *allow;         /* methods of the path when the method did not match */
    int bad_path;
    tk_list params;      /* tk_pair * */
    char *user;
    char *roles;

    tk_req_state state;
    tk_step step;
    size_t hook_i;
    tn_plugin *in_call;  /* the plugin whose hook runs on this request now */
    int early_resume;
    tn_status resume_status;
    int aborted;
    int released;        /* tk_req_free() was called while still in use */
    size_t pending_writes;

    tk_list query_params; /* tk_pair *, parsed on first use */
    int query_parsed;
    tk_list cookies;      /* tk_pair * */
    int cookies_parsed;
    tk_block *arena;

    /* the response */
    int status;
    tk_list resp_headers; /* tk_pair * */
    char *resp_body;
    size_t resp_len;
    size_t resp_cap;
    int head_sent;        /* streaming began */
    int resp_phase_done;  /* RESPONSE hooks ran early, for a stream */
    int ended;            /* resp_end() was called */
    int broken;           /* an error after the head was sent */
};

/* -- the context --------------------------------------------------------- */

struct tk_kit {
    tn_api api;
    tk_list plugins;   /* tn_plugin *, load order */
    tk_list order;     /* tn_plugin *, order of before/after */
    tn_plugin *registering; /* the plugin whose init() runs */
    tn_plugin *current;     /* the plugin whose code runs now */
    int depth;              /* nesting of calls into plugin code */

    tk_list routes;    /* tk_route * */
    tk_list hooks;     /* tk_hook * */
    tk_list subs;      /* tk_sub * */
    tk_list metrics;   /* tn_metric * */
    tk_list timers;    /* tn_timer * */
    tk_list work;      /* tk_work *, queued */
    tk_list writes;    /* tk_write_done *, queued */
    tk_list events;    /* tk_event_rec *, every one published */
    size_t events_delivered;
    uint64_t now_ms;
    uint64_t timer_seq;

    tk_list sections;  /* tk_section * */
    int dirty;         /* settings changed since the last tk_check() */
    tk_generation *live;
    tk_list generations; /* every generation, freed with the kit */
    tk_list errors;    /* tk_cfg_error *, of the last tk_check() */

    tk_list requests;  /* tn_request * */
    uint64_t next_req_id;
    tk_list resumed;   /* tn_request *, continuations to run */
    int flushing;

    tk_list logs;      /* char * */
    int log_echo;
};

/* kit.c: calling into plugin code.  Every call goes between enter and
 * leave so that the kit knows who runs and can run resumed requests once
 * control is back with it. */
void tk_enter(tk_kit *tk, tn_plugin *p, tn_plugin **saved);
void tk_leave(tk_kit *tk, tn_plugin *saved);
tn_plugin *tk_find_plugin(tk_kit *tk, const char *name);

/* api.c */
void tk_api_fill(tn_api *api);

/* log.c */
void tk_log_add(tk_kit *tk, tn_log_level level, const char *who,
                const char *req_id, const char *fmt, va_list ap);
void tk_log_kit(tk_kit *tk, tn_log_level level, const char *fmt, ...)
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
const tn_config *tk_gen_config(const tk_generation *gen, const tn_plugin *p,
                               const char *tenant);
int tk_enabled(const tk_generation *gen, const tn_plugin *p, const char *tenant);
void tk_settings_free(tk_kit *tk);
const char *tk_api_config_tenant(const tn_config *cfg);
const char *tk_api_config_str(const tn_config *cfg, const char *key);
int64_t tk_api_config_int(const tn_config *cfg, const char *key);
int tk_api_config_bool(const tn_config *cfg, const char *key);
double tk_api_config_float(const tn_config *cfg, const char *key);
int tk_api_config_is_set(const tn_config *cfg, const char *key);
void tk_api_check_error(tn_check *chk, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
const tn_config *tk_api_req_config(tn_request *req, const tn_plugin *self);

/* router.c */
int tk_api_route_add(tn_plugin *self, const char *method, const char *pattern,
                     tn_access access, const char *roles, tn_hook_fn handler,
                     void *ud);
int tk_api_hook_add(tn_plugin *self, tn_phase phase, tn_hook_fn fn, void *ud);
/* Finds the route for r->method and r->path among plugins enabled in
 * r->gen; sets r->route and r->params, or r->allow, or r->bad_path. */
int tk_route_lookup(tn_request *r);
void tk_routes_free(tk_kit *tk);

/* request.c */
void tk_request_destroy(tn_request *r);
int tk_req_usable(const tn_request *r);  /* not finished: API may act on it */
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
int tk_api_req_set_principal(tn_request *req, const char *user_id,
                             const char *roles);
const char *tk_api_req_principal(const tn_request *req);
int tk_api_req_has_role(const tn_request *req, const char *role);
void *tk_api_req_alloc(tn_request *req, size_t n);
char *tk_api_req_strdup(tn_request *req, const char *s);
int tk_api_req_is_aborted(const tn_request *req);
int tk_list_has_role(const char *list, const char *role);

/* dispatch.c */
void tk_api_req_resume(tn_request *req, tn_status status);
void tk_flush_resumed(tk_kit *tk);
/* Runs the RESPONSE phase now, for a stream's head; TN_ESTATE if a hook
 * failed (the response is then a 500). */
int tk_run_response_hooks(tn_request *r);
void tk_finish(tn_request *r);

/* response.c */
int tk_api_resp_status(tn_request *req, int status);
int tk_api_resp_header(tn_request *req, const char *name, const char *value);
int tk_api_resp_body(tn_request *req, const void *data, size_t len);
int tk_api_resp_json(tn_request *req, int status, const char *json);
int tk_api_resp_error(tn_request *req, int status, const char *code,
                      const char *message);
int tk_api_resp_stream_begin(tn_request *req);
int tk_api_resp_write(tn_request *req, const void *data, size_t len,
                      tn_write_done_fn done, void *ud);
int tk_api_resp_end(tn_request *req);
void tk_resp_reset(tn_request *r);
/* Answers with {"error": ...}; for the host's own answers (404, 401...). */
void tk_resp_fail(tn_request *r, int status, const char *code,
                  const char *message);

/* events.c, timers.c, work.c, metrics.c */
int tk_api_event_subscribe(tn_plugin *self, const char *name, tn_event_fn fn,
                           void *ud);
int tk_api_event_publish(tn_plugin *self, const char *tenant_id,
                         const char *name, const char *payload_json);
void tk_events_free(tk_kit *tk);
tn_timer *tk_api_timer_start(tn_plugin *self, uint64_t after_ms,
                             uint64_t repeat_ms, tn_timer_fn fn, void *ud);
void tk_api_timer_stop(tn_timer *timer);
void tk_timers_free(tk_kit *tk);
int tk_api_work_queue(tn_plugin *self, tn_work_fn work, tn_work_done_fn done,
                      void *ud);
int tk_queue_write_done(tn_request *r, tn_write_done_fn fn, void *ud);
void tk_work_cancel_all(tk_kit *tk);
tn_metric *tk_api_metric_counter(tn_plugin *self, const char *name,
                                 const char *help);
tn_metric *tk_api_metric_gauge(tn_plugin *self, const char *name,
                               const char *help);
void tk_api_metric_add(tn_metric *m, const char *tenant_id, int64_t delta);
void tk_api_metric_set(tn_metric *m, const char *tenant_id, int64_t value);
void tk_metrics_free(tk_kit *tk);

#endif
