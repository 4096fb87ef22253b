"""TLS (S18, S5): TLS 1.2 and 1.3 handshakes with ALPN http/1.1, TLS 1.0 and
1.1 refused, HSTS on TLS responses only (default or per tenant).  The
certificate is self-signed, made by the harness with the openssl CLI.
"""

import socket
import ssl
import threading
import warnings

import harness
from harness import RawConn, ServerTestCase

HOST = "t1.test"
HSTS_HOST = "hs.test"


def client_context(cafile, version=None, alpn=("http/1.1",)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def legacy_context(version):
    """A client that really can speak TLS 1.0/1.1: OpenSSL 3 refuses them at
    the default security level, so drop it to 0 for this client only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def legacy_control(cert, key, version):
    """Handshake `version` against a permissive local server with the same
    certificate; returns the negotiated version or an error string.  Proves
    the refusal below comes from tanomu, not from this client."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        sctx.minimum_version = ssl.TLSVersion.TLSv1
        sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(10)

    def serve():
        try:
            conn, _ = ls.accept()
            with sctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1)
        except (OSError, ssl.SSLError):
            pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with socket.create_connection(ls.getsockname(), timeout=10) as raw:
            with legacy_context(version).wrap_socket(raw) as s:
                return s.version()
    except (OSError, ssl.SSLError) as e:
        return f"error: {e}"
    finally:
        ls.close()
        t.join(10)


class TlsTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(name="tls", tls=True, tenants={
            "t1": {"id": "t1", "hosts": [HOST],
                   "features": {"hello": {"enabled": True, "greeting": "tls hello"}}},
            "hs": {"id": "hs", "hosts": [HSTS_HOST], "headers": {"hsts": "max-age=60"},
                   "features": {"hello": {"enabled": True}}},
        })

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tls_conn(self, ctx):
        c = RawConn(self.server.tls_port, tls_context=ctx, server_hostname="localhost")
        self.addCleanup(c.close)
        return c

    def handshake(self, version, expect_name):
        c = self.tls_conn(client_context(self.server.cert, version))
        self.assertEqual(c.sock.version(), expect_name)
        self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
        r = c.request("GET", "/hello", HOST)
        self.assertEqual((r.status, r.json()), (200, {"greeting": "tls hello"}), r)
        self.assertStandardHeaders(r, tls=True)
        # keep-alive works over TLS too
        self.assertEqual(c.request("GET", "/hello", HOST).status, 200)
        return r

    def test_tls12_handshake_alpn(self):
        """S18: TLS 1.2 with ALPN http/1.1."""
        self.handshake(ssl.TLSVersion.TLSv1_2, "TLSv1.2")

    def test_tls13_handshake_alpn(self):
        """S18: TLS 1.3 with ALPN http/1.1."""
        self.handshake(ssl.TLSVersion.TLSv1_3, "TLSv1.3")

    def test_alpn_prefers_http11_over_h2(self):
        c = self.tls_conn(client_context(self.server.cert, alpn=("h2", "http/1.1")))
        self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
        self.assertEqual(c.request("GET", "/hello", HOST).status, 200)

    def refused(self, version, name):
        control = legacy_control(self.server.cert, self.server.key, version)
        if control != name:
            self.skipTest(f"this client cannot speak {name} even to a permissive server "
                          f"({control}); the refusal would prove nothing")
        # The port does speak TLS (a modern client gets in) ...
        self.tls_conn(client_context(self.server.cert))
        # ... but not this version.
        raw = socket.create_connection(("127.0.0.1", self.server.tls_port),
                                       timeout=10 * harness.SCALE)
        self.addCleanup(raw.close)
        with self.assertRaises((ssl.SSLError, ConnectionResetError, EOFError),
                               msg=f"{name} handshake accepted"):
            s = legacy_context(version).wrap_socket(raw)
            self.addCleanup(s.close)
            self.fail(f"negotiated {s.version()}")

    def test_tls10_refused(self):
        """S18: TLS 1.0 is refused."""
        self.refused(ssl.TLSVersion.TLSv1, "TLSv1")

    def test_tls11_refused(self):
        """S18: TLS 1.1 is refused."""
        self.refused(ssl.TLSVersion.TLSv1_1, "TLSv1.1")

    def test_hsts_default_on_tls_only(self):
        """S5: HSTS on TLS responses, never on plain HTTP."""
        r = self.handshake(None, "TLSv1.3")
        hsts = r.get("Strict-Transport-Security")
        self.assertRegex(hsts or "", r"^max-age=\d+", r)
        plain = self.server.get("/hello")
        self.assertEqual(plain.status, 200)
        self.assertIsNone(plain.get("Strict-Transport-Security"), plain)

    def test_hsts_per_tenant(self):
        c = self.tls_conn(client_context(self.server.cert))
        r = c.request("GET", "/hello", HSTS_HOST)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.get("Strict-Transport-Security"), "max-age=60")

    def test_hsts_on_tls_errors(self):
        c = self.tls_conn(client_context(self.server.cert))
        r = c.request("GET", "/nope", HOST)
        self.assertJsonError(r, 404)
        self.assertStandardHeaders(r, tls=True)

    def test_session_resumes_on_any_worker(self):
        """The TLS context (and its session-ticket keys) is made once in the
        master, so a session resumes whichever worker takes the next
        connection; 8 connections spread over both workers."""
        ctx = client_context(self.server.cert, ssl.TLSVersion.TLSv1_2)
        first = self.tls_conn(ctx)
        self.assertEqual(first.request("GET", "/hello", HOST).status, 200)
        session = first.sock.session
        self.assertIsNotNone(session)
        before = self.server.metrics()
        kept = []  # held open, so the balancing sends the next to the other worker
        for _ in range(8):
            raw = socket.create_connection(("127.0.0.1", self.server.tls_port), timeout=10)
            s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
            kept.append(s)
            self.addCleanup(s.close)
            self.assertTrue(s.session_reused, "a full handshake: the session was not resumed")
        after = self.server.metrics()
        grew = [w for w in after.label_values("tanomu_worker_connections_total", "worker")
                if after.sum("tanomu_worker_connections_total", worker=w) >
                before.sum("tanomu_worker_connections_total", worker=w)]
        self.assertGreaterEqual(len(grew), 2, "all connections went to one worker")

    def test_health_over_tls(self):
        c = self.tls_conn(client_context(self.server.cert))
        self.assertEqual(c.request("GET", "/healthz", "anything.example").status, 200)


if __name__ == "__main__":
    harness.main()
