"""API tokens of the auth plugin (plugins/auth/tokens.c, issue 8 "API
tokens") through the real binary and a real PostgreSQL: create, list and
revoke; a token never has more than its creator's roles; `Authorization:
Bearer` works without CSRF and never together with the session cookie;
revoked, expired and foreign-tenant tokens are refused (S21) and count
against the login's per-address zone (S9); last use is recorded at most
once a minute; audit rows (S20); the token appears in no log, metric or
PostgreSQL log (S16).

The helpers (users made with a real Argon2id hash, login, sessions) are
test_auth.py's, borrowed method by method so that its tests do not run
twice.
"""

import hashlib
import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, harness, json_lines_mentioning, main  # noqa: E402
import test_auth as base  # noqa: E402

CANARY = base.CANARY
TOKEN_RE = re.compile(r"^tnk_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_"
                      r"[A-Za-z0-9_-]{43}$")


def secret_hash(token):
    """What auth_tokens.secret_hash holds: hex SHA-256 of the secret's
    32 bytes (the part after the ID)."""
    secret = token[4 + 36 + 1:]
    return hashlib.sha256(base64.urlsafe_b64decode(secret + "=")).hexdigest()


def bearer(token):
    return {"Authorization": "Bearer " + token}


PROBE = ("authprobe",)   # GET /authprobe/me: any principal, what req_auth() gives


