"""The auth plugin (plugins/auth, issue 8 first slice) through the real
binary and a real PostgreSQL: login, /auth/me and logout, session fixation,
idle and absolute expiry, per-account lockout and per-address throttling
across two worker processes, tenant isolation of sessions, password change,
the clean-up job, and canary secrets kept out of every log.

Users are created as the database superuser with a hash the test computes
through libsodium (ctypes) with the plugin's parameters (Argon2id, m=19456
KiB, t=2, p=1) over the NFKC form of the password: no hash is hard-coded.
The clock is moved by shifting a session's timestamps as the superuser.
"""

import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import (DbTestCase, harness, host_of, json_lines_mentioning,  # noqa: E402
                       main)

COOKIE = "__Host-tanomu_sid"
CANARY = "Canary-Pw-7f3e-zebra-quartz"     # a known password, hunted in the logs
OTHER = "Second-Pw-91c2-walrus-orbit"

_sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
if _sodium.sodium_init() < 0:
    raise RuntimeError("sodium_init failed")


def argon2id(password, t=2, m_kib=19456):
    """The PHC string libsodium makes with the plugin's parameters (or
    older, weaker ones)."""
    pw = unicodedata.normalize("NFKC", password).encode("utf-8")
    out = ctypes.create_string_buffer(128)
    rc = _sodium.crypto_pwhash_str_alg(out, pw, ctypes.c_ulonglong(len(pw)),
                                       ctypes.c_ulonglong(t), ctypes.c_size_t(m_kib * 1024),
                                       ctypes.c_int(2))  # crypto_pwhash_ALG_ARGON2ID13
    if rc != 0:
        raise RuntimeError("crypto_pwhash_str_alg failed")
    return out.value.decode("ascii")


def sid_of(token):
    """What the sessions table stores for a cookie token: hex SHA-256 of
    its 32 bytes."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return hashlib.sha256(raw).hexdigest()


def totp(b32, step):
    """RFC 6238 (HMAC-SHA1, 6 digits) for a 30-second step, computed here
    independently of the plugin's liboath."""
    key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


def step_now():
    return int(time.time()) // 30


def settle_step(margin=5):
    """Waits (at most `margin` seconds) out the end of the current 30 s
    step, so a code computed now for step+k is still +k when the server
    checks it: for the assertions that a step is out of the window."""
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.05)


class Session:
    def __init__(self, token, csrf):
        self.token, self.csrf = token, csrf

    def headers(self, csrf=True):
        h = {"Cookie": f"{COOKIE}={self.token}"}
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        return h


