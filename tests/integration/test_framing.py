"""Ambiguous request framing is refused (RFC 9112 §2.2, §3.2, §5.2, §6).

A proxy in front of the host and the host itself must agree on where a
request ends and on which Host it names.  Where two readings are possible
(two Host headers, a bare LF ending a header line, obs-fold, odd or doubled
Transfer-Encoding, Transfer-Encoding beside Content-Length, two
Content-Lengths) a proxy may take one and the host the other: requests are
smuggled past the proxy, or the host picks another tenant than the proxy
routed by (S21).  The host answers 400 with the usual JSON error, closes the
connection, and never executes a request pipelined behind the bad one
(P1: the host's own HTTP layer is strict because libhttp-parser is lenient).
"""

import harness
from harness import RawConn, ServerTestCase, build_request

HOST = "t1.test"


def follow_up(tag):
    """A valid request pipelined behind the bad one, with an id that would
    show in the access log if it were ever executed."""
    return build_request("GET", "/hello", HOST, {"X-Request-Id": f"smuggled-{tag}"})


# name -> the bad request's bytes (the follow-up is appended by the test).
SMUGGLED = follow_up("bare_lf_content_length")
BAD = {
    "duplicate_host": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nHost: other.test\r\n\r\n",
    "duplicate_host_same_value": f"GET /hello HTTP/1.1\r\nhost: {HOST}\r\nHOST: {HOST}\r\n\r\n",
    # Without the check the bare LF ends "X: x" and Content-Length swallows
    # the next pipelined request as this one's body.
    "bare_lf_content_length": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nX: x\n"
                              f"Content-Length: {len(SMUGGLED)}\r\n\r\n",
    "bare_lf_request_line": f"GET /hello HTTP/1.1\nHost: {HOST}\r\n\r\n",
    "bare_lf_end_of_head": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\n\n",
    "bare_cr_in_header": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nX: a\rY: b\r\n\r\n",
    "obs_fold_space": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nX-A: a\r\n b\r\n\r\n",
    "obs_fold_tab": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nX-A: a\r\n\tb\r\n\r\n",
    "space_before_first_header": f"GET /hello HTTP/1.1\r\n Host: {HOST}\r\n\r\n",
    "te_identity_chunked": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                           "Transfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te_twice": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te_identity": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                   "Transfer-Encoding: identity\r\n\r\n",
    "te_and_content_length": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "content_length_and_te": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                             "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                             "5\r\nhello\r\n0\r\n\r\n",
    "content_length_twice_same": f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\n"
                                 "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "te_in_http10": f"POST /probe/echo HTTP/1.0\r\nHost: {HOST}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "nul_in_header": f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\nX: a\0b\r\n\r\n",
}


class FramingTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        # One worker: its access log is in order, so "the sentinel is logged
        # and the follow-up is not" means the follow-up never ran.
        cls.server = cls.start_class_server(name="framing", workers=1)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def conn(self):
        c = RawConn(self.server.port)
        self.addCleanup(c.close)
        return c

    def assert_refused(self, name, data):
        c = self.conn()
        c.send(data.encode("latin-1") + follow_up(name))
        r = c.read_response(10)
        self.assertJsonError(r, 400)
        self.assertEqual((r.get("Connection") or "").lower(), "close", r)
        self.assertTrue(c.wait_closed(5), f"{name}: connection not closed after 400")
        self.assertEqual(c.buf, b"", f"{name}: bytes after the 400 (a follow-up answered?)")
        # The 400 and then a sentinel reach the (ordered) access log; the
        # pipelined follow-up must not be there.
        self.server.access_line(r.get("X-Request-Id"))
        sentinel = self.server.get("/hello", headers={"X-Request-Id": f"sentinel-{name}"})
        self.assertEqual(sentinel.status, 200, sentinel)
        self.server.access_line(f"sentinel-{name}")
        ran = [l for l in self.server.access_lines()
               if l.get("request_id") == f"smuggled-{name}"]
        self.assertEqual(ran, [], f"{name}: the pipelined follow-up was executed")

    def test_ambiguous_framing_400_close_no_follow_up(self):
        """P1, S21: every ambiguous case is refused the same way."""
        for name, data in BAD.items():
            with self.subTest(name):
                self.assert_refused(name, data)

    def test_duplicate_host_cannot_pick_another_tenant(self):
        """S21: with two Host headers no tenant answers, whichever comes first."""
        for hosts in ((HOST, "other.test"), ("other.test", HOST)):
            with self.subTest(hosts):
                c = self.conn()
                c.send(f"GET /hello HTTP/1.1\r\nHost: {hosts[0]}\r\nHost: {hosts[1]}\r\n\r\n")
                r = c.read_response(10)
                self.assertJsonError(r, 400)
                self.assertTrue(c.wait_closed(5))

    # -- what stays accepted ----------------------------------------------------

    def test_plain_chunked_still_accepted(self):
        """Only "chunked", any case, with optional whitespace, is a coding we take."""
        for te in ("chunked", "Chunked", "CHUNKED "):
            with self.subTest(te):
                c = self.conn()
                c.send(f"POST /probe/echo HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: {te}\r\n"
                       "\r\n5\r\nhello\r\n0\r\n\r\n")
                r = c.read_response(10)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, b"hello")

    def test_empty_lines_before_request_and_pipelining_still_work(self):
        c = self.conn()
        c.send(b"\r\n" + build_request("GET", "/hello", HOST)
               + b"\r\n" + build_request("POST", "/probe/echo", HOST, body="abc")
               + build_request("GET", "/hello", HOST))
        statuses = [c.read_response(10) for _ in range(3)]
        self.assertEqual([r.status for r in statuses], [200, 200, 200], statuses)
        self.assertEqual(statuses[1].body, b"abc")


if __name__ == "__main__":
    harness.main()
