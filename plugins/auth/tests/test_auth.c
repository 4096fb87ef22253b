/*
 * test_auth.c - the auth plugin on the testkit: the password policy and
 * hash format (S12), the session cookie and CSRF rules (S4), throttling
 * (S9), auditing (S20) and secrets kept out of logs and statements (S16).
 * The plugin's sources are compiled in; a scripted database plays the
 * tables (tests/integration_db/test_auth.py runs them for real).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <sodium.h>
#include <tanomu/testkit.h>

#include "email.h"
#include "password.h"
#include "pool.h"
#include "session.h"
#include "totp.h"
#include <liboath/oath.h>

#define T "shop1"
#define USER_ID "6f1c1f0e-1b1a-4c59-9d35-0a4b1f7c0001"
#define LOGIN "alice"
#define CANARY "Canary-Pw-7f3e-zebra-quartz" /* the known password */

/* The scripted tables: one user, at most one live session. */
typedef struct fakedb {
    char hash[AUTH_PW_HASH_MAX];
    char sid[AUTH_SID_LEN + 1];
    int failed;
    const char *wait; /* seconds the account is still locked */
    char roles[64];
    tk_kit *tk;
    char auth_at[24]; /* the session's authenticated_at, Unix seconds */
    char stage[8];    /* the session's */
    /* auth_mfa_totp's row of the user */
    char sealed[512];
    int confirmed;
    long long last_step; /* -1: NULL */
} fakedb;

