/*
 * tanomu/testkit.h - unit-test a plugin without a server.
 *
 * The testkit is a fake host: it hands the plugin a complete tn_api and
 * behaves as the host does (route matching, phases and access checks, the
 * settings schema, suspend/resume, events, timers, work, metrics, logs, a
 * scripted database with durable events and the audit log), but runs
 * everything on the test's own thread, with a virtual clock, and lets the
 * test look at what happened.  Route matching, the settings rules and the
 * header, cookie and query rules are the host's own code, compiled in.  A
 * test compiles the plugin's source into the test binary and loads it by
 * its descriptor:
 *
 *     tk_kit *tk = tk_new();
 *     CU_ASSERT_EQUAL(tk_load(tk, tn_plugin_entry()), TN_OK);
 *     tk_enable(tk, "shop1", 1);
 *     tk_set(tk, "shop1", "greeting", "Hi");
 *     tn_request *r = tk_request(tk, "shop1", "GET", "/hello");
 *     CU_ASSERT_EQUAL(tk_resp_status(r), 200);
 *     tk_free(tk);
 *
 * Functions return TN_OK or a negative TN_E* code from tanomu/api.h.
 * Strings returned stay valid until the object they come from is freed.
 * Not thread-safe: one kit per thread.  See docs/sdk.md.
 */
#ifndef TANOMU_TESTKIT_H
#define TANOMU_TESTKIT_H

#include <stddef.h>
#include <stdint.h>

#include <tanomu/tanomu.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_kit tk_kit;

/* -- the kit and its plugins ----------------------------------------- */

tk_kit *tk_new(void);
/* Cancels queued work (done() gets TN_ECANCELED, as when a worker stops)
 * and stream write callbacks (TN_ESTATE), drops database results still
 * queued, calls every plugin's fini() in reverse load order, and frees
 * everything, requests included. */
void tk_free(tk_kit *tk);
/* The function table plugins get.  A test may shrink ->size or clear a
 * member before tk_load() to play an older host (see TN_API_HAS). */
tn_api *tk_api(tk_kit *tk);
/* Checks the descriptor as the host does (ABI major equal and minor not
 * newer, size at least ABI 1.0's, then reads no more than size bytes;
 * name, init() present, settings schema sane, dependencies loaded, no
 * before/after cycle; also version set and reserved slots zero), then
 * calls init().  The
 * first plugin loaded is the kit's primary plugin (see tk_set()).
 * TN_EINVAL: refused descriptor; TN_EEXIST: name taken; TN_ENOTFOUND: a
 * dependency is not loaded; TN_ESTATE: init() returned non-zero.  The
 * reason is in the log. */
int tk_load(tk_kit *tk, const tn_plugin_desc *desc);
/* The handle of a loaded plugin, to call the API as that plugin. */
tn_plugin *tk_plugin(tk_kit *tk, const char *name);

/* -- per-tenant settings --------------------------------------------- */

/* Sets `key` of the primary plugin's section for `tenant`, as text written
 * as a default_value is ("42", "true", "text", parsed by the host's own
 * rules); value NULL removes the key.  The key "enabled" turns the plugin
 * on for the tenant (default: off).  Nothing is checked here: tk_check()
 * does it.  A tenant exists once some section names it. */
int tk_set(tk_kit *tk, const char *tenant, const char *key, const char *value);
int tk_set_for(tk_kit *tk, const char *plugin, const char *tenant, const char *key,
               const char *value);
/* Shorthand for tk_set(tk, tenant, "enabled", on ? "true" : "false"). */
int tk_enable(tk_kit *tk, const char *tenant, int on);
/* Applies every section to its plugin's schema (types, defaults, bounds,
 * required keys, unknown keys), runs check() of each enabled section,
 * checks dependencies and collects the errors, as the host binds tenant
 * files.  With no error the settings go live for the requests that start
 * from now on (and for tenant_config()); with errors the previous settings
 * stay.  Returns the number of errors.  Requests, tk_run_events(),
 * tk_run_pending() and tk_advance_ms() call it themselves when settings
 * changed since the last call. */
size_t tk_check(tk_kit *tk);
/* The errors of the last tk_check().  key is NULL for the whole section.
 * Messages are the host's without "file:line: plugin.key" ("is required",
 * "out of bounds (1..10)", "must be a int", "unknown setting"), or what
 * check() reported; none quotes a value. */
