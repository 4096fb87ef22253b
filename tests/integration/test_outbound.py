"""Outbound calls (SDK 1.2, issue 7 section 1; S16, S18, A4, A7): the outprobe
test plugin calls local peers through http_call and curl_run.

Peers: an HTTPS server (http.server + ssl) with a certificate from a CA made
at test time with the openssl CLI, on 127.0.0.1 and [::1]; the host trusts
that CA through outbound.ca_file and reaches the loopback peers only through
outbound.allow entries.  Egress refusals are checked both ways: the plugin
gets TN_EPOLICY, and the peer saw no request (for the private ranges nothing
listens, so the refusal must come before any connect: the error names the
policy, not a connect failure).
"""

import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest
import urllib.parse

import harness
from harness import ServerTestCase, wait_until

TN_OK = 0
TN_ECANCELED = -6
TN_EPOLICY = -20
TN_ETIMEDOUT = -21
TN_ETOOBIG = -22
TN_ENETWORK = -23
TN_EBUSY = -24

CANARY = "qcanary7f3e"


def make_ca_and_cert(d):
    """A CA and a server certificate it signed, for 127.0.0.1, ::1 and
    localhost (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("peer.key", "peer.csr", "peer.crt"))
    ext = os.path.join(d, "peer.ext")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
        "-days", "2", "-subj", "/CN=tanomu test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=localhost")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


class Peer:
    """A local HTTPS (or plain HTTP) server that records what it was sent.

    /ok            200 "hello from peer", X-Echo: the X-Probe header sent
    /status/N      status N
    /slow?ms=N     answers after N ms (or when the client goes away)
    /big?n=N       N bytes
    /redirect?to=U&code=C   a redirect to U
    """

    def __init__(self, host, cert=None, key=None):
        peer = self
        self.seen = []          # (method, path, headers dict, body, client port)
        self.lock = threading.Lock()
        self.aborted = 0        # /slow requests whose client went away

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with peer.lock:
                    peer.seen.append((self.command, self.path, dict(self.headers), body,
                                      self.client_address[1]))
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                if u.path == "/ok":
                    self._answer(200, b"hello from peer",
                                 [("X-Echo", self.headers.get("X-Probe", "")),
                                  ("Content-Type", "text/plain")])
                elif u.path.startswith("/status/"):
                    self._answer(int(u.path[8:]), b"status body")
                elif u.path == "/slow":
                    deadline = time.monotonic() + int(q.get("ms", "5000")) / 1000.0
                    self.connection.settimeout(0.05)
                    while time.monotonic() < deadline:
                        try:
                            if self.connection.recv(1) == b"":
                                with peer.lock:
                                    peer.aborted += 1
                                return
                        except (socket.timeout, ssl.SSLWantReadError):
                            pass
                        except OSError:
                            with peer.lock:
                                peer.aborted += 1
                            return
                    self.connection.settimeout(None)
                    self._answer(200, b"slow answer")
                elif u.path == "/big":
                    self._answer(200, b"x" * int(q.get("n", "100")))
                elif u.path == "/redirect":
                    self._answer(int(q.get("code", "302")), b"",
                                 [("Location", q.get("to", "/ok"))])
                else:
                    self._answer(404, b"no")

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Srv(http.server.ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # refused handshakes are expected (VerifyTest)

        self.httpd = Srv((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.tls = cert is not None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def paths(self):
        with self.lock:
            return [s[1] for s in self.seen]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def out_conf(allow, ca, **over):
    d = {"allow": list(allow), "ca_file": ca, "max_timeout_ms": 20000}
    d.update(over)
    return {"outbound": d}


class OutboundTest(ServerTestCase):
    """One host (1 worker) allowing the two loopback peers."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = __import__("tempfile").mkdtemp(prefix="tanomu-out-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.ca, crt, key = make_ca_and_cert(cls.tmp)
        cls.peer = Peer("127.0.0.1", crt, key)
        cls.addClassCleanup(cls.peer.close)
        cls.peer6 = Peer("::1", crt, key)
        cls.addClassCleanup(cls.peer6.close)
        cls.plain = Peer("127.0.0.1")       # plain http, allowed by an entry
        cls.addClassCleanup(cls.plain.close)
        cls.loop_only = Peer("127.0.0.1", crt, key)   # never in allow
        cls.addClassCleanup(cls.loop_only.close)
        allow = [f"127.0.0.1:{cls.peer.port}", f"[::1]:{cls.peer6.port}",
                 f"localhost:{cls.peer.port}", f"127.0.0.1:{cls.plain.port}"]
        cls.server = cls.start_class_server(
            plugins=("hello", "outprobe"), workers=1,
            tenants={"t1": {"id": "t1", "hosts": ["t1.test"],
                            "features": {"hello": {"enabled": True},
                                         "outprobe": {"enabled": True}}}},
            conf=out_conf(allow, cls.ca))

    def call(self, url, wait=20.0, **params):
        q = urllib.parse.urlencode(dict(url=url, **params))
        r = self.server.get("/out/call?" + q, timeout=wait)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def base(self, peer=None):
        p = peer or self.peer
        return f"https://127.0.0.1:{p.port}"

    # -- the client ---------------------------------------------------------

    def test_success_headers_body_sent(self):
        """A GET through the allow entry: status, body, response header;
        the peer saw the plugin's header."""
        j = self.call(self.base() + "/ok", hdr="probe-1")
        self.assertEqual((j["result"], j["status"]), (TN_OK, 200), j)
        self.assertEqual(j["body"], "hello from peer")
        self.assertEqual(j["x_echo"], "probe-1")

    def test_connection_reused(self):
        """Calls to one peer from one worker reuse the connection: three
        calls in a row arrive on one client port."""
        for i in range(3):
            j = self.call(self.base() + f"/ok?reuse={i}")
            self.assertEqual(j["status"], 200, j)
        ports = {s[4] for s in self.peer.seen if "reuse=" in s[1]}
        self.assertEqual(len(ports), 1, ports)

    def test_callback_never_inside_the_call(self):
        """Even a call refused at once (policy) or cancelled at once answers
        later, from the loop."""
        j = self.call("https://10.0.0.1/x")
        self.assertEqual((j["result"], j["inside"]), (TN_EPOLICY, 0), j)
        q = urllib.parse.urlencode({"url": self.base() + "/slow?ms=3000"})
        j = self.server.get("/out/cancel?" + q).json()
        self.assertEqual((j["result"], j["inside"]), (TN_ECANCELED, 0), j)

    def test_post_body_arrives(self):
        """A body arrives whole; a larger one is sent at once (no
        "Expect: 100-continue" wait); the host names itself in User-Agent."""
        for body in ("a=1&b=2", "x" * 3000):
            j = self.call(self.base() + "/ok?post=1", method="POST", body=body)
            self.assertEqual(j["status"], 200, j)
            seen = [s for s in self.peer.seen if s[0] == "POST" and "post=1" in s[1]]
            self.assertTrue(seen and seen[-1][3] == body.encode(), seen[-1:])
            headers = {k.lower(): v for k, v in seen[-1][2].items()}
            self.assertNotIn("expect", headers)
            self.assertTrue(headers.get("user-agent", "").startswith("tanomu/"), headers)

    def test_4xx_5xx_are_answers(self):
        for code in (404, 503):
            j = self.call(self.base() + f"/status/{code}")
            self.assertEqual((j["result"], j["status"]), (TN_OK, code), j)
            self.assertEqual(j["body"], "status body")

    def test_slow_peer_times_out(self):
        j = self.call(self.base() + "/slow?ms=8000", wait=30, timeout="500")
        self.assertEqual(j["result"], TN_ETIMEDOUT, j)

    def test_oversized_response_cut(self):
        j = self.call(self.base() + "/big?n=50000", max="1000")
        self.assertEqual(j["result"], TN_ETOOBIG, j)
        self.assertEqual(j["body_len"], 0)
        j = self.call(self.base() + "/big?n=1000", max="1000")
        self.assertEqual((j["result"], j["body_len"]), (TN_OK, 1000), j)

    def test_redirects_off_unless_asked(self):
        j = self.call(self.base() + "/redirect?to=/ok")
        self.assertEqual((j["result"], j["status"]), (TN_OK, 302), j)
        j = self.call(self.base() + "/redirect?to=/ok", redirects="2")
        self.assertEqual((j["result"], j["status"], j["body"]), (TN_OK, 200, "hello from peer"))

    def test_redirect_to_forbidden_address_refused(self):
        """Each hop passes the policy: a redirect from an allowed peer to
        another loopback port (no entry) and to the metadata address."""
        for target in (f"https://127.0.0.1:{self.loop_only.port}/ok",
                       "https://169.254.169.254/latest/meta-data/"):
            q = urllib.parse.urlencode({"to": target})
            j = self.call(self.base() + "/redirect?" + q, redirects="3")
            self.assertEqual(j["result"], TN_EPOLICY, j)
        self.assertEqual(self.loop_only.paths(), [])

    def test_cancel_by_plugin(self):
        q = urllib.parse.urlencode({"url": self.base() + "/slow?ms=5000"})
        j = self.server.get("/out/cancel?" + q).json()
        self.assertEqual(j["result"], TN_ECANCELED, j)

    def test_client_abort_cancels_call(self):
        """A client that goes away cancels its request's calls: the call's
        log line says canceled long before the peer would have answered, and
        the peer sees its connection go."""
        before = self.peer.aborted
        q = urllib.parse.urlencode({"url": self.base() + "/slow?ms=15000&abort=1"})
        with self.server.raw() as c:
            c.send(f"GET /out/call?{q} HTTP/1.1\r\nHost: t1.test\r\n\r\n")
            wait_until(lambda: any("abort=1" in p for p in self.peer.paths()), 10,
                       what="the call to reach the peer")
        line = self.server.wait_log(
            lambda l: l.get("type") == "outbound" and l.get("result") == "canceled"
            and l.get("plugin") == "outprobe", timeout=8, what="canceled outbound log line")
        self.assertLess(line["duration_ms"], 15000)
        wait_until(lambda: self.peer.aborted > before, 10, what="the peer to see the close")

    def test_queue_bound(self):
        """max_per_plugin 4 + queue_max 8: of 20 calls fired at once 12 are
        accepted (4 run, 8 wait), 8 refused with TN_EBUSY; the 12 all end.
        Then max_timeout_ms caps a call that asks for more."""
        srv = self.new_server(
            plugins=("hello", "outprobe"), workers=1,
            tenants={"t1": {"id": "t1", "hosts": ["t1.test"],
                            "features": {"outprobe": {"enabled": True}}}},
            conf=out_conf([f"127.0.0.1:{self.peer.port}"], self.ca,
                          max_per_plugin=4, queue_max=8, max_timeout_ms=3000))
        q = urllib.parse.urlencode({"url": self.base() + "/slow?ms=300", "n": 20,
                                    "timeout": 10000})
        j = srv.get("/out/fire?" + q).json()
        self.assertEqual(j, {"accepted": 12, "busy": 8, "other": 0})
        srv.wait_log(lambda l: sum(1 for x in srv.log_lines()
                                   if "fire done result=0 status=200" in str(x)) >= 12,
                     timeout=20, what="the 12 accepted calls to finish")
        # outbound.max_timeout_ms (3 s) caps the call's own 60 s.
        q = urllib.parse.urlencode({"url": self.base() + "/slow?ms=30000", "timeout": 60000})
        j = srv.get("/out/call?" + q, timeout=30).json()
        self.assertEqual(j["result"], TN_ETIMEDOUT, j)

    # -- egress -----------------------------------------------------------------

    def test_egress_refused_without_entry(self):
        """Egress (SSRF guard): loopback in every spelling, link-local metadata, RFC 1918 and
        a name resolving to loopback are refused without an allow entry, with
        TN_EPOLICY; the loopback peer saw nothing."""
        p = self.loop_only.port
        for url in (f"https://127.0.0.1:{p}/ok", f"https://[::1]:{p}/ok",
                    f"https://[::ffff:127.0.0.1]:{p}/ok", f"https://localhost:{p}/ok",
                    "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/x",
                    "https://100.64.0.1/x", "https://[fe80::1]/x", "https://[fd00::1]/x",
                    f"https://2130706433:{p}/ok", f"https://0x7f.0.0.1:{p}/ok",
                    f"https://127.1:{p}/ok", "https://0.0.0.0/x"):
            j = self.call(url, timeout="3000")
            self.assertEqual(j["result"], TN_EPOLICY, (url, j))
            self.assertIn("policy", j["error"], (url, j))
        self.assertEqual(self.loop_only.paths(), [])

    def test_plain_http_only_with_entry(self):
        j = self.call(f"http://127.0.0.1:{self.plain.port}/ok")
        self.assertEqual((j["result"], j["status"]), (TN_OK, 200), j)
        j = self.call(f"http://127.0.0.1:{self.loop_only.port}/ok")
        self.assertEqual(j["result"], TN_EPOLICY, j)
        j = self.call(f"ftp://127.0.0.1:{self.plain.port}/x")
        self.assertEqual(j["result"], TN_EPOLICY, j)

    def test_egress_allowed_with_entry(self):
        """The same spellings pass with an entry: [::1] and localhost."""
        j = self.call(f"https://[::1]:{self.peer6.port}/ok")
        self.assertEqual((j["result"], j["status"]), (TN_OK, 200), j)
        j = self.call(f"https://localhost:{self.peer.port}/ok")
        self.assertEqual((j["result"], j["status"]), (TN_OK, 200), j)

    def test_log_line_and_metrics(self):
        """S16: one JSON line per call with plugin, method, host, status and
        duration, never the query string, headers or body."""
        self.call(self.base() + f"/ok?token={CANARY}", hdr=CANARY, method="POST", body=CANARY)
        line = self.server.wait_log(
            lambda l: l.get("type") == "outbound" and l.get("method") == "POST"
            and l.get("status") == 200, what="outbound log line")
        self.assertEqual(line["host"], f"127.0.0.1:{self.peer.port}")
        self.assertEqual(line["plugin"], "outprobe")
        self.assertIn("duration_ms", line)
        out = [l for l in self.server.log_lines() if l.get("type") == "outbound"]
        self.assertNotIn(CANARY, json.dumps(out))
        m = self.server.metrics()
        self.assertGreaterEqual(m.sum("tanomu_outbound_calls_total", plugin="outprobe",
                                      result="2xx"), 1)
        self.call("https://10.0.0.1/never", timeout="2000")
        m = self.server.metrics()
        self.assertGreaterEqual(m.sum("tanomu_outbound_calls_total", plugin="outprobe",
                                      host="(refused)", result="policy"), 1)
        self.assertEqual(m.sum("tanomu_outbound_calls_total", host="10.0.0.1:443"), 0)
        self.assertTrue(m.has("tanomu_outbound_call_duration_seconds_count")
                        or m.has("tanomu_outbound_call_duration_seconds_bucket"))

    # -- curl_run --------------------------------------------------------------

    def test_curl_run_policy_wins(self):
        """The plugin's handle turns verification off, allows every protocol
        and brings its own socket callback: the host's options, set last,
        still refuse a loopback peer without an entry, and still verify TLS
        (the peer's CA is trusted only through ca_file)."""
        q = urllib.parse.urlencode({"url": f"https://127.0.0.1:{self.loop_only.port}/ok"})
        j = self.server.get("/out/curl?" + q).json()
        self.assertEqual(j["result"], TN_EPOLICY, j)
        self.assertEqual(self.loop_only.paths(), [])
        q = urllib.parse.urlencode({"url": f"http://127.0.0.1:{self.loop_only.port}/ok"})
        j = self.server.get("/out/curl?" + q).json()
        self.assertEqual(j["result"], TN_EPOLICY, j)
        q = urllib.parse.urlencode({"url": self.base() + "/ok"})
        j = self.server.get("/out/curl?" + q).json()
        self.assertEqual((j["result"], j["response"]), (TN_OK, 200), j)


