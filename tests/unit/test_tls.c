/*
 * test_tls.c - unit tests of host/net/tls.c, the host's memory-BIO TLS.
 *
 * No sockets: a client SSL between two memory BIOs talks to a
 * host_tls_conn, and the tests pump the bytes between them by hand, which
 * also lets them cut records at awkward boundaries.  The certificate and
 * keys are made in-process into a temporary directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

static char tmpdir[256];
static char cert_path[300], key_path[300], other_key_path[300];
static host_tls_ctx *server_ctx;

/* ---- fixture: a self-signed P-256 certificate for "localhost" ---------- */

static int write_key(const char *path, EVP_PKEY *pkey)
{
    FILE *fp = fopen(path, "w");
    int ok;

    if (fp == NULL)
        return -1;
    ok = PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL);
    return (fclose(fp) == 0 && ok == 1) ? 0 : -1;
}

static int make_cert(const char *path, EVP_PKEY *pkey)
{
    X509 *x = X509_new();
    X509_EXTENSION *san = NULL;
    X509V3_CTX v3;
    X509_NAME *name;
    FILE *fp = NULL;
    int rc = -1;

    if (x == NULL)
        goto fail;
    if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400) || !X509_set_pubkey(x, pkey))
        goto fail;
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto fail;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
    if (san == NULL || !X509_add_ext(x, san, -1))
        goto fail;
    if (X509_sign(x, pkey, EVP_sha256()) == 0)
        goto fail;
    fp = fopen(path, "w");
    if (fp == NULL || PEM_write_X509(fp, x) != 1)
        goto fail;
    rc = 0;
fail:
    if (fp != NULL && fclose(fp) != 0)
        rc = -1;
    X509_EXTENSION_free(san);
    X509_free(x);
    return rc;
}

static int suite_init(void)
{
    const char *base = getenv("TMPDIR");
    EVP_PKEY *key = NULL, *other = NULL;
    char err[256];
    int rc = -1;

    snprintf(tmpdir, sizeof(tmpdir), "%s/tanomu-tls-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(cert_path, sizeof(cert_path), "%s/server.crt", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s/server.key", tmpdir);
    snprintf(other_key_path, sizeof(other_key_path), "%s/other.key", tmpdir);

    key = EVP_EC_gen("P-256");
    other = EVP_EC_gen("P-256");
    if (key == NULL || other == NULL || make_cert(cert_path, key) != 0 ||
        write_key(key_path, key) != 0 || write_key(other_key_path, other) != 0)
        goto fail;
    server_ctx = host_tls_ctx_new(cert_path, key_path, err, sizeof(err));
    if (server_ctx == NULL) {
        fprintf(stderr, "host_tls_ctx_new: %s\n", err);
        goto fail;
    }
    rc = 0;
fail:
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    return rc;
}

static int suite_clean(void)
{
    host_tls_ctx_free(server_ctx);
    server_ctx = NULL;
    unlink(cert_path);
    unlink(key_path);
    unlink(other_key_path);
    rmdir(tmpdir);
    return 0;
}

/* ---- a memory-BIO client and the pump between it and the server -------- */

typedef struct {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
} client;

typedef struct {
    char *data;
    size_t len, cap;
    int calls, stop_after; /* stop_after > 0: return 1 on that call */
} sink;

static int sink_cb(void *ud, const char *data, size_t len)
{
    sink *s = ud;

    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *p;
        while (cap < s->len + len)
            cap *= 2;
        p = realloc(s->data, cap);
        if (p == NULL)
            return 1;
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->calls++;
    return s->stop_after > 0 && s->calls >= s->stop_after;
}

/*
 * min/max 0 mean OpenSSL's defaults; alpn is a wire-format list or NULL;
 * ciphers NULL keeps the defaults.  The client verifies the server's
 * certificate for "localhost", which checks the chain the host loaded.
 */
