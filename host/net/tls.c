/*
 * tls.c - native TLS for the host's connections, see tls.h.
 *
 * Each connection is an SSL object between two memory BIOs: rbio holds the
 * ciphertext the socket delivered and OpenSSL has not consumed yet, wbio the
 * ciphertext OpenSSL produced and the host has not written yet.  Both grow
 * as needed; the host bounds them by how much it reads and by flushing
 * after every call.
 */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* One TLS record's worth of plaintext: SSL_read never returns more. */
#define TLS_READ_CHUNK 16384

/*
 * TLS 1.2 suites: ECDHE for forward secrecy and AEAD only, AES-GCM before
 * ChaCha20.  TLS 1.3 keeps OpenSSL's defaults, which are all AEAD already.
 */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static const char alpn_http11[] = "http/1.1";

struct host_tls_ctx {
    SSL_CTX *ssl_ctx;
};

enum conn_state {
    CONN_OPEN,   /* handshaking or established */
    CONN_CLOSED, /* the peer sent close_notify */
    CONN_FAILED, /* fatal error: SSL_shutdown must not be called any more */
};

struct host_tls_conn {
    SSL *ssl;
    BIO *rbio; /* owned by ssl */
    BIO *wbio; /* owned by ssl */
    enum conn_state state;
    int shut_down; /* our close_notify is queued */
    char alpn[32];
    char error[160];
};

/*
 * Copies the oldest queued OpenSSL error (the root cause; later ones tend
 * to be "called from" noise) after a prefix into buf, then clears the
 * queue so it cannot be mistaken for the next connection's error on this
 * thread.
 */
static void tls_error_text(char *buf, size_t len, const char *prefix)
{
    unsigned long e = ERR_get_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : "unknown error";
    const char *lib = e != 0 ? ERR_lib_error_string(e) : NULL;
    char code[120];

    if (len == 0) {
        ERR_clear_error();
        return;
    }
    if (e != 0 && ERR_SYSTEM_ERROR(e)) {
        /* fopen() failed: errno text; glibc's is a constant for known codes */
        reason = strerror(ERR_GET_REASON(e));
        lib = NULL;
    }
    if (reason == NULL) { /* no text for it: the numeric form still helps */
        ERR_error_string_n(e, code, sizeof(code));
        reason = code;
    }
    if (lib != NULL)
        snprintf(buf, len, "%s: %s (%s)", prefix, reason, lib);
    else
        snprintf(buf, len, "%s: %s", prefix, reason);
    ERR_clear_error();
}

/*
 * ALPN: agree to http/1.1 when the client offers it.  A client that offers
 * only other protocols (h2 alone, say) gets no ALPN answer rather than a
 * fatal no_application_protocol alert, and may still speak HTTP/1.1.
 */
static int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                           const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i = 0;
    size_t want = sizeof(alpn_http11) - 1;

    (void)ssl;
    (void)arg;
    while (i < inlen) {
        unsigned int n = in[i++];
        if (n == 0 || n > inlen - i)
            break; /* malformed list: treat as no match */
        if (n == want && memcmp(in + i, alpn_http11, want) == 0) {
            *out = in + i; /* OpenSSL copies it before `in` goes away */
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

host_tls_ctx *host_tls_ctx_new(const char *cert_path, const char *key_path, char *err,
                               size_t errlen)
{
    host_tls_ctx *ctx = NULL;
    char what[256];

    if (errlen > 0)
        err[0] = '\0';
    ERR_clear_error();
    if (cert_path == NULL || key_path == NULL) {
        if (errlen > 0)
            snprintf(err, errlen, "certificate and key paths are required");
        return NULL;
    }

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        if (errlen > 0)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (ctx->ssl_ctx == NULL) {
        tls_error_text(err, errlen, "SSL_CTX_new");
        goto fail;
    }

    /* S18: TLS 1.0 and 1.1 are refused with a protocol_version alert. */
    if (!SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION)) {
        tls_error_text(err, errlen, "setting the minimum version");
        goto fail;
    }
    if (!SSL_CTX_set_cipher_list(ctx->ssl_ctx, TLS12_CIPHERS)) {
        tls_error_text(err, errlen, "setting the TLS 1.2 ciphers");
        goto fail;
    }
    /*
     * Compression invites CRIME-style attacks; renegotiation is a DoS lever
     * and HTTP/1.1 here never needs it.  No server cipher preference: every
     * suite offered is strong, and clients without AES hardware rightly
     * prefer ChaCha20.
     */
    SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(ctx->ssl_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle keep-alive connections then hold no 16 KiB record buffers. */
    SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx, tls_alpn_select, NULL);

    if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, cert_path) != 1) {
        snprintf(what, sizeof(what), "certificate %.200s", cert_path);
        tls_error_text(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof(what), "key %.200s", key_path);
        tls_error_text(err, errlen, what);
        goto fail;
    }
    /* use_PrivateKey_file only compares when it can; make it certain. */
    if (SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
        tls_error_text(err, errlen, "key does not match the certificate");
        goto fail;
    }
    return ctx;

