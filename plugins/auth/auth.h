/*
 * auth.h - what the parts of the auth plugin share: the worker's context,
 * a tenant's settings as read for one request, and the entry points of
 * the routes (routes.c) and of the authenticate hook (auth.c).
 */
#ifndef AUTH_AUTH_H
#define AUTH_AUTH_H

#include <jansson.h>
#include <tanomu/tanomu.h>

#include "password.h"
#include "pool.h"

#define AUTH_LOGIN_ROUTE "/auth/login"
#define AUTH_LOGIN_MFA_ROUTE "/auth/login/mfa"
#define AUTH_MFA_ENROL_ROUTE "/auth/mfa/totp/enrol"
#define AUTH_MFA_CONFIRM_ROUTE "/auth/mfa/totp/confirm"
#define AUTH_LOGIN_MAX 254 /* bytes of a login ID */

/* The SQL that says whether a session is alive: $a absolute, $i idle and
 * $j admins' idle timeout, in seconds, as ints.  Shared by the hook (which
 * keeps live sessions) and the clean-up job (which deletes the others). */
#define AUTH_SQL_IS_ADMIN "u.roles && ARRAY['tenant_admin', 'platform_admin']::text[]"

/* Counts a failed attempt on account $1::uuid: a growing delay after
 * $4 failures (1, 2, 4 ... 60 s), a lock of $3 s at $2.  Returns the
 * new failed_logins.  Passwords and second factors count alike. */
#define AUTH_SQL_FAILURE                                                                           \
    "UPDATE auth_users SET failed_logins = failed_logins + 1, locked_until = "                     \
    "CASE WHEN failed_logins + 1 >= $2::int "                                                      \
    "THEN now() + make_interval(secs => $3::int) "                                                 \
    "WHEN failed_logins + 1 >= $4::int THEN now() + make_interval(secs => "                        \
    "least(60, power(2, failed_logins + 1 - $4::int))) "                                           \
    "ELSE locked_until END "                                                                       \
    "WHERE id = $1::uuid RETURNING failed_logins"

/* Important operations (password, accounts, MFA) need an authentication
 * at most this old (S6, S9): the host answers 401 reauth_required. */
#define AUTH_REAUTH_MAX_AGE_S 300
extern const tn_route_opts auth_opts_reauth;
/* Every route for tenant admins needs MFA passed in the session (S13, own
 * item 4): 401 mfa_required otherwise, so an API token (which never passes
 * MFA) or a session that never did cannot administer accounts or tokens.
 * The second also needs an authentication at most 300 s old. */
extern const tn_route_opts auth_opts_admin;
extern const tn_route_opts auth_opts_admin_reauth;

/* One worker's state; the ud of every route, hook and job. */
typedef struct auth_ctx {
    const tn_api *api;
    tn_plugin *self;
    auth_pw_ctx pw;
    auth_pool pool;
    tn_limit *login_zone; /* per client address and tenant */
    tn_limit *audit_zone; /* "login_audit": one refusal audited a minute an address */
    tn_metric *logins;    /* logins_total{tenant}: successful */
    tn_metric *failures;  /* login_failures_total{tenant} */
    tn_metric *locks;     /* account_locks_total{tenant} */
    int pw_ready;
} auth_ctx;

/* A tenant's settings, as one request reads them. */
typedef struct auth_settings {
    int min_length;
    const char *words;
    const char *allowed_origins;
    int idle_s, admin_idle_s, absolute_s;
    int lock_after, lock_s, delay_after;
    int mfa_required; /* every user needs TOTP (admins always do) */
} auth_settings;

void auth_settings_read(const auth_ctx *ctx, const tn_config *cfg, auth_settings *s);

/* Routes (routes.c): registered by auth_routes_add() from init(). */
int auth_routes_add(auth_ctx *ctx);
/* Listing and ending sessions (sessions.c). */
int auth_sessions_routes_add(auth_ctx *ctx);
/* A tenant admin's accounts (users.c). */
int auth_users_routes_add(auth_ctx *ctx);
/* PUT /auth/me/email (email.c). */
int auth_email_routes_add(auth_ctx *ctx);
/* TOTP enrolment and the second step of a login (mfa.c). */
int auth_mfa_routes_add(auth_ctx *ctx);
/* POST /auth/reauth with {code}: a TOTP code in place of the password. */
tn_status auth_mfa_reauth(auth_ctx *ctx, tn_request *req, json_t *body);
/* Takes one unit of the per-address zone; 0, or -1 after answering 429,
 * or 1 after answering 429 with the refusal audited as action (at most
 * once a minute per address; the handler returns TN_SUSPEND).  action
 * NULL: not audited. */
int auth_take_address(auth_ctx *ctx, tn_request *req, const char *action);

/* {"error": {"code", "message", "fields": {field: reason}}} */
void auth_error_field(const tn_api *api, tn_request *req, int status, const char *code,
                      const char *message, const char *field, const char *reason);
/* ["a", "b"] of "a,b" (a new reference; NULL when out of memory). */
json_t *auth_roles_json(const char *csv);
/* resp_error, then Retry-After: secs. */
void auth_error_retry(const tn_api *api, tn_request *req, int status, const char *code,
                      const char *message, long long secs);

/* The bearer step of the authenticate hook (tokens.c): 0 when the request
 * carries no `Authorization: Bearer` (the cookie path goes on); else 1,
 * with *st the hook's status (the request is answered, or suspended and
 * resumed with the token's principal). */
int auth_tokens_authenticate(auth_ctx *ctx, tn_request *req, tn_status *st);
/* GET/POST /auth/tokens, DELETE /auth/tokens/:id (tokens.c). */
int auth_tokens_routes_add(auth_ctx *ctx);
/* Exports the "auth.sessions" interface (include/tanomu_auth.h) other
 * plugins sign users in through (iface.c); from init() only. */
int auth_iface_export(auth_ctx *ctx);

/* cli.c: `tanomu user add` (ABI 1.2 command_add). */
int auth_cli_add(auth_ctx *ctx);

#endif