static int client_new(client *cl, int min, int max, const char *alpn, size_t alpn_len,
                      const char *ciphers)
{
    memset(cl, 0, sizeof(*cl));
    cl->ctx = SSL_CTX_new(TLS_client_method());
    if (cl->ctx == NULL)
        return -1;
    if (!SSL_CTX_set_min_proto_version(cl->ctx, min) ||
        !SSL_CTX_set_max_proto_version(cl->ctx, max))
        return -1;
    if (ciphers != NULL && !SSL_CTX_set_cipher_list(cl->ctx, ciphers))
        return -1;
    if (SSL_CTX_load_verify_locations(cl->ctx, cert_path, NULL) != 1)
        return -1;
    SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, NULL);
    if (alpn != NULL &&
        SSL_CTX_set_alpn_protos(cl->ctx, (const unsigned char *)alpn, (unsigned)alpn_len) != 0)
        return -1;
    cl->ssl = SSL_new(cl->ctx);
    cl->rbio = BIO_new(BIO_s_mem());
    cl->wbio = BIO_new(BIO_s_mem());
    if (cl->ssl == NULL || cl->rbio == NULL || cl->wbio == NULL)
        return -1;
    BIO_set_mem_eof_return(cl->rbio, -1);
    SSL_set_bio(cl->ssl, cl->rbio, cl->wbio);
    SSL_set_connect_state(cl->ssl);
    SSL_set_tlsext_host_name(cl->ssl, "localhost");
    if (!SSL_set1_host(cl->ssl, "localhost"))
        return -1;
    return 0;
}

static void client_free(client *cl)
{
    if (cl->ssl != NULL) {
        SSL_free(cl->ssl); /* frees the BIOs */
    } else {
        BIO_free(cl->rbio);
        BIO_free(cl->wbio);
    }
    SSL_CTX_free(cl->ctx);
    memset(cl, 0, sizeof(*cl));
}

/* Client ciphertext -> server, in pieces of at most `piece` bytes. */
static int to_server(client *cl, host_tls_conn *s, size_t piece, sink *out)
{
    char buf[4096];
    int rc = HOST_TLS_OK;

    if (piece == 0 || piece > sizeof(buf))
        piece = sizeof(buf);
    while (rc == HOST_TLS_OK && BIO_ctrl_pending(cl->wbio) > 0) {
        int n = BIO_read(cl->wbio, buf, (int)piece);
        if (n <= 0)
            return HOST_TLS_ERROR;
        rc = host_tls_conn_feed(s, buf, (size_t)n, sink_cb, out);
    }
    return rc;
}

/* Server ciphertext -> client, through take_out with a small buffer. */
static size_t to_client(host_tls_conn *s, client *cl)
{
    char buf[4093]; /* odd size: records get split across take_out calls */
    size_t n, total = 0;

    while ((n = host_tls_conn_take_out(s, buf, sizeof(buf))) > 0) {
        CU_ASSERT_FATAL(BIO_write(cl->rbio, buf, (int)n) == (int)n);
        total += n;
    }
    return total;
}

/*
 * Runs the handshake to completion or failure.  Returns the server's last
 * feed result; *client_ok tells whether the client finished too.
 */
static int pump_handshake(client *cl, host_tls_conn *s, sink *out, int *client_ok)
{
    int rc = HOST_TLS_OK, cr = 0;

    for (int round = 0; round < 20; round++) {
        ERR_clear_error();
        cr = SSL_do_handshake(cl->ssl);
        if (cr != 1 && SSL_get_error(cl->ssl, cr) != SSL_ERROR_WANT_READ)
            break;
        rc = to_server(cl, s, 0, out);
        to_client(s, cl);
        if (rc != HOST_TLS_OK)
            break;
        if (cr == 1 && host_tls_conn_handshake_done(s))
            break;
    }
    if (rc != HOST_TLS_OK) { /* let the client read the alert */
        ERR_clear_error();
        cr = SSL_do_handshake(cl->ssl);
    }
    *client_ok = cr == 1;
    ERR_clear_error();
    return rc;
}