size_t tk_error_count(const tk_kit *tk);
const char *tk_error_plugin(const tk_kit *tk, size_t i);
const char *tk_error_tenant(const tk_kit *tk, size_t i);
const char *tk_error_key(const tk_kit *tk, size_t i);
const char *tk_error_message(const tk_kit *tk, size_t i);
/* 1 if the last tk_check() reported an error on `key` (NULL: on the
 * section) of `tenant`, for any plugin. */
int tk_has_error(const tk_kit *tk, const char *tenant, const char *key);

/* -- requests -------------------------------------------------------- */

/* A request to `tenant` for `target` (path and optional ?query; a
 * #fragment is dropped, as the host does).  Nothing runs until
 * tk_req_run(). */
tn_request *tk_req_new(tk_kit *tk, const char *tenant, const char *method, const char *target);
/* Adds a request header; names must be tokens, values free of CTLs (the
 * host's rules). */
int tk_req_set_header(tn_request *r, const char *name, const char *value);
int tk_req_set_body(tn_request *r, const void *body, size_t len);
int tk_req_set_client(tn_request *r, const char *addr); /* "127.0.0.1" */
int tk_req_set_tls(tn_request *r, int on);
/* Runs the request until it finishes or a hook suspends it.  As on the
 * host, and before any hook: a target that is not "/..." or has a "." or
 * ".." segment is 400 bad_request, TRACE 405, a method other than GET,
 * HEAD, POST, PUT, PATCH, DELETE and OPTIONS 501 not_implemented; a tenant
 * no section names is 404 unknown_tenant, as a host name no tenant serves.
 * TN_ESTATE if it already ran or if tk_check() found errors in changed
 * settings. */
int tk_req_run(tn_request *r);
/* tk_req_new() + tk_req_run(); NULL if either failed. */
tn_request *tk_request(tk_kit *tk, const char *tenant, const char *method, const char *target);
/* The client goes away: req_is_aborted() turns true. */
void tk_req_abort(tn_request *r);
/* 1 while suspended or streaming, 0 once finished. */
int tk_req_pending(const tn_request *r);
int tk_req_finished(const tn_request *r);
/* The principal an authenticate hook set, or NULL. */
const char *tk_req_principal(const tn_request *r);
/* Frees the request now, or when it finishes if it is still pending. */
void tk_req_free(tn_request *r);

/* The response, as the client would see it (0 status while unanswered). */
int tk_resp_status(const tn_request *r);
/* First header of that name (any case), or NULL. */
const char *tk_resp_header(const tn_request *r, const char *name);
size_t tk_resp_header_count(const tn_request *r, const char *name);
/* The i-th response header in the order set (name; *value, optional,
 * gets its value), or NULL past the end: to list them all. */
const char *tk_resp_header_at(const tn_request *r, size_t i, const char **value);
/* The body, always NUL-terminated; len (optional) gets its length. */
const char *tk_resp_body(const tn_request *r, size_t *len);
/* The string at a dotted path ("error.code") of a JSON body, or NULL. */
const char *tk_resp_json_string(tn_request *r, const char *path);
/* 1 if the response was streamed (chunked). */
int tk_resp_streamed(const tn_request *r);

/* -- what runs later ------------------------------------------------- */

/* Delivers queued events, and those published meanwhile, to subscribers
 * whose plugin the event's tenant enables; then, if any plugin subscribed
 * durably, every pending outbox event once to its durable subscribers (a
 * failed one waits for the next call: each call is a later sweep, backoff
 * is not modelled).  Returns how many events were handed out. */
size_t tk_run_events(tk_kit *tk);
/* Every event_publish() so far, delivered or not, in order. */
size_t tk_event_count(const tk_kit *tk);
const char *tk_event_name(const tk_kit *tk, size_t i);
const char *tk_event_tenant(const tk_kit *tk, size_t i); /* may be NULL */
const char *tk_event_payload(const tk_kit *tk, size_t i);
/* Moves the virtual clock, firing due timers in order (and the kit's own:
 * a durable delivery left suspended fails after 30 s, as on the host).
 * Returns how many of the plugins' timer callbacks ran. */
size_t tk_advance_ms(tk_kit *tk, uint64_t ms);
uint64_t tk_now_ms(const tk_kit *tk);
size_t tk_timer_count(const tk_kit *tk); /* timers still armed */
/* Runs what the loop would run later, in the order it was queued, and
 * what that queues, until none is left: work (work, then done(ud, 0)),
 * stream write callbacks and database statements (the handler answers,
 * then the plugin's callback runs).  Returns how many ran. */
size_t tk_run_pending(tk_kit *tk);

/* -- the database (ABI 1.1) ------------------------------------------ */

