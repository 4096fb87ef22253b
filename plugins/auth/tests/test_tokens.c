/*
 * test_tokens.c - API tokens of the auth plugin on the testkit (issue 8,
 * "API tokens"): the token's text and hash, creation within the creator's
 * roles, the bearer step of the authenticate hook (principal, req_set_auth,
 * no CSRF, no cookie alongside), refused tokens (401, audited, counted in
 * the login zone: S9, S20), and the secret in no statement or log (S16).
 * A scripted database plays the tables; tests/integration_db/
 * test_auth_tokens.py runs them for real.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <sodium.h>
#include <tanomu/testkit.h>

#include "session.h"
#include "tokens.h"

#define T "shop1"
#define USER_ID "6f1c1f0e-1b1a-4c59-9d35-0a4b1f7c0001"
#define TOKEN_ID "0b4e3c2a-9f1d-4e5b-8a7c-6d5e4f3a2b10"

const tn_plugin_desc *tn_plugin_entry(void);

/* The scripted tables: one admin session, at most one live token. */
typedef struct fakedb {
    char sid[AUTH_SID_LEN + 1];       /* the live session */
    char hash[AUTH_TOK_HASH_LEN + 1]; /* the live token's secret hash */
    const char *user_roles;
    char buyer[140];   /* the live token's buyer_id, "" for none */
    const char *roles; /* the live token's roles as inserted */
    char roles_buf[64];
} fakedb;

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void db(const char *tenant, const char *sql, int n, const char *const *p, tn_db_result *res,
               void *ud)
{
    fakedb *f = ud;
    (void)tenant, (void)n;
    if (starts(sql, "UPDATE auth_sessions s SET last_seen")) {
        tk_db_columns(res, 7, "user_id", "roles", "auth_at", "mfa", "method", "buyer", "stage");
        if (f->sid[0] && strcmp(p[0], f->sid) == 0) /* an admin who passed MFA */
            tk_db_row(res, USER_ID, f->user_roles, "0", "t", "password", NULL, "full");
    } else if (starts(sql, "WITH t AS (SELECT t.id")) {
        tk_db_columns(res, 4, "creator", "roles", "created", "buyer");
        if (strcmp(p[0], TOKEN_ID) == 0 && f->hash[0] && strcmp(p[1], f->hash) == 0)
            tk_db_row(res, USER_ID, f->roles ? f->roles : "tenant_admin", "1700000000",
                      f->buyer[0] ? f->buyer : NULL);
    } else if (starts(sql, "INSERT INTO auth_tokens")) {
        snprintf(f->hash, sizeof f->hash, "%s", p[2]);
        snprintf(f->roles_buf, sizeof f->roles_buf, "%s", p[3]);
        f->roles = f->roles_buf;
        snprintf(f->buyer, sizeof f->buyer, "%s", n > 6 && p[6] ? p[6] : "");
        tk_db_columns(res, 3, "id", "created", "expires");
        tk_db_row(res, TOKEN_ID, "1700000000", "1707776000");
    } else if (starts(sql, "UPDATE auth_tokens SET revoked_at")) {
        tk_db_columns(res, 1, "id");
        if (strcmp(p[0], TOKEN_ID) == 0 && f->hash[0]) {
            tk_db_row(res, TOKEN_ID);
            f->hash[0] = '\0';
        }
    }
}

static tk_kit *kit(fakedb *f, const char *burst)
{
    tk_kit *tk = tk_new();
    memset(f, 0, sizeof *f);
    f->user_roles = "tenant_admin";
    if (burst)
        CU_ASSERT_EQUAL(tk_plugin_set(tk, "auth", "login_burst", burst), TN_OK);
    CU_ASSERT_EQUAL_FATAL(tk_load(tk, tn_plugin_entry()), TN_OK);
    tk_enable(tk, T, 1);
    tk_db_handler(tk, db, f);
    return tk;
}

/* A request run to its end, with an optional session (cookie + CSRF)
 * and an optional bearer token. */
static tn_request *run(tk_kit *tk, const char *method, const char *target, const char *body,
                       const auth_token *session, const char *bearer)
{
    char hdr[256], csrf[AUTH_TOKEN_LEN + 1];
    tn_request *r = tk_req_new(tk, T, method, target);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    tk_req_set_header(r, "Host", "shop1.example");
    if (body)
        tk_req_set_body(r, body, strlen(body));
    if (session) {
        snprintf(hdr, sizeof hdr, "%s=%s", AUTH_COOKIE, session->text);
        tk_req_set_header(r, "Cookie", hdr);
        auth_csrf_token(session, csrf);
        tk_req_set_header(r, "X-CSRF-Token", csrf);
    }
    if (bearer) {
        snprintf(hdr, sizeof hdr, "Bearer %s", bearer);
        tk_req_set_header(r, "Authorization", hdr);
    }
    tk_req_set_client(r, "192.0.2.7");
    tk_req_run(r);
    tk_run_pending(tk);
    CU_ASSERT(tk_req_finished(r));
    return r;
}

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