class TokensTest(base.AuthCase):

    add_user = base.AuthTest.add_user
    login = base.AuthTest.login
    session = base.AuthTest.session
    audit = base.AuthTest.audit

    def auth_server(self, **kw):
        # test_auth's set-up deletes every account: tokens first (they
        # reference their creators).
        if self.pg.scalar("SELECT to_regclass('auth_tokens') IS NOT NULL;") == "t":
            self.pg.psql("DELETE FROM auth_tokens;")
        return base.AuthTest.auth_server(self, **kw)

    def admin(self, srv, tenant="a", roles="tenant_admin,staff", login="admin"):
        uid = self.add_user(tenant, login, CANARY, roles=roles)
        return uid, self.session(srv, tenant, login, CANARY)

    def create(self, srv, s, tenant="a", name="edi", roles=("staff",), days=None):
        body = {"name": name, "roles": list(roles)}
        if days is not None:
            body["expires_in_days"] = days
        return srv.req(tenant, "POST", "/auth/tokens", body=json.dumps(body),
                       headers=s.headers())

    def token(self, srv, s, **kw):
        r = self.create(srv, s, **kw)
        self.assertEqual(r.status, 201, f"{r}\n{srv.tail()}")
        return r.json()

    # -- the life of a token -------------------------------------------------------

    def test_create_list_use_revoke_S20(self):
        """A tenant admin makes a token (201, shown once, `tnk_<id>_<secret>`,
        Cache-Control: no-store; the table keeps only the SHA-256 of the
        secret); the list shows it without any secret; the bearer works and
        its principal is token:<id> (read by another plugin, authprobe);
        the plugin's own admin routes want MFA passed, which a token never
        has (401 mfa_required, S13); revoked by the admin, it is 401
        invalid_token.  Create, revoke and the refused use are audited
        (S20)."""
        srv = self.auth_server(also=PROBE)
        uid, s = self.admin(srv)
        r = self.create(srv, s, name="EDI nightly", roles=("tenant_admin", "staff"), days=30)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.get("Cache-Control"), "no-store")
        t = r.json()
        self.assertRegex(t["token"], TOKEN_RE)
        self.assertEqual(t["token"][4:40], t["id"])
        self.assertEqual(t["roles"], ["tenant_admin", "staff"])
        self.assertEqual(t["expires_at"] - t["created_at"], 30 * 86400)
        self.assertEqual(self.pg.rows(
            "SELECT secret_hash, created_by::text, tenant_id FROM auth_tokens WHERE id = :'i';",
            i=t["id"]), [[secret_hash(t["token"]), uid, "a"]])

        listed = srv.req("a", "GET", "/auth/tokens", headers=s.headers(csrf=False))
        self.assertEqual(listed.status, 200)
        self.assertNotIn(t["token"][41:], listed.body.decode())
        [row] = listed.json()["tokens"]
        self.assertEqual((row["id"], row["name"], row["created_by"], row["revoked_at"],
                          row["last_used_at"]), (t["id"], "EDI nightly", uid, None, None))

        used = srv.req("a", "GET", "/authprobe/me", headers=bearer(t["token"]))
        self.assertEqual(used.status, 200, used)
        self.assertEqual(used.json()["user"], "token:" + t["id"])
        self.assertEqual((used.json()["auth"]["method"], used.json()["auth"]["mfa_passed"]),
                         ("api_token", False))
        listed = srv.req("a", "GET", "/auth/tokens", headers=s.headers(csrf=False))
        self.assertIsNotNone(listed.json()["tokens"][0]["last_used_at"])

        # Token administration is a person's, with MFA passed (S13).
        for method, path in (("GET", "/auth/tokens"), ("DELETE", "/auth/tokens/" + t["id"])):
            r = srv.req("a", method, path, headers=bearer(t["token"]))
            self.assertEqual((r.status, r.json()["error"]["code"]), (401, "mfa_required"), r)
        gone = srv.req("a", "DELETE", "/auth/tokens/" + t["id"], headers=s.headers())
        self.assertEqual(gone.status, 200, gone)
        again = srv.req("a", "GET", "/authprobe/me", headers=bearer(t["token"]))
        self.assertEqual(again.status, 401)
        self.assertEqual(again.json()["error"]["code"], "invalid_token")
        self.assertEqual(srv.req("a", "DELETE", "/auth/tokens/" + t["id"],
                                 headers=s.headers()).status, 404)

        self.assertEqual([(x[0], x[1], x[2]) for x in self.audit("a", "auth.token_create")],
                         [("ok", uid, t["id"])])
        self.assertEqual([(x[0], x[1], x[2]) for x in self.audit("a", "auth.token_revoke")],
                         [("ok", uid, t["id"])])
        self.assertEqual([(x[0], x[2]) for x in self.audit("a", "auth.token_use")],
                         [("failed", t["id"])])

    def test_roles_never_exceed_the_creators_S11(self):
        """A token's roles are at most its creator's (422 exceeds_creator),
        never platform_admin (422); expires_in_days is 1..365; staff cannot
        make tokens (403) and a token cannot make tokens (401 mfa_required:
        a token never passed MFA).  At use, the roles are those the creator
        still holds (a tenant_admin token reaches /auth/users' role check,
        then lacks MFA: 401; without the role, 403), and a disabled
        creator's tokens stop working."""
        srv = self.auth_server()
        uid, s = self.admin(srv, roles="tenant_admin")
        for roles, reason in ((("staff",), "exceeds_creator"),
                              (("platform_admin",), "invalid"), ((), "invalid"),
                              (("tenant_admin", "tenant_admin"), "invalid")):
            r = self.create(srv, s, roles=roles)
            self.assertEqual(r.status, 422, r)
            self.assertEqual(r.json()["error"]["fields"]["roles"], reason)
        for days in (0, 366, "30"):
            r = self.create(srv, s, roles=("tenant_admin",), days=days)
            self.assertEqual(r.status, 422, (days, r))
        self.assertEqual(self.create(srv, s, name="", roles=("tenant_admin",)).status, 400)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_tokens;"), "0")

        t = self.token(srv, s, roles=("tenant_admin",), days=365)
        r = srv.req("a", "POST", "/auth/tokens", headers=bearer(t["token"]),
                    body=json.dumps({"name": "x", "roles": ["tenant_admin"]}))
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "mfa_required"), r)

        self.add_user("a", "sam", CANARY, roles="staff")
        staff = self.session(srv, "a", "sam", CANARY)
        self.assertEqual(self.create(srv, staff, roles=("staff",)).status, 403)

        # The creator loses tenant_admin: the token keeps no role of it.
        r = srv.req("a", "GET", "/auth/users", headers=bearer(t["token"]))
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "mfa_required"), r)
        self.pg.psql("UPDATE auth_users SET roles = '{staff}' WHERE id = :'u';", u=uid)
        self.assertEqual(srv.req("a", "GET", "/auth/users", headers=bearer(t["token"])).status,
                         403)
        self.pg.psql("UPDATE auth_users SET disabled = true WHERE id = :'u';", u=uid)
        self.assertEqual(srv.req("a", "GET", "/auth/users", headers=bearer(t["token"])).status,
                         401)

    def test_bearer_needs_no_csrf_and_never_rides_a_cookie_S4(self):
        """A bearer request changes state without a CSRF token (it carries
        no ambient authority: authprobe's POST route, which wants an
        authentication within 300 s, takes a fresh token); a request with
        both the bearer and the session cookie is refused 400
        ambiguous_credentials."""
        srv = self.auth_server(also=PROBE)
        _, s = self.admin(srv)
        t1 = self.token(srv, s, roles=("tenant_admin",))
        t2 = self.token(srv, s, roles=("staff",))
        both = dict(bearer(t1["token"]), **s.headers())
        r = srv.req("a", "DELETE", "/auth/tokens/" + t2["id"], headers=both)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["code"], "ambiguous_credentials")
        r = srv.req("a", "POST", "/authprobe/email", headers=bearer(t1["token"]), body="{}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user"], "token:" + t1["id"])
        # A staff token: authenticated, but not an admin.
        t3 = self.token(srv, s, roles=("staff",))
        self.assertEqual(srv.req("a", "GET", "/auth/tokens", headers=bearer(t3["token"])).status,
                         403)

    def test_expired_malformed_and_throttled_S9(self):
        """An expired token and malformed bearers are 401 invalid_token;
        each failure counts against the login's per-address zone (burst 5:
        the admin's login takes one), so past the burst they are 429
        too_many_attempts, while a live token still works."""
        srv = self.auth_server(wide={"login_burst": 5, "login_rate_per_min": 0.1}, also=PROBE)
        _, s = self.admin(srv)
        live = self.token(srv, s, roles=("tenant_admin",))
        old = self.token(srv, s, roles=("tenant_admin",))
        self.pg.psql("UPDATE auth_tokens SET created_at = created_at - interval '100 days', "
                     "expires_at = expires_at - interval '100 days' WHERE id = :'i';",
                     i=old["id"])
        wrong = live["token"][:-4] + ("AAAA" if not live["token"].endswith("AAAA") else "BBBB")
        for tok in (old["token"], wrong, "tnk_garbage", live["token"] + "x"):
            r = srv.req("a", "GET", "/authprobe/me", headers=bearer(tok))
            self.assertEqual(r.status, 401, (tok[:8], r))
            self.assertEqual(r.json()["error"]["code"], "invalid_token")
        r = srv.req("a", "GET", "/authprobe/me", headers=bearer(wrong))
        self.assertEqual(r.status, 429, r)
        self.assertIsNotNone(r.get("Retry-After"))
        self.assertEqual(srv.req("a", "GET", "/authprobe/me",
                                 headers=bearer(live["token"])).status, 200)
        self.assertEqual(len(self.audit("a", "auth.token_use")), 5)

    def test_token_of_tenant_a_useless_on_b_S21(self):
        """A token of tenant a, presented to tenant b (same ID, same
        secret), is 401 there: row-level security hides a's row; b's list
        does not show it and b cannot revoke it."""
        srv = self.auth_server(also=PROBE)
        _, sa = self.admin(srv, "a")
        _, sb = self.admin(srv, "b")
        t = self.token(srv, sa, roles=("tenant_admin",))
        r = srv.req("b", "GET", "/authprobe/me", headers=bearer(t["token"]))
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "invalid_token"), r)
        self.assertEqual(srv.req("b", "GET", "/auth/tokens",
                                 headers=sb.headers(csrf=False)).json()["tokens"], [])
        self.assertEqual(srv.req("b", "DELETE", "/auth/tokens/" + t["id"],
                                 headers=sb.headers()).status, 404)
        self.assertEqual(srv.req("a", "GET", "/authprobe/me",
                                 headers=bearer(t["token"])).status, 200)
        self.assertEqual([(x[0], x[2]) for x in self.audit("b", "auth.token_use")],
                         [("failed", t["id"])])

    def test_last_use_written_at_most_once_a_minute(self):
        """last_used_at is written on use, then not again within 60 s (no
        write per request), then again once it is older."""
        srv = self.auth_server(also=PROBE)
        _, s = self.admin(srv)
        t = self.token(srv, s, roles=("tenant_admin",))

        def last():
            return self.pg.scalar("SELECT coalesce(last_used_at::text, 'never') FROM auth_tokens "
                                  "WHERE id = :'i';", i=t["id"])
        self.assertEqual(last(), "never")
        self.assertEqual(srv.req("a", "GET", "/authprobe/me", headers=bearer(t["token"])).status,
                         200)
        first = last()
        self.assertNotEqual(first, "never")
        self.pg.psql("UPDATE auth_tokens SET last_used_at = last_used_at - interval '30 s' "
                     "WHERE id = :'i';", i=t["id"])
        shifted = last()
        self.assertEqual(srv.req("a", "GET", "/authprobe/me", headers=bearer(t["token"])).status,
                         200)
        self.assertEqual(last(), shifted)
        self.pg.psql("UPDATE auth_tokens SET last_used_at = last_used_at - interval '31 s' "
                     "WHERE id = :'i';", i=t["id"])
        self.assertEqual(srv.req("a", "GET", "/authprobe/me", headers=bearer(t["token"])).status,
                         200)
        self.assertEqual(self.pg.scalar("SELECT last_used_at > now() - interval '20 s' "
                                        "FROM auth_tokens WHERE id = :'i';", i=t["id"]), "t")

    def test_canary_token_never_logged_S16(self):
        """S16: a token, its secret and a near miss of it appear in no log
        line of the server, in no metric, nor in PostgreSQL's log, after
        create, list, use, a refused use and revoke."""
        srv = self.auth_server()
        _, s = self.admin(srv)
        t = self.token(srv, s, roles=("tenant_admin",))
        near = t["token"][:-1] + ("A" if t["token"][-1] != "A" else "B")
        srv.req("a", "GET", "/auth/tokens", headers=s.headers(csrf=False))
        srv.req("a", "GET", "/auth/tokens", headers=bearer(t["token"]))
        srv.req("a", "GET", "/auth/tokens", headers=bearer(near))
        srv.req("a", "POST", "/auth/tokens", headers=bearer(t["token"]),
                body=json.dumps({"name": "x", "roles": ["staff"]}))
        srv.req("a", "DELETE", "/auth/tokens/" + t["id"], headers=bearer(t["token"]))
        metrics = srv.admin_get("/metrics").body.decode("utf-8")
        srv.stop()
        secret = t["token"][41:]
        for needle in (t["token"], secret, near[41:], secret_hash(t["token"])):
            self.assertNotIn(needle, metrics)
            self.assertEqual(json_lines_mentioning(srv, needle), [], needle[:6])
            self.assertNotIn(needle, self.pg.log_tail(100000))
        self.assertEqual(self.pg.scalar(
            "SELECT count(*) FROM auth_tokens WHERE secret_hash = :'s' OR name = :'s';",
            s=secret), "0")


if __name__ == "__main__":
    main()