fail:
    host_tls_ctx_free(ctx);
    ERR_clear_error();
    return NULL;
}

void host_tls_ctx_free(host_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx); /* reference counted: live SSLs keep it */
    free(ctx);
}

host_tls_conn *host_tls_conn_new(host_tls_ctx *ctx)
{
    host_tls_conn *c = NULL;
    BIO *rbio = NULL, *wbio = NULL;

    if (ctx == NULL)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->ssl = SSL_new(ctx->ssl_ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || rbio == NULL || wbio == NULL)
        goto fail;
    /* An empty rbio means "no more yet", not end of stream. */
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(c->ssl, rbio, wbio); /* ssl owns both from here */
    c->rbio = rbio;
    c->wbio = wbio;
    SSL_set_accept_state(c->ssl);
    c->state = CONN_OPEN;
    return c;

fail:
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(c->ssl);
    free(c);
    ERR_clear_error();
    return NULL;
}

void host_tls_conn_free(host_tls_conn *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    free(c);
}

/*
 * Classifies a failed SSL call.  Returns HOST_TLS_OK when OpenSSL merely
 * waits for more ciphertext, else records the state and the reason.
 */
static int tls_failed(host_tls_conn *c, int ret, const char *op)
{
    int e = SSL_get_error(c->ssl, ret);

    switch (e) {
    case SSL_ERROR_WANT_READ: return HOST_TLS_OK;
    case SSL_ERROR_ZERO_RETURN:
        c->state = CONN_CLOSED;
        ERR_clear_error();
        return HOST_TLS_CLOSED;
    case SSL_ERROR_SSL:
        c->state = CONN_FAILED;
        tls_error_text(c->error, sizeof(c->error), op);
        return HOST_TLS_ERROR;
    default:
        /* WANT_WRITE cannot happen on a memory BIO; SYSCALL only on EOF. */
        c->state = CONN_FAILED;
        snprintf(c->error, sizeof(c->error), "%s: SSL error %d", op, e);
        ERR_clear_error();
        return HOST_TLS_ERROR;
    }
}

/* Remembers the ALPN result, NUL-terminated, once the handshake is done. */
static void tls_note_alpn(host_tls_conn *c)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;

    SSL_get0_alpn_selected(c->ssl, &p, &n);
    if (p != NULL && n > 0 && n < sizeof(c->alpn)) {
        memcpy(c->alpn, p, n);
        c->alpn[n] = '\0';
    }
}