/* The row-moving UPDATE of last_used_step, as PostgreSQL would run it. */
static void fake_take_step(fakedb *f, const char *step, int confirming, tn_db_result *res)
{
    long long s = strtoll(step, NULL, 10);
    tk_db_columns(res, 1, "one");
    if (f->sealed[0] && f->confirmed == !confirming && (f->last_step < 0 || f->last_step < s)) {
        f->last_step = s;
        f->confirmed = 1;
        tk_db_row(res, "1");
    }
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void db(const char *tenant, const char *sql, int n, const char *const *p, tn_db_result *res,
               void *ud)
{
    fakedb *f = ud;
    char count[16];
    (void)tenant;
    (void)n;
    if (starts(sql, "SELECT id::text, login, password_hash")) {
        tk_db_columns(res, 7, "id", "login", "password_hash", "roles", "disabled", "wait", "totp");
        if (strcmp(p[0], LOGIN) == 0 || strcmp(p[0], USER_ID) == 0)
            tk_db_row(res, USER_ID, LOGIN, f->hash, f->roles, "f", f->wait,
                      f->confirmed ? "t" : "f");
    } else if (starts(sql, "UPDATE auth_sessions s SET last_seen")) {
        tk_db_columns(res, 7, "user_id", "roles", "auth_at", "mfa", "method", "buyer", "stage");
        if (f->sid[0] && strcmp(p[0], f->sid) == 0)
            tk_db_row(res, USER_ID, f->roles, f->auth_at, "f", "password", NULL,
                      f->stage[0] ? f->stage : "full");
    } else if (starts(sql, "INSERT INTO auth_sessions")) {
        snprintf(f->sid, sizeof f->sid, "%s", p[0]);
        snprintf(f->stage, sizeof f->stage, "%s", n > 3 ? p[3] : "full");
        snprintf(f->auth_at, sizeof f->auth_at, "%lld", (long long)tk_unix_time(f->tk));
    } else if (starts(sql, "UPDATE auth_sessions SET authenticated_at = now()")) {
        snprintf(f->auth_at, sizeof f->auth_at, "%lld", (long long)tk_unix_time(f->tk));
    } else if (starts(sql, "INSERT INTO auth_mfa_totp")) {
        tk_db_columns(res, 1, "login");
        if (!f->confirmed) {
            snprintf(f->sealed, sizeof f->sealed, "%s", p[2]);
            f->last_step = -1;
            tk_db_row(res, LOGIN);
        }
    } else if (starts(sql, "SELECT secret_sealed FROM auth_mfa_totp")) {
        tk_db_columns(res, 1, "secret_sealed");
        if (f->sealed[0] && !f->confirmed)
            tk_db_row(res, f->sealed);
    } else if (starts(sql, "UPDATE auth_mfa_totp SET confirmed")) {
        fake_take_step(f, p[1], 1, res);
    } else if (starts(sql, "UPDATE auth_mfa_totp SET last_used_step")) {
        fake_take_step(f, p[1], 0, res);
    } else if (starts(sql, "INSERT INTO auth_mfa_recovery")) {
        tk_db_columns(res, 1, "one");
        if (f->confirmed)
            tk_db_row(res, "1");
    } else if (starts(sql, "UPDATE auth_sessions SET id = $1")) {
        if (strcmp(p[1], f->sid) == 0) {
            snprintf(f->sid, sizeof f->sid, "%s", p[0]);
            snprintf(f->stage, sizeof f->stage, "full");
        }
    } else if (starts(sql, "SELECT s.user_id::text, u.login")) {
        tk_db_columns(res, 5, "user_id", "login", "roles", "secret_sealed", "wait");
        if (strcmp(p[0], f->sid) == 0 && strcmp(f->stage, "mfa") == 0 && f->confirmed)
            tk_db_row(res, USER_ID, LOGIN, f->roles, f->sealed, f->wait);
    } else if (starts(sql, "DELETE FROM auth_sessions WHERE id = $1")) {
        if (strcmp(p[0], f->sid) == 0)
            f->sid[0] = '\0';
    } else if (starts(sql, "UPDATE auth_users SET failed_logins = failed_logins + 1")) {
        snprintf(count, sizeof count, "%d", ++f->failed);
        tk_db_columns(res, 1, "failed_logins");
        tk_db_row(res, count);
    } else if (starts(sql, "UPDATE auth_users SET failed_logins = 0") && n == 2 && p[1]) {
        snprintf(f->hash, sizeof f->hash, "%s", p[1]); /* the re-hash at login */
    } else if (starts(sql, "UPDATE auth_users SET password_hash")) {
        snprintf(f->hash, sizeof f->hash, "%s", p[1]);
    } else if (starts(sql, "SELECT u.id::text")) {
        tk_db_columns(res, 8, "id", "login", "roles", "buyer", "auth_at", "created", "mfa",
                      "method");
        if (strcmp(p[0], f->sid) == 0)
            tk_db_row(res, USER_ID, LOGIN, f->roles, NULL, "1700000000", "1700000000", "f",
                      "password");
    }
}

static tk_kit *kit(fakedb *f)
{
    tk_kit *tk = tk_new();
    memset(f, 0, sizeof *f);
    CU_ASSERT_FATAL(auth_pw_hash(CANARY, strlen(CANARY), f->hash) == 0);
    f->wait = "0";
    snprintf(f->roles, sizeof f->roles, "staff");
    f->tk = tk;
    tk_set_unix_time(tk, 1700000000);
    CU_ASSERT_EQUAL_FATAL(tk_load(tk, tn_plugin_entry()), TN_OK);
    tk_enable(tk, T, 1);
    tk_db_handler(tk, db, f);
    return tk;
}

/* Runs a request to its end. */
static tn_request *run(tk_kit *tk, const char *method, const char *target, const char *body,
                       const char *cookie, const char *csrf, const char *origin)
{
    char hdr[128];
    tn_request *r = tk_req_new(tk, T, method, target);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    tk_req_set_header(r, "Host", "shop1.example");
    if (body)
        tk_req_set_body(r, body, strlen(body));
    if (cookie) {
        snprintf(hdr, sizeof hdr, "%s=%s", AUTH_COOKIE, cookie);
        tk_req_set_header(r, "Cookie", hdr);
    }
    if (csrf)
        tk_req_set_header(r, "X-CSRF-Token", csrf);
    if (origin)
        tk_req_set_header(r, "Origin", origin);
    tk_req_set_client(r, "192.0.2.7");
    tk_req_run(r);
    tk_run_pending(tk);
    CU_ASSERT(tk_req_finished(r));
    return r;
}

static tn_request *login(tk_kit *tk, const char *user, const char *pw, const char *cookie)
{
    char body[256];
    snprintf(body, sizeof body, "{\"login\":\"%s\",\"password\":\"%s\"}", user, pw);
    return run(tk, "POST", "/auth/login", body, cookie, NULL, NULL);
}

/* The token of a Set-Cookie value of ours. */
static void cookie_token(const char *set_cookie, char out[AUTH_TOKEN_LEN + 1])
{
    out[0] = '\0';
    if (set_cookie && strncmp(set_cookie, AUTH_COOKIE "=", strlen(AUTH_COOKIE) + 1) == 0)
        snprintf(out, AUTH_TOKEN_LEN + 1, "%s", set_cookie + strlen(AUTH_COOKIE) + 1);
}

/* Nothing secret in the log or in any statement's parameters (S16). */
static void assert_no_secret(tk_kit *tk, const char *secret)
{
    CU_ASSERT_FALSE(tk_log_contains(tk, secret));
    for (size_t i = 0; i < tk_db_count(tk); i++) {
        const tk_db_stmt *s = tk_db_at(tk, i);
        for (int k = 0; k < s->nparams; k++)
            CU_ASSERT(s->params[k] == NULL || strstr(s->params[k], secret) == NULL);
    }
    CU_ASSERT_EQUAL(tk_log_secret_leaks(tk), 0);
}

/* ---- passwords (S12) ---------------------------------------------------------- */

static const char *check_email(auth_pw_ctx *pw, const char *email, const char *s)
{
    size_t n = 0;
    const char *reason = NULL;
    char *norm = auth_pw_normalize(s, strlen(s), &n, &reason);
    if (norm == NULL)
        return reason;
    auth_policy pol = {.min_length = 12, .login = "u-17", .email = email, .words = ""};
    reason = auth_pw_check(pw, &pol, norm, n);
    free(norm);
    return reason;
}

static const char *check(auth_pw_ctx *pw, int min, const char *words, const char *s)
{
    size_t n = 0;
    const char *reason = NULL;
    char *norm = auth_pw_normalize(s, strlen(s), &n, &reason);
    if (norm == NULL)
        return reason;
    auth_policy pol = {.min_length = min, .login = "alice.smith", .words = words};
    reason = auth_pw_check(pw, &pol, norm, n);
    free(norm);
    return reason;
}

static void test_policy_refusals_S12(void)
{
    auth_pw_ctx pw;
    char err[256], longpw[200];
    CU_ASSERT_EQUAL_FATAL(auth_pw_init(&pw, "/usr/share/john/password.lst", err, sizeof err), 0);
#define REFUSED(min, words, s, why)                                                                \
    do {                                                                                           \
        const char *got = check(&pw, min, words, s);                                               \
        CU_ASSERT_PTR_NOT_NULL(got);                                                               \
        if (got)                                                                                   \
            CU_ASSERT_STRING_EQUAL(got, why);                                                      \
    } while (0)
    REFUSED(12, "", "Qz7#kLm2!pW", "too_short"); /* 11 < 12 */
    REFUSED(4, "", "Qz7#kL!", "too_short");      /* the floor is 8 */
    REFUSED(12, "", "alice.smith", "too_short");
    REFUSED(8, "", "alice.smith", "contains_login");        /* equal */
    REFUSED(12, "", "xxALICE.SMITHyy99", "contains_login"); /* containing, any case */
    REFUSED(12, "", "123456789012", "digits_only");
    /* The e-mail address, or its local part of 3+ characters (any case). */
    CU_ASSERT_STRING_EQUAL(check_email(&pw, "kenta.ito@example.jp", "kenta.ito@example.jp"),
                           "contains_email");
    CU_ASSERT_STRING_EQUAL(check_email(&pw, "kenta.ito@example.jp", "Qz7#KENTA.ITO!pW"),
                           "contains_email");
    CU_ASSERT_STRING_EQUAL(check_email(&pw, "bo@example.jp", "Qz7#bo@example.jp!"),
                           "contains_email");
    CU_ASSERT_STRING_EQUAL(check_email(&pw, "kai@example.jp", "velvet-KAI-harbour-29"),
                           "contains_email");
    CU_ASSERT_PTR_NULL(check_email(&pw, "bo@example.jp", "velvet-bo-harbour-29")); /* < 3 */
    CU_ASSERT_PTR_NULL(check_email(&pw, NULL, "velvet-kai-harbour-29"));
    CU_ASSERT_STRING_NOT_EQUAL(auth_pw_reason_message("contains_email"),
                               auth_pw_reason_message("contains_login"));
    /* NFKC: full-width digits are digits. */
    REFUSED(12, "",
            "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95\xef\xbc\x96"
            "\xef\xbc\x97\xef\xbc\x98\xef\xbc\x99\xef\xbc\x90\xef\xbc\x91\xef\xbc\x92",
            "digits_only");
    REFUSED(12, "", "WinnieThePooh", "common_password"); /* john's list, any case */
    REFUSED(8, "", "password", "common_password");
    REFUSED(12, "Tanomu, Kawaguchi", "mykawaguchi-2026!", "tenant_word");
    REFUSED(12, "", "housekeeping", "dictionary_word"); /* cracklib */
    REFUSED(12, "", "\xff\xfe broken utf8 bytes", "invalid_utf8");
    /* Accepted: a passphrase, any Unicode, 128 characters. */
    CU_ASSERT_PTR_NULL(check(&pw, 12, "", "correct horse battery staple"));
    CU_ASSERT_PTR_NULL(check(&pw, 12, "",
                             "\xe3\x81\x93\xe3\x82\x8c\xe3\x81\xaf\xe5\xae\x89"
                             "\xe5\x85\xa8\xe3\x81\xaa\xe5\x90\x88\xe8\xa8\x80"
                             "\xe8\x91\x89\xe3\x81\xa7\xe3\x81\x99\xe3\x82\x88\xe3\x81\xad"));
    memset(longpw, 0, sizeof longpw);
    for (int i = 0; i < 128; i++)
        longpw[i] = "kT9#vq2!Lm8$wZ"[i % 14];
    CU_ASSERT_PTR_NULL(check(&pw, 12, "", longpw));
    /* Each reason has its own message. */
    CU_ASSERT_STRING_NOT_EQUAL(auth_pw_reason_message("digits_only"),
                               auth_pw_reason_message("too_short"));
    auth_pw_free(&pw);
}

static void test_hash_phc_parameters_S12(void)
{
    char h[AUTH_PW_HASH_MAX];
    CU_ASSERT_EQUAL_FATAL(auth_pw_hash(CANARY, strlen(CANARY), h), 0);
    CU_ASSERT_EQUAL(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    CU_ASSERT(auth_pw_verify(h, CANARY, strlen(CANARY)));
    CU_ASSERT_FALSE(auth_pw_verify(h, "canary-pw", 9));
    CU_ASSERT_FALSE(auth_pw_needs_rehash(h));
    /* A hash of weaker parameters is re-hashed at the next login. */
    CU_ASSERT_EQUAL_FATAL(crypto_pwhash_str_alg(h, CANARY, strlen(CANARY), 1, 8192 * 1024,
                                                crypto_pwhash_ALG_ARGON2ID13),
                          0);
    CU_ASSERT(auth_pw_needs_rehash(h));
}

/* ---- login, cookie, session (S4) ------------------------------------------------ */

static void test_login_cookie_attributes_S4(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    char tok[AUTH_TOKEN_LEN + 1];
    tn_request *r = login(tk, LOGIN, CANARY, NULL);

    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    const char *sc = tk_resp_header(r, "Set-Cookie");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    cookie_token(sc, tok);
    CU_ASSERT_EQUAL(strlen(tok), AUTH_TOKEN_LEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(sc, "; Secure"));
    CU_ASSERT_PTR_NOT_NULL(strstr(sc, "; HttpOnly"));
    CU_ASSERT_PTR_NOT_NULL(strstr(sc, "; SameSite=Lax"));
    CU_ASSERT_PTR_NOT_NULL(strstr(sc, "; Path=/"));
    CU_ASSERT_PTR_NULL(strstr(sc, "Domain="));
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "user.id"), USER_ID);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "user.login"), LOGIN);
    CU_ASSERT_EQUAL(strlen(tk_resp_json_string(r, "csrf_token")), AUTH_TOKEN_LEN);
    /* Only the token's SHA-256 reaches the database. */
    auth_token t;
    CU_ASSERT_EQUAL_FATAL(auth_token_parse(&t, tok), 0);
    CU_ASSERT_STRING_EQUAL(f.sid, t.sid);
    assert_no_secret(tk, tok);
    assert_no_secret(tk, CANARY);
    /* Audited (S20). */
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 1);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->action, "auth.login");
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->result, "ok");
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->target_id, USER_ID);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->client_addr, "192.0.2.7");
    /* The session authenticates /auth/me, which gives the same CSRF token. */
    char csrf[AUTH_TOKEN_LEN + 1];
    snprintf(csrf, sizeof csrf, "%s", tk_resp_json_string(r, "csrf_token"));
    tn_request *me = run(tk, "GET", "/auth/me", NULL, tok, NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(me), 200);
    CU_ASSERT_STRING_EQUAL(tk_req_principal(me), USER_ID);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(me, "csrf_token"), csrf);
    /* Without the cookie: 401 from the host's access check. */
    CU_ASSERT_EQUAL(tk_resp_status(run(tk, "GET", "/auth/me", NULL, NULL, NULL, NULL)), 401);
    /* A new login with the old cookie: a new session ID, the old one deleted. */
    tn_request *again = login(tk, LOGIN, CANARY, tok);
    char tok2[AUTH_TOKEN_LEN + 1];
    cookie_token(tk_resp_header(again, "Set-Cookie"), tok2);
    CU_ASSERT_STRING_NOT_EQUAL(tok, tok2);
    CU_ASSERT_EQUAL(tk_resp_status(run(tk, "GET", "/auth/me", NULL, tok, NULL, NULL)), 401);
    tk_free(tk);
}

