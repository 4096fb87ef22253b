/*
 * tanomu_auth.h - the auth plugin's interface for other plugins (ABI 1.2
 * iface_export): "auth.sessions", version 1.  A sign-in plugin (LINE
 * Login, plugins/sso_line) proves who the user is its own way, then asks
 * the auth plugin to open the session, so sessions, cookies, CSRF tokens,
 * the tenant's MFA rules and the login audit stay in one place.
 *
 * A consumer lists "auth" in desc->depends and, in init():
 *   const tanomu_auth_sessions *as = api->iface_get(self, TANOMU_AUTH_SESSIONS, 1);
 *   if (as == NULL || as->size < sizeof *as) return -1;
 */
#ifndef TANOMU_AUTH_H
#define TANOMU_AUTH_H

#include <stdint.h>

#include <tanomu/tanomu.h>

#define TANOMU_AUTH_SESSIONS "auth.sessions"
#define TANOMU_AUTH_SESSIONS_VERSION 1

/* What a login gave; valid during the callback only. */
typedef struct tanomu_auth_login {
    int status; /* TN_OK: signed in; TN_ENOTFOUND: no such account, or disabled
                 * (nothing answered, the transaction rolled back); other:
                 * failed, the error answer is set (e.g. a database error) */
    const char *user_id, *login, *roles; /* roles comma-separated */
    /* "full"; "mfa": the session can only pass TOTP (POST /auth/login/mfa);
     * "enrol": MFA is required and not set up, only enrolment answers. */
    const char *stage;
    const char *csrf_token; /* the new session's; NULL at stage "mfa" */
} tanomu_auth_login;

typedef void (*tanomu_auth_login_cb)(tn_request *req, const tanomu_auth_login *res, void *ud);
/* status TN_OK with the new account's id; TN_EEXIST the login is taken;
 * other: failed.  On failure the transaction is rolled back. */
typedef void (*tanomu_auth_user_cb)(tn_request *req, int status, const char *user_id, void *ud);

typedef struct tanomu_auth_sessions {
    uint32_t size; /* sizeof: members are only appended */
    /* Inside a request: opens a session for user_id (a uuid of the
     * request's tenant), authenticated by `method` ("line"), with a new
     * session ID (the client's current session, if any, ends: fixation).
     * The tenant's MFA rules apply as at a password login.  Runs in the
     * request's transaction, with whatever the caller queued before it,
     * audits auth.login and COMMITS it.  On success the Set-Cookie of the
     * session and Cache-Control: no-store are set: answer with resp_json
     * (resp_error would drop them).  cb runs once, later; the caller
     * resumes the request.  TN_OK, or an error and cb never runs. */
    int (*login)(tn_request *req, const char *user_id, const char *method, tanomu_auth_login_cb cb,
                 void *ud);
    /* Inside a request: queues the creation of an account (login, one
     * role: "staff" or "buyer", never an administrator) with no usable
     * password, in the request's transaction, not committed.  cb gets the
     * new id.  TN_EINVAL: a role other than staff or buyer, a bad login. */
    int (*create_user)(tn_request *req, const char *login, const char *role, tanomu_auth_user_cb cb,
                       void *ud);
} tanomu_auth_sessions;

#endif
