"""LINE Login (plugins/sso_line, issue 10) through the real binary, a real
PostgreSQL and a real OpenID provider: npm's oidc-provider 9.13.3 shaped
like LINE (tests/peers/line_provider: LINE's paths, HS256 ID tokens signed
with the channel secret, client_secret_post, PKCE S256 required), started
here on 127.0.0.1 with a free port and reached through outbound.allow.

The browser is a cookie-keeping HTTP client: GET /auth/line/start -> the
provider's login and consent pages (its dev interactions, driven by
form posts) -> the callback -> /auth/me says who, with method "line".
Then the refusals, each forced by a provider or client tweak: state
mismatch, a replayed callback and a replayed code, wrong audience, wrong
issuer, expired, wrong nonce, alg none, ES256 in place of HS256, a bad
signature, the user cancelling (error=access_denied); linking and
unlinking (re-authentication, audit, event), sign-up where the tenant
allows it (never an admin role), MFA still applying, tenant isolation,
and no token, code or secret in any log (S16).

The provider's npm packages come from its package-lock.json: `npm ci`
runs here once when tests/peers/line_provider/node_modules is missing.
"""

import base64
import hashlib
import http.client
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import harness, json_lines_mentioning, main  # noqa: E402
from test_auth import CANARY, COOKIE, AuthCase, Session, totp, step_now  # noqa: E402,F401

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "line_provider")
FLOW = "__Host-tanomu_line"
CHANNELS = {"a": ("1234567890", "Chan-Secret-a-5f1e9c2d7b"),
            "b": ("2222222222", "Chan-Secret-b-0a8d6e4f3c")}
SUB = "U4af4980629e2b3f4c5d6e7f8a9b0c1d2"


def npm_ci():
    if os.path.isdir(os.path.join(PEER, "node_modules", "oidc-provider")):
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"npm ci in {PEER} failed:\n{r.stdout}\n{r.stderr}")