/* A tenant admin's live session in f. */
static void admin_session(fakedb *f, auth_token *s)
{
    auth_token_new(s);
    memcpy(f->sid, s->sid, sizeof f->sid);
}

/* ---- the token's text ------------------------------------------------------------ */

static void test_token_text_and_hash_S4(void)
{
    auth_tok t, u;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[AUTH_TOK_HASH_LEN + 1], bad[AUTH_TOK_LEN + 2];

    auth_tok_new(&t);
    CU_ASSERT_EQUAL(auth_tok_text(&t, "not-a-uuid"), -1);
    CU_ASSERT_EQUAL_FATAL(auth_tok_text(&t, TOKEN_ID), 0);
    CU_ASSERT_EQUAL(strlen(t.text), AUTH_TOK_LEN);
    CU_ASSERT(strncmp(t.text, "tnk_" TOKEN_ID "_", 41) == 0);
    crypto_hash_sha256(h, t.raw, sizeof t.raw);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    CU_ASSERT_STRING_EQUAL(t.hash, hex); /* SHA-256 of the 32 secret bytes */
    CU_ASSERT_EQUAL_FATAL(auth_tok_parse(&u, t.text), 0);
    CU_ASSERT_STRING_EQUAL(u.id, TOKEN_ID);
    CU_ASSERT_STRING_EQUAL(u.hash, t.hash);
    /* Two tokens never share a secret. */
    auth_tok_new(&u);
    CU_ASSERT_STRING_NOT_EQUAL(u.hash, t.hash);

    CU_ASSERT_EQUAL(auth_tok_parse(&u, NULL), -1);
    CU_ASSERT_EQUAL(auth_tok_parse(&u, ""), -1);
    snprintf(bad, sizeof bad, "%sx", t.text); /* too long */
    CU_ASSERT_EQUAL(auth_tok_parse(&u, bad), -1);
    snprintf(bad, sizeof bad, "tnx_%s", t.text + 4); /* prefix */
    CU_ASSERT_EQUAL(auth_tok_parse(&u, bad), -1);
    snprintf(bad, sizeof bad, "%s", t.text);
    bad[5] = 'B'; /* upper-case ID */
    CU_ASSERT_EQUAL(auth_tok_parse(&u, bad), -1);
    CU_ASSERT_STRING_EQUAL(u.id, "");
    snprintf(bad, sizeof bad, "%s", t.text);
    bad[50] = '*'; /* not base64url */
    CU_ASSERT_EQUAL(auth_tok_parse(&u, bad), -1);
    CU_ASSERT_STRING_EQUAL(u.id, TOKEN_ID); /* kept for the audit */
    /* The last character carries two spare bits, zero in the canonical
     * spelling; setting one spells the same bytes otherwise: refused, so
     * a token has one text only. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    snprintf(bad, sizeof bad, "%s", t.text);
    const char *at = strchr(b64, bad[AUTH_TOK_LEN - 1]);
    CU_ASSERT_FATAL(at != NULL && (at - b64) % 4 == 0);
    bad[AUTH_TOK_LEN - 1] = at[1];
    CU_ASSERT_EQUAL(auth_tok_parse(&u, bad), -1);
    auth_tok_wipe(&t);
    CU_ASSERT_STRING_EQUAL(t.text, "");
    CU_ASSERT_STRING_EQUAL(t.secret, "");
}

/* ---- create ----------------------------------------------------------------------- */

static void test_create_within_creator_roles_S11_S20(void)
{
    fakedb f;
    tk_kit *tk = kit(&f, NULL);
    auth_token s;
    admin_session(&f, &s);

    /* More than the creator holds, platform_admin, bad expiry, bad name. */
    tn_request *r = run(tk, "POST", "/auth/tokens", "{\"name\":\"edi\",\"roles\":[\"staff\"]}", &s,
                        NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.fields.roles"), "exceeds_creator");
    r = run(tk, "POST", "/auth/tokens", "{\"name\":\"edi\",\"roles\":[\"platform_admin\"]}", &s,
            NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.fields.roles"), "invalid");
    r = run(tk, "POST", "/auth/tokens",
            "{\"name\":\"edi\",\"roles\":[\"tenant_admin\"],\"expires_in_days\":366}", &s, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    r = run(tk, "POST", "/auth/tokens", "{\"name\":\"a\\nb\",\"roles\":[\"tenant_admin\"]}", &s,
            NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 400);
    CU_ASSERT_STRING_EQUAL(f.hash, ""); /* nothing was inserted */

    r = run(tk, "POST", "/auth/tokens",
            "{\"name\":\"edi\",\"roles\":[\"tenant_admin\"],\"expires_in_days\":90}", &s, NULL);
    CU_ASSERT_EQUAL_FATAL(tk_resp_status(r), 201);
    CU_ASSERT_STRING_EQUAL(tk_resp_header(r, "Cache-Control"), "no-store");
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "id"), TOKEN_ID);
    auth_tok t;
    CU_ASSERT_EQUAL_FATAL(auth_tok_parse(&t, tk_resp_json_string(r, "token")), 0);
    CU_ASSERT_STRING_EQUAL(t.hash, f.hash); /* only the hash was stored */
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 1);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->action, "auth.token_create");
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->target_id, TOKEN_ID);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->user, USER_ID);
    assert_no_secret(tk, t.secret);

    /* A staff session may not make tokens at all. */
    f.user_roles = "staff";
    r = run(tk, "POST", "/auth/tokens", "{\"name\":\"x\",\"roles\":[\"staff\"]}", &s, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 403);
    auth_tok_wipe(&t);
    tk_free(tk);
}