/*
 * As on the host, a request's first statement begins its transaction,
 * bound to its tenant; statements run in order, each callback later (in
 * tk_run_pending(), never inside db_query()); after a failed statement the
 * transaction is aborted (later ones fail with SQLSTATE 25P02, commit gives
 * TN_EDB_ABORTED); a transaction not committed when the request finishes
 * is rolled back, with a warning in the log, and callbacks for a finished
 * request are dropped.  db_publish() and db_audit() write with the
 * transaction: what they wrote exists only if it commits.
 *
 * The test answers statements with a handler: it gets the tenant, the SQL
 * and the parameters (NULL: SQL NULL) of every db_query(), and "COMMIT" and
 * "ROLLBACK" with no parameter when the transaction ends (the outbox and
 * audit inserts of the host are not shown).  It fills res with the
 * functions below; untouched, a result is a success with no rows.  A
 * failed "COMMIT" rolls back (TN_EDB_UNAVAILABLE: the outcome is unknown
 * on the host; the testkit then rolls back).
 */
typedef void (*tk_db_fn)(const char *tenant, const char *sql, int nparams,
                         const char *const *params, tn_db_result *res, void *ud);
/* Installs the handler (NULL: every statement succeeds with no rows). */
void tk_db_handler(tk_kit *tk, tk_db_fn fn, void *ud);
/* The result's columns, by name: ncols const char * after it.  Once. */
int tk_db_columns(tn_db_result *res, int ncols, ...);
/* Appends a row: as many const char * values as columns (NULL: SQL NULL).
 * TN_ESTATE before tk_db_columns(). */
int tk_db_row(tn_db_result *res, ...);
/* The row count of the command tag.  Unset: the number of rows if columns
 * were set, else -1 (no count, as for COMMIT). */
void tk_db_affected(tn_db_result *res, int64_t n);
/* Fails the statement: status TN_EDB_QUERY (with a SQLSTATE such as
 * "23505"), TN_EDB_UNAVAILABLE, TN_EDB_ABORTED, or, on "COMMIT",
 * TN_EDB_UNKNOWN (connection lost during commit; the kit rolls back, the
 * plugin must not assume either outcome); message may be NULL. */
int tk_db_fail(tn_db_result *res, int status, const char *sqlstate, const char *message);

/* Every statement the database received, in order: each db_query() when
 * it ran, and "COMMIT" / "ROLLBACK" (explicit or at the end of a request).
 * tk_db_at() is NULL past the end. */
typedef struct tk_db_stmt {
    const char *tenant;
    const char *sql;
    int nparams;
    const char *const *params; /* NULL: SQL NULL */
} tk_db_stmt;
size_t tk_db_count(const tk_kit *tk);
const tk_db_stmt *tk_db_at(const tk_kit *tk, size_t i);

/* Durable events (db_publish) of committed transactions, by outbox id, as
 * the outbox table would show them.  tk_outbox_at() is NULL past the end;
 * the entry changes as deliveries settle. */
typedef struct tk_outbox_event {
    int64_t id;
    const char *tenant;
    const char *name;
    const char *payload;
    const char *state; /* "pending", "delivered", or "dead" after the
                            maximum of attempts */
    int attempts;      /* deliveries settled */
    const char *error; /* the last failure's text, or NULL */
} tk_outbox_event;
size_t tk_outbox_count(const tk_kit *tk);
const tk_outbox_event *tk_outbox_at(const tk_kit *tk, size_t i);
/* The host's outbox.max_attempts; 10 unless set. */
void tk_outbox_max_attempts(tk_kit *tk, int n);

/* The operation log (db_audit, S20) of committed transactions, in commit
 * order.  Strings the request did not have (user, target) are NULL. */
typedef struct tk_audit_entry {
    const char *tenant;
    const char *user;
    const char *action;
    const char *target_type;
    const char *target_id;
    const char *client_addr;
    const char *request_id;
    const char *result; /* "ok", "denied" or "failed" */
} tk_audit_entry;
size_t tk_audit_count(const tk_kit *tk);
const tk_audit_entry *tk_audit_at(const tk_kit *tk, size_t i); /* NULL past the end */

/* -- metrics and logs ------------------------------------------------ */

/* By exported name ("tanomu_plugin_hello_greetings_total") and tenant
 * (NULL: the series without tenant).  tk_metric_get() gives TN_ENOTFOUND
 * for a metric never registered; a series never touched reads 0. */
int tk_metric_get(const tk_kit *tk, const char *name, const char *tenant, int64_t *value);
int64_t tk_metric(const tk_kit *tk, const char *name, const char *tenant);

