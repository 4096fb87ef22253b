"""HTTP/1.1 edge cases against the real binary: framing, limits, timeouts,
malformed input, methods, standard and security headers (S5, S7, S9), request
IDs and the access log (S16, A10).

One server with small limits serves the whole file; tests that depend on
connection state open their own connections.
"""

import select
import time

import harness
from harness import RawConn, ServerTestCase, build_request, wait_until

HOST = "t1.test"
HEADER_BYTES = 4096
HEADERS = 20
BODY_BYTES = 65536
HEADER_TIMEOUT_MS = 1000
KEEPALIVE_TIMEOUT_MS = 1000


class HttpTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(
            name="http",
            conf={"server": {"limits": {
                "header_bytes": HEADER_BYTES, "headers": HEADERS, "body_bytes": BODY_BYTES,
                "header_timeout_ms": HEADER_TIMEOUT_MS,
                "keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS}}})

    @classmethod
    def tearDownClass(cls):
        # Part of the contract: SIGTERM ends the server with status 0.
        cls.server.stop()

    def conn(self):
        c = RawConn(self.server.port)
        self.addCleanup(c.close)
        return c

    def send_raw(self, data, timeout=10.0):
        """Send bytes on a fresh connection; return (response, closed_after)."""
        c = self.conn()
        c.send(data)
        r = c.read_response(timeout)
        return r, c.wait_closed(3.0)

    # -- keep-alive and pipelining ------------------------------------------

    def test_keepalive_is_default_for_http11(self):
        c = self.conn()
        first = c.request("GET", "/hello", HOST)
        self.assertEqual(first.status, 200, first)
        self.assertNotEqual((first.get("Connection") or "").lower(), "close", first)
        second = c.request("GET", "/hello", HOST)
        self.assertEqual(second.status, 200, second)
        self.assertNotEqual(first.get("X-Request-Id"), second.get("X-Request-Id"))

    def test_connection_close_requested_by_client(self):
        c = self.conn()
        r = c.request("GET", "/hello", HOST, headers={"Connection": "close"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(c.wait_closed(3.0), "server kept a Connection: close connection open")

    def test_http10_closes_by_default(self):
        c = self.conn()
        c.send(build_request("GET", "/hello", HOST, version="HTTP/1.0"))
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertTrue(c.wait_closed(3.0), "HTTP/1.0 connection without keep-alive left open")

    def test_pipelined_responses_in_order(self):
        # The first request is the slowest: responses must still come in
        # request order, each matching its own request.
        c = self.conn()
        c.send(build_request("GET", "/probe/slow?ms=300", HOST)
               + build_request("GET", "/probe/params/7/x/y", HOST)
               + build_request("POST", "/probe/echo", HOST, body=b"third")
               + build_request("GET", "/probe/slow?ms=0", HOST))
        r1, r2, r3, r4 = (c.read_response() for _ in range(4))
        self.assertEqual((r1.status, r1.json()), (200, {"slept": 300}), r1)
        self.assertEqual((r2.status, r2.json()), (200, {"id": "7", "rest": "x/y"}), r2)
        self.assertEqual((r3.status, r3.body), (200, b"third"), r3)
        self.assertEqual((r4.status, r4.json()), (200, {"slept": 0}), r4)
        ids = {r.get("X-Request-Id") for r in (r1, r2, r3, r4)}
        self.assertEqual(len(ids), 4, "pipelined requests share a request id")

    # -- request bodies -------------------------------------------------------

    def test_expect_100_continue(self):
        # curl sends this for bodies over 1 KiB: the client waits for the
        # interim response before it sends the body.
        c = self.conn()
        c.send(f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n")
        interim = c.read_response()
        self.assertEqual(interim.status, 100, interim)
        c.send(b"12345")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"12345"), r)

    def test_expect_100_continue_over_limit_413(self):
        # Too large: the final answer comes at once, without 100 Continue.
        c = self.conn()
        c.send(f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
               f"Content-Length: {BODY_BYTES + 1}\r\nExpect: 100-continue\r\n\r\n")
        self.assertJsonError(c.read_response(), 413)

    def test_content_length_body_echo(self):
        body = bytes(range(256)) * 40
        r = self.server.request("POST", "/probe/echo", HOST, body=body)
        self.assertEqual((r.status, r.body), (200, body))
        self.assertTrue(r.get("Content-Type").startswith("text/plain"), r)

    def test_chunked_request_body(self):
        c = self.conn()
        head = (f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode()
        chunks = [b"hello ", b"chunked", b" world" * 100]
        body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(x), x) if i == 0 else
                        b"%x\r\n%s\r\n" % (len(x), x) for i, x in enumerate(chunks))
        c.send(head)
        c.send(body)           # separate writes: the parser must resume
        c.send(b"0\r\n\r\n")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"".join(chunks)), r)
        again = c.request("GET", "/hello", HOST)  # framing left the connection usable
        self.assertEqual(again.status, 200, again)

    def test_body_at_limit_accepted(self):
        body = b"x" * BODY_BYTES
        r = self.server.request("POST", "/probe/echo", HOST, body=body, timeout=20)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body), BODY_BYTES)

    def test_body_over_limit_content_length_413(self):
        # The head alone says too much: the server answers without the body.
        c = self.conn()
        c.send(f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
               f"Content-Length: {BODY_BYTES + 1}\r\n\r\n")
        r = c.read_response()
        self.assertJsonError(r, 413)
        self.assertStandardHeaders(r, csp=harness.ANY_CSP)

    def test_body_over_limit_chunked_413(self):
        c = self.conn()
        c.send(f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
               "Transfer-Encoding: chunked\r\n\r\n")
        piece = b"y" * 8192
        sent = 0
        # Stop sending as soon as the server answers: it may close early.
        while sent <= BODY_BYTES + len(piece):
            if select.select([c.sock], [], [], 0)[0]:
                break
            try:
                c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        else:
            try:
                c.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        r = c.read_response()
        self.assertJsonError(r, 413)

    # -- head limits ------------------------------------------------------------

    def test_header_bytes_over_limit_431(self):
        r, _ = self.send_raw(build_request("GET", "/hello", HOST,
                                           headers={"X-Big": "b" * (HEADER_BYTES + 1000)}))
        self.assertJsonError(r, 431)
        self.assertStandardHeaders(r, csp=harness.ANY_CSP)

    def test_header_bytes_under_limit_ok(self):
        r, _ = self.send_raw(build_request("GET", "/hello", HOST,
                                           headers={"X-Big": "b" * (HEADER_BYTES // 2)}))
        self.assertEqual(r.status, 200, r)

    def test_header_count_at_limit_ok(self):
        # Host + (HEADERS - 1) others = exactly the limit.
        hdrs = [(f"X-H{i}", "v") for i in range(HEADERS - 1)]
        r, _ = self.send_raw(build_request("GET", "/hello", HOST, headers=hdrs))
        self.assertEqual(r.status, 200, r)

    def test_header_count_over_limit_431(self):
        hdrs = [(f"X-H{i}", "v") for i in range(HEADERS)]
        r, _ = self.send_raw(build_request("GET", "/hello", HOST, headers=hdrs))
        self.assertJsonError(r, 431)

    # -- timeouts -----------------------------------------------------------------

    def test_incomplete_head_408_then_close(self):
        # t0 before the connection: the server's clock starts at accept, and
        # a loaded machine may take a while between connect and send.
        t0 = time.monotonic()
        c = self.conn()
        c.send(f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\n")  # no blank line
        r = c.read_response(timeout=HEADER_TIMEOUT_MS / 1000 + 5)
        elapsed = time.monotonic() - t0
        self.assertJsonError(r, 408)
        self.assertGreaterEqual(elapsed, 0.8 * HEADER_TIMEOUT_MS / 1000, "408 came too early")
        self.assertTrue(c.wait_closed(3.0), "connection left open after 408")

    def test_slow_drip_head_still_times_out(self):
        """A1: a slowloris client cannot hold a connection past header_timeout_ms."""
        # Slowloris: a byte now and then must not extend header_timeout_ms;
        # the deadline is for the whole head, not for each read.
        c = self.conn()
        head = f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: " + "z" * 200
        t0 = time.monotonic()
        limit = HEADER_TIMEOUT_MS / 1000 + 3 * harness.SCALE
        i = 0
        while time.monotonic() - t0 < limit:
            if select.select([c.sock], [], [], 0.1)[0]:
                break
            try:
                c.send(head[i % len(head)])
            except (BrokenPipeError, ConnectionResetError):
                break
            i += 1
        r = c.read_response(timeout=1)
        self.assertJsonError(r, 408)

    def test_idle_keepalive_closed_after_timeout(self):
        c = self.conn()
        # t0 before the request: the idle clock starts when the server has
        # answered, which a loaded client may read well after.
        t0 = time.monotonic()
        r = c.request("GET", "/hello", HOST)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(c.wait_closed(KEEPALIVE_TIMEOUT_MS / 1000 + 3),
                        "idle keep-alive connection was not closed")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.8 * KEEPALIVE_TIMEOUT_MS / 1000,
                                "keep-alive connection closed too early")
        self.assertEqual(c.buf, b"", "server sent bytes on an idle connection")

    # -- malformed input and methods ------------------------------------------------

    MALFORMED = {
        "header_without_colon": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nNoColonHere\r\n\r\n",
        "space_before_colon": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nX-A : b\r\n\r\n",
        "bad_content_length": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                              "Content-Length: 12abc\r\n\r\n",
        "conflicting_content_lengths": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                                       "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "bad_chunk_size": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                          "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "bad_request_line": f"GET /hello HTTP/1.1 extra\r\nHost: {HOST}\r\n\r\n",
        "bad_version": f"GET /hello HTTX/1.1\r\nHost: {HOST}\r\n\r\n",
    }

    def test_malformed_requests_400_and_close(self):
        for name, data in self.MALFORMED.items():
            with self.subTest(name):
                r, closed = self.send_raw(data.encode("latin-1"))
                self.assertJsonError(r, 400)
                self.assertTrue(closed, f"{name}: connection not closed after 400")
                self.assertStandardHeaders(r, csp=harness.ANY_CSP)

    def test_trace_405(self):
        """S5: TRACE is disabled (it would echo cookies back)."""
        # S5: TRACE is disabled (it echoes headers such as cookies back).
        r, _ = self.send_raw(build_request("TRACE", "/hello", HOST,
                                           headers={"Cookie": "sid=tracecookie"}))
        self.assertJsonError(r, 405)
        self.assertNotIn(b"tracecookie", r.body)
        self.assertStandardHeaders(r, csp=harness.ANY_CSP)

    def test_unknown_method_501(self):
        r, _ = self.send_raw(build_request("FOO", "/hello", HOST))
        self.assertJsonError(r, 501)
        self.assertStandardHeaders(r, csp=harness.ANY_CSP)

    # -- standard headers (S5, S9) -----------------------------------------------------

    def test_standard_headers_on_success_and_errors(self):
        # S5, S9: charset, Date, X-Request-Id, CSP, nosniff, Referrer-Policy on every response.
        # Every response, whoever answers it (plugin, router, access check,
        # tenant lookup, HTTP parser, limits), carries charset, Date, a
        # request id and the default security headers (S5, S9).
        big = "b" * (HEADER_BYTES + 1000)
        cases = [
            ("plugin 200", build_request("GET", "/hello", HOST), 200),
            ("plugin text 200", build_request("POST", "/probe/echo", HOST, body=b""), 200),
            ("no route 404", build_request("GET", "/no/such/route", HOST), 404),
            ("access 401", build_request("GET", "/probe/me", HOST), 401),
            ("unknown tenant 404", build_request("GET", "/hello", "unknown.example"), 404),
            ("health, any host", build_request("GET", "/healthz", "whatever.example"), 200),
            ("malformed 400", f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nNoColon\r\n\r\n",
             400),
            ("TRACE 405", build_request("TRACE", "/hello", HOST), 405),
            ("unknown method 501", build_request("FOO", "/hello", HOST), 501),
            ("body 413", f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                         f"Content-Length: {BODY_BYTES + 1}\r\n\r\n", 413),
            ("head 431", build_request("GET", "/hello", HOST, headers={"X-Big": big}), 431),
        ]
        for name, data, status in cases:
            with self.subTest(name):
                c = self.conn()
                c.send(data)
                r = c.read_response()
                self.assertEqual(r.status, status, r)
                self.assertStandardHeaders(r)
                self.assertRegex(r.get("X-Request-Id"), harness.REQUEST_ID_RE)
                if status >= 400:
                    self.assertJsonError(r, status)

    def test_streamed_response_has_standard_headers(self):
        c = self.conn()
        r = c.request("GET", "/probe/stream?kb=1", HOST)
        self.assertEqual(r.status, 200, r)
        self.assertStandardHeaders(r)

    def test_unknown_tenant_404_json(self):
        r = self.server.get("/hello", host="nobody.example")
        err = self.assertJsonError(r, 404)
        self.assertEqual(err["code"], "unknown_tenant")

    # -- request ids (A10) ---------------------------------------------------------

    def test_valid_request_id_echoed(self):
        # A10: a valid incoming X-Request-Id is kept end to end.
        for rid in ("abc-123_x.y", "A" * 64, "0"):
            with self.subTest(rid):
                r = self.server.get("/hello", headers={"X-Request-Id": rid})
                self.assertEqual(r.get("X-Request-Id"), rid)

    def test_invalid_request_id_replaced(self):
        for rid in ("has space", "A" * 65, "semi;colon", "quote\"", "ütf"):
            with self.subTest(rid):
                c = self.conn()
                c.send(build_request("GET", "/hello", HOST, headers={"X-Request-Id": rid})
                       if rid.isascii() else
                       b"GET /hello HTTP/1.1\r\nHost: " + HOST.encode()
                       + b"\r\nX-Request-Id: " + rid.encode("utf-8") + b"\r\n\r\n")
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertRegex(r.get("X-Request-Id"), harness.REQUEST_ID_RE)

    def test_generated_request_ids_unique(self):
        ids = {self.server.get("/hello").get("X-Request-Id") for _ in range(20)}
        self.assertEqual(len(ids), 20)
        for i in ids:
            self.assertRegex(i, harness.REQUEST_ID_RE)

    # -- plugin header API (S7) -------------------------------------------------------

    def test_plugin_header_set_control(self):
        """S7 control: a clean value does get through resp_header."""
        # Control for the injection tests: a clean value does get through.
        r = self.server.get("/probe/header?value=hello%20world")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"rc": 0})
        self.assertEqual(r.get("X-Probe"), "hello world")

    def test_plugin_header_crlf_refused(self):
        # S7: resp_header refuses CR/LF in names and values; nothing is injected.
        for case in ("crlf", "cr", "lf", "name"):
            with self.subTest(case):
                c = self.conn()
                c.send(build_request("GET", f"/probe/header?case={case}", HOST))
                r = c.read_response()
                raw_head = repr(r.headers)
                self.assertEqual(r.status, 200, r)
                self.assertLess(r.json()["rc"], 0, f"resp_header accepted case {case}")
                self.assertIsNone(r.get("X-Injected"), raw_head)
                self.assertIsNone(r.get("X-Probe"), raw_head)
                # Nothing of the value leaked into the head in any shape.
                self.assertNotIn("Injected", raw_head)
                # And the connection still frames correctly afterwards.
                self.assertEqual(c.request("GET", "/hello", HOST).status, 200)

    def test_plugin_header_decoded_crlf_from_query_refused(self):
        """S7: %0d%0a from a query parameter never reaches the response head."""
        # The attack as it arrives: %0d%0a in a query parameter.
        c = self.conn()
        c.send(build_request("GET", "/probe/header?value=a%0d%0aX-Injected:%20yes", HOST))
        r = c.read_response()
        self.assertIsNone(r.get("X-Injected"), r)
        self.assertNotIn("Injected", repr(r.headers))
        if r.status == 200:   # the host decoded it: the header API must refuse it
            self.assertLess(r.json()["rc"], 0)
        else:                 # or req_query_param already refused to decode it
            self.assertEqual(r.status, 400, r)

    # -- routing and streaming ----------------------------------------------------------

    def test_route_params(self):
        r = self.server.get("/probe/params/42/a/b/c.txt")
        self.assertEqual((r.status, r.json()), (200, {"id": "42", "rest": "a/b/c.txt"}), r)
        # A named segment never spans a slash.
        self.assertEqual(self.server.get("/probe/params").status, 404)

    def test_streamed_chunked_response(self):
        kb = 300
        c = self.conn()
        r = c.request("GET", f"/probe/stream?kb={kb}", HOST, timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.chunked, "streamed response is not chunked")
        self.assertEqual(len(r.body), kb * 1024)
        expected = b"".join(bytes([ord("a") + i % 26]) * 1024 for i in range(kb))
        self.assertTrue(r.body == expected, "streamed pieces corrupted or out of order")
        self.assertEqual(c.request("GET", "/hello", HOST).status, 200)

    def test_health_on_main_listener_any_host(self):
        for host in ("t1.test", "unknown.example", "127.0.0.1"):
            for path in ("/healthz", "/readyz"):
                with self.subTest(f"{path} @{host}"):
                    self.assertEqual(self.server.get(path, host=host).status, 200)

    # -- admin listener -----------------------------------------------------------------

    def test_admin_endpoints(self):
        for path in ("/healthz", "/readyz"):
            self.assertEqual(self.server.admin_get(path).status, 200)
        r = self.server.admin_get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertIn("charset=", r.get("Content-Type", "").lower())
        self.assertTrue(r.get("Content-Type", "").startswith("text/plain"), r)
        m = harness.Metrics(r.body.decode())
        for name in ("tanomu_plugin_load_failures_total", "tanomu_worker_restarts_total"):
            self.assertTrue(m.has(name), f"{name} missing from /metrics")
        # Tenant routes are not served on the admin listener.
        self.assertEqual(harness.http_request(self.server.admin_port, "GET", "/hello",
                                              HOST).status, 404)

    def test_request_metrics_and_histogram(self):
        before = self.server.metrics().sum("tanomu_http_requests_total",
                                           tenant="t1", status="2xx")
        for _ in range(5):
            self.assertEqual(self.server.get("/hello").status, 200)
        self.server.wait_metric("tanomu_http_requests_total", lambda v: v >= before + 5,
                                tenant="t1", status="2xx")
        m = self.server.metrics()
        self.assertTrue(m.find("tanomu_http_requests_total", tenant="t1", route="/hello",
                               status="2xx"), "no sample with route=\"/hello\"")
        self.assertTrue(m.find("tanomu_http_request_duration_seconds_bucket", le="+Inf"))
        self.assertTrue(m.has("tanomu_http_request_duration_seconds_count"))
        self.assertTrue(m.has("tanomu_http_request_duration_seconds_sum"))
        for _, labels, _ in m.find("tanomu_http_requests_total"):
            self.assertRegex(labels.get("status", ""), r"^[1-5]xx$", labels)

    # -- logs (S16, A10) -------------------------------------------------------------------

    def test_access_log_fields(self):
        """A10, S20: access lines carry request id, tenant and user."""
        rid = "accesslog-fields-1"
        r = self.server.get("/probe/me?x=1", headers={"X-Request-Id": rid,
                                                       "X-Test-User": "alice;user"})
        self.assertEqual(r.status, 200, r)
        line = self.server.access_line(rid)
        for key in ("time", "request_id", "tenant", "method", "path", "status", "bytes",
                    "duration_us"):
            self.assertIn(key, line, line)
        self.assertEqual(line["tenant"], "t1")
        self.assertEqual(line["method"], "GET")
        self.assertEqual(line["path"], "/probe/me")
        self.assertEqual(line["status"], 200)
        self.assertEqual(line.get("user"), "alice")
        self.assertIsInstance(line["bytes"], int)
        self.assertIsInstance(line["duration_us"], int)

    def test_no_secrets_in_logs(self):
        """S16: no Authorization, cookies, tokens or passwords in the logs."""
        secrets = ["AUTHSECRET-b3a1", "COOKIESECRET-77c2", "QUERYTOKEN-9f0e", "PWSECRET-12ab"]
        ids = []
        reqs = [
            ("/hello?token=QUERYTOKEN-9f0e&password=PWSECRET-12ab", HOST),
            ("/probe/me?token=QUERYTOKEN-9f0e", HOST),           # 401
            ("/nothing?token=QUERYTOKEN-9f0e", HOST),             # 404
            ("/hello?token=QUERYTOKEN-9f0e", "unknown.example"),  # unknown tenant
        ]
        for i, (path, host) in enumerate(reqs):
            rid = f"nosecret-{i}"
            ids.append(rid)
            self.server.get(path, host=host, headers={
                "X-Request-Id": rid,
                "Authorization": "Bearer AUTHSECRET-b3a1",
                "Cookie": "session=COOKIESECRET-77c2; csrf=COOKIESECRET-77c2",
                "X-Test-User": "bob;user"})
        # A malformed one too: errors must not dump the raw head.
        c = self.conn()
        c.send(f"GET /hello?token=QUERYTOKEN-9f0e HTTP/1.1\r\nHost: {HOST}\r\n"
               "Authorization: Bearer AUTHSECRET-b3a1\r\nBroken header\r\n\r\n")
        c.read_response()
        for rid in ids:
            line = self.server.access_line(rid)
            self.assertNotIn("?", line["path"], line)
        logs = self.server.stdout() + self.server.stderr()
        for s in secrets:
            self.assertNotIn(s, logs, f"secret {s} appears in the logs")

    def test_stdout_is_json_lines(self):
        self.server.get("/hello")
        lines = self.server.log_lines()
        self.assertTrue(lines, "no log output at all")
        bad = [l["_raw"] for l in lines if "_raw" in l]
        self.assertEqual(bad, [], "stdout lines that are not JSON objects")


class LoggingConfigTest(ServerTestCase):
    """logging.access = false writes no access lines; logging.level = warn
    drops info lines but keeps errors (here: a refused plugin)."""

    def test_access_off_level_warn(self):
        srv = self.new_server(name="logcfg", plugins=("hello", "probe", "bad_major"),
                              load=["hello", "probe", "bad_major"],
                              conf={"logging": {"level": "warn", "access": False}})
        for i in range(5):
            self.assertEqual(srv.get("/hello", headers={"X-Request-Id": f"quiet-{i}"}).status,
                             200)
        self.assertEqual(srv.get("/probe/slow?ms=0").status, 200)   # req_log at info
        # The refusal is an error: it must be there (and proves logs flow).
        wait_until(lambda: "bad_major" in srv.stdout(), 5, what="the bad_major error line")
        srv.stop()
        lines = srv.log_lines()
        self.assertEqual([l for l in lines if "quiet-" in str(l.get("request_id"))], [])
        levels = {str(l.get("level")).lower() for l in lines}
        self.assertFalse(levels & {"info", "debug"}, f"levels seen: {levels}")


if __name__ == "__main__":
    harness.main()