/* Reads everything the client can decrypt now into out. */
static int client_read_all(client *cl, sink *out)
{
    char buf[16384];
    size_t n;

    for (;;) {
        ERR_clear_error();
        if (SSL_read_ex(cl->ssl, buf, sizeof(buf), &n) != 1)
            return SSL_get_error(cl->ssl, 0);
        sink_cb(out, buf, n);
    }
}

static const char alpn_h2_http11[] = "\x02h2\x08http/1.1";
static const char alpn_h2_only[] = "\x02h2";

/* Establishes a session; version_max 0 allows TLS 1.3. */
static host_tls_conn *connect_pair(client *cl, int version_max, const char *alpn, size_t alpn_len)
{
    host_tls_conn *s;
    sink out = {0};
    int client_ok = 0;

    CU_ASSERT_FATAL(client_new(cl, 0, version_max, alpn, alpn_len, NULL) == 0);
    s = host_tls_conn_new(server_ctx);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(pump_handshake(cl, s, &out, &client_ok), HOST_TLS_OK);
    CU_ASSERT(client_ok);
    CU_ASSERT(host_tls_conn_handshake_done(s));
    CU_ASSERT_EQUAL(out.len, 0);
    free(out.data);
    return s;
}

/* ---- tests ------------------------------------------------------------- */