/* Captured log lines: "<level> <plugin>[ <request id>]: <message>", level
 * one of debug, info, warn, error; the testkit's own lines say "testkit". */
size_t tk_log_count(const tk_kit *tk);
const char *tk_log_line(const tk_kit *tk, size_t i);
int tk_log_contains(const tk_kit *tk, const char *needle);
/* Also print each line to stderr as it is logged. */
void tk_log_echo(tk_kit *tk, int on);
/* How many values of TN_KEY_SECRET settings, as tenants set them (and as
 * tk_plugin_set() set plugin-wide ones), appear in the log (S16: a test
 * asserts it is 0). */
size_t tk_log_secret_leaks(const tk_kit *tk);

/* -- sealed secrets (ABI 1.2, S18) ----------------------------------- */

/* secret_seal/secret_unseal use the host's cipher and format under a
 * random key of the kit.  tk_keyring_rotate() adds a fresh key and makes
 * it active, as `tanomu secret rotate` does: values sealed before still
 * open, with *stale set.  TN_OK or TN_ENOMEM. */
int tk_keyring_rotate(tk_kit *tk);
/* The active key's ID ("tk1", "tk2", ...). */
const char *tk_keyring_active(tk_kit *tk);
/* The sealed form of a secret setting, as `tanomu secret seal --tenant
 * TENANT --plugin PLUGIN --key KEY` makes it, under the kit's active key
 * (tenant NULL: plugin-wide).  tk_set() of it gives the plugin the
 * plaintext; for another tenant, plugin or key tk_check() reports that it
 * does not open.  malloc'd (free()), NULL if out of memory. */
char *tk_seal_setting(tk_kit *tk, const char *tenant, const char *plugin, const char *key,
                      const char *plaintext);

/* -- rate-limit zones (ABI 1.2) -------------------------------------- */

/* What a plugin's zone answered so far: what is "allowed", "limited" or
 * "evicted" (the host's tanomu_ratelimit_*_total for that zone); -1 for
 * a zone the plugin never declared.  Zones run on the virtual clock
 * (tk_advance_ms) with the host's algorithm. */
int64_t tk_limit_stat(const tk_kit *tk, const char *plugin, const char *zone, const char *what);

/* -- scheduled jobs (ABI 1.2) ------------------------------------------ */

/* Jobs run on the virtual clock, as one host worker with an empty
 * job_runs table runs them: a job's first run is its latest tick at or
 * before the wall clock, at the first tk_advance_ms() after init(); then
 * tk_advance_ms() runs every tick it passes, once each, in order (once per
 * enabling tenant for a per-tenant job).  The wall clock is the virtual
 * clock from the Unix epoch unless set.  Route options (ABI 1.2,
 * max_auth_age_s) compare auth_time with the same wall clock: set it, and
 * tk_advance_ms() ages an authentication past its limit. */
void tk_set_unix_time(tk_kit *tk, int64_t unix_s); /* the wall clock reads unix_s now */
int64_t tk_unix_time(const tk_kit *tk);
/* Runs a job now, as `tanomu jobs --run`: name "plugin.job" or "job";
 * tenant for a per-tenant job (one that enables the plugin), else NULL.
 * TN_OK, TN_ENOTFOUND, or TN_EINVAL (ambiguous name, wrong tenant). */
int tk_job_run(tk_kit *tk, const char *name, const char *tenant);
/* Every run, oldest first; job_history() answers from these too. */
typedef struct tk_job_entry {
    const char *plugin;
    const char *job;
    const char *tenant;     /* NULL: a global job */
    int64_t tick;           /* Unix seconds (a manual run: when it was asked) */
    int manual;             /* tk_job_run() */
    const char *result;     /* "running", "ok" or "failed" */
    const char *error;      /* NULL unless given */
    int64_t started, ended; /* wall clock; ended 0 while running */
} tk_job_entry;
size_t tk_job_count(const tk_kit *tk);
const tk_job_entry *tk_job_at(const tk_kit *tk, size_t i); /* NULL past the end */

/* -- plugin-wide settings (ABI 1.2) ---------------------------------- */

/* Sets `key` of the plugin-wide settings of `plugin` (desc->global_settings;
 * the host's tanomu.conf `plugins.NAME { key = value; }`), as text written
 * as a default_value is; value NULL removes it.  Call it before tk_load():
 * tk_load() checks the values against the schema (unknown keys, types,
 * bounds, required keys) and refuses the plugin with TN_EINVAL, the reason
 * in the log, as the host refuses to start; api->plugin_config() then
 * gives them, from init() on.  After that plugin is loaded: TN_ESTATE (the
 * host reads them at start and at reload, with a new init()). */