static void test_unknown_user_and_wrong_password_alike_S12(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    tn_request *a = login(tk, "nobody", CANARY, NULL);
    tn_request *b = login(tk, LOGIN, "Wrong-Pw-1234-xyz", NULL);
    CU_ASSERT_EQUAL(tk_resp_status(a), 401);
    CU_ASSERT_EQUAL(tk_resp_status(b), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(a, NULL), tk_resp_body(b, NULL));
    CU_ASSERT_PTR_NULL(tk_resp_header(a, "Set-Cookie"));
    /* Both audited as failed; only the real account counts a failure. */
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 2);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->result, "failed");
    CU_ASSERT_PTR_NULL(tk_audit_at(tk, 0)->target_id);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 1)->target_id, USER_ID);
    CU_ASSERT_EQUAL(f.failed, 1);
    assert_no_secret(tk, CANARY);
    tk_free(tk);
}

/* ---- CSRF (S4) ------------------------------------------------------------------- */

#define TOK43 "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE"

/* S4: the csrf_token field of a multipart/form-data body (RFC 7578). */
static void test_multipart_field_S4(void)
{
    const char *ct = "multipart/form-data; boundary=XyZ42";
    char out[AUTH_TOKEN_LEN + 1];
    static const char ok[] = "--XyZ42\r\n"
                             "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
                             "hello --XyZ42 inside a line\r\n"
                             "--XyZ42   \r\n"
                             "content-disposition: form-data;name=\"csrf_token\"\r\n"
                             "Content-Type: text/plain\r\n\r\n" TOK43 "\r\n"
                             "--XyZ42--\r\n";
    static const char file[] = "--XyZ42\r\n"
                               "Content-Disposition: form-data; name=\"csrf_token\"; "
                               "filename=\"t.txt\"\r\n\r\n" TOK43 "\r\n--XyZ42--\r\n";
    static const char other[] =
        "--XyZ42\r\n"
        "Content-Disposition: form-data; xname=\"csrf_token\"\r\n\r\n" TOK43 "\r\n--XyZ42\r\n"
        "Content-Disposition: form-data; name=\"csrf_token_2\"\r\n\r\n" TOK43 "\r\n--XyZ42--\r\n";
    static const char open_end[] =
        "--XyZ42\r\n"
        "Content-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" TOK43;
    static const char bad_value[] = "--XyZ42\r\n"
                                    "Content-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
                                    "abc def\r\n--XyZ42--\r\n";

    CU_ASSERT_EQUAL(auth_multipart_token(ok, strlen(ok), ct, "csrf_token", out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, TOK43);
    CU_ASSERT_EQUAL(auth_multipart_token(ok, strlen(ok),
                                         "multipart/form-data; charset=utf-8; "
                                         "boundary=\"XyZ42\"",
                                         "csrf_token", out, sizeof out),
                    0);
    CU_ASSERT_EQUAL(auth_multipart_token(ok, strlen(ok), "multipart/form-data", "csrf_token", out,
                                         sizeof out),
                    -1); /* no boundary */
    CU_ASSERT_EQUAL(auth_multipart_token(ok, strlen(ok), "multipart/form-data; boundary=Other",
                                         "csrf_token", out, sizeof out),
                    -1);
    CU_ASSERT_EQUAL(auth_multipart_token(ok, strlen(ok), ct, "csrf_token", out, 10), -1);
    CU_ASSERT_EQUAL(auth_multipart_token(file, strlen(file), ct, "csrf_token", out, sizeof out),
                    -1); /* a file is not a field */
    CU_ASSERT_EQUAL(auth_multipart_token(other, strlen(other), ct, "csrf_token", out, sizeof out),
                    -1);
    CU_ASSERT_EQUAL(auth_multipart_token(open_end, strlen(open_end), ct, "csrf_token", out,
                                         sizeof out),
                    -1);
    CU_ASSERT_EQUAL(auth_multipart_token(bad_value, strlen(bad_value), ct, "csrf_token", out,
                                         sizeof out),
                    -1);
    for (size_t n = 0; n < strlen(ok); n++) /* every truncation: no overread, no token */
        CU_ASSERT_EQUAL(auth_multipart_token(ok, n, ct, "csrf_token", out, sizeof out),
                        n >= strlen(ok) - strlen("--XyZ42--\r\n") + 7 ? 0 : -1);
}

static void test_csrf_missing_wrong_foreign_S4(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    char tok[AUTH_TOKEN_LEN + 1], csrf[AUTH_TOKEN_LEN + 1];
    tn_request *r = login(tk, LOGIN, CANARY, NULL);
    cookie_token(tk_resp_header(r, "Set-Cookie"), tok);
    snprintf(csrf, sizeof csrf, "%s", tk_resp_json_string(r, "csrf_token"));

    r = run(tk, "POST", "/auth/logout", NULL, tok, NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "csrf_token");
    r = run(tk, "POST", "/auth/logout", NULL, tok, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "csrf_token");
    r = run(tk, "POST", "/auth/logout", NULL, tok, csrf, "https://evil.example");
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "csrf_origin");
    /* A foreign Origin cannot log anyone in either (login CSRF). */
    char body[128];
    snprintf(body, sizeof body, "{\"login\":\"%s\",\"password\":\"%s\"}", LOGIN, CANARY);
    r = run(tk, "POST", "/auth/login", body, NULL, NULL, "https://evil.example");
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    CU_ASSERT_STRING_NOT_EQUAL(f.sid, ""); /* still logged in */
    /* An HTML form carries it as the csrf_token field. */
    char form[160];
    snprintf(form, sizeof form, "a=1&csrf_token=%s&b=2", csrf);
    r = tk_req_new(tk, T, "POST", "/auth/reauth");
    snprintf(body, sizeof body, "%s=%s", AUTH_COOKIE, tok);
    tk_req_set_header(r, "Cookie", body);
    tk_req_set_header(r, "Content-Type", "application/x-www-form-urlencoded");
    tk_req_set_body(r, form, strlen(form));
    tk_req_run(r);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_resp_status(r), 400); /* past CSRF: the JSON body is what fails */
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "bad_request");
    snprintf(form, sizeof form, "csrf_token=%.42s", csrf); /* one character short */
    r = tk_req_new(tk, T, "POST", "/auth/reauth");
    tk_req_set_header(r, "Cookie", body);
    tk_req_set_header(r, "Content-Type", "application/x-www-form-urlencoded");
    tk_req_set_body(r, form, strlen(form));
    tk_req_run(r);
    tk_run_pending(tk);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "csrf_token");
    /* The same field in a multipart/form-data body. */
    char mp[400];
    for (int right = 1; right >= 0; right--) {
        snprintf(mp, sizeof mp,
                 "--b0undary\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
                 "%s\r\n--b0undary--\r\n",
                 right ? csrf : "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        r = tk_req_new(tk, T, "POST", "/auth/reauth");
        tk_req_set_header(r, "Cookie", body);
        tk_req_set_header(r, "Content-Type", "multipart/form-data; boundary=b0undary");
        tk_req_set_body(r, mp, strlen(mp));
        tk_req_run(r);
        tk_run_pending(tk);
        CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"),
                               right ? "bad_request" : "csrf_token");
    }
    /* GET needs no token. */
    CU_ASSERT_EQUAL(tk_resp_status(run(tk, "GET", "/auth/me", NULL, tok, NULL, NULL)), 200);
    /* The tenant's own origin or a configured one, with the token: accepted. */
    tk_set(tk, T, "allowed_origins", "https://console.example");
    r = run(tk, "POST", "/auth/reauth", "{\"password\":\"" CANARY "\"}", tok, csrf,
            "https://console.example");
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    r = run(tk, "POST", "/auth/logout", NULL, tok, csrf, "https://shop1.example");
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    const char *clear = tk_resp_header(r, "Set-Cookie");
    CU_ASSERT_PTR_NOT_NULL(clear);
    if (clear)
        CU_ASSERT_PTR_NOT_NULL(strstr(clear, "Max-Age=0"));
    CU_ASSERT_STRING_EQUAL(f.sid, ""); /* deleted server-side */
    r = run(tk, "GET", "/auth/me", NULL, tok, NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    /* The dead session's cookie blocks nothing public (no authority, so
     * no CSRF token needed) and is cleared. */
    r = run(tk, "POST", "/auth/password/reset", "{\"login\":\"nobody\"}", tok, NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 202);
    clear = tk_resp_header(r, "Set-Cookie");
    CU_ASSERT(clear && strstr(clear, "Max-Age=0"));
    assert_no_secret(tk, tok);
    assert_no_secret(tk, csrf);
    tk_free(tk);
}