class VerifyTest(ServerTestCase):
    """TLS verification is on even for an allowed peer: without ca_file the
    test CA is not trusted."""

    def test_untrusted_peer_fails(self):
        tmp = __import__("tempfile").mkdtemp(prefix="tanomu-out-")
        self.addCleanup(shutil.rmtree, tmp, True)
        _, crt, key = make_ca_and_cert(tmp)
        peer = Peer("127.0.0.1", crt, key)
        self.addCleanup(peer.close)
        srv = self.new_server(
            plugins=("outprobe",), workers=1,
            tenants={"t1": {"id": "t1", "hosts": ["t1.test"],
                            "features": {"outprobe": {"enabled": True}}}},
            conf={"outbound": {"allow": [f"127.0.0.1:{peer.port}"]}})
        for route in ("/out/call", "/out/curl"):
            q = urllib.parse.urlencode({"url": f"https://127.0.0.1:{peer.port}/ok"})
            j = srv.get(f"{route}?{q}").json()
            self.assertEqual(j["result"], TN_ENETWORK, (route, j))


def _has_aiosmtpd():
    try:
        return subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"],
                              capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


@unittest.skipUnless(_has_aiosmtpd(), "python3-aiosmtpd missing: run scripts/deps.sh")
class SmtpTest(ServerTestCase):
    """curl_run end to end: an SMTP delivery with STARTTLS to a local
    aiosmtpd.  The plugin's handle asks for no TLS (CURLUSESSL_NONE); the
    host's CURLUSESSL_ALL, set last, wins: the message arrives over TLS, and
    a peer that offers no STARTTLS gets nothing (TN_EPOLICY)."""

    def start_peer(self, tmp, name, tls_files=()):
        port = harness.free_port()
        out = os.path.join(tmp, name + ".jsonl")
        p = subprocess.Popen(["/usr/bin/python3", os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "smtp_peer.py"), str(port), out, *tls_files],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(p.stdout.close)
        self.addCleanup(p.wait, 10)
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        return port, out

    def test_smtp_starttls_forced(self):
        tmp = __import__("tempfile").mkdtemp(prefix="tanomu-out-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ca, crt, key = make_ca_and_cert(tmp)
        tls_port, tls_out = self.start_peer(tmp, "tls", (crt, key))
        plain_port, plain_out = self.start_peer(tmp, "plain")
        srv = self.new_server(
            plugins=("outprobe",), workers=1,
            tenants={"t1": {"id": "t1", "hosts": ["t1.test"],
                            "features": {"outprobe": {"enabled": True}}}},
            conf=out_conf([f"127.0.0.1:{tls_port}", f"127.0.0.1:{plain_port}"], ca))
        q = urllib.parse.urlencode({"url": f"smtp://127.0.0.1:{tls_port}/tanomu.test",
                                    "rcpt": "buyer@example.jp"})
        j = srv.get("/out/mail?" + q, timeout=30).json()
        self.assertEqual(j["result"], TN_OK, j)
        msgs = [json.loads(l) for l in harness.read_text(tls_out).splitlines()]
        self.assertEqual(len(msgs), 1, msgs)
        self.assertEqual(msgs[0]["to"], ["buyer@example.jp"])
        self.assertTrue(msgs[0]["tls"], msgs)
        self.assertIn("Order received.", msgs[0]["data"])
        q = urllib.parse.urlencode({"url": f"smtp://127.0.0.1:{plain_port}/tanomu.test"})
        j = srv.get("/out/mail?" + q, timeout=30).json()
        self.assertEqual(j["result"], TN_EPOLICY, j)
        self.assertFalse(os.path.exists(plain_out), "a message went out in clear")
        line = srv.wait_log(lambda l: l.get("type") == "outbound" and l.get("method") == "SMTP",
                            what="the SMTP call's log line")
        self.assertEqual(line["host"], f"127.0.0.1:{tls_port}")


class StopTest(ServerTestCase):
    def test_worker_stop_cancels_before_fini(self):
        """A stopping worker ends its calls with TN_ECANCELED, callbacks
        before the plugin's fini(): 200 calls, 64 running (max_per_plugin)
        and 136 queued."""
        tmp = __import__("tempfile").mkdtemp(prefix="tanomu-out-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ca, crt, key = make_ca_and_cert(tmp)
        peer = Peer("127.0.0.1", crt, key)
        self.addCleanup(peer.close)
        srv = self.new_server(
            plugins=("outprobe",), workers=1,
            tenants={"t1": {"id": "t1", "hosts": ["t1.test"],
                            "features": {"outprobe": {"enabled": True}}}},
            conf=out_conf([f"127.0.0.1:{peer.port}"], ca))
        q = urllib.parse.urlencode({"url": f"https://127.0.0.1:{peer.port}/slow?ms=20000",
                                    "n": 200, "timeout": 20000})
        self.assertEqual(srv.get("/out/fire?" + q).json()["accepted"], 200)
        wait_until(lambda: len(peer.paths()) == 64, 15, what="64 calls at the peer")
        srv.stop()
        msgs = [str(l.get("msg", l)) for l in srv.log_lines()]
        done = [i for i, m in enumerate(msgs) if "fire done result=-6" in m]
        fini = [i for i, m in enumerate(msgs) if "outprobe fini" in m]
        self.assertEqual(len(done), 200, msgs[-20:])
        self.assertTrue(fini and max(done) < fini[0], msgs[-20:])


if __name__ == "__main__":
    harness.main()
