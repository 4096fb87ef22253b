/*
 * test_sso_line.c - the pure parts of LINE Login: ID token verification
 * (idtoken.c: the algorithm pinned to HS256, iss, aud, exp, iat, nonce,
 * the signature) and the flow values (flow.c: state, PKCE S256 of RFC
 * 7636, form encoding).  Tokens are made here with cjose's own signer or
 * by hand for "none".  The whole flow against a real provider is
 * tests/integration_db/test_sso_line.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <cjose/cjose.h>
#include <jansson.h>
#include <sodium.h>

#include "flow.h"
#include "idtoken.h"

#define SECRET "channel-secret-0123456789abcdef"
#define NOW 1800000000LL

static line_expect expect(void)
{
    line_expect e = {.secret = SECRET,
                     .secret_len = strlen(SECRET),
                     .issuer = "https://access.line.me",
                     .audience = "1234567890",
                     .nonce = "n-123",
                     .now = NOW,
                     .skew_s = 60,
                     .max_age_s = 600};
    return e;
}

/* claims as JSON text, signed HS256 with key (or alg as given). */
static char *sign(const char *alg, const char *key, const char *claims)
{
    cjose_err err;
    cjose_header_t *h = cjose_header_new(&err);
    cjose_jwk_t *k = cjose_jwk_create_oct_spec((const uint8_t *)key, strlen(key), &err);
    cjose_jws_t *jws;
    const char *out = NULL;
    char *copy = NULL;
    cjose_header_set(h, CJOSE_HDR_ALG, alg, &err);
    jws = cjose_jws_sign(k, h, (const uint8_t *)claims, strlen(claims), &err);
    if (jws && cjose_jws_export(jws, &out, &err))
        copy = strdup(out);
    cjose_jws_release(jws);
    cjose_jwk_release(k);
    cjose_header_release(h);
    return copy;
}

static char *claims(const char *iss, const char *aud, long long exp, long long iat,
                    const char *nonce)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", iss, "sub",
                          "U0123456789abcdef0123456789abcdef", "aud", aud, "exp", exp, "iat", iat,
                          "nonce", nonce);
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return t;
}

static int verify(const char *token, const char **why)
{
    line_expect e = expect();
    line_claims c;
    return line_idtoken_verify(token, &e, &c, why);
}

static void check_claims(const char *iss, const char *aud, long long exp, long long iat,
                         const char *nonce, const char *want)
{
    char *cl = claims(iss, aud, exp, iat, nonce);
    char *tok = sign("HS256", SECRET, cl);
    const char *why = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
    CU_ASSERT_EQUAL(verify(tok, &why), want[0] ? -1 : 0);
    CU_ASSERT_STRING_EQUAL(why, want);
    free(tok);
    free(cl);
}

static void test_good_and_claims_refused(void)
{
    const char *L = "https://access.line.me";
    line_expect e = expect();
    line_claims c;
    const char *why;
    char *cl = claims(L, "1234567890", NOW + 3600, NOW, "n-123");
    char *tok = sign("HS256", SECRET, cl);
    CU_ASSERT_EQUAL(line_idtoken_verify(tok, &e, &c, &why), 0);
    CU_ASSERT_STRING_EQUAL(c.sub, "U0123456789abcdef0123456789abcdef");
    free(tok);
    free(cl);
    check_claims("https://evil.example", "1234567890", NOW + 3600, NOW, "n-123", "issuer");
    check_claims(L, "9999999999", NOW + 3600, NOW, "n-123", "audience");
    check_claims(L, "12345678901", NOW + 3600, NOW, "n-123", "audience"); /* a prefix */
    check_claims(L, "1234567890", NOW - 61, NOW - 700, "n-123", "expired");
    check_claims(L, "1234567890", NOW - 30, NOW - 300, "n-123", ""); /* within the skew */
    check_claims(L, "1234567890", NOW + 7200, NOW + 120, "n-123", "issued_at");  /* future */
    check_claims(L, "1234567890", NOW + 7200, NOW - 2000, "n-123", "issued_at"); /* too old */
    check_claims(L, "1234567890", NOW + 3600, NOW, "n-124", "nonce");
    check_claims(L, "1234567890", NOW + 3600, NOW, "", "nonce");
}