class Provider:
    """The LINE stand-in, and a browser's cookie jar for it."""

    def __init__(self):
        npm_ci()
        clients = [{"client_id": cid, "client_secret": sec,
                    "redirect_uris": [f"https://{t}.test/auth/line/callback"]}
                   for t, (cid, sec) in CHANNELS.items()]
        self.proc = subprocess.Popen(["node", "provider.js", json.dumps({"clients": clients})],
                                     cwd=PEER, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the provider did not start: " + self.proc.stderr.read())
        info = json.loads(line)
        self.port, self.issuer = info["port"], info["issuer"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def request(self, jar, method, url, body=None):
        u = urllib.parse.urlparse(url)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * harness.SCALE)
        h = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, val = v.split(";")[0].split("=", 1)
                jar[name] = val
        c.close()
        return r.status, r.getheader("Location"), data

    def mode(self, m):
        status, _, _ = self.request({}, "POST", f"/_test/mode?m={m}")
        assert status == 200, status

    def authorize(self, url, sub, cancel=False):
        """A user at LINE: signs in as sub and consents (or cancels);
        returns the URL LINE sends the browser back to."""
        jar = {}
        status, loc, _ = self.request(jar, "GET", url)
        prompts = iter(("login", "consent"))
        for _ in range(6):
            if status not in (302, 303) or not loc.startswith("/interaction/"):
                break
            uid = loc.rsplit("/", 1)[1]
            status, _, page = self.request(jar, "GET", loc)
            assert status == 200, page[:300]
            if cancel:
                status, loc, _ = self.request(jar, "GET", f"/interaction/{uid}/abort")
            elif next(prompts, "consent") == "login":
                status, loc, _ = self.request(jar, "POST", f"/interaction/{uid}",
                                              urllib.parse.urlencode({
                                                  "prompt": "login", "login": sub,
                                                  "password": "any"}))
            else:
                status, loc, _ = self.request(jar, "POST", f"/interaction/{uid}",
                                              "prompt=consent")
            if status in (302, 303) and "/oauth2/v2.1/authorize/" in loc:
                status, loc, _ = self.request(jar, "GET", loc)
        assert status in (302, 303) and "/auth/line/callback" in loc, (status, loc)
        return loc


def cookie_of(r, name):
    for v in r.get_all("Set-Cookie"):
        if v.startswith(name + "="):
            return v.split(";", 1)[0].split("=", 1)[1]
    return None


class LineTest(AuthCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = Provider()
        cls.addClassCleanup(cls.provider.stop)

    def setUp(self):
        super().setUp()
        self.provider.mode("ok")

    def line_server(self, line=None, auth=None, workers=2, wide=None):
        """auth and sso_line enabled for a and b, each with its own LINE
        channel; the channel secret sealed with the keyring."""
        db = {"plugin_migrations_dir": os.path.join(harness.SOURCE_DIR, "plugins")}
        conf = {"secrets": {"keyring_dir": "keys"},
                "outbound": {"allow": [f"127.0.0.1:{self.provider.port}"]}}
        if wide:
            conf["plugins"] = {"sso_line": wide}
        srv = self.db_server(start=False, migrate=False, plugins=("auth", "sso_line"), db=db,
                             workers=workers, conf=conf)
        srv.write_conf()
        r = subprocess.run([harness.tanomu_bin(), "secret", "rotate", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.totp_secrets = {}
        self.tenant_docs = {}
        for t, (cid, secret) in CHANNELS.items():
            r = subprocess.run([harness.tanomu_bin(), "secret", "seal", "-c", srv.conf_path,
                                "--tenant", t, "--plugin", "sso_line", "--key",
                                "channel_secret"], input=secret, capture_output=True,
                               text=True, timeout=30 * harness.SCALE)
            self.assertEqual(r.returncode, 0, r.stderr)
            sealed = r.stdout.strip()
            self.assertTrue(sealed.startswith("tnsec:"), sealed)
            base = f"http://127.0.0.1:{self.provider.port}/oauth2/v2.1"
            feat = {"enabled": True, "channel_id": cid, "channel_secret": sealed,
                    "redirect_base": f"https://{t}.test",
                    "authorize_endpoint": base + "/authorize",
                    "token_endpoint": base + "/token", "issuer": self.provider.issuer}
            feat.update(line or {})
            a = {"enabled": True}
            a.update(auth or {})
            self.tenant_docs[t] = {"id": t, "hosts": [f"{t}.test"],
                                   "features": {"auth": a, "sso_line": feat}}
            srv.write_tenant(t, self.tenant_docs[t])
        srv.migrate()
        self.pg.psql("DELETE FROM sso_line_links; DELETE FROM sso_line_flows; "
                     "DELETE FROM auth_tokens; DELETE FROM auth_sessions; "
                     "DELETE FROM auth_password_resets; DELETE FROM auth_mfa_recovery; "
                     "DELETE FROM auth_mfa_totp; DELETE FROM auth_users;")
        self.since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM audit_log;")
        self.outbox_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM outbox;")
        srv.start()
        return srv

    def link(self, tenant, uid, sub=SUB):
        self.pg.psql("INSERT INTO sso_line_links (tenant_id, user_id, line_sub) "
                     "VALUES (:'t', :'u', :'s');", t=tenant, u=uid, s=sub)

    def start(self, srv, tenant, headers=None):
        r = srv.req(tenant, "GET", "/auth/line/start", headers=headers)
        self.assertEqual(r.status, 302, f"{r}\n{srv.tail()}")
        flow = cookie_of(r, FLOW)
        self.assertIsNotNone(flow, r)
        return r.get("Location"), flow

    def callback(self, srv, tenant, back, flow, session=None):
        u = urllib.parse.urlparse(back)
        self.assertEqual(u.netloc, f"{tenant}.test")
        cookie = f"{FLOW}={flow}" if flow else ""
        if session:
            cookie += f"; {COOKIE}={session.token}"
        return srv.req(tenant, "GET", f"{u.path}?{u.query}", headers={"Cookie": cookie},
                       timeout=20 * harness.SCALE)

    def line_login(self, srv, tenant, sub=SUB, session=None):
        url, flow = self.start(srv, tenant)
        back = self.provider.authorize(url, sub)
        return self.callback(srv, tenant, back, flow, session), back, flow

    def assertRefused(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["error"]["code"], code, r)
        self.assertIsNone(cookie_of(r, COOKIE), r)

    # ---- the happy path ------------------------------------------------------

    def test_login_full_flow_against_provider_S4_S11(self):
        """S4, S11: start -> LINE's login and consent -> callback -> a new
        session of the linked user; /auth/me says who, method "line".
        The authorize request carries state, nonce and PKCE S256; the flow
        cookie is Secure, HttpOnly, SameSite=Lax; the session cookie is
        the auth plugin's, and the CSRF token works for a POST."""
        srv = self.line_server()
        uid = self.add_user("a", "alice", CANARY)
        self.link("a", uid)
        url, flow = self.start(srv, "a")
        q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        self.assertEqual(q["client_id"], ["1234567890"])
        self.assertEqual(q["code_challenge_method"], ["S256"])
        self.assertEqual(q["redirect_uri"], ["https://a.test/auth/line/callback"])
        self.assertEqual(q["scope"], ["openid profile"])
        for k in ("state", "nonce", "code_challenge"):
            self.assertRegex(q[k][0], r"^[A-Za-z0-9_-]{43}$")
        back = self.provider.authorize(url, SUB)
        r = self.callback(srv, "a", back, flow)
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        body = r.json()
        self.assertEqual(body["user"]["id"], uid)
        self.assertEqual(body["auth_method"], "line")
        self.assertFalse(body["mfa_required"])
        token = cookie_of(r, COOKIE)
        self.assertIsNotNone(token)
        self.assertEqual(cookie_of(r, FLOW), "")            # the flow cookie cleared
        s = Session(token, body["csrf_token"])
        me = self.me(srv, "a", s)
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json()["user"]["login"], "alice")
        self.assertEqual(me.json()["auth_method"], "line")
        r = srv.req("a", "POST", "/auth/logout", headers=s.headers())
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x[0] for x in self.audit("a", "auth.login")], ["ok"])
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM sso_line_flows;"), "0")

    # ---- refusals ------------------------------------------------------------

    def test_state_mismatch_and_missing_cookie_S4(self):
        """S4: a callback whose state is not the browser's own flow (another
        browser's flow cookie, or none) is refused before the code is
        used: the code then still works for its own browser."""
        srv = self.line_server()
        uid = self.add_user("a", "alice", CANARY)
        self.link("a", uid)
        url, flow = self.start(srv, "a")
        _, other = self.start(srv, "a")
        back = self.provider.authorize(url, SUB)
        self.assertRefused(self.callback(srv, "a", back, other), 400, "state_mismatch")
        self.assertRefused(self.callback(srv, "a", back, None), 400, "state_mismatch")
        r = self.callback(srv, "a", back, flow)
        self.assertEqual(r.status, 200, r)

    def test_replayed_callback_and_code_S4(self):
        """S4: the same callback twice finds its flow used; the code of a
        finished sign-in delivered with a new flow's state is refused by
        LINE (used, and not that flow's PKCE verifier)."""
        srv = self.line_server()
        uid = self.add_user("a", "alice", CANARY)
        self.link("a", uid)
        r, back, flow = self.line_login(srv, "a")
        self.assertEqual(r.status, 200, r)
        self.assertRefused(self.callback(srv, "a", back, flow), 400, "flow_expired")
        url2, flow2 = self.start(srv, "a")
        state2 = urllib.parse.parse_qs(urllib.parse.urlparse(url2).query)["state"][0]
        code = urllib.parse.parse_qs(urllib.parse.urlparse(back).query)["code"][0]
        forged = "https://a.test/auth/line/callback?" + urllib.parse.urlencode(
            {"code": code, "state": state2})
        self.assertRefused(self.callback(srv, "a", forged, flow2), 400, "code_refused")

    def test_id_token_refusals_S16(self):
        """S16: ID tokens with a wrong audience or issuer, expired, issued
        in the future, with another nonce, alg none, ES256 in place of the
        pinned HS256, or signed with another key are refused with 401
        id_token_invalid; the reason is logged, never the token."""
        srv = self.line_server()
        uid = self.add_user("a", "alice", CANARY)
        self.link("a", uid)
        reasons = {"wrong_aud": "audience", "wrong_iss": "issuer", "expired": "expired",
                   "future_iat": "issued_at", "wrong_nonce": "nonce", "alg_none": "alg",
                   "alg_es256": "alg", "bad_sig": "signature"}
        for mode, why in reasons.items():
            with self.subTest(mode=mode):
                self.provider.mode(mode)
                r, _, _ = self.line_login(srv, "a")
                self.assertRefused(r, 401, "id_token_invalid")
                srv.wait_log(lambda l, w=why: f"id_token {w}" in l.get("msg", ""),
                             what=f"refusal reason {why}")
        self.provider.mode("ok")
        r, _, _ = self.line_login(srv, "a")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_sessions;"), "1")

    def test_user_cancels_clear_json_error(self):
        """The user cancels at LINE: error=access_denied ends in 403
        line_access_denied (JSON), never a 500; nothing is signed in."""
        srv = self.line_server()
        url, flow = self.start(srv, "a")
        back = self.provider.authorize(url, SUB, cancel=True)
        self.assertIn("error=access_denied", back)
        r = self.callback(srv, "a", back, flow)
        self.assertRefused(r, 403, "line_access_denied")
        self.assertEqual(cookie_of(r, FLOW), "")

    def test_not_linked_and_signup_S11(self):
        """S11: an unlinked LINE account is refused (403 not_linked) unless
        the tenant allows sign-up; then an account is made with the
        tenant's signup_role (never an admin), linked, and signed in;
        the next sign-in finds the same account."""
        srv = self.line_server()
        r, _, _ = self.line_login(srv, "a")
        self.assertRefused(r, 403, "not_linked")
        srv = self.line_server(line={"allow_signup": True, "signup_role": "staff"})
        r, _, _ = self.line_login(srv, "a")
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        uid = r.json()["user"]["id"]
        self.assertEqual(r.json()["user"]["roles"], ["staff"])
        self.assertEqual(r.json()["user"]["login"], "line_" + SUB)
        r, _, _ = self.line_login(srv, "a")
        self.assertEqual(r.json()["user"]["id"], uid)
        self.assertEqual(self.pg.rows("SELECT user_id::text FROM sso_line_links;"), [[uid]])

    def test_enabled_by_configuration_and_reload(self):
        """A tenant turns LINE Login on by its file alone and a reload:
        before, its routes do not exist (404); after, the flow works."""
        srv = self.line_server(line={"enabled": False})
        uid = self.add_user("a", "alice", CANARY)
        self.link("a", uid)
        self.assertEqual(srv.req("a", "GET", "/auth/line/start").status, 404)
        self.tenant_docs["a"]["features"]["sso_line"]["enabled"] = True
        srv.write_tenant("a", self.tenant_docs["a"])
        r = srv.cli("reload", timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r, _, _ = self.line_login(srv, "a")
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        self.assertEqual(r.json()["user"]["id"], uid)
        self.assertEqual(srv.req("b", "GET", "/auth/line/start").status, 404)

    def test_start_rate_limited_per_address_and_tenant(self):
        """Starting sign-ins writes a row each: a client address gets
        start_burst of them at once per tenant, then 429 with Retry-After;
        another tenant's budget is its own."""
        srv = self.line_server(wide={"start_burst": 3, "start_rate_per_min": 0.5})
        for _ in range(3):
            self.start(srv, "a")
        r = srv.req("a", "GET", "/auth/line/start")
        self.assertEqual((r.status, r.json()["error"]["code"]), (429, "too_many_requests"), r)
        self.assertRegex(r.get("Retry-After") or "", r"^[1-9][0-9]*$")
        self.start(srv, "b")
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM sso_line_flows;"), "4")

    def test_signup_role_never_admin(self):
        """signup_role tenant_admin is refused by `tanomu check`."""
        srv = self.line_server()
        srv.stop()
        cid, _ = CHANNELS["a"]
        t = {"id": "a", "hosts": ["a.test"], "features": {"auth": {"enabled": True},
             "sso_line": {"enabled": True, "channel_id": cid, "channel_secret": "x" * 16,
                          "redirect_base": "https://a.test", "signup_role": "tenant_admin"}}}
        srv.write_tenant("a", t)
        r = srv.cli("check")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("signup_role", r.stdout + r.stderr)

    def test_mfa_still_applies_S13(self):
        """S13: a LINE sign-in of a user with TOTP gets the pre-MFA stage,
        as a password login does: /auth/me answers 401 until the code."""
        srv = self.line_server()
        uid = self.add_user("a", "alice", CANARY)
        self.link("a", uid)
        s = self.session(srv, "a", "alice", CANARY)
        self.enrol(srv, "a", "alice", s)
        r, _, _ = self.line_login(srv, "a")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["mfa_required"])
        self.assertNotIn("csrf_token", r.json())
        pre = Session(cookie_of(r, COOKIE), None)
        self.assertEqual(self.me(srv, "a", pre).status, 401)
        full = self.pass_mfa(srv, "a", "alice", pre)
        me = self.me(srv, "a", full).json()
        self.assertTrue(me["mfa_passed"])
        self.assertEqual(me["auth_method"], "line")

    # ---- linking -------------------------------------------------------------

    def test_link_and_unlink_S6_S20(self):
        """S6, S20: a signed-in user links a LINE account (re-authenticated
        within 300 s; CSRF token needed), then signs in with it; another
        user cannot link the same LINE account (409); unlink removes it.
        Both are audited and published as security.important_operation."""
        srv = self.line_server()
        uid = self.add_user("a", "alice", CANARY)
        bob = self.add_user("a", "bob", CANARY)
        s = self.session(srv, "a", "alice", CANARY)
        r = srv.req("a", "POST", "/auth/line/link", headers=s.headers(csrf=False))
        self.assertEqual(r.status, 403, r)                   # no CSRF token
        r = srv.req("a", "POST", "/auth/line/link", headers=s.headers())
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        flow = cookie_of(r, FLOW)
        back = self.provider.authorize(r.json()["authorize_url"], SUB)
        r = self.callback(srv, "a", back, flow, session=s)
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        self.assertEqual(r.json(), {"linked": True})
        r, _, _ = self.line_login(srv, "a")
        self.assertEqual(r.json()["user"]["id"], uid)
        # bob cannot take it
        sb = self.session(srv, "a", "bob", CANARY)
        r = srv.req("a", "POST", "/auth/line/link", headers=sb.headers())
        back = self.provider.authorize(r.json()["authorize_url"], SUB)
        r = self.callback(srv, "a", back, cookie_of(r, FLOW), session=sb)
        self.assertRefused(r, 409, "line_already_linked")
        # an old authentication must re-authenticate first
        self.shift(s.token, "authenticated_at", 400)
        r = srv.req("a", "DELETE", "/auth/line/link", headers=s.headers())
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "reauth_required"), r)
        r = srv.req("a", "POST", "/auth/reauth", headers=s.headers(),
                    body=json.dumps({"password": CANARY}), timeout=20 * harness.SCALE)
        self.assertEqual(r.status, 200, r)
        r = srv.req("a", "DELETE", "/auth/line/link", headers=s.headers())
        self.assertEqual(r.status, 200, r)
        r = srv.req("a", "DELETE", "/auth/line/link", headers=s.headers())
        self.assertEqual(r.status, 404, r)
        r, _, _ = self.line_login(srv, "a")
        self.assertRefused(r, 403, "not_linked")
        self.assertEqual([x[0] for x in self.audit("a", "sso_line.link")], ["ok"])
        self.assertEqual([x[0] for x in self.audit("a", "sso_line.unlink")], ["ok"])
        self.assertEqual(self.pg.rows(
            "SELECT payload->>'operation' FROM outbox WHERE name = "
            "'security.important_operation' AND id > :'s'::bigint ORDER BY id;",
            s=self.outbox_since), [["line_link"], ["line_unlink"]])
        del bob

    # ---- native apps (ES256 by kid) --------------------------------------------

    def app_token(self, tenant, nonce, mode):
        """What a native app gets from the LINE SDK: the test plays the app
        (authorize with PKCE, the token request) with the server's nonce;
        the provider re-signs the ID token as `mode` says."""
        cid, secret = CHANNELS[tenant]
        verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect = f"https://{tenant}.test/auth/line/callback"
        url = (f"http://127.0.0.1:{self.provider.port}/oauth2/v2.1/authorize?"
               + urllib.parse.urlencode({"response_type": "code", "client_id": cid,
                                         "redirect_uri": redirect, "state": "app-state",
                                         "scope": "openid profile", "nonce": nonce,
                                         "code_challenge": challenge,
                                         "code_challenge_method": "S256"}))
        back = self.provider.authorize(url, SUB)
        code = urllib.parse.parse_qs(urllib.parse.urlparse(back).query)["code"][0]
        self.provider.mode(mode)
        status, _, body = self.provider.request({}, "POST", "/oauth2/v2.1/token",
                                                urllib.parse.urlencode({
                                                    "grant_type": "authorization_code",
                                                    "code": code, "redirect_uri": redirect,
                                                    "client_id": cid, "client_secret": secret,
                                                    "code_verifier": verifier}))
        self.provider.mode("ok")
        self.assertEqual(status, 200, body)
        return json.loads(body)["id_token"]

    def native(self, srv, tenant, token):
        return srv.req(tenant, "POST", "/auth/line/native", body=json.dumps({"id_token": token}),
                       headers={"Content-Type": "application/json"},
                       timeout=20 * harness.SCALE)

    def nonce(self, srv, tenant):
        r = srv.req(tenant, "POST", "/auth/line/native/nonce")
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        return r.json()["nonce"]

    def test_native_app_es256_by_kid_S16(self):
        """S16: a native app's ID token, ES256 by the key LINE's JWKS
        (/certs) lists under its kid, with a nonce the server handed out,
        signs the linked user in (method line); the same token again finds
        its nonce used; an unknown kid, HS256 made with the public key (its
        JWK or PEM) as the secret (alg confusion), and a web-login HS256
        token are refused; with native_login off the routes answer 404."""
        srv = self.line_server(line={"native_login": True,
                                     "jwks_endpoint": f"http://127.0.0.1:{self.provider.port}"
                                                      "/oauth2/v2.1/certs"})
        uid = self.add_user("a", "alice", CANARY)
        self.link("a", uid)
        tok = self.app_token("a", self.nonce(srv, "a"), "native_es256")
        self.assertEqual(json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))["alg"],
                         "ES256")
        r = self.native(srv, "a", tok)
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        self.assertEqual(r.json()["user"]["id"], uid)
        s = Session(cookie_of(r, COOKIE), r.json()["csrf_token"])
        self.assertEqual(self.me(srv, "a", s).json()["auth_method"], "line")
        self.assertRefused(self.native(srv, "a", tok), 400, "flow_expired")
        reasons = {"native_unknown_kid": "signature", "native_hs256_pubkey": "alg",
                   "native_hs256_pem": "alg", "ok": "alg"}
        for mode, why in reasons.items():
            with self.subTest(mode=mode):
                before = len([l for l in srv.log_lines() if "native sign-in refused: id_token "
                              + why in l.get("msg", "")])
                r = self.native(srv, "a", self.app_token("a", self.nonce(srv, "a"), mode))
                self.assertRefused(r, 401, "id_token_invalid")
                srv.wait_log(lambda l, w=why, n=before: len(
                    [x for x in srv.log_lines() if "native sign-in refused: id_token " + w
                     in x.get("msg", "")]) > n, what=f"refusal reason {why}")
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_sessions;"), "1")
        srv = self.line_server()
        self.assertEqual(srv.req("a", "POST", "/auth/line/native/nonce").status, 404)

    # ---- tenants and logs ----------------------------------------------------

    def test_tenant_isolation_and_no_secrets_in_logs_S16_S21(self):
        """S21: the same LINE user in two tenants is two links to two
        users; a flow started at tenant a cannot be finished at b.  S16:
        no code, token, state, cookie or channel secret in the logs."""
        srv = self.line_server()
        ua = self.add_user("a", "alice", CANARY)
        ub = self.add_user("b", "alice", CANARY)
        self.link("a", ua)
        self.link("b", ub)
        ra, back, _ = self.line_login(srv, "a")
        rb, _, _ = self.line_login(srv, "b")
        self.assertEqual(ra.json()["user"]["id"], ua)
        self.assertEqual(rb.json()["user"]["id"], ub)
        url, flow = self.start(srv, "a")
        back2 = self.provider.authorize(url, SUB).replace("https://a.test", "https://b.test")
        self.assertRefused(self.callback(srv, "b", back2, flow), 400, "flow_expired")
        self.provider.mode("wrong_aud")
        self.line_login(srv, "a")
        srv.stop()
        code = urllib.parse.parse_qs(urllib.parse.urlparse(back).query)["code"][0]
        for secret in [code, CHANNELS["a"][1], CHANNELS["b"][1], cookie_of(ra, COOKIE),
                       ra.json()["csrf_token"], flow]:
            self.assertEqual(json_lines_mentioning(srv, secret), [], secret)
        self.assertEqual(json_lines_mentioning(srv, "eyJ"), [])   # no JWT at all


if __name__ == "__main__":
    main()