int tk_plugin_set(tk_kit *tk, const char *plugin, const char *key, const char *value);
/* -- outbound calls (ABI 1.2) ---------------------------------------- */
/*
 * Nothing leaves the process: http_call() is answered from replies the
 * test scripts per method and URL, in tk_run_pending() (never inside
 * http_call(), as on the host).  A call tied to a request that was aborted
 * (tk_req_abort) or has finished by then gets TN_ECANCELED, as does one
 * cancelled with call_cancel(), and every call still queued when the kit
 * is freed (before fini(), as a stopping worker does).  An unscripted
 * https URL fails with TN_ENETWORK, any other unscripted URL with
 * TN_EPOLICY (a host refuses plain http without an outbound.allow entry).
 * Redirects are followed only when the call asks (max_redirects) and the
 * Location is absolute and scripted.  The testkit has no concurrency
 * limit and no egress address check: see test_outbound.py for those.
 *
 *     tk_http_reply(tk, "POST", "https://api.example.jp/v1/orders", 201,
 *                   "Content-Type: application/json", "{\"id\":\"o1\"}");
 *     tn_request *r = tk_request(tk, "shop1", "POST", "/checkout");
 *     tk_run_pending(tk);                        // the reply arrives
 *     const tk_http_sent *s = tk_http_sent_at(tk, 0);
 *     CU_ASSERT_STRING_EQUAL(tk_http_sent_header(s, "Idempotency-Key"), "o1");
 */
/* Answers calls to url (exact, query string included) with method (NULL:
 * any) with status, headers ("Name: value" lines apart by "\n"; NULL: none;
 * the plugin sees names lower-case) and body (NULL: empty).  A later
 * script for the same method and URL replaces it. */
int tk_http_reply(tk_kit *tk, const char *method, const char *url, int status, const char *headers,
                  const char *body);
/* Fails calls to url with result (TN_ETIMEDOUT for a slow peer,
 * TN_ENETWORK, TN_EPOLICY, TN_ETOOBIG) and message (NULL: a default). */
int tk_http_fail(tk_kit *tk, const char *method, const char *url, int result, const char *message);
/* What the plugin sent, one entry per request (a followed redirect is
 * another entry), in order.  Valid until tk_free(). */
typedef struct tk_http_sent {
    const char *plugin;
    const char *method; /* upper-case; GET, or POST with a body, when unset */
    const char *url;
    const tn_http_header *headers; /* as the plugin gave them */
    size_t nheaders;
    const char *body; /* NUL-terminated; body_len excludes it */
    size_t body_len;
    uint32_t timeout_ms; /* as given (0: the host's 10 s) */
    int tied_to_request; /* req was not NULL */
} tk_http_sent;
size_t tk_http_sent_count(const tk_kit *tk);
const tk_http_sent *tk_http_sent_at(const tk_kit *tk, size_t i); /* NULL past the end */
/* The value of the first header called name (any case) sent, or NULL. */
const char *tk_http_sent_header(const tk_http_sent *s, const char *name);
/* curl_run(): the kit does not run the handle.  Each call takes the next
 * scripted result (FIFO; none scripted: TN_OK, curl code 0) and hands the
 * handle back to the callback in tk_run_pending(). */
int tk_curl_result(tk_kit *tk, int result, int curl_code, const char *error);
size_t tk_curl_run_count(const tk_kit *tk);

/* -- CLI commands (ABI 1.2) ------------------------------------------- */

/* Runs the command `name` (registered by plugin, or by any plugin when
 * plugin is NULL) as `tanomu NAME ARGV...` would: argc arguments after the
 * name; stdin_data is standard input for a command that asked for it
 * (TN_COMMAND_STDIN; NULL: empty).  Then runs pending work and database
 * answers (tk_run_pending) until it ends.  0 ok, 1 failed (the message:
 * tk_command_message), TN_ENOTFOUND, or TN_ESTATE: it suspended and
 * nothing pending ends it. */
int tk_command_run(tk_kit *tk, const char *plugin, const char *name, int argc,
                   const char *const *argv, const char *stdin_data);
/* The message of the last run's command_done (or last_error of a TN_ERROR
 * return); NULL if none.  Valid until the next tk_command_run. */
const char *tk_command_message(const tk_kit *tk);

#ifdef __cplusplus
}
#endif
#endif
