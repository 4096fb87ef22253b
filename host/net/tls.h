/*
 * tls.h - native TLS for the host's connections (OpenSSL 3, memory BIOs).
 *
 * OpenSSL never touches a socket here: the host's libuv code reads
 * ciphertext from the TCP stream and feeds it in, and takes the ciphertext
 * OpenSSL produced (handshake messages, records, alerts) out again to
 * uv_write() it.  That keeps TLS a pure byte transform, so the event loop,
 * timeouts and backpressure stay exactly as for plain HTTP.
 *
 * A host_tls_ctx holds the certificate, key and policy (TLS 1.2 minimum,
 * requirement S18; ECDHE+AEAD for 1.2; no compression, no renegotiation;
 * ALPN "http/1.1").  It is immutable once built and may be shared by every
 * connection of a worker.  A host_tls_conn is one connection's state and
 * belongs to the loop thread that created it.
 *
 * Typical use from a uv read callback:
 *
 *     rc = host_tls_conn_feed(tls, buf->base, nread, on_plain, conn);
 *     flush(conn);                 // pending_out/take_out -> uv_write
 *     if (rc != HOST_TLS_OK) close_after_flush(conn);
 *
 * and host_tls_conn_write() + flush() wherever plain HTTP would uv_write.
 */
#ifndef TANOMU_HOST_TLS_H
#define TANOMU_HOST_TLS_H

#include <stddef.h>

typedef struct host_tls_ctx host_tls_ctx;
typedef struct host_tls_conn host_tls_conn;

/* Results of the functions below that return int. */
#define HOST_TLS_OK 0
#define HOST_TLS_CLOSED 1   /* feed: the peer sent close_notify */
#define HOST_TLS_ERROR (-1) /* fatal: flush pending output (an alert), then close */

/*
 * Receives decrypted application data.  Return 0 to continue; non-zero to
 * stop delivering (the piece passed in counts as consumed).  Plaintext not
 * yet delivered stays inside the connection: a later feed, possibly with
 * inlen 0, delivers it.  The data pointer is valid only during the call.
 * The callback may call host_tls_conn_write() and host_tls_conn_shutdown()
 * (to answer a request at once) but must not free the connection: return
 * non-zero and free it after feed returns.
 */
typedef int (*host_tls_plain_cb)(void *ud, const char *data, size_t len);

/*
 * Builds a server context from PEM files: cert_path may hold the leaf
 * followed by its chain.  Checks that the key matches the certificate.
 * Returns NULL on failure with a readable reason in err (if errlen > 0),
 * such as "key /etc/x.key: key values mismatch"; callers add the context
 * ("server.tls: ").
 */
host_tls_ctx *host_tls_ctx_new(const char *cert_path, const char *key_path, char *err,
                               size_t errlen);
void host_tls_ctx_free(host_tls_ctx *ctx); /* NULL is fine; live conns keep it alive */

/* A new server-side connection; NULL when out of memory. */
host_tls_conn *host_tls_conn_new(host_tls_ctx *ctx);
void host_tls_conn_free(host_tls_conn *c); /* NULL is fine */

/*
 * Ciphertext read from the socket goes in (in may be NULL when inlen is 0).
 * Drives the handshake, then calls on_plain for each decrypted piece.
 * Returns HOST_TLS_OK (more input welcome), HOST_TLS_CLOSED (the peer ended
 * the session cleanly) or HOST_TLS_ERROR (protocol error, refused version,
 * garbage; host_tls_conn_last_error() says what).  Whatever the result, the
 * caller must then drain the output, which may hold handshake messages or
 * an alert.  After CLOSED or ERROR, later feeds return the same result.
 */
int host_tls_conn_feed(host_tls_conn *c, const char *in, size_t inlen, host_tls_plain_cb on_plain,
                       void *ud);

/*
 * Encrypts application data into the output buffer, all of it.  Only
 * after the handshake: before, or after an error or shutdown, it returns
 * HOST_TLS_ERROR and buffers nothing (HTTP never has to: the server only
 * writes in answer to a request, which arrives after the handshake).
 */
int host_tls_conn_write(host_tls_conn *c, const char *plain, size_t len);

/*
 * Ciphertext waiting for the socket after feed, write or shutdown.
 * take_out copies up to cap bytes into buf and returns how many; for
 * uv_write, allocate pending_out() bytes and take them all at once.
 */
size_t host_tls_conn_pending_out(const host_tls_conn *c);
size_t host_tls_conn_take_out(host_tls_conn *c, char *buf, size_t cap);

/*
 * Queues close_notify in the output (no wait for the peer's).  Does
 * nothing and returns HOST_TLS_OK when there is no session to close
 * (handshake unfinished, fatal error, already shut down).
 */
int host_tls_conn_shutdown(host_tls_conn *c);

int host_tls_conn_handshake_done(const host_tls_conn *c); /* 1 or 0 */
/* The negotiated ALPN protocol ("http/1.1") or NULL when none was agreed. */
const char *host_tls_conn_alpn(const host_tls_conn *c);
/* "TLSv1.3", "TLSv1.2", or NULL before the handshake is done. */
const char *host_tls_conn_version(const host_tls_conn *c);
/* Why the last HOST_TLS_ERROR happened, for the log; "" if none. */
const char *host_tls_conn_last_error(const host_tls_conn *c);

#endif