/* alg confusion: none, another algorithm, another key. */
static void test_alg_pinned(void)
{
    char *cl = claims("https://access.line.me", "1234567890", NOW + 3600, NOW, "n-123");
    char none[2048], *b = NULL, *tok;
    const char *why;
    size_t n;

    /* {"alg":"none"} with no signature */
    n = (size_t)snprintf(none, sizeof none, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.");
    sodium_bin2base64(none + n, sizeof none - n, (const unsigned char *)cl, strlen(cl),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    strcat(none, ".");
    CU_ASSERT_EQUAL(verify(none, &why), -1);
    CU_ASSERT(strcmp(why, "alg") == 0 || strcmp(why, "malformed") == 0);
    tok = sign("HS512", SECRET, cl);
    CU_ASSERT_EQUAL(verify(tok, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "alg");
    free(tok);
    tok = sign("HS256", SECRET "x", cl);
    CU_ASSERT_EQUAL(verify(tok, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "signature");
    free(tok);
    CU_ASSERT_EQUAL(verify("not.a.token", &why), -1);
    CU_ASSERT_EQUAL(verify(NULL, &why), -1);
    free(b);
    free(cl);
}

/* RFC 7636 appendix B: the S256 challenge of its verifier, computed the
 * way flow.c does; and state: only the cookie's own. */
static void test_flow_values(void)
{
    line_flow f, g;
    char form[256];
    size_t n = 0;
    line_flow_new(&f);
    CU_ASSERT_EQUAL(strlen(f.verifier), 43);
    CU_ASSERT_EQUAL(line_flow_parse(&g, f.text), 0);
    CU_ASSERT_STRING_EQUAL(g.state, f.state);
    CU_ASSERT_STRING_EQUAL(g.challenge, f.challenge);
    CU_ASSERT(line_flow_state_ok(&g, f.state));
    CU_ASSERT(!line_flow_state_ok(&g, f.nonce));
    CU_ASSERT(!line_flow_state_ok(&g, NULL));
    CU_ASSERT_EQUAL(line_flow_parse(&g, "short"), -1);
    unsigned char h[32];
    char want[44];
    crypto_hash_sha256(h, (const unsigned char *)f.verifier, 43);
    sodium_bin2base64(want, sizeof want, h, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    CU_ASSERT_STRING_EQUAL(f.challenge, want);
    CU_ASSERT_EQUAL(line_form_add(form, sizeof form, &n, "a", "x y&z=/"), 0);
    CU_ASSERT_EQUAL(line_form_add(form, sizeof form, &n, "b", "~ok"), 0);
    CU_ASSERT_STRING_EQUAL(form, "a=x%20y%26z%3D%2F&b=~ok");
    n = 0;
    CU_ASSERT_EQUAL(line_form_add(form, 8, &n, "a", "0123456789"), -1);
}

/* Native apps: ES256 by kid from the JWKS; the pin refuses HS256 made
 * with the public key as the secret (alg confusion) and an unknown kid. */
static void test_es256_by_kid(void)
{
    cjose_err err;
    cjose_jwk_t *k = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    cjose_header_t *h = cjose_header_new(&err);
    char *cl = claims("https://access.line.me", "1234567890", NOW + 3600, NOW, "n-123");
    char *pub, jwks[1024], *conf;
    const char *tok = NULL, *why;
    line_expect e = expect();
    line_claims c;
    cjose_jws_t *jws;

    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    cjose_jwk_set_kid(k, "k1", 2, &err);
    pub = cjose_jwk_to_json(k, false, &err);
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}", pub);
    cjose_header_set(h, CJOSE_HDR_ALG, "ES256", &err);
    cjose_header_set(h, CJOSE_HDR_KID, "k1", &err);
    jws = cjose_jws_sign(k, h, (const uint8_t *)cl, strlen(cl), &err);
    CU_ASSERT_FATAL(jws && cjose_jws_export(jws, &tok, &err));
    e.jwks = jwks;
    e.nonce = NULL; /* native: the nonce is returned, then consumed */
    CU_ASSERT_EQUAL(line_idtoken_verify(tok, &e, &c, &why), 0);
    CU_ASSERT_STRING_EQUAL(c.nonce, "n-123");
    CU_ASSERT(line_jwks_has_kid(jwks, tok));
    /* the same token on the web path: refused by the HS256 pin */
    CU_ASSERT_EQUAL(verify(tok, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "alg");
    /* HS256 keyed by the public key's JSON: refused by the ES256 pin */
    conf = sign("HS256", pub, cl);
    CU_ASSERT_EQUAL(line_idtoken_verify(conf, &e, &c, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "alg");
    free(conf);
    /* a kid the JWKS does not have */
    snprintf(jwks, sizeof jwks, "{\"keys\":[]}");
    CU_ASSERT(!line_jwks_has_kid(jwks, tok));
    CU_ASSERT_EQUAL(line_idtoken_verify(tok, &e, &c, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "signature");
    cjose_jws_release(jws);
    cjose_header_release(h);
    cjose_jwk_release(k);
    free(pub);
    free(cl);
}

int main(void)
{
    if (sodium_init() < 0 || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("sso_line", NULL, NULL);
    CU_add_test(s, "S16_idtoken_claims", test_good_and_claims_refused);
    CU_add_test(s, "S16_idtoken_alg_pinned", test_alg_pinned);
    CU_add_test(s, "S4_flow_values_pkce", test_flow_values);
    CU_add_test(s, "S16_idtoken_es256_by_kid", test_es256_by_kid);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