/* ---- the bearer step ---------------------------------------------------------------- */

static void test_bearer_principal_and_no_csrf_S4(void)
{
    fakedb f;
    tk_kit *tk = kit(&f, NULL);
    auth_tok t;
    auth_token s;

    auth_tok_new(&t);
    CU_ASSERT_EQUAL_FATAL(auth_tok_text(&t, TOKEN_ID), 0);
    memcpy(f.hash, t.hash, sizeof f.hash);

    /* The principal is the token's, without MFA: the plugin's admin
     * routes (here the token list) need MFA passed, so a tenant_admin
     * token gets 401 mfa_required from the host (S13, own item 4). */
    tn_request *r = run(tk, "GET", "/auth/tokens", NULL, NULL, t.text);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "mfa_required");
    CU_ASSERT_STRING_EQUAL(tk_req_principal(r), "token:" TOKEN_ID);
    const tn_auth_info *a = tk_api(tk)->req_auth(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_STRING_EQUAL(a->method, "api_token");
    CU_ASSERT_EQUAL(a->auth_time, 1700000000);
    CU_ASSERT_EQUAL(a->mfa_passed, 0);
    CU_ASSERT_STRING_EQUAL(tn_auth_attr(a, "created_by"), USER_ID);

    /* A token cannot mint tokens (the route needs MFA; the handler would
     * say session_required). */
    r = run(tk, "POST", "/auth/tokens", "{\"name\":\"x\",\"roles\":[\"tenant_admin\"]}", NULL,
            t.text);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "mfa_required");

    /* Cookie and bearer together: refused, whichever is live. */
    admin_session(&f, &s);
    r = run(tk, "GET", "/auth/tokens", NULL, &s, t.text);
    CU_ASSERT_EQUAL(tk_resp_status(r), 400);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "ambiguous_credentials");

    /* State-changing with no CSRF token: the bearer passes the hook (no
     * 403 csrf_token); the host then wants MFA for the admin route. */
    r = run(tk, "DELETE", "/auth/tokens/" TOKEN_ID, NULL, NULL, t.text);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "mfa_required");
    CU_ASSERT_EQUAL(tk_audit_count(tk), 0);
    /* The admin's session (MFA passed) revokes it. */
    r = run(tk, "DELETE", "/auth/tokens/" TOKEN_ID, NULL, &s, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 200);
    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 1);
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->action, "auth.token_revoke");
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->user, USER_ID);
    /* Revoked: refused. */
    r = run(tk, "GET", "/auth/tokens", NULL, NULL, t.text);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "invalid_token");
    CU_ASSERT_PTR_NULL(tk_req_principal(r));
    assert_no_secret(tk, t.secret);
    auth_tok_wipe(&t);
    tk_free(tk);
}