int host_tls_conn_feed(host_tls_conn *c, const char *in, size_t inlen, host_tls_plain_cb on_plain,
                       void *ud)
{
    char buf[TLS_READ_CHUNK];
    size_t written = 0, n = 0;
    int ret;

    if (c->state == CONN_CLOSED)
        return HOST_TLS_CLOSED;
    if (c->state == CONN_FAILED)
        return HOST_TLS_ERROR;

    ERR_clear_error(); /* SSL_get_error reads the thread's queue */
    if (inlen > 0 && (BIO_write_ex(c->rbio, in, inlen, &written) != 1 || written != inlen)) {
        c->state = CONN_FAILED;
        snprintf(c->error, sizeof(c->error), "tls: buffering input: out of memory");
        ERR_clear_error();
        return HOST_TLS_ERROR;
    }

    if (!SSL_is_init_finished(c->ssl)) {
        ret = SSL_do_handshake(c->ssl);
        if (ret != 1)
            return tls_failed(c, ret, "tls handshake");
        tls_note_alpn(c);
    }

    /* Stops at WANT_READ: the rest of a partial record waits for more input. */
    for (;;) {
        ret = SSL_read_ex(c->ssl, buf, sizeof(buf), &n);
        if (ret != 1)
            return tls_failed(c, ret, "tls read");
        if (on_plain != NULL && on_plain(ud, buf, n) != 0)
            return HOST_TLS_OK;
    }
}

int host_tls_conn_write(host_tls_conn *c, const char *plain, size_t len)
{
    size_t n = 0;
    int ret;

    if (c->state == CONN_FAILED || c->shut_down || !SSL_is_init_finished(c->ssl)) {
        snprintf(c->error, sizeof(c->error), "tls write: %s",
                 c->shut_down              ? "after shutdown"
                 : c->state == CONN_FAILED ? "after a fatal error"
                                           : "before the handshake completed");
        return HOST_TLS_ERROR;
    }
    if (len == 0)
        return HOST_TLS_OK;
    ERR_clear_error();
    /* Without partial writes enabled, success means all of it is in wbio. */
    ret = SSL_write_ex(c->ssl, plain, len, &n);
    if (ret != 1) {
        int rc = tls_failed(c, ret, "tls write");
        if (rc == HOST_TLS_OK) { /* WANT_READ mid-write: cannot happen here */
            snprintf(c->error, sizeof(c->error), "tls write: unexpectedly blocked");
            c->state = CONN_FAILED;
        }
        return HOST_TLS_ERROR;
    }
    return HOST_TLS_OK;
}

size_t host_tls_conn_pending_out(const host_tls_conn *c)
{
    return BIO_ctrl_pending(c->wbio);
}

size_t host_tls_conn_take_out(host_tls_conn *c, char *buf, size_t cap)
{
    size_t n = 0;

    if (cap == 0 || BIO_ctrl_pending(c->wbio) == 0)
        return 0;
    if (BIO_read_ex(c->wbio, buf, cap, &n) != 1)
        n = 0;
    return n;
}

int host_tls_conn_shutdown(host_tls_conn *c)
{
    if (c->state == CONN_FAILED || c->shut_down || !SSL_is_init_finished(c->ssl))
        return HOST_TLS_OK;
    ERR_clear_error();
    /*
     * 0 means "sent, the peer's has not come": fine, we do not wait for it
     * (HTTP closes the TCP connection next).  1 means the peer's had come.
     */
    if (SSL_shutdown(c->ssl) < 0) {
        c->state = CONN_FAILED;
        tls_error_text(c->error, sizeof(c->error), "tls shutdown");
        return HOST_TLS_ERROR;
    }
    c->shut_down = 1;
    return HOST_TLS_OK;
}

int host_tls_conn_handshake_done(const host_tls_conn *c)
{
    return SSL_is_init_finished(c->ssl) ? 1 : 0;
}

const char *host_tls_conn_alpn(const host_tls_conn *c)
{
    return c->alpn[0] != '\0' ? c->alpn : NULL;
}

const char *host_tls_conn_version(const host_tls_conn *c)
{
    return SSL_is_init_finished(c->ssl) ? SSL_get_version(c->ssl) : NULL;
}

const char *host_tls_conn_last_error(const host_tls_conn *c)
{
    return c->error;
}