static void test_handshake_tls13_alpn(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, alpn_h2_http11, sizeof(alpn_h2_http11) - 1);
    const unsigned char *p = NULL;
    unsigned int n = 0;

    CU_ASSERT_STRING_EQUAL(host_tls_conn_version(s), "TLSv1.3");
    CU_ASSERT_PTR_NOT_NULL_FATAL(host_tls_conn_alpn(s));
    CU_ASSERT_STRING_EQUAL(host_tls_conn_alpn(s), "http/1.1");
    SSL_get0_alpn_selected(cl.ssl, &p, &n);
    CU_ASSERT(n == 8 && memcmp(p, "http/1.1", 8) == 0);
    CU_ASSERT_EQUAL(SSL_get_verify_result(cl.ssl), X509_V_OK);
    CU_ASSERT_STRING_EQUAL(host_tls_conn_last_error(s), "");
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_handshake_tls12_ecdhe_aead(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, TLS1_2_VERSION, alpn_h2_http11,
                                    sizeof(alpn_h2_http11) - 1);
    const SSL_CIPHER *cipher = SSL_get_current_cipher(cl.ssl);

    CU_ASSERT_STRING_EQUAL(host_tls_conn_version(s), "TLSv1.2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(host_tls_conn_alpn(s));
    CU_ASSERT_STRING_EQUAL(host_tls_conn_alpn(s), "http/1.1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cipher);
    CU_ASSERT_EQUAL(SSL_CIPHER_get_kx_nid(cipher), NID_kx_ecdhe);
    CU_ASSERT(SSL_CIPHER_is_aead(cipher));
    CU_ASSERT_PTR_NULL(SSL_get_current_compression(cl.ssl));
    host_tls_conn_free(s);
    client_free(&cl);
}

/* A TLS 1.2 client that only offers CBC suites finds nothing in common. */
static void test_tls12_cbc_only_refused(void)
{
    client cl;
    host_tls_conn *s;
    sink out = {0};
    int client_ok = 1;

    CU_ASSERT_FATAL(client_new(&cl, 0, TLS1_2_VERSION, NULL, 0,
                               "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA") == 0);
    s = host_tls_conn_new(server_ctx);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(pump_handshake(&cl, s, &out, &client_ok), HOST_TLS_ERROR);
    CU_ASSERT(!client_ok);
    CU_ASSERT(!host_tls_conn_handshake_done(s));
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_alpn_without_http11_proceeds(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, alpn_h2_only, sizeof(alpn_h2_only) - 1);
    const unsigned char *p = NULL;
    unsigned int n = 0;

    CU_ASSERT_PTR_NULL(host_tls_conn_alpn(s));
    SSL_get0_alpn_selected(cl.ssl, &p, &n);
    CU_ASSERT_EQUAL(n, 0);
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_no_alpn(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0);

    CU_ASSERT_PTR_NULL(host_tls_conn_alpn(s));
    CU_ASSERT_STRING_EQUAL(host_tls_conn_version(s), "TLSv1.3");
    host_tls_conn_free(s);
    client_free(&cl);
}

/*
 * S18: a client that can go no higher than `version` is refused with a
 * protocol_version alert, which the client receives.
 */
static void refuse_old_version(int version)
{
    client cl;
    host_tls_conn *s;
    sink out = {0};
    int client_ok = 1, rc;
    unsigned long e;

    /* SECLEVEL 0: OpenSSL 3 will not even offer TLS < 1.2 above it. */
    CU_ASSERT_FATAL(client_new(&cl, version, version, alpn_h2_http11, sizeof(alpn_h2_http11) - 1,
                               "DEFAULT:@SECLEVEL=0") == 0);
    s = host_tls_conn_new(server_ctx);
    CU_ASSERT_FATAL(s != NULL);
    /* The client really produces a ClientHello; the server is the one saying no. */
    ERR_clear_error();
    rc = SSL_do_handshake(cl.ssl);
    CU_ASSERT_EQUAL(SSL_get_error(cl.ssl, rc), SSL_ERROR_WANT_READ);
    CU_ASSERT(BIO_ctrl_pending(cl.wbio) > 0);

    CU_ASSERT_EQUAL(to_server(&cl, s, 0, &out), HOST_TLS_ERROR);
    CU_ASSERT(host_tls_conn_pending_out(s) > 0); /* the alert */
    CU_ASSERT(strstr(host_tls_conn_last_error(s), "unsupported protocol") != NULL);
    CU_ASSERT(!host_tls_conn_handshake_done(s));
    CU_ASSERT_PTR_NULL(host_tls_conn_version(s));
    to_client(s, &cl);
    ERR_clear_error();
    rc = SSL_do_handshake(cl.ssl);
    client_ok = rc == 1;
    CU_ASSERT(!client_ok);
    e = ERR_peek_error();
    CU_ASSERT_EQUAL(ERR_GET_REASON(e), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    ERR_clear_error();
    /* Further input changes nothing. */
    CU_ASSERT_EQUAL(host_tls_conn_feed(s, "x", 1, sink_cb, &out), HOST_TLS_ERROR);
    CU_ASSERT_EQUAL(out.len, 0);
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_S18_refuses_tls11(void)
{
    refuse_old_version(TLS1_1_VERSION);
}

static void test_S18_refuses_tls10(void)
{
    refuse_old_version(TLS1_VERSION);
}

static void roundtrip(int version_max)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, version_max, NULL, 0);
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: demo.localhost\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    sink got = {0}, back = {0};
    size_t n;

    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, req, sizeof(req) - 1, &n) == 1);
    CU_ASSERT_EQUAL(to_server(&cl, s, 7, &got), HOST_TLS_OK);
    CU_ASSERT_EQUAL_FATAL(got.len, sizeof(req) - 1);
    CU_ASSERT(memcmp(got.data, req, got.len) == 0);

    CU_ASSERT_EQUAL(host_tls_conn_write(s, resp, sizeof(resp) - 1), HOST_TLS_OK);
    CU_ASSERT(host_tls_conn_pending_out(s) > sizeof(resp) - 1);
    to_client(s, &cl);
    CU_ASSERT_EQUAL(host_tls_conn_pending_out(s), 0);
    CU_ASSERT_EQUAL(client_read_all(&cl, &back), SSL_ERROR_WANT_READ);
    CU_ASSERT_EQUAL_FATAL(back.len, sizeof(resp) - 1);
    CU_ASSERT(memcmp(back.data, resp, back.len) == 0);
    free(got.data);
    free(back.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_roundtrip_tls13(void)
{
    roundtrip(0);
}

static void test_roundtrip_tls12(void)
{
    roundtrip(TLS1_2_VERSION);
}

static void test_one_mib_both_ways(void)
{
    const size_t big = 1024 * 1024;
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0);
    char *payload = malloc(big);
    sink got = {0}, back = {0};
    uint32_t x = 2463534242u;
    size_t n;

    CU_ASSERT_FATAL(payload != NULL);
    for (size_t i = 0; i < big; i++) { /* xorshift: no repeating pattern */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        payload[i] = (char)x;
    }
    /* Client -> server, fed in pieces that never line up with records. */
    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, payload, big, &n) == 1 && n == big);
    CU_ASSERT_EQUAL(to_server(&cl, s, 1021, &got), HOST_TLS_OK);
    CU_ASSERT_EQUAL_FATAL(got.len, big);
    CU_ASSERT(memcmp(got.data, payload, big) == 0);

    /* Server -> client in one write, drained through a small buffer. */
    CU_ASSERT_EQUAL(host_tls_conn_write(s, payload, big), HOST_TLS_OK);
    CU_ASSERT(host_tls_conn_pending_out(s) > big);
    to_client(s, &cl);
    CU_ASSERT_EQUAL(client_read_all(&cl, &back), SSL_ERROR_WANT_READ);
    CU_ASSERT_EQUAL_FATAL(back.len, big);
    CU_ASSERT(memcmp(back.data, payload, big) == 0);
    free(payload);
    free(got.data);
    free(back.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

/* A callback that stops keeps the rest; a feed of nothing delivers it. */
static void test_callback_stop_and_resume(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0);
    sink got = {0};
    size_t n;

    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, "first", 5, &n) == 1);
    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, "second", 6, &n) == 1);
    got.stop_after = 1;
    CU_ASSERT_EQUAL(to_server(&cl, s, 0, &got), HOST_TLS_OK);
    CU_ASSERT_EQUAL(got.calls, 1);
    CU_ASSERT(got.len == 5 && memcmp(got.data, "first", 5) == 0);
    got.stop_after = 0;
    CU_ASSERT_EQUAL(host_tls_conn_feed(s, NULL, 0, sink_cb, &got), HOST_TLS_OK);
    CU_ASSERT(got.len == 11 && memcmp(got.data, "firstsecond", 11) == 0);
    free(got.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

typedef struct {
    host_tls_conn *s;
    size_t seen;
} echo_state;

/* Answers from inside the callback, as the HTTP layer will. */
static int echo_cb(void *ud, const char *data, size_t len)
{
    echo_state *e = ud;

    e->seen += len;
    return host_tls_conn_write(e->s, data, len) != HOST_TLS_OK;
}

static void test_write_from_callback(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0);
    echo_state e = {s, 0};
    sink back = {0};
    char buf[4096];
    size_t n;
    int len;

    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, "ping", 4, &n) == 1);
    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, "pong", 4, &n) == 1);
    while ((len = BIO_read(cl.wbio, buf, sizeof(buf))) > 0)
        CU_ASSERT_EQUAL(host_tls_conn_feed(s, buf, (size_t)len, echo_cb, &e), HOST_TLS_OK);
    CU_ASSERT_EQUAL(e.seen, 8);
    to_client(s, &cl);
    CU_ASSERT_EQUAL(client_read_all(&cl, &back), SSL_ERROR_WANT_READ);
    CU_ASSERT(back.len == 8 && memcmp(back.data, "pingpong", 8) == 0);
    free(back.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

/* TLS 1.3 KeyUpdate: the server's answer comes out with the next flush. */
static void test_key_update(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0);
    sink got = {0}, back = {0};
    size_t n;

    CU_ASSERT_FATAL(SSL_key_update(cl.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, "after", 5, &n) == 1);
    CU_ASSERT_EQUAL(to_server(&cl, s, 0, &got), HOST_TLS_OK);
    CU_ASSERT(got.len == 5 && memcmp(got.data, "after", 5) == 0);
    CU_ASSERT_EQUAL(host_tls_conn_write(s, "ok", 2), HOST_TLS_OK);
    to_client(s, &cl);
    CU_ASSERT_EQUAL(client_read_all(&cl, &back), SSL_ERROR_WANT_READ);
    CU_ASSERT(back.len == 2 && memcmp(back.data, "ok", 2) == 0);
    CU_ASSERT_EQUAL(SSL_get_key_update_type(cl.ssl), SSL_KEY_UPDATE_NONE);
    free(got.data);
    free(back.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_write_before_handshake_fails(void)
{
    host_tls_conn *s = host_tls_conn_new(server_ctx);

    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(host_tls_conn_write(s, "x", 1), HOST_TLS_ERROR);
    CU_ASSERT(strstr(host_tls_conn_last_error(s), "handshake") != NULL);
    CU_ASSERT_EQUAL(host_tls_conn_pending_out(s), 0);
    CU_ASSERT_FALSE(host_tls_conn_handshake_done(s));
    CU_ASSERT_PTR_NULL(host_tls_conn_version(s));
    CU_ASSERT_PTR_NULL(host_tls_conn_alpn(s));
    /* Nothing to close yet: no bytes, no error. */
    CU_ASSERT_EQUAL(host_tls_conn_shutdown(s), HOST_TLS_OK);
    CU_ASSERT_EQUAL(host_tls_conn_pending_out(s), 0);
    host_tls_conn_free(s);
}

static void test_server_shutdown_sends_close_notify(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0);
    sink back = {0};

    CU_ASSERT_EQUAL(host_tls_conn_write(s, "bye", 3), HOST_TLS_OK);
    CU_ASSERT_EQUAL(host_tls_conn_shutdown(s), HOST_TLS_OK);
    CU_ASSERT(host_tls_conn_pending_out(s) > 0);
    CU_ASSERT_EQUAL(host_tls_conn_write(s, "late", 4), HOST_TLS_ERROR);
    CU_ASSERT_EQUAL(host_tls_conn_shutdown(s), HOST_TLS_OK); /* idempotent */
    to_client(s, &cl);
    CU_ASSERT_EQUAL(client_read_all(&cl, &back), SSL_ERROR_ZERO_RETURN);
    CU_ASSERT(back.len == 3 && memcmp(back.data, "bye", 3) == 0);
    free(back.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_client_close_notify_is_closed(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, TLS1_2_VERSION, NULL, 0);
    sink got = {0};
    size_t n;

    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, "last", 4, &n) == 1);
    CU_ASSERT(SSL_shutdown(cl.ssl) >= 0);
    CU_ASSERT_EQUAL(to_server(&cl, s, 0, &got), HOST_TLS_CLOSED);
    CU_ASSERT(got.len == 4 && memcmp(got.data, "last", 4) == 0);
    CU_ASSERT_EQUAL(host_tls_conn_feed(s, NULL, 0, sink_cb, &got), HOST_TLS_CLOSED);
    /* Answering with our own close_notify is still allowed. */
    CU_ASSERT_EQUAL(host_tls_conn_shutdown(s), HOST_TLS_OK);
    CU_ASSERT(host_tls_conn_pending_out(s) > 0);
    free(got.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

/* TLS 1.3 session tickets work: a second connection resumes. */
static void test_session_resumption(void)
{
    client cl, cl2;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0), *s2;
    SSL_SESSION *sess;
    sink none = {0}, out = {0};
    int client_ok = 0;

    /* Tickets come after the handshake: the client reads to take them. */
    CU_ASSERT_EQUAL(client_read_all(&cl, &none), SSL_ERROR_WANT_READ);
    sess = SSL_get1_session(cl.ssl);
    CU_ASSERT_FATAL(sess != NULL);
    CU_ASSERT(SSL_SESSION_is_resumable(sess));

    CU_ASSERT_FATAL(client_new(&cl2, 0, 0, NULL, 0, NULL) == 0);
    CU_ASSERT_FATAL(SSL_set_session(cl2.ssl, sess) == 1);
    s2 = host_tls_conn_new(server_ctx);
    CU_ASSERT_FATAL(s2 != NULL);
    CU_ASSERT_EQUAL(pump_handshake(&cl2, s2, &out, &client_ok), HOST_TLS_OK);
    CU_ASSERT(client_ok);
    CU_ASSERT(SSL_session_reused(cl2.ssl));
    SSL_SESSION_free(sess);
    free(none.data);
    host_tls_conn_free(s2);
    host_tls_conn_free(s);
    client_free(&cl2);
    client_free(&cl);
}

/* A TLS 1.2 client asking to renegotiate does not get a new handshake. */
static void test_no_renegotiation(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, TLS1_2_VERSION, NULL, 0);
    sink got = {0}, back = {0};
    int rc, cr;

    CU_ASSERT_FATAL(SSL_renegotiate(cl.ssl) == 1);
    ERR_clear_error();
    cr = SSL_do_handshake(cl.ssl); /* queues the new ClientHello */
    rc = to_server(&cl, s, 0, &got);
    CU_ASSERT(rc == HOST_TLS_OK || rc == HOST_TLS_ERROR);
    to_client(s, &cl);
    ERR_clear_error();
    cr = SSL_do_handshake(cl.ssl);
    client_read_all(&cl, &back);
    /* The client's renegotiation never completes. */
    CU_ASSERT(cr != 1 || SSL_renegotiate_pending(cl.ssl));
    CU_ASSERT_EQUAL(got.len, 0);
    ERR_clear_error();
    free(got.data);
    free(back.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

static void test_key_mismatch(void)
{
    char err[256] = "unchanged";
    host_tls_ctx *ctx = host_tls_ctx_new(cert_path, other_key_path, err, sizeof(err));

    CU_ASSERT_PTR_NULL(ctx);
    CU_ASSERT(err[0] != '\0' && strcmp(err, "unchanged") != 0);
    CU_ASSERT(strstr(err, "key") != NULL);
    CU_ASSERT_EQUAL(ERR_peek_error(), 0); /* no stale errors left behind */
    host_tls_ctx_free(ctx);
}

static void test_missing_files(void)
{
    host_tls_ctx *ctx;
    char err[256] = "";
    char missing[320];

    snprintf(missing, sizeof(missing), "%s/nope.crt", tmpdir);
    CU_ASSERT_PTR_NULL(host_tls_ctx_new(missing, key_path, err, sizeof(err)));
    CU_ASSERT(strstr(err, "nope.crt") != NULL);
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(host_tls_ctx_new(cert_path, missing, err, sizeof(err)));
    CU_ASSERT(err[0] != '\0');
    /* The certificate is no key. */
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(host_tls_ctx_new(cert_path, cert_path, err, sizeof(err)));
    CU_ASSERT(err[0] != '\0');
    CU_ASSERT_PTR_NULL(host_tls_ctx_new(NULL, key_path, err, sizeof(err)));
    /* No room for the reason is allowed, both ways. */
    CU_ASSERT_PTR_NULL(host_tls_ctx_new(missing, key_path, NULL, 0));
    ctx = host_tls_ctx_new(cert_path, key_path, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(ctx);
    host_tls_ctx_free(ctx);
    host_tls_ctx_free(NULL);
}

static void test_garbage_is_fatal(void)
{
    char junk[4096];
    uint32_t x = 88172645u;
    host_tls_conn *s;
    sink got = {0};

    for (size_t i = 0; i < sizeof(junk); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk[i] = (char)x;
    }
    s = host_tls_conn_new(server_ctx);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(host_tls_conn_feed(s, junk, sizeof(junk), sink_cb, &got), HOST_TLS_ERROR);
    CU_ASSERT(host_tls_conn_last_error(s)[0] != '\0');
    CU_ASSERT_EQUAL(host_tls_conn_feed(s, junk, 10, sink_cb, &got), HOST_TLS_ERROR);
    CU_ASSERT_EQUAL(host_tls_conn_write(s, "x", 1), HOST_TLS_ERROR);
    CU_ASSERT_EQUAL(host_tls_conn_shutdown(s), HOST_TLS_OK);
    host_tls_conn_free(s);

    /* Plain HTTP on the TLS port: said so in the error, for the log. */
    s = host_tls_conn_new(server_ctx);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(host_tls_conn_feed(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, sink_cb, &got),
                    HOST_TLS_ERROR);
    CU_ASSERT(strstr(host_tls_conn_last_error(s), "http request") != NULL);
    host_tls_conn_free(s);
    CU_ASSERT_EQUAL(got.len, 0);
}

/* Once established, a corrupted record kills the session. */
static void test_garbage_after_handshake(void)
{
    client cl;
    host_tls_conn *s = connect_pair(&cl, 0, NULL, 0);
    char rec[512];
    sink got = {0};
    size_t n;
    int len;

    CU_ASSERT_FATAL(SSL_write_ex(cl.ssl, "hello", 5, &n) == 1);
    len = BIO_read(cl.wbio, rec, sizeof(rec));
    CU_ASSERT_FATAL(len > 10);
    rec[len - 1] ^= 0x55; /* break the AEAD tag */
    CU_ASSERT_EQUAL(host_tls_conn_feed(s, rec, (size_t)len, sink_cb, &got), HOST_TLS_ERROR);
    CU_ASSERT_EQUAL(got.len, 0);
    CU_ASSERT(host_tls_conn_pending_out(s) > 0); /* bad_record_mac alert */
    CU_ASSERT_EQUAL(host_tls_conn_write(s, "x", 1), HOST_TLS_ERROR);
    free(got.data);
    host_tls_conn_free(s);
    client_free(&cl);
}

int main(void)
{
    CU_pSuite suite;
    int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    suite = CU_add_suite("tls", suite_init, suite_clean);
    if (suite == NULL)
        goto fail;
    if (!CU_add_test(suite, "handshake TLS 1.3, ALPN http/1.1", test_handshake_tls13_alpn) ||
        !CU_add_test(suite, "handshake TLS 1.2, ECDHE+AEAD", test_handshake_tls12_ecdhe_aead) ||
        !CU_add_test(suite, "TLS 1.2 CBC-only client refused", test_tls12_cbc_only_refused) ||
        !CU_add_test(suite, "ALPN without http/1.1 proceeds", test_alpn_without_http11_proceeds) ||
        !CU_add_test(suite, "no ALPN", test_no_alpn) ||
        !CU_add_test(suite, "S18: TLS 1.1 client refused", test_S18_refuses_tls11) ||
        !CU_add_test(suite, "S18: TLS 1.0 client refused", test_S18_refuses_tls10) ||
        !CU_add_test(suite, "round trip TLS 1.3", test_roundtrip_tls13) ||
        !CU_add_test(suite, "round trip TLS 1.2", test_roundtrip_tls12) ||
        !CU_add_test(suite, "1 MiB both ways", test_one_mib_both_ways) ||
        !CU_add_test(suite, "callback stop and resume", test_callback_stop_and_resume) ||
        !CU_add_test(suite, "write from the callback", test_write_from_callback) ||
        !CU_add_test(suite, "TLS 1.3 key update", test_key_update) ||
        !CU_add_test(suite, "write before handshake fails", test_write_before_handshake_fails) ||
        !CU_add_test(suite, "server shutdown", test_server_shutdown_sends_close_notify) ||
        !CU_add_test(suite, "client close_notify", test_client_close_notify_is_closed) ||
        !CU_add_test(suite, "session resumption", test_session_resumption) ||
        !CU_add_test(suite, "no renegotiation", test_no_renegotiation) ||
        !CU_add_test(suite, "key/cert mismatch", test_key_mismatch) ||
        !CU_add_test(suite, "missing files", test_missing_files) ||
        !CU_add_test(suite, "garbage is fatal", test_garbage_is_fatal) ||
        !CU_add_test(suite, "garbage after handshake", test_garbage_after_handshake))
        goto fail;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)(CU_get_number_of_failures() + CU_get_number_of_suites_failed());
    if (CU_get_error() != CUE_SUCCESS)
        failures = failures ? failures : 1;
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
fail:
    CU_cleanup_registry();
    return 1;
}
