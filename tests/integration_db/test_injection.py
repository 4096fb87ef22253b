"""SQL injection and hostile bytes through every parameterized path (S1,
A6, S16, S21).

Every value reaches PostgreSQL as a $n parameter (the SDK has no call that
puts a value into SQL text), so injection strings are stored and returned
verbatim and never executed: tables stay, row counts are what the requests
asked for, and a CREATE TABLE in a value creates no table.  Bytes that cannot be
text (NUL, invalid UTF-8) are refused with a JSON error, never a crash or a
silently shortened value.
"""

import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, json_lines_mentioning, main, wait_until  # noqa: E402

PAYLOADS = [
    "'); DROP TABLE notes; --",
    "x'; DROP TABLE audit_log; --",
    "' OR '1'='1",
    "' OR 1=1 --",
    "1; DELETE FROM notes",
    "'; UPDATE outbox SET state = 'dead'; --",
    "$1",
    "$$; DROP TABLE notes; $$",
    "E'\\x27'",
    "\\'; DROP TABLE tenants; --",
    "'; SELECT pg_sleep(3); --",
    "'); CREATE TABLE injected_marker (); --",
    "x'; CREATE TABLE injected_marker (); SELECT '",
    "current_setting('app.tenant_id')",
    "' || (SELECT string_agg(body, ',') FROM notes) || '",
    "a'); INSERT INTO notes (tenant_id, body) VALUES ('b', 'pwned'); --",
    "\"; \\set ON_ERROR_STOP off \\! id",
    "%s%s%s%n",
    "ユーザー'; DROP TABLE notes; -- 注文",
    "line1\r\nline2\ttab",
    "'" * 300,
]


class InjectionTest(DbTestCase):

    def setUp(self):
        self.srv = self.db_server()

    def assertUntouched(self, notes_before, added=()):
        """Tables all there; notes exactly as before plus ADDED (tenant, body)."""
        self.assertTrue(self.pg.tables_exist(), "a table was dropped")
        # Executed, a payload would leave this table behind: proof by a
        # trace, not by how long a request took (a loaded machine is slow).
        self.assertEqual(self.pg.scalar("SELECT to_regclass('public.injected_marker') IS NULL;"),
                         "t", "a CREATE TABLE in a value was executed")
        now = self.pg.notes()
        for i, v in notes_before.items():
            self.assertEqual(now.get(i), v, f"note {i} changed")
        new = sorted(v for i, v in now.items() if i not in notes_before)
        self.assertEqual(new, sorted(added))
        self.assertEqual(self.pg.count("tenants"), 2)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM outbox WHERE state = 'dead';"),
                         "0")

    def test_note_bodies_stored_verbatim_S1(self):
        """S1: injection strings as note bodies are stored byte for byte in
        the requesting tenant, listed back by id, and nothing else changes."""
        srv = self.srv
        srv.create_note("a", "seed a")
        srv.create_note("b", "seed b")
        before = self.pg.notes()
        ids = {}
        for p in PAYLOADS:
            nid, _ = srv.create_note("a", p)
            ids[nid] = p
        stored = self.pg.notes()
        for nid, p in ids.items():
            self.assertEqual(stored[nid], ("a", p))
        self.assertUntouched(before, added=[("a", p) for p in PAYLOADS])
        listed = srv.list_notes("b")
        self.assertEqual({e["tenant"] for e in listed["tenants"]}, {"b"})
        self.assertEqual(self.pg.count("notes", "b"), listed["count"])

    def test_echo_values_round_trip_S1(self):
        """S1: values in the query string come back exactly from SELECT $1;
        a statement inside one is not run."""
        srv = self.srv
        before = self.pg.notes()
        for p in PAYLOADS + ["", " ", "NULL", "null", "\\N", "0x27"]:
            r = srv.req("b", "GET", "/db/echo?v=" + urllib.parse.quote(p, safe=""))
            self.assertEqual(r.status, 200, (p, r))
            self.assertEqual(r.body.decode("utf-8"), p)
        # '+' is a space in a query string; %2B is a plus.
        r = srv.req("a", "GET", "/db/echo?v=a+b%2Bc")
        self.assertEqual(r.body, b"a b+c")
        self.assertUntouched(before)

    def test_route_param_is_a_value_S1_S21(self):
        """S1/S21: the :tenant path segment reaches INSERT as a parameter.
        Injection strings there are just tenant names that are not the
        requester's: refused (422), nothing written anywhere."""
        srv = self.srv
        before = self.pg.notes()
        audit = self.pg.count("audit_log")
        for p in ["a' OR '1'='1", "b'); DROP TABLE notes; --", "a'--", "a;DELETE FROM notes",
                  "%27", "a\\", "$1", "(SELECT id FROM tenants LIMIT 1)"]:
            path = "/db/notes/as/" + urllib.parse.quote(p, safe="")
            r = srv.req("b", "POST", path)
            self.assertIn(r.status, (404, 422), (p, r))
            self.assertJsonError(r, r.status)
        self.assertUntouched(before)
        self.assertEqual(self.pg.count("audit_log"), audit)

    def test_nul_and_invalid_utf8_refused_A6(self):
        """A6: a body with a NUL byte is refused (400) rather than cut short
        at the NUL; invalid UTF-8 (in a body or a query value) is refused by
        the database with a JSON error; nothing is stored, no worker dies,
        and the offending bytes are not written to the log (S16)."""
        srv = self.srv
        before = self.pg.notes()
        r = srv.req("a", "POST", "/db/notes", body=b"abc\x00SECRETNUL")
        err = self.assertJsonError(r, 400)
        self.assertEqual(err["code"], "bad_request")
        r = srv.req("a", "POST", "/db/roundtrip", body=b"\x00")
        self.assertJsonError(r, 400)
        for body in (b"abc\xff\xfeSECRETUTF", b"\xc3\x28", b"\xed\xa0\x80 surrogate",
                     b"\xf8\x88\x80\x80\x80 five bytes", b"ok then \xc0\xaf overlong"):
            r = srv.req("a", "POST", "/db/notes", body=body)
            self.assertGreaterEqual(r.status, 400, (body, r))
            self.assertJsonError(r, r.status)
        for q in ("a%FFb", "%C3%28", "%ED%A0%80"):
            r = srv.req("b", "GET", "/db/echo?v=" + q)
            self.assertGreaterEqual(r.status, 400, (q, r))
            self.assertJsonError(r, r.status)
        # A NUL in a query value: the host's decoder refuses it (the route
        # says 400), it never reaches SQL as a shortened string.
        r = srv.req("b", "GET", "/db/echo?v=abc%00def")
        self.assertJsonError(r, 400)
        self.assertUntouched(before)
        r = srv.req("a", "GET", "/db/echo?v=still-alive")
        self.assertEqual((r.status, r.body), (200, b"still-alive"))
        self.assertEqual(srv.crashes(), 0)
        wait_until(lambda: srv.access_lines(), 5, what="access log")
        for secret in ("SECRETNUL", "SECRETUTF"):
            self.assertEqual(json_lines_mentioning(srv, secret), [])


if __name__ == "__main__":
    main()