static void test_refused_tokens_audited_and_throttled_S9_S20(void)
{
    fakedb f;
    tk_kit *tk = kit(&f, "2");
    auth_tok t;

    auth_tok_new(&t);
    CU_ASSERT_EQUAL_FATAL(auth_tok_text(&t, TOKEN_ID), 0); /* unknown to the table */
    tn_request *r = run(tk, "GET", "/auth/tokens", NULL, NULL, t.text);
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "invalid_token");
    CU_ASSERT_PTR_NOT_NULL(tk_resp_header(r, "WWW-Authenticate"));
    r = run(tk, "GET", "/auth/tokens", NULL, NULL, "tnk_nonsense");
    CU_ASSERT_EQUAL(tk_resp_status(r), 401);
    r = run(tk, "GET", "/auth/tokens", NULL, NULL, t.text);
    CU_ASSERT_EQUAL(tk_resp_status(r), 429);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.code"), "too_many_attempts");
    CU_ASSERT_PTR_NOT_NULL(tk_resp_header(r, "Retry-After"));
    CU_ASSERT_EQUAL(tk_limit_stat(tk, "auth", "login", "limited"), 1);

    CU_ASSERT_EQUAL_FATAL(tk_audit_count(tk), 3);
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, i)->action, "auth.token_use");
        CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, i)->result, "failed");
        CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, i)->client_addr, "192.0.2.7");
    }
    CU_ASSERT_STRING_EQUAL(tk_audit_at(tk, 0)->target_id, TOKEN_ID);
    CU_ASSERT_PTR_NULL(tk_audit_at(tk, 1)->target_id);
    /* A non-bearer Authorization is not ours: the request goes on anonymous. */
    tn_request *basic = tk_req_new(tk, T, "GET", "/auth/tokens");
    tk_req_set_header(basic, "Authorization", "Basic YTpi");
    tk_req_run(basic);
    tk_run_pending(tk);
    CU_ASSERT_EQUAL(tk_resp_status(basic), 401);
    CU_ASSERT_EQUAL(tk_audit_count(tk), 3);
    assert_no_secret(tk, t.secret);
    auth_tok_wipe(&t);
    tk_free(tk);
}

/* A buyer token (S11): the role buyer alone, with a buyer ID, which its
 * principal carries as the attribute buyer_id, as a buyer's session. */
static void test_buyer_token_S11(void)
{
    fakedb f;
    tk_kit *tk = kit(&f, NULL);
    auth_token s;
    auth_tok t;
    admin_session(&f, &s);

    tn_request *r = run(tk, "POST", "/auth/tokens", "{\"name\":\"edi\",\"roles\":[\"buyer\"]}", &s,
                        NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.fields.buyer_id"), "required");
    r = run(tk, "POST", "/auth/tokens",
            "{\"name\":\"edi\",\"roles\":[\"buyer\",\"tenant_admin\"],\"buyer_id\":\"b-1\"}", &s,
            NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.fields.roles"), "buyer_alone");
    r = run(tk, "POST", "/auth/tokens",
            "{\"name\":\"edi\",\"roles\":[\"tenant_admin\"],\"buyer_id\":\"b-1\"}", &s, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "error.fields.buyer_id"), "buyer_mismatch");
    r = run(tk, "POST", "/auth/tokens",
            "{\"name\":\"edi\",\"roles\":[\"buyer\"],\"buyer_id\":\"b\\u0001\"}", &s, NULL);
    CU_ASSERT_EQUAL(tk_resp_status(r), 422);
    CU_ASSERT_STRING_EQUAL(f.hash, ""); /* nothing inserted */
    r = run(tk, "POST", "/auth/tokens",
            "{\"name\":\"edi\",\"roles\":[\"buyer\"],\"buyer_id\":\"shop-7\"}", &s, NULL);
    CU_ASSERT_EQUAL_FATAL(tk_resp_status(r), 201);
    CU_ASSERT_STRING_EQUAL(tk_resp_json_string(r, "buyer_id"), "shop-7");
    CU_ASSERT_STRING_EQUAL(f.buyer, "shop-7");
    CU_ASSERT_STRING_EQUAL(f.roles, "buyer");
    CU_ASSERT_EQUAL_FATAL(auth_tok_parse(&t, tk_resp_json_string(r, "token")), 0);
    CU_ASSERT_EQUAL_FATAL(auth_tok_text(&t, TOKEN_ID), 0);
    r = run(tk, "GET", "/auth/me", NULL, NULL, t.text);
    const tn_auth_info *a = tk_api(tk)->req_auth(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_STRING_EQUAL(tn_auth_attr(a, "buyer_id"), "shop-7");
    CU_ASSERT_STRING_EQUAL(tn_auth_attr(a, "created_by"), USER_ID);
    CU_ASSERT_TRUE(tk_api(tk)->req_has_role(r, "buyer"));
    CU_ASSERT_FALSE(tk_api(tk)->req_has_role(r, "tenant_admin"));
    auth_tok_wipe(&t);
    tk_free(tk);
}

int main(void)
{
    CU_pSuite s;
    if (sodium_init() < 0 || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("auth tokens", NULL, NULL);
    CU_add_test(s, "token text and hash (S4)", test_token_text_and_hash_S4);
    CU_add_test(s, "create within the creator's roles (S11, S20)",
                test_create_within_creator_roles_S11_S20);
    CU_add_test(s, "bearer principal, no CSRF, no cookie alongside (S4)",
                test_bearer_principal_and_no_csrf_S4);
    CU_add_test(s, "buyer token carries buyer_id (S11)", test_buyer_token_S11);
    CU_add_test(s, "refused tokens audited and throttled (S9, S20)",
                test_refused_tokens_audited_and_throttled_S9_S20);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