class AuthCase(DbTestCase):
    """Helpers: a server with the auth plugin and a keyring (TOTP secrets
    are sealed with it), accounts made as the superuser, sessions."""

    def auth_server(self, features=None, workers=2, reset=True, wide=None, also=()):
        db = {"plugin_migrations_dir": os.path.join(harness.SOURCE_DIR, "plugins")}
        conf = {"secrets": {"keyring_dir": "keys"}}
        if wide:
            conf["plugins"] = {"auth": wide}
        srv = self.db_server(start=False, migrate=False, plugins=("auth",) + tuple(also), db=db,
                             workers=workers, conf=conf)
        srv.write_conf()
        r = subprocess.run([harness.tanomu_bin(), "secret", "rotate", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.totp_secrets = {}
        for t in ("a", "b"):
            feat = {"enabled": True}
            feat.update(features or {})
            feats = {"auth": feat}
            feats.update({p: {"enabled": True} for p in also})
            srv.write_tenant(t, {"id": t, "hosts": [host_of(t)], "features": feats})
        srv.migrate()
        # One cluster serves the class: start each test from no accounts,
        # and read only this test's audit and outbox rows.
        if not reset:
            return srv.start()
        self.pg.psql("DELETE FROM auth_tokens; "
                     "DELETE FROM auth_sessions; DELETE FROM auth_password_resets; "
                     "DELETE FROM auth_mfa_recovery; DELETE FROM auth_mfa_totp; "
                     "DELETE FROM auth_users;")
        self.since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM audit_log;")
        self.outbox_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM outbox;")
        srv.start()
        return srv

    def add_user(self, tenant, login, password, roles="staff", hash=None):
        return self.pg.scalar(
            "INSERT INTO auth_users (tenant_id, login, roles, password_hash) "
            "VALUES (:'t', :'l', string_to_array(:'r', ','), :'h') RETURNING id;",
            t=tenant, l=login, r=roles, h=hash or argon2id(password))

    def login(self, srv, tenant, login, password, headers=None):
        return srv.req(tenant, "POST", "/auth/login",
                       body=json.dumps({"login": login, "password": password}),
                       headers=headers or {}, timeout=20.0 * harness.SCALE)

    def session(self, srv, tenant, login, password, headers=None):
        """A full session: an account that must have MFA (admins) is
        enrolled on its first login, and passes its TOTP on the next."""
        r = self.login(srv, tenant, login, password, headers)
        self.assertEqual(r.status, 200, f"login: {r}\n{srv.tail()}")
        s = Session(self.cookie_token(r), r.json().get("csrf_token"))
        if r.json().get("mfa_required"):
            return self.pass_mfa(srv, tenant, login, s)
        if r.json().get("mfa_enrolment_required"):
            return self.enrol(srv, tenant, login, s)[0]
        return s

    @staticmethod
    def cookie_token(r):
        cookie = r.get("Set-Cookie")
        assert cookie and cookie.startswith(COOKIE + "="), cookie
        return cookie.split(";", 1)[0].split("=", 1)[1]

    def enrol(self, srv, tenant, login, s):
        """Enrols TOTP and confirms it with a code computed here: (the new
        session, the recovery codes, the base32 secret)."""
        r = srv.req(tenant, "POST", "/auth/mfa/totp/enrol", headers=s.headers())
        self.assertEqual(r.status, 200, f"enrol: {r}\n{srv.tail()}")
        b32 = r.json()["secret"]
        step = step_now()
        r = srv.req(tenant, "POST", "/auth/mfa/totp/confirm", headers=s.headers(),
                    body=json.dumps({"code": totp(b32, step)}))
        self.assertEqual(r.status, 200, f"confirm: {r}\n{srv.tail()}")
        self.totp_secrets[(tenant, login)] = [b32, step]
        return Session(self.cookie_token(r), r.json()["csrf_token"]), r.json()["recovery_codes"], b32

    def pass_mfa(self, srv, tenant, login, s):
        """The second step of a login with the next unused step's code.
        A helper for tests about something else: when the next step is
        not yet current, the stored last step is moved back (as the
        superuser) rather than waiting."""
        b32, last = self.totp_secrets[(tenant, login)]
        step = step_now()
        if step <= last:
            self.pg.psql("UPDATE auth_mfa_totp t SET last_used_step = :'s'::bigint - 1 "
                         "FROM auth_users u WHERE u.id = t.user_id AND u.tenant_id = :'t' "
                         "AND u.login = :'l';", s=str(step), t=tenant, l=login)
        r = srv.req(tenant, "POST", "/auth/login/mfa", headers=s.headers(csrf=False),
                    body=json.dumps({"code": totp(b32, step)}))
        self.assertEqual(r.status, 200, f"login/mfa: {r}\n{srv.tail()}")
        self.totp_secrets[(tenant, login)] = [b32, step]
        return Session(self.cookie_token(r), r.json()["csrf_token"])

    def me(self, srv, tenant, s):
        return srv.req(tenant, "GET", "/auth/me", headers=s.headers(csrf=False))

    def shift(self, token, column, seconds):
        self.pg.psql(f"UPDATE auth_sessions SET {column} = {column} - make_interval(secs => "
                     ":'s'::int) WHERE id = :'i';", s=str(seconds), i=sid_of(token))

    def audit(self, tenant, action):
        return self.pg.rows("SELECT result, coalesce(user_id, ''), coalesce(target_id, ''), "
                            "host(client_ip), request_id FROM audit_log "
                            "WHERE tenant_id = :'t' AND action = :'a' AND id > :'s'::bigint "
                            "ORDER BY id;", t=tenant, a=action, s=self.since)


class AuthTest(AuthCase):

    # -- login, me, logout ------------------------------------------------------

    def test_login_me_logout_S4_S20(self):
        """S4: login answers the user and a CSRF token with the session
        cookie (__Host-, Secure, HttpOnly, SameSite=Lax, Path=/); only the
        token's SHA-256 is stored; /auth/me answers for the session; logout
        deletes it server-side and clears the cookie.  S20: login and logout
        are audited with user, client address and request ID."""
        srv = self.auth_server()
        uid = self.add_user("a", "alice", CANARY)
        r = self.login(srv, "a", "alice", CANARY)
        self.assertEqual(r.status, 200, r)
        cookie = r.get("Set-Cookie")
        for attr in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
            self.assertIn(attr, [a.strip() for a in cookie.split(";")], cookie)
        self.assertEqual(r.json()["user"], {"id": uid, "login": "alice", "roles": ["staff"]})
        s = Session(cookie.split(";", 1)[0].split("=", 1)[1], r.json()["csrf_token"])
        self.assertEqual(self.pg.rows("SELECT id, user_id FROM auth_sessions;"),
                         [[sid_of(s.token), uid]])
        me = self.me(srv, "a", s)
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json()["user"]["id"], uid)
        self.assertEqual(me.json()["csrf_token"], s.csrf)
        self.assertFalse(me.json()["mfa_passed"])
        out = srv.req("a", "POST", "/auth/logout", headers=s.headers())
        self.assertEqual(out.status, 200, out)
        self.assertIn("Max-Age=0", out.get("Set-Cookie"))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_sessions;"), "0")
        self.assertEqual(self.me(srv, "a", s).status, 401)
        login_audit = self.audit("a", "auth.login")
        self.assertEqual(len(login_audit), 1, login_audit)
        self.assertEqual(login_audit[0][0], "ok")
        self.assertEqual(login_audit[0][2], uid)
        self.assertEqual(login_audit[0][3], "127.0.0.1")
        self.assertTrue(login_audit[0][4])
        logout_audit = self.audit("a", "auth.logout")
        self.assertEqual([(x[0], x[1]) for x in logout_audit], [("ok", uid)])

    def test_session_fixation_S4(self):
        """S4: the session a client brings to login is deleted; the login
        issues a new ID, and the old cookie authenticates nothing."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        first = self.session(srv, "a", "alice", CANARY)
        second = self.session(srv, "a", "alice", CANARY, headers=first.headers(csrf=False))
        self.assertNotEqual(first.token, second.token)
        self.assertEqual(self.me(srv, "a", first).status, 401)
        self.assertEqual(self.me(srv, "a", second).status, 200)
        self.assertEqual(self.pg.rows("SELECT id FROM auth_sessions;"), [[sid_of(second.token)]])

    def test_idle_and_absolute_expiry_S4(self):
        """S4: a session unused for the idle timeout (30 min; 15 for
        administrators) or older than the absolute timeout (12 h) ends, and
        its row is removed; the clock is moved by shifting the row."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        self.add_user("a", "root", OTHER, roles="tenant_admin")
        s = self.session(srv, "a", "alice", CANARY)
        self.shift(s.token, "last_seen", 29 * 60)
        self.assertEqual(self.me(srv, "a", s).status, 200)   # and last_seen is fresh again
        self.shift(s.token, "last_seen", 31 * 60)
        self.assertEqual(self.me(srv, "a", s).status, 401)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_sessions WHERE id = :'i';",
                                        i=sid_of(s.token)), "0")
        s = self.session(srv, "a", "alice", CANARY)
        self.shift(s.token, "created_at", 12 * 3600 + 60)
        self.assertEqual(self.me(srv, "a", s).status, 401)
        admin = self.session(srv, "a", "root", OTHER)
        staff = self.session(srv, "a", "alice", CANARY)
        for x in (admin, staff):
            self.shift(x.token, "last_seen", 16 * 60)
        self.assertEqual(self.me(srv, "a", admin).status, 401)
        self.assertEqual(self.me(srv, "a", staff).status, 200)

    def test_cleanup_job_removes_expired_sessions_S4(self):
        """S4: expired sessions are deleted by the scheduled job
        session_cleanup (run here with `tanomu jobs --run`), live ones kept."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        old = self.session(srv, "a", "alice", CANARY)
        live = self.session(srv, "a", "alice", CANARY)
        self.shift(old.token, "created_at", 13 * 3600)
        r = srv.cli("jobs", "--run", "auth.session_cleanup", "--tenant", "a")
        self.assertEqual(r.returncode, 0, f"{r.stdout}\n{r.stderr}")
        harness.wait_until(
            lambda: self.pg.rows("SELECT id FROM auth_sessions ORDER BY id;")
            == [[sid_of(live.token)]],
            15 * harness.SCALE, interval=0.2, what="expired session deleted by the job")

    # -- throttling ----------------------------------------------------------------

    def test_lockout_and_429_across_workers_S9(self):
        """S9: failed passwords are counted in the database, so the lock
        holds in every worker process of every node: after lock_after
        failures on one node (two workers, a fresh connection each) the
        right password gets 429 with Retry-After on another node; the lock
        is audited and published as auth.account_locked.  The per-address
        zone, shared by a node's workers, answers 429 after its burst."""
        feats = {"lock_after": 3, "delay_after": 3, "lock_seconds": 600}
        wide = {"login_burst": 8, "login_rate_per_min": 1.0}   # plugins.auth in tanomu.conf
        srv = self.auth_server(feats, wide=wide)
        other = self.auth_server(feats, reset=False, wide=wide)
        uid = self.add_user("a", "alice", CANARY)
        for _ in range(3):
            self.assertEqual(self.login(srv, "a", "alice", "wrong-" + CANARY).status, 401)
        r = self.login(other, "a", "alice", CANARY)
        self.assertEqual(r.status, 429, r)
        self.assertGreater(int(r.get("Retry-After")), 500)
        self.assertIsNone(r.get("Set-Cookie"))
        self.assertEqual([x[0] for x in self.audit("a", "auth.login")],
                         ["failed", "failed", "failed", "denied"])
        self.assertEqual([(x[0], x[2]) for x in self.audit("a", "auth.account_lock")],
                         [("ok", uid)])
        self.assertEqual(self.pg.rows("SELECT payload->>'user_id' FROM outbox "
                                      "WHERE name = 'auth.account_locked' AND id > :'s'::bigint;",
                                      s=self.outbox_since), [[uid]])
        # The per-address zone (burst 8 here): 3 taken above, 5 more, then
        # 429 with Retry-After (one a minute: about 60 s).
        statuses = [self.login(srv, "a", "nobody", "x-" + CANARY).status for _ in range(5)]
        self.assertEqual(statuses, [401] * 5)
        r = self.login(srv, "a", "nobody", "x-" + CANARY)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["error"]["code"], "too_many_attempts")
        self.assertGreater(int(r.get("Retry-After")), 30)
        # The other node's zone is its own: its budget is untouched.
        self.assertEqual(self.login(other, "a", "nobody", "x-" + CANARY).status, 401)

    def test_address_zone_refusals_audited_once_a_window_S9_S20(self):
        """S9, S20: a login refused by the per-address zone is audited
        (auth.login, result denied, target type address and the client
        address as target, unlike an account's denial whose target is the
        user; the request ID; the body is not read), but at most once a minute per
        address and tenant (the login_audit zone, shared by the node's
        workers), so a flood of refused logins is not a database write
        each.  The login ID and the password are in no audit entry; the
        other tenant's zone and audit budget are its own."""
        srv = self.auth_server(wide={"login_burst": 2, "login_rate_per_min": 1.0})
        self.add_user("a", "alice", CANARY)
        statuses = [self.login(srv, "a", "alice", "wrong-" + CANARY).status for _ in range(2)]
        self.assertEqual(statuses, [401, 401])
        for _ in range(6):
            r = self.login(srv, "a", "alice", CANARY)
            self.assertEqual((r.status, r.json()["error"]["code"]), (429, "too_many_attempts"))
            self.assertIsNotNone(r.get("Retry-After"))
        throttled = self.pg.rows(
            "SELECT result, coalesce(user_id, ''), target_id, host(client_ip), request_id "
            "FROM audit_log WHERE tenant_id = 'a' AND action = 'auth.login' "
            "AND target_type = 'address' AND id > :'s'::bigint;", s=self.since)
        self.assertEqual(len(throttled), 1, self.audit("a", "auth.login"))
        result, user, target, addr, request_id = throttled[0]
        self.assertEqual((result, user, target, addr), ("denied", "", "127.0.0.1", "127.0.0.1"))
        self.assertTrue(request_id)
        self.assertEqual([x[0] for x in self.audit("a", "auth.login")],
                         ["failed", "failed", "denied"])
        rows = self.pg.scalar("SELECT count(*) FROM audit_log WHERE id > :'s'::bigint AND "
                              "(audit_log::text LIKE '%alice%' OR audit_log::text LIKE :'p');",
                              s=self.since, p="%" + CANARY + "%")
        self.assertEqual(rows, "0")
        # Tenant b: its own zone, its own first refusal audited.
        for _ in range(2):
            self.assertEqual(self.login(srv, "b", "nobody", "x-" + CANARY).status, 401)
        self.assertEqual(self.login(srv, "b", "nobody", "x-" + CANARY).status, 429)
        self.assertEqual(self.login(srv, "b", "nobody", "x-" + CANARY).status, 429)
        self.assertEqual([(x[0], x[2]) for x in self.audit("b", "auth.login")][2:],
                         [("denied", "127.0.0.1")])

    # -- tenants --------------------------------------------------------------------

    def test_tenant_a_session_useless_on_b_S21(self):
        """S21: a valid session of tenant A authenticates nothing on tenant
        B (same login ID there), and cannot end B's or A's session from B."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        self.add_user("b", "alice", CANARY)
        sa = self.session(srv, "a", "alice", CANARY)
        sb = self.session(srv, "b", "alice", CANARY)
        self.assertEqual(srv.req("b", "GET", "/auth/me", headers=sa.headers(False)).status, 401)
        self.assertEqual(srv.req("b", "POST", "/auth/logout", headers=sa.headers()).status, 401)
        self.assertEqual(srv.req("b", "POST", "/auth/password", headers=sa.headers(),
                                 body=json.dumps({"current_password": CANARY,
                                                  "new_password": OTHER})).status, 401)
        self.assertEqual(self.me(srv, "a", sa).status, 200)
        self.assertEqual(self.me(srv, "b", sb).status, 200)
        self.assertEqual(self.me(srv, "a", sb).status, 401)
        # The database holds the line: both tables force row-level
        # security, and the app role bound to no tenant sees no row.
        self.assertEqual(self.pg.rows(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname IN ('auth_users', 'auth_sessions') ORDER BY relname;"),
            [["auth_sessions", "t", "t"], ["auth_users", "t", "t"]])
        for table in ("auth_users", "auth_sessions"):
            self.assertEqual(self.pg.scalar(f"SELECT count(*) FROM {table};", role="app"), "0")
            self.assertEqual(self.pg.rows(
                f"SELECT set_config('app.tenant_id', 'a', false); "
                f"SELECT DISTINCT tenant_id FROM {table};", role="app"), [["a"], ["a"]])

    # -- listing and ending sessions ------------------------------------------------

    def test_sessions_list_and_end_S4_S21(self):
        """S4: a user lists their own sessions (named by the stored hash,
        the current one marked) and ends one; another user's session is not
        theirs to end (404); a tenant admin ends all of a user's sessions,
        a staff member may not (403), and an admin of tenant B reaches no
        session of tenant A (S21).  Ends are audited."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        bob = self.add_user("a", "bob", CANARY)
        self.add_user("a", "root", OTHER, roles="tenant_admin")
        self.add_user("b", "root", OTHER, roles="tenant_admin")
        one = self.session(srv, "a", "alice", CANARY)
        two = self.session(srv, "a", "alice", CANARY)
        sbob = self.session(srv, "a", "bob", CANARY)
        r = srv.req("a", "GET", "/auth/sessions", headers=one.headers(False))
        self.assertEqual(r.status, 200, r)
        got = {x["id"]: x["current"] for x in r.json()["sessions"]}
        self.assertEqual(got, {sid_of(one.token): True, sid_of(two.token): False})
        r = srv.req("a", "DELETE", f"/auth/sessions/{sid_of(two.token)}", headers=one.headers())
        self.assertEqual((r.status, r.json()), (200, {"sessions_ended": 1}), r)
        self.assertEqual(self.me(srv, "a", two).status, 401)
        r = srv.req("a", "DELETE", f"/auth/sessions/{sid_of(sbob.token)}", headers=one.headers())
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.me(srv, "a", sbob).status, 200)
        r = srv.req("a", "DELETE", f"/auth/users/{bob}/sessions", headers=one.headers())
        self.assertEqual(r.status, 403, r)
        broot = self.session(srv, "b", "root", OTHER)
        r = srv.req("b", "DELETE", f"/auth/users/{bob}/sessions", headers=broot.headers())
        self.assertEqual((r.status, r.json()), (200, {"sessions_ended": 0}), r)
        self.assertEqual(self.me(srv, "a", sbob).status, 200)
        root = self.session(srv, "a", "root", OTHER)
        r = srv.req("a", "DELETE", f"/auth/users/{bob}/sessions", headers=root.headers())
        self.assertEqual((r.status, r.json()), (200, {"sessions_ended": 1}), r)
        self.assertEqual(self.me(srv, "a", sbob).status, 401)
        self.assertEqual(len(self.audit("a", "auth.session_end")), 2)

    def test_login_id_case_and_rehash_S12(self):
        """S12: login IDs are one per spelling regardless of case, and a
        login with any case finds the account; a hash of older parameters
        (t=1, 8 MiB) is replaced by m=19456, t=2, p=1 at the next
        successful login, and the login is audited as a rehash."""
        srv = self.auth_server()
        uid = self.add_user("a", "Alice", CANARY, hash=argon2id(CANARY, t=1, m_kib=8192))
        dup = self.pg.psql("INSERT INTO auth_users (tenant_id, login, password_hash) "
                           "VALUES ('a', 'alice', :'h');", check=False, h=argon2id(OTHER))
        self.assertNotEqual(dup.returncode, 0)
        self.assertIn("auth_users_login_idx", dup.stderr)
        self.assertTrue(self.pg.scalar("SELECT password_hash FROM auth_users;")
                        .startswith("$argon2id$v=19$m=8192,t=1,p=1$"))
        self.session(srv, "a", "ALICE", CANARY)
        h = self.pg.scalar("SELECT password_hash FROM auth_users WHERE id = :'u';", u=uid)
        self.assertTrue(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), h)
        self.assertEqual([x[0] for x in self.audit("a", "auth.password_rehash")], ["ok"])
        self.session(srv, "a", "alice", CANARY)

    # -- password change ----------------------------------------------------------

    def test_password_change_ends_other_sessions_S12(self):
        """S12: a weak new password is refused with its reason; a good one
        is stored as Argon2id (m=19456, t=2, p=1) and ends the user's other
        sessions, not this one.  S4: without the CSRF token: 403."""
        srv = self.auth_server()
        uid = self.add_user("a", "alice", CANARY)
        one = self.session(srv, "a", "alice", CANARY)
        two = self.session(srv, "a", "alice", CANARY)
        body = json.dumps({"current_password": CANARY, "new_password": OTHER})
        r = srv.req("a", "POST", "/auth/password", body=body, headers=one.headers(csrf=False))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"]["code"], "csrf_token")
        weak = json.dumps({"current_password": CANARY, "new_password": "1234567890123"})
        r = srv.req("a", "POST", "/auth/password", body=weak, headers=one.headers())
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["error"]["fields"], {"new_password": "digits_only"})
        r = srv.req("a", "POST", "/auth/password", body=body, headers=one.headers(),
                    timeout=20.0 * harness.SCALE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["sessions_ended"], 1)
        self.assertEqual(self.me(srv, "a", one).status, 200)
        self.assertEqual(self.me(srv, "a", two).status, 401)
        h = self.pg.scalar("SELECT password_hash FROM auth_users WHERE id = :'u';", u=uid)
        self.assertTrue(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), h)
        self.assertEqual(self.login(srv, "a", "alice", CANARY).status, 401)
        self.session(srv, "a", "alice", OTHER)
        self.assertEqual([x[0] for x in self.audit("a", "auth.password_change")], ["ok"])
        r = srv.req("a", "POST", "/auth/reauth", body=json.dumps({"password": OTHER}),
                    headers=one.headers(), timeout=20.0 * harness.SCALE)
        self.assertEqual(r.status, 200, r)

    def test_reauth_required_after_300s_S6_S9(self):
        """S6, S9: a password change and an account change need an
        authentication at most 300 s old (route options the host enforces
        from the session's authenticated_at): 401 reauth_required, then
        POST /auth/reauth makes the same request pass.  /auth/me is not an
        important operation and stays open."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        self.add_user("a", "root", OTHER, roles="tenant_admin")
        s = self.session(srv, "a", "alice", CANARY)
        adm = self.session(srv, "a", "root", OTHER)
        self.shift(s.token, "authenticated_at", 310)  # a margin for whole seconds
        self.shift(adm.token, "authenticated_at", 310)
        weak = json.dumps({"current_password": CANARY, "new_password": "1234567890123"})
        r = srv.req("a", "POST", "/auth/password", body=weak, headers=s.headers())
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"]["code"], "reauth_required")
        self.assertEqual(self.me(srv, "a", s).status, 200)
        invite = json.dumps({"login": "bob", "roles": ["staff"]})
        r = srv.req("a", "POST", "/auth/users", body=invite, headers=adm.headers())
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"]["code"], "reauth_required")
        for sess, pw in ((s, CANARY), (adm, OTHER)):
            r = srv.req("a", "POST", "/auth/reauth", body=json.dumps({"password": pw}),
                        headers=sess.headers(), timeout=20.0 * harness.SCALE)
            self.assertEqual(r.status, 200, r)
        r = srv.req("a", "POST", "/auth/password", body=weak, headers=s.headers())
        self.assertEqual(r.status, 422, r)  # past the gate, into the policy
        r = srv.req("a", "POST", "/auth/users", body=invite, headers=adm.headers())
        self.assertEqual(r.status, 201, r)

    def reset_token(self, login):
        rows = self.pg.rows("SELECT payload->>'token' FROM outbox "
                            "WHERE name = 'auth.password_reset_requested' AND id > :'s'::bigint "
                            "AND payload->>'login' = :'l' ORDER BY id;",
                            s=self.outbox_since, l=login)
        return rows[-1][0] if rows else None

    def test_password_reset_single_use_S12(self):
        """S12: a reset request answers alike for known and unknown logins;
        the token (30 minutes, stored hashed) travels in the event
        auth.password_reset_requested; confirming it applies the policy,
        sets the password, ends every session of the user, and publishes
        security.important_operation; it works once, and not after
        expiry."""
        srv = self.auth_server()
        uid = self.add_user("a", "alice", CANARY)
        one = self.session(srv, "a", "alice", CANARY)
        two = self.session(srv, "a", "alice", CANARY)
        known = srv.req("a", "POST", "/auth/password/reset", body=json.dumps({"login": "alice"}))
        unknown = srv.req("a", "POST", "/auth/password/reset",
                          body=json.dumps({"login": "nobody"}))
        self.assertEqual((known.status, known.body), (202, unknown.body), known)
        token = self.reset_token("alice")
        self.assertIsNotNone(token)
        self.assertEqual(self.pg.rows("SELECT id, user_id, expires_at - created_at "
                                      "FROM auth_password_resets;"),
                         [[sid_of(token), uid, "00:30:00"]])
        confirm = "/auth/password/reset/confirm"
        r = srv.req("a", "POST", confirm, body=json.dumps(
            {"token": token, "new_password": "alice-alice-alice"}))
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["error"]["fields"], {"new_password": "contains_login"})
        r = srv.req("a", "POST", confirm, body=json.dumps({"token": token, "new_password": OTHER}),
                    timeout=20.0 * harness.SCALE)
        self.assertEqual((r.status, r.json()), (200, {"reset": True, "sessions_ended": 2}), r)
        self.assertEqual(self.me(srv, "a", one).status, 401)
        self.assertEqual(self.me(srv, "a", two).status, 401)
        self.session(srv, "a", "alice", OTHER)
        r = srv.req("a", "POST", confirm, body=json.dumps({"token": token, "new_password": OTHER}))
        self.assertEqual((r.status, r.json()["error"]["code"]), (400, "invalid_token"), r)
        self.assertEqual(self.pg.rows(
            "SELECT payload->>'operation' FROM outbox WHERE name = "
            "'security.important_operation' AND id > :'s'::bigint;", s=self.outbox_since),
            [["password_reset"]])
        srv.req("a", "POST", "/auth/password/reset", body=json.dumps({"login": "alice"}))
        late = self.reset_token("alice")
        self.assertNotEqual(late, token)
        self.pg.psql("UPDATE auth_password_resets SET expires_at = now() - interval '1 second' "
                     "WHERE id = :'i';", i=sid_of(late))
        r = srv.req("a", "POST", confirm, body=json.dumps({"token": late, "new_password": OTHER}))
        self.assertEqual(r.status, 400, r)
        self.assertEqual([x[0] for x in self.audit("a", "auth.password_reset")], ["ok"])
        srv.stop()
        for secret in (token, late):
            self.assertEqual(json_lines_mentioning(srv, secret), [], secret)

    # -- a tenant admin's accounts ------------------------------------------------

    def test_admin_invites_and_changes_users_S4_S11(self):
        """A tenant admin invites a user (201; the invitation token, stored
        hashed, travels in auth.user_invited and sets the password through
        /auth/password/reset/confirm), lists users, changes roles (the
        user's sessions end: new rights come with a new session) and
        disables an account (its login fails alike).  Staff may not (403,
        S11); platform_admin is not given here; an admin does not change
        their own account; a taken login ID is 409."""
        srv = self.auth_server()
        self.add_user("a", "root", OTHER, roles="tenant_admin")
        self.add_user("a", "alice", CANARY)
        root = self.session(srv, "a", "root", OTHER)
        alice = self.session(srv, "a", "alice", CANARY)

        def post(s, body):
            return srv.req("a", "POST", "/auth/users", body=json.dumps(body), headers=s.headers())

        self.assertEqual(post(alice, {"login": "bob", "roles": ["staff"]}).status, 403)
        for bad in ({"login": "bob", "roles": ["platform_admin"]},
                    {"login": "bob", "roles": ["buyer"]},
                    {"login": "bob", "roles": ["staff", "staff"]}):
            self.assertEqual(post(root, bad).status, 422, bad)
        self.assertEqual(post(root, {"login": "ALICE", "roles": ["staff"]}).status, 409)
        r = post(root, {"login": "bob", "roles": ["buyer"], "buyer_id": "shop-7"})
        self.assertEqual(r.status, 201, r)
        bob = r.json()["user"]["id"]
        self.assertEqual(r.json()["user"]["roles"], ["buyer"])
        token = self.pg.scalar("SELECT payload->>'token' FROM outbox WHERE name = "
                               "'auth.user_invited' AND payload->>'user_id' = :'u';", u=bob)
        self.assertEqual(self.login(srv, "a", "bob", CANARY).status, 401)   # no password yet
        r = srv.req("a", "POST", "/auth/password/reset/confirm",
                    body=json.dumps({"token": token, "new_password": CANARY}),
                    timeout=20.0 * harness.SCALE)
        self.assertEqual(r.status, 200, r)
        sbob = self.session(srv, "a", "bob", CANARY)
        r = srv.req("a", "GET", "/auth/users", headers=root.headers(False))
        self.assertEqual(r.status, 200, r)
        self.assertEqual({u["login"]: (u["roles"], u["buyer_id"]) for u in r.json()["users"]},
                         {"alice": (["staff"], None), "bob": (["buyer"], "shop-7"),
                          "root": (["tenant_admin"], None)})
        r = srv.req("a", "PATCH", f"/auth/users/{bob}", headers=root.headers(),
                    body=json.dumps({"roles": ["buyer", "staff"]}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.me(srv, "a", sbob).status, 401)
        sbob = self.session(srv, "a", "bob", CANARY)
        self.assertEqual(self.me(srv, "a", sbob).json()["user"]["roles"], ["buyer", "staff"])
        r = srv.req("a", "PATCH", f"/auth/users/{bob}", headers=root.headers(),
                    body=json.dumps({"disabled": True}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.me(srv, "a", sbob).status, 401)
        r = self.login(srv, "a", "bob", CANARY)
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "invalid_credentials"))
        uid_root = self.me(srv, "a", root).json()["user"]["id"]
        r = srv.req("a", "PATCH", f"/auth/users/{uid_root}", headers=root.headers(),
                    body=json.dumps({"disabled": True}))
        self.assertEqual(r.status, 409, r)
        r = srv.req("a", "PATCH", "/auth/users/not-a-uuid", headers=root.headers(),
                    body=json.dumps({"disabled": True}))
        self.assertEqual(r.status, 404, r)
        # A platform admin's account is not a tenant admin's to demote or
        # disable: it answers as no such user, and stays as it was.
        op = self.add_user("a", "op", OTHER, roles="platform_admin")
        for body in ({"roles": ["staff"]}, {"disabled": True}):
            r = srv.req("a", "PATCH", f"/auth/users/{op}", headers=root.headers(),
                        body=json.dumps(body))
            self.assertEqual(r.status, 404, (body, r))
        self.assertEqual(self.pg.rows("SELECT array_to_string(roles, ','), disabled::text "
                                      "FROM auth_users WHERE login = 'op';"),
                         [["platform_admin", "false"]])
        self.assertEqual([x[0] for x in self.audit("a", "auth.user_create")], ["ok"])
        self.assertEqual(len(self.audit("a", "auth.user_update")), 2)

    # -- secrets ------------------------------------------------------------------

    def test_canary_secrets_never_logged_S16(self):
        """S16: the password, the session token and the CSRF token appear in
        no log line of the server (stdout, stderr), in no metric, nor in
        PostgreSQL's log,
        after a login, a failed login, /auth/me, a refused CSRF and a
        logout; the sessions table holds only the token's hash."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        s = self.session(srv, "a", "alice", CANARY)
        self.login(srv, "a", "alice", CANARY + "x")
        self.me(srv, "a", s)
        srv.req("a", "POST", "/auth/logout", headers=s.headers(csrf=False))
        srv.req("a", "POST", "/auth/logout", headers=s.headers())
        metrics = srv.admin_get("/metrics").body.decode("utf-8")
        self.assertIn("tanomu_plugin_auth_logins_total", metrics)
        srv.stop()
        for secret in (CANARY, s.token, s.csrf):
            self.assertNotIn(secret, metrics)
            self.assertEqual(json_lines_mentioning(srv, secret), [], secret)
            self.assertNotIn(secret, self.pg.log_tail(100000))
        self.assertEqual(self.pg.scalar(
            "SELECT count(*) FROM auth_sessions WHERE id = :'t';", t=s.token), "0")


if __name__ == "__main__":
    main()