/* ---- password change (S12) ---------------------------------------------------------- */

static void test_password_change_policy_and_rehash_S12(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    char tok[AUTH_TOKEN_LEN + 1], csrf[AUTH_TOKEN_LEN + 1];
    tn_request *r = login(tk, LOGIN, CANARY, NULL);
    cookie_token(tk_resp_header(r, "Set-Cookie"), tok);
    snprintf(csrf, sizeof csrf, "%s", tk_resp_json_string(r, "csrf_token"));

    r = run(tk, "POST", "/auth/password",
            "{\"current_password\":\"" CANARY "\",\"new_password\":\"housekeeping\"}", tok, csrf,
            NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "weak_password");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.fields.new_password"), "dictionary_word");
    tk_set(tk, T, "password_min_length", "20");
    r = run(tk, "POST", "/auth/password",
            "{\"current_password\":\"" CANARY "\",\"new_password\":\"kT9#vq2!Lm8$wZ\"}", tok, csrf,
            NULL);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.fields.new_password"), "too_short");
    r = run(tk, "POST", "/auth/password",
            "{\"current_password\":\"not-it-at-all-1\",\"new_password\":\"kT9#vq2!Lm8$wZ-yq4!Xe\"}",
            tok, csrf, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "invalid_credentials");
    r = run(tk, "POST", "/auth/password",
            "{\"current_password\":\"" CANARY "\",\"new_password\":\"kT9#vq2!Lm8$wZ-yq4!Xe\"}", tok,
            csrf, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_EQUAL(strncmp(f.hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    CU_ASSERT(auth_pw_verify(f.hash, "kT9#vq2!Lm8$wZ-yq4!Xe", 21));
    assert_no_secret(tk, "kT9#vq2!Lm8$wZ-yq4!Xe");
    /* An older hash is replaced at the next login. */
    CU_ASSERT_EQUAL_FATAL(crypto_pwhash_str_alg(f.hash, CANARY, strlen(CANARY), 1, 8192 * 1024,
                                                crypto_pwhash_ALG_ARGON2ID13),
                          0);
    r = login(tk, LOGIN, CANARY, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_FALSE(auth_pw_needs_rehash(f.hash));
    tk_free(tk);
}

/* S6, S9: the password change needs an authentication at most 300 s old
 * (a route option the host enforces from the session's authenticated_at);
 * POST /auth/reauth refreshes it. */
static void test_reauth_required_after_300s_S6_S9(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    char tok[AUTH_TOKEN_LEN + 1], csrf[AUTH_TOKEN_LEN + 1];
    const char *change = "{\"current_password\":\"" CANARY "\",\"new_password\":\"housekeeping\"}";
    tn_request *r = login(tk, LOGIN, CANARY, NULL);
    cookie_token(tk_resp_header(r, "Set-Cookie"), tok);
    snprintf(csrf, sizeof csrf, "%s", tk_resp_json_string(r, "csrf_token"));

    tk_advance_ms(tk, 299 * 1000);
    r = run(tk, "POST", "/auth/password", change, tok, csrf, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422); /* reached the handler */
    tk_advance_ms(tk, 2 * 1000);
    r = run(tk, "POST", "/auth/password", change, tok, csrf, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "reauth_required");
    r = run(tk, "POST", "/auth/reauth", "{\"password\":\"" CANARY "\"}", tok, csrf, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    r = run(tk, "POST", "/auth/password", change, tok, csrf, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    tk_free(tk);
}

/* ---- TOTP (S13) -------------------------------------------------------------------- */

/* RFC 6238 Appendix B, SHA1 rows (8 digits, the ASCII secret
 * "12345678901234567890"), through liboath with the plugin's step and
 * epoch: a check of the parameters the plugin hands liboath. */
static void test_totp_rfc6238_vectors_S13(void)
{
    static const char secret[] = "12345678901234567890";
    static const struct {
        time_t t;
        const char *otp;
    } v[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
             {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000LL, "65353130"}};
    char out[9];
    int64_t step = 0;

    CU_ASSERT_EQUAL_FATAL(auth_totp_init(), 0);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        CU_ASSERT_EQUAL(oath_totp_generate(secret, 20, v[i].t, AUTH_TOTP_STEP_S,
                                           OATH_TOTP_DEFAULT_START_TIME, 8, out),
                        OATH_OK);
        CU_ASSERT_STRING_EQUAL(out, v[i].otp);
        /* The plugin's 6 digits are the last 6 of the same value. */
        CU_ASSERT_EQUAL(auth_totp_check((const unsigned char *)secret, 20, v[i].t, v[i].otp + 2,
                                        &step),
                        0);
        CU_ASSERT_EQUAL(step, (int64_t)(v[i].t / AUTH_TOTP_STEP_S));
    }
}

/* ±1 step accepted (and reported, for the replay guard), ±2 refused;
 * malformed codes refused before liboath sees them. */
static void test_totp_window_S13(void)
{
    unsigned char secret[AUTH_TOTP_SECRET_BYTES];
    char b32[AUTH_TOTP_B32_LEN + 1], code[7];
    time_t now = 1700000015; /* step 56666667 */
    int64_t step = 0;

    auth_totp_new(secret, b32);
    for (int d = -2; d <= 2; d++) {
        CU_ASSERT_EQUAL_FATAL(oath_totp_generate((const char *)secret, sizeof secret,
                                                 now + d * AUTH_TOTP_STEP_S, AUTH_TOTP_STEP_S,
                                                 OATH_TOTP_DEFAULT_START_TIME, 6, code),
                              OATH_OK);
        int rc = auth_totp_check(secret, sizeof secret, now, code, &step);
        if (d == -2 || d == 2) {
            CU_ASSERT_EQUAL(rc, -1);
        } else {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL(step, (int64_t)(now / AUTH_TOTP_STEP_S) + d);
        }
    }
    CU_ASSERT_EQUAL(auth_totp_check(secret, sizeof secret, now, "12345", &step), -1);
    CU_ASSERT_EQUAL(auth_totp_check(secret, sizeof secret, now, "12345a", &step), -1);
    CU_ASSERT_EQUAL(auth_totp_check(secret, sizeof secret, now, "1234567", &step), -1);
}

/* The base32 text is the secret (liboath decodes it back); the URI has
 * the promised form; recovery codes hash alike however typed. */
static void test_totp_secret_uri_recovery_S13(void)
{
    unsigned char secret[AUTH_TOTP_SECRET_BYTES];
    char b32[AUTH_TOTP_B32_LEN + 1], uri[512], want[512], code[AUTH_RECOVERY_LEN + 1];
    char h1[65], h2[65], typed[64];
    char *raw = NULL;
    size_t len = 0;

    auth_totp_new(secret, b32);
    CU_ASSERT_EQUAL(strlen(b32), AUTH_TOTP_B32_LEN);
    CU_ASSERT_EQUAL_FATAL(oath_base32_decode(b32, strlen(b32), &raw, &len), OATH_OK);
    CU_ASSERT_EQUAL(len, sizeof secret);
    CU_ASSERT(raw && memcmp(raw, secret, sizeof secret) == 0);
    free(raw);
    CU_ASSERT_EQUAL(auth_totp_uri(uri, sizeof uri, "shop1", "alice@example.com", b32), 0);
    snprintf(want, sizeof want,
             "otpauth://totp/shop1:alice%%40example.com?secret=%s&issuer=shop1"
             "&algorithm=SHA1&digits=6&period=30",
             b32);
    CU_ASSERT_STRING_EQUAL(uri, want);
    CU_ASSERT_EQUAL(auth_totp_uri(uri, 40, "shop1", "alice", b32), -1);

    auth_recovery_new(code, h1);
    CU_ASSERT_EQUAL(strlen(code), AUTH_RECOVERY_LEN);
    snprintf(typed, sizeof typed, "%.8s-%.8s %.16s", code, code + 8, code + 16);
    for (char *c = typed; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    CU_ASSERT_EQUAL(auth_recovery_hash(typed, h2), 0);
    CU_ASSERT_STRING_EQUAL(h1, h2);
    CU_ASSERT_EQUAL(auth_recovery_hash("not-a-code", h2), -1);
    CU_ASSERT_EQUAL(auth_recovery_hash("", h2), -1);
}

/* The current code of an enrolment answer's base32 secret, `steps` steps
 * from now (liboath, as an authenticator app would compute it). */
static void code_of(const char *b32, int steps, char out[7])
{
    char *raw = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(oath_base32_decode(b32, strlen(b32), &raw, &len), OATH_OK);
    CU_ASSERT_EQUAL(oath_totp_generate(raw, len, time(NULL) + steps * AUTH_TOTP_STEP_S,
                                       AUTH_TOTP_STEP_S, OATH_TOTP_DEFAULT_START_TIME, 6, out),
                    OATH_OK);
    free(raw);
}

/* S13 through the plugin: enrol (the secret sealed by the keyring before
 * it reaches the database), confirm; then login answers mfa_required and
 * the pre-MFA session passes only with a fresh code: the confirm code
 * replayed and a code 2 steps ahead are refused, the next step's passes
 * with a new session ID.  S16: the secret is in no log or statement. */
static void test_totp_login_replay_refused_S13(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    char tok[AUTH_TOKEN_LEN + 1], csrf[AUTH_TOKEN_LEN + 1], pre[AUTH_TOKEN_LEN + 1];
    char b32[AUTH_TOTP_B32_LEN + 1], code[7], body[64];
    tn_request *r = login(tk, LOGIN, CANARY, NULL);
    cookie_token(tk_resp_header(r, "Set-Cookie"), tok);
    snprintf(csrf, sizeof csrf, "%s", tk_resp_json_string(r, "csrf_token"));

    r = run(tk, "POST", "/auth/mfa/totp/enrol", NULL, tok, csrf, NULL);
    CU_ASSERT_EQUAL_FATAL(tk_resp_status(r), 200);
    snprintf(b32, sizeof b32, "%s", tk_resp_json_string(r, "secret"));
    CU_ASSERT_EQUAL(strncmp(f.sealed, "tnsec:", 6), 0);
    CU_ASSERT_PTR_NULL(strstr(f.sealed, b32));
    code_of(b32, 0, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    r = run(tk, "POST", "/auth/mfa/totp/confirm", body, tok, csrf, NULL);
    CU_ASSERT_EQUAL_FATAL(tk_resp_status(r), 200);
    CU_ASSERT(f.confirmed);

    r = login(tk, LOGIN, CANARY, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_STRING_EQUAL(tk_resp_body(r, NULL), "{\"mfa_required\":true}");
    cookie_token(tk_resp_header(r, "Set-Cookie"), pre);
    CU_ASSERT_EQUAL(tk_resp_status(run(tk, "GET", "/auth/me", NULL, pre, NULL, NULL)), 401);
    r = run(tk, "POST", "/auth/login/mfa", body, pre, NULL, NULL); /* replay */
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "invalid_code");
    /* Out of the last seconds of a step, so +2 is still +2 when checked. */
    if (AUTH_TOTP_STEP_S - time(NULL) % AUTH_TOTP_STEP_S < 3)
        sleep((unsigned)(AUTH_TOTP_STEP_S - time(NULL) % AUTH_TOTP_STEP_S));
    code_of(b32, 2, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    r = run(tk, "POST", "/auth/login/mfa", body, pre, NULL, NULL); /* +2 steps */
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    code_of(b32, 1, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    r = run(tk, "POST", "/auth/login/mfa", body, pre, NULL, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    cookie_token(tk_resp_header(r, "Set-Cookie"), tok);
    CU_ASSERT_STRING_NOT_EQUAL(tok, pre);
    CU_ASSERT_EQUAL(tk_resp_status(run(tk, "GET", "/auth/me", NULL, tok, NULL, NULL)), 200);
    r = run(tk, "POST", "/auth/login/mfa", body, pre, NULL, NULL); /* the old ID is gone */
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    assert_no_secret(tk, b32);
    tk_free(tk);
}

/* ---- throttling (S9) ------------------------------------------------------------------- */

static void test_lock_and_throttle_S9(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    tn_request *r;

    tk_set(tk, T, "lock_after", "3");
    tk_set(tk, T, "delay_after", "3");
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(tk_resp_status(login(tk, LOGIN, "Wrong-Pw-1234-xyz", NULL)), 401);
    /* The third failure locks: an event and an audit entry. */
    CU_ASSERT_EQUAL_FATAL(tk_outbox_count(tk), 1);
    CU_ASSERT_STRING_EQUAL(tk_outbox_at(tk, 0)->name, "auth.account_locked");
    CU_ASSERT_PTR_NOT_NULL(strstr(tk_outbox_at(tk, 0)->payload, USER_ID));
    CU_ASSERT_EQUAL(tk_metric(tk, "tanomu_plugin_auth_account_locks_total", T), 1);
    /* While locked (the database says for how long): 429, not even checked. */
    f.wait = "42";
    r = login(tk, LOGIN, CANARY, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 429);
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Retry-After"), "42");
    CU_ASSERT_PTR_NULL(tk_resp_header(r, "Set-Cookie"));
    const tk_audit_entry *last = tk_audit_at(tk, tk_audit_count(tk) - 1);
    CU_ASSERT_STRING_EQUAL(last->result, "denied");
    /* Per client address: the zone's burst (20), then 429 with Retry-After. */
    f.wait = "0";
    int limited = 0;
    for (int i = 0; i < 25 && !limited; i++) {
        r = login(tk, "nobody", "x-Wrong-Pw-1234", NULL);
        limited = tk_resp_status(r) == 429;
    }
    CU_ASSERT(limited);
    CU_ASSERT_PTR_NOT_NULL(tk_resp_header(r, "Retry-After"));
    CU_ASSERT(tk_limit_stat(tk, "auth", "login", "limited") >= 1);
    tk_free(tk);
}

static void test_origin_and_cookie_rules_S4(void)
{
    auth_token t, u;
    char csrf[AUTH_TOKEN_LEN + 1], buf[128];

    CU_ASSERT(auth_origin_allowed("https://shop1.example", "shop1.example", ""));
    CU_ASSERT(auth_origin_allowed("http://SHOP1.example:8080", "shop1.example:8080", ""));
    CU_ASSERT_FALSE(auth_origin_allowed("https://shop1.example:444", "shop1.example", ""));
    CU_ASSERT_FALSE(auth_origin_allowed("https://shop1.example.evil", "shop1.example", ""));
    CU_ASSERT_FALSE(auth_origin_allowed("null", "shop1.example", ""));
    CU_ASSERT_FALSE(auth_origin_allowed("ftp://shop1.example", "shop1.example", ""));
    CU_ASSERT_FALSE(auth_origin_allowed("https://shop1.example", NULL, ""));
    CU_ASSERT(auth_origin_allowed("https://console.example", "shop1.example",
                                  "https://a.example, https://console.example"));
    CU_ASSERT_FALSE(auth_origin_allowed("https://console.example.evil", "shop1.example",
                                        "https://console.example"));
    CU_ASSERT(auth_method_changes_state("POST") && auth_method_changes_state("DELETE") &&
              auth_method_changes_state("PATCH") && auth_method_changes_state("PUT"));
    CU_ASSERT_FALSE(auth_method_changes_state("GET") || auth_method_changes_state("HEAD") ||
                    auth_method_changes_state("OPTIONS"));
    /* Tokens: 43 base64url characters, parsed back to the same hash;
     * anything else is not a token. */
    auth_token_new(&t);
    CU_ASSERT_EQUAL(strlen(t.text), AUTH_TOKEN_LEN);
    CU_ASSERT_EQUAL(auth_token_parse(&u, t.text), 0);
    CU_ASSERT_STRING_EQUAL(u.sid, t.sid);
    CU_ASSERT_NOT_EQUAL(auth_token_parse(&u, "short"), 0);
    CU_ASSERT_NOT_EQUAL(auth_token_parse(&u, "+++++++++++++++++++++++++++++++++++++++++++"), 0);
    /* The CSRF token belongs to its session only. */
    auth_csrf_token(&t, csrf);
    CU_ASSERT(auth_csrf_ok(&t, csrf));
    auth_token_new(&u);
    CU_ASSERT_FALSE(auth_csrf_ok(&u, csrf));
    CU_ASSERT_FALSE(auth_csrf_ok(&t, NULL));
    CU_ASSERT_FALSE(auth_csrf_ok(&t, ""));
    CU_ASSERT_EQUAL(auth_cookie_set(buf, sizeof buf, &t), 0);
    CU_ASSERT_EQUAL(strncmp(buf, "__Host-tanomu_sid=", 18), 0);
    CU_ASSERT_NOT_EQUAL(auth_cookie_set(buf, 20, &t), 0); /* never cut */
    /* Form fields: exact name, base64url only, never cut. */
    char v[AUTH_TOKEN_LEN + 1];
    const char *f1 = "xcsrf_token=bad&csrf_token=abc_-Z9";
    CU_ASSERT_EQUAL(auth_form_token(f1, strlen(f1), "csrf_token", v, sizeof v), 0);
    CU_ASSERT_STRING_EQUAL(v, "abc_-Z9");
    CU_ASSERT_NOT_EQUAL(auth_form_token("csrf_token=a%2Bb", 16, "csrf_token", v, sizeof v), 0);
    CU_ASSERT_NOT_EQUAL(auth_form_token("csrf_token=", 11, "csrf_token", v, sizeof v), 0);
    CU_ASSERT_NOT_EQUAL(auth_form_token("csrf_token=abcdef", 17, "csrf_token", v, 4), 0);
    CU_ASSERT_NOT_EQUAL(auth_form_token(NULL, 0, "csrf_token", v, sizeof v), 0);
}

/* The clean-up job: one run per enabling tenant, with that tenant's
 * timeouts, in a transaction bound to it, committed. */
static void test_cleanup_job_uses_tenant_timeouts_S4(void)
{
    fakedb f;
    tk_kit *tk = kit(&f);
    const tk_db_stmt *del = NULL;
    int committed = 0;

    tk_set(tk, T, "idle_timeout_s", "600");
    tk_set(tk, T, "admin_idle_timeout_s", "300");
    CU_ASSERT_EQUAL_FATAL(tk_job_run(tk, "auth.session_cleanup", T), TN_OK);
    tk_run_pending(tk);
    for (size_t i = 0; i < tk_db_count(tk); i++) {
        const tk_db_stmt *st = tk_db_at(tk, i);
        if (starts(st->sql, "DELETE FROM auth_sessions s USING auth_users u"))
            del = st;
        committed += strcmp(st->sql, "COMMIT") == 0;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(del);
    CU_ASSERT_STRING_EQUAL(del->tenant, T);
    CU_ASSERT_EQUAL_FATAL(del->nparams, 3);
    CU_ASSERT_STRING_EQUAL(del->params[0], "43200");
    CU_ASSERT_STRING_EQUAL(del->params[1], "600");
    CU_ASSERT_STRING_EQUAL(del->params[2], "300");
    CU_ASSERT_EQUAL(committed, 1);
    CU_ASSERT_EQUAL_FATAL(tk_job_count(tk), 1);
    CU_ASSERT_STRING_EQUAL(tk_job_at(tk, 0)->result, "ok");
    tk_free(tk);
}

/* ---- the hash gate ---------------------------------------------------------------- */

typedef struct probe_job {
    auth_job job;
    int ran, done, status;
    int nice, policy, other_thread; /* where and how the work ran */
    int *n;                         /* completions so far, shared */
} probe_job;

static pthread_t main_thread;

static void probe_work(auth_job *j)
{
    probe_job *p = (probe_job *)j;
    struct sched_param sp;
    p->ran = 1;
    p->other_thread = !pthread_equal(pthread_self(), main_thread);
    errno = 0;
    p->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if (pthread_getschedparam(pthread_self(), &p->policy, &sp) != 0)
        p->policy = -1;
}

static void probe_done(auth_job *j, int status)
{
    probe_job *p = (probe_job *)j;
    p->done = 1;
    p->status = status;
    (*p->n)++;
}

static void test_hash_gate_cap_and_queue_S12(void)
{
    tk_kit *tk = tk_new();
    auth_pool pool;
    probe_job jobs[4];
    int n = 0;

    CU_ASSERT_EQUAL_FATAL(tk_load(tk, tn_plugin_entry()), TN_OK);
    /* One at a time, one waiting: a third is refused (the route answers
     * 503 busy), nothing runs on the loop. */
    auth_pool_init(&pool, tk_api(tk), tk_plugin(tk, "auth"), 1, 1);
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 4; i++)
        jobs[i].n = &n;
    CU_ASSERT_EQUAL(auth_pool_submit(&pool, &jobs[0].job, probe_work, probe_done), TN_OK);
    CU_ASSERT_EQUAL(auth_pool_submit(&pool, &jobs[1].job, probe_work, probe_done), TN_OK);
    CU_ASSERT_EQUAL(auth_pool_submit(&pool, &jobs[2].job, probe_work, probe_done), TN_EBUSY);
    CU_ASSERT_EQUAL(pool.active, 1);
    CU_ASSERT_EQUAL(pool.queued, 1);
    CU_ASSERT_FALSE(jobs[0].ran || jobs[1].ran);
    tk_run_pending(tk);
    CU_ASSERT(jobs[0].ran && jobs[0].done && jobs[0].status == 0);
    CU_ASSERT(jobs[1].ran && jobs[1].done && jobs[1].status == 0);
    CU_ASSERT_FALSE(jobs[2].ran || jobs[2].done);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(pool.active, 0);
    CU_ASSERT_EQUAL(pool.queued, 0);
    /* Room again. */
    CU_ASSERT_EQUAL(auth_pool_submit(&pool, &jobs[3].job, probe_work, probe_done), TN_OK);
    tk_run_pending(tk);
    CU_ASSERT(jobs[3].done);
    auth_pool_fini(&pool);
    tk_free(tk);
}

/* The loop stays responsive during a login storm (issue 8): hashes run on
 * the plugin's own threads, SCHED_BATCH at the configured nice value, not
 * on the thread that lent itself (nor on the loop), and fini joins them
 * after they finished what they were given. */
static void test_hash_threads_low_priority(void)
{
    tk_kit *tk = tk_new();
    auth_pool pool;
    probe_job jobs[3];
    int n = 0;

    main_thread = pthread_self();
    CU_ASSERT_EQUAL_FATAL(tk_load(tk, tn_plugin_entry()), TN_OK);
    auth_pool_init(&pool, tk_api(tk), tk_plugin(tk, "auth"), 2, 4);
    auth_pool_set_nice(&pool, 13);
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 3; i++) {
        jobs[i].n = &n;
        CU_ASSERT_EQUAL(auth_pool_submit(&pool, &jobs[i].job, probe_work, probe_done), TN_OK);
    }
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(n, 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT(jobs[i].ran && jobs[i].done && jobs[i].status == 0);
        CU_ASSERT_TRUE(jobs[i].other_thread);
        CU_ASSERT_EQUAL(jobs[i].nice, 13);
        CU_ASSERT_EQUAL(jobs[i].policy, SCHED_BATCH);
    }
    CU_ASSERT_EQUAL(pool.lane.started, 2);
    CU_ASSERT_EQUAL(pool.lane.prio_errno, 0);
    /* This thread's own priority is untouched. */
    CU_ASSERT_EQUAL(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), 0);
    auth_pool_fini(&pool);
    CU_ASSERT_EQUAL(pool.lane.started, 0);
    tk_free(tk);
}

/* Plugin-wide settings: one hash at a time and one waiting per worker;
 * the third login at once is answered 503 busy with Retry-After, and the
 * two others complete. */
static void test_login_storm_busy_503_S12(void)
{
    fakedb f;
    tk_kit *tk = tk_new();
    tn_request *r[3];
    char body[128];

    memset(&f, 0, sizeof f);
    CU_ASSERT_FATAL(auth_pw_hash(CANARY, strlen(CANARY), f.hash) == 0);
    f.wait = "0";
    snprintf(f.roles, sizeof f.roles, "staff");
    f.tk = tk;
    CU_ASSERT_EQUAL(tk_plugin_set(tk, "auth", "hash_concurrency", "1"), TN_OK);
    CU_ASSERT_EQUAL(tk_plugin_set(tk, "auth", "hash_queue", "1"), TN_OK);
    CU_ASSERT_EQUAL_FATAL(tk_load(tk, tn_plugin_entry()), TN_OK);
    tk_enable(tk, T, 1);
    tk_db_handler(tk, db, &f);
    snprintf(body, sizeof body, "{\"login\":\"%s\",\"password\":\"%s\"}", LOGIN, CANARY);
    for (int i = 0; i < 3; i++) {
        r[i] = tk_req_new(tk, T, "POST", "/auth/login");
        tk_req_set_body(r[i], body, strlen(body));
        tk_req_run(r[i]);
    }
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_resp_status(r[0]), 200);
    CU_ASSERT_EQUAL(tk_resp_status(r[1]), 200);
    CU_ASSERT_EQUAL(tk_resp_status(r[2]), 503);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r[2], "error.code"), "busy");
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r[2], "Retry-After"), "1");
    /* Out of bounds is refused as the host refuses to start. */
    tk_kit *bad = tk_new();
    CU_ASSERT_EQUAL(tk_plugin_set(bad, "auth", "hash_concurrency", "0"), TN_OK);
    CU_ASSERT_NOT_EQUAL(tk_load(bad, tn_plugin_entry()), TN_OK);
    tk_free(bad);
    tk_free(tk);
}

/* E-mail addresses: one validation for every way in, domain lower-cased. */
static void test_email_normalize(void)
{
    static const char *const bad[] = {"",
                                      "a@b",
                                      "@example.jp",
                                      "kai@",
                                      "kai@@example.jp",
                                      "kai",
                                      "kai@example",
                                      "kai@-x.example.jp",
                                      "kai@x-.jp",
                                      "kai@example..jp",
                                      ".kai@x.jp",
                                      "kai.@x.jp",
                                      "k..ai@x.jp",
                                      "k ai@x.jp",
                                      "kai@x.jp.",
                                      "\"kai\"@x.jp",
                                      "kai@x_y.jp",
                                      "k\xc3\xa4i@x.jp",
                                      "kai@b\xc3\xbc"
                                      "cher.de",
                                      "kai@[192.0.2.1]",
                                      "kai\n@x.jp"};
    char out[AUTH_EMAIL_MAX + 1], big[300];

    CU_ASSERT_EQUAL(auth_email_normalize("Kai.Ito+orders@Mail.Example.JP", 30, out), 0);
    CU_ASSERT_STRING_EQUAL(out, "Kai.Ito+orders@mail.example.jp");
    CU_ASSERT_EQUAL(auth_email_normalize("o'brien@xn--bcher-kva.de", 24, out), 0);
    CU_ASSERT_STRING_EQUAL(out, "o'brien@xn--bcher-kva.de");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(auth_email_normalize(bad[i], strlen(bad[i]), out), -1);
        CU_ASSERT_STRING_EQUAL(out, "");
    }
    /* 65-byte local part; a 255-byte address. */
    memset(big, 'a', sizeof big);
    memcpy(big + 65, "@x.jp", 6);
    CU_ASSERT_EQUAL(auth_email_normalize(big, strlen(big), out), -1);
    memcpy(big + 64, "@x.jp", 6);
    CU_ASSERT_EQUAL(auth_email_normalize(big, strlen(big), out), 0);
    /* "k@" + five labels of 49 + ".jp": 254 bytes; one more is too long. */
    char dom[260] = "";
    for (int i = 0; i < 5; i++)
        strcat(dom, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
    strcat(dom, "jp");
    snprintf(big, sizeof big, "k@%s", dom);
    CU_ASSERT_EQUAL(strlen(big), 254);
    CU_ASSERT_EQUAL(auth_email_normalize(big, strlen(big), out), 0);
    snprintf(big, sizeof big, "kk@%s", dom);
    CU_ASSERT_EQUAL(auth_email_normalize(big, strlen(big), out), -1);
    CU_ASSERT_EQUAL(auth_email_normalize("kai@x.jp", 8, out), 0); /* the embedded NUL check */
    CU_ASSERT_EQUAL(auth_email_normalize("kai@x.jp\0z", 10, out), -1);
}

int main(void)
{
    CU_pSuite s;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("auth", NULL, NULL);
    CU_add_test(s, "policy refusals (S12)", test_policy_refusals_S12);
    CU_add_test(s, "e-mail addresses validated and normalised", test_email_normalize);
    CU_add_test(s, "hash PHC parameters (S12)", test_hash_phc_parameters_S12);
    CU_add_test(s, "login, cookie attributes, fixation (S4, S16, S20)",
                test_login_cookie_attributes_S4);
    CU_add_test(s, "unknown user = wrong password (S12)",
                test_unknown_user_and_wrong_password_alike_S12);
    CU_add_test(s, "CSRF missing, wrong, foreign (S4)", test_csrf_missing_wrong_foreign_S4);
    CU_add_test(s, "CSRF field of a multipart form (S4)", test_multipart_field_S4);
    CU_add_test(s, "password change policy, rehash (S12)",
                test_password_change_policy_and_rehash_S12);
    CU_add_test(s, "lock and throttle (S9)", test_lock_and_throttle_S9);
    CU_add_test(s, "TOTP: RFC 6238 Appendix B vectors (S13)", test_totp_rfc6238_vectors_S13);
    CU_add_test(s, "TOTP: +-1 step accepted, +-2 refused (S13)", test_totp_window_S13);
    CU_add_test(s, "TOTP: secret, otpauth URI, recovery codes (S13)",
                test_totp_secret_uri_recovery_S13);
    CU_add_test(s, "TOTP login: replay and +2 refused (S13, S16)",
                test_totp_login_replay_refused_S13);
    CU_add_test(s, "reauth_required after 300 s (S6, S9)", test_reauth_required_after_300s_S6_S9);
    CU_add_test(s, "hash gate: cap and bounded queue (S12)", test_hash_gate_cap_and_queue_S12);
    CU_add_test(s, "hashes on low-priority threads", test_hash_threads_low_priority);
    CU_add_test(s, "login storm: 503 busy past the queue (S12)", test_login_storm_busy_503_S12);
    CU_add_test(s, "Origin, token and cookie rules (S4)", test_origin_and_cookie_rules_S4);
    CU_add_test(s, "clean-up job, per tenant (S4)", test_cleanup_job_uses_tenant_timeouts_S4);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
