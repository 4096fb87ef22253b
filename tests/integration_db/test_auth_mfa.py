"""TOTP multi-factor authentication of the auth plugin (S13) through the
real binary, a real PostgreSQL and a real keyring: enrolment and
confirmation, login with a second step, replay and +-2 steps refused,
single-use recovery codes, the tenant's mfa_required, administrators who
must have MFA, and the secret stored only sealed and never logged (S16,
S18).  TOTP codes are computed here (RFC 6238 with hmac/hashlib), not by
the plugin's liboath.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import harness, json_lines_mentioning, main  # noqa: E402
from test_auth import (AuthCase, CANARY, OTHER, Session, settle_step, sid_of,  # noqa: E402
                       step_now, totp)


class MfaTest(AuthCase):

    def password_step(self, srv, tenant, login, password):
        """POST /auth/login for an account with TOTP: the pre-MFA session."""
        r = self.login(srv, tenant, login, password)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"mfa_required": True})
        return Session(self.cookie_token(r), None)

    def mfa(self, srv, tenant, pre, body):
        return srv.req(tenant, "POST", "/auth/login/mfa", body=json.dumps(body),
                       headers=pre.headers(csrf=False))

    def test_enrol_confirm_login_replay_and_window_S13(self):
        """S13: enrolment answers an otpauth:// URI and the base32 secret;
        a wrong first code is refused; the right one confirms, shows ten
        recovery codes once and gives a new session ID with MFA passed.
        Login then needs the code: the pre-MFA session can do nothing
        else; a replayed code and one two steps ahead are refused; the
        next step's code gives a new session (the pre-MFA one is dead).
        S20: audited; S6: security.important_operation published."""
        srv = self.auth_server()
        uid = self.add_user("a", "alice", CANARY)
        s = self.session(srv, "a", "alice", CANARY)
        r = srv.req("a", "POST", "/auth/mfa/totp/enrol", headers=s.headers())
        self.assertEqual(r.status, 200, r)
        b32 = r.json()["secret"]
        self.assertRegex(b32, r"^[A-Z2-7]{32}$")
        self.assertEqual(r.json()["otpauth_uri"],
                         f"otpauth://totp/a:alice?secret={b32}&issuer=a"
                         "&algorithm=SHA1&digits=6&period=30")
        self.assertEqual(r.get("Cache-Control"), "no-store")
        step0 = step_now()
        wrong = "%06d" % ((int(totp(b32, step0)) + 1) % 1000000)
        r = srv.req("a", "POST", "/auth/mfa/totp/confirm", headers=s.headers(),
                    body=json.dumps({"code": wrong}))
        self.assertEqual((r.status, r.json()["error"]["code"]), (403, "invalid_code"), r)
        r = srv.req("a", "POST", "/auth/mfa/totp/confirm", headers=s.headers(),
                    body=json.dumps({"code": totp(b32, step0)}))
        self.assertEqual(r.status, 200, r)
        codes = r.json()["recovery_codes"]
        self.assertEqual(len(set(codes)), 10)
        full = Session(self.cookie_token(r), r.json()["csrf_token"])
        self.assertNotEqual(full.token, s.token)
        self.assertEqual(self.me(srv, "a", s).status, 401)        # the old ID is dead
        me = self.me(srv, "a", full).json()
        self.assertTrue(me["mfa_passed"], me)
        # enrolling again while confirmed is refused
        r = srv.req("a", "POST", "/auth/mfa/totp/enrol", headers=full.headers())
        self.assertEqual(r.status, 409, r)

        pre = self.password_step(srv, "a", "alice", CANARY)
        self.assertEqual(self.me(srv, "a", pre).status, 401)      # nothing but the code
        self.assertEqual(srv.req("a", "GET", "/auth/sessions",
                                 headers=pre.headers(csrf=False)).status, 401)
        r = self.mfa(srv, "a", pre, {"code": totp(b32, step0)})   # replay of the confirm code
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "invalid_code"), r)
        settle_step()
        r = self.mfa(srv, "a", pre, {"code": totp(b32, step_now() + 2)})   # +2 steps
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "invalid_code"), r)
        step1 = max(step_now(), step0 + 1)
        r = self.mfa(srv, "a", pre, {"code": totp(b32, step1)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user"]["id"], uid)
        s2 = Session(self.cookie_token(r), r.json()["csrf_token"])
        self.assertNotEqual(s2.token, pre.token)
        self.assertEqual(self.me(srv, "a", pre).status, 401)
        self.assertTrue(self.me(srv, "a", s2).json()["mfa_passed"])
        # the same code again, on a new password step: a replay
        pre2 = self.password_step(srv, "a", "alice", CANARY)
        r = self.mfa(srv, "a", pre2, {"code": totp(b32, step1)})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.pg.scalar("SELECT failed_logins FROM auth_users WHERE id = :'u';",
                                        u=uid), "1")   # the success reset it
        self.assertEqual([x[0] for x in self.audit("a", "auth.login_mfa")],
                         ["failed", "failed", "ok", "failed"])
        self.assertEqual([x[0] for x in self.audit("a", "auth.mfa_enrol")], ["failed", "ok"])
        self.assertEqual(self.pg.rows(
            "SELECT payload->>'operation' FROM outbox WHERE name = "
            "'security.important_operation' AND id > :'s'::bigint;", s=self.outbox_since),
            [["mfa_enrol"]])

    def test_recovery_codes_single_use_and_regenerated_S13(self):
        """S13: a recovery code passes the second step once (typed in
        capitals with dashes, too); used again it is refused; new codes
        (re-authentication within 5 minutes) replace the old ones."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        s = self.session(srv, "a", "alice", CANARY)
        full, codes, _ = self.enrol(srv, "a", "alice", s)
        pre = self.password_step(srv, "a", "alice", CANARY)
        typed = codes[0].upper()
        typed = "-".join(typed[i:i + 8] for i in range(0, 32, 8))
        r = self.mfa(srv, "a", pre, {"recovery_code": typed})
        self.assertEqual(r.status, 200, r)
        s2 = Session(self.cookie_token(r), r.json()["csrf_token"])
        pre = self.password_step(srv, "a", "alice", CANARY)
        r = self.mfa(srv, "a", pre, {"recovery_code": codes[0]})
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "invalid_code"), r)
        r = srv.req("a", "POST", "/auth/mfa/recovery", headers=s2.headers())
        self.assertEqual(r.status, 200, r)
        fresh = r.json()["recovery_codes"]
        self.assertEqual(len(fresh), 10)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_mfa_recovery;"), "10")
        r = self.mfa(srv, "a", pre, {"recovery_code": codes[1]})   # an old one: gone
        self.assertEqual(r.status, 401, r)
        r = self.mfa(srv, "a", pre, {"recovery_code": fresh[0]})
        self.assertEqual(r.status, 200, r)
        # stored hashed only
        stored = [x[0] for x in self.pg.rows("SELECT id FROM auth_mfa_recovery;")]
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{64}", h) for h in stored))
        self.assertFalse(set(codes + fresh) & set(stored))
        self.assertEqual([x[0] for x in self.audit("a", "auth.mfa_recovery_used")], ["ok", "ok"])
        del full

    def test_mfa_required_forces_enrolment_S13(self):
        """S13: with the tenant's mfa_required, a user without TOTP gets an
        enrol-only session at login: every other route answers 403
        mfa_enrolment_required until TOTP is confirmed; then a new
        session with MFA passed.  Another tenant without the option is
        not affected."""
        srv = self.auth_server(features={"mfa_required": True})
        self.add_user("a", "alice", CANARY)
        r = self.login(srv, "a", "alice", CANARY)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["mfa_enrolment_required"])
        s = Session(self.cookie_token(r), r.json()["csrf_token"])
        for method, path in (("GET", "/auth/me"), ("GET", "/auth/sessions"),
                             ("POST", "/auth/reauth")):
            r = srv.req("a", method, path, headers=s.headers(), body="{}")
            self.assertEqual((r.status, r.json()["error"]["code"]),
                             (403, "mfa_enrolment_required"), (method, path, r))
        full, _, _ = self.enrol(srv, "a", "alice", s)
        self.assertEqual(self.me(srv, "a", s).status, 401)
        me = self.me(srv, "a", full)
        self.assertEqual(me.status, 200, me)
        self.assertTrue(me.json()["mfa_passed"])

    def test_admin_without_mfa_cannot_reach_admin_routes_S13(self):
        """S13 (own item 4): a tenant admin needs MFA whatever the tenant
        says: without TOTP the login gives an enrol-only session and
        /auth/users answers 403; after enrolment it answers.  Disabling
        TOTP (re-authentication within 5 minutes, else 401
        reauth_required; here with a TOTP code, S6) puts the admin's
        session back to enrolment."""
        srv = self.auth_server()
        self.add_user("a", "root", OTHER, roles="tenant_admin")
        r = self.login(srv, "a", "root", OTHER)
        self.assertTrue(r.json()["mfa_enrolment_required"], r.json())
        s = Session(self.cookie_token(r), r.json()["csrf_token"])
        r = srv.req("a", "GET", "/auth/users", headers=s.headers(csrf=False))
        self.assertEqual((r.status, r.json()["error"]["code"]), (403, "mfa_enrolment_required"))
        full, _, _ = self.enrol(srv, "a", "root", s)
        self.assertEqual(srv.req("a", "GET", "/auth/users",
                                 headers=full.headers(csrf=False)).status, 200)
        self.shift(full.token, "authenticated_at", 310)
        r = srv.req("a", "POST", "/auth/mfa/totp/disable", headers=full.headers())
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "reauth_required"), r)
        # re-authentication with a TOTP code in place of the password:
        # the confirm code again is a replay (403), the next step's passes
        b32, last = self.totp_secrets[("a", "root")]
        r = srv.req("a", "POST", "/auth/reauth", body=json.dumps({"code": totp(b32, last)}),
                    headers=full.headers())
        self.assertEqual((r.status, r.json()["error"]["code"]), (403, "invalid_code"), r)
        r = srv.req("a", "POST", "/auth/reauth", headers=full.headers(),
                    body=json.dumps({"code": totp(b32, max(step_now(), last + 1))}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x[0] for x in self.audit("a", "auth.reauth")], ["failed", "ok"])
        r = srv.req("a", "POST", "/auth/mfa/totp/disable", headers=full.headers())
        self.assertEqual(r.status, 200, r)
        r = srv.req("a", "GET", "/auth/users", headers=full.headers(csrf=False))
        self.assertEqual((r.status, r.json()["error"]["code"]), (403, "mfa_enrolment_required"))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_mfa_totp;"), "0")
        self.assertEqual([x[0] for x in self.audit("a", "auth.mfa_disable")], ["ok"])

    def test_every_admin_route_needs_mfa_passed_S13(self):
        """S13 (own item 4): every route of the plugin for tenant admins
        is registered with need_mfa, so the host answers 401 mfa_required
        to an admin whose session has not passed MFA: here a staff
        member's full session (no MFA) whose account is made tenant_admin
        behind the plugin's back (as the superuser, so the session lives
        on), and a tenant_admin API token (a token never passes MFA).  The
        same admin with MFA passed reaches the routes."""
        srv = self.auth_server()
        uid = self.add_user("a", "eve", CANARY)
        other = self.add_user("a", "sam", OTHER)
        nomfa = self.session(srv, "a", "eve", CANARY)
        self.assertFalse(self.me(srv, "a", nomfa).json()["mfa_passed"])
        self.pg.psql("UPDATE auth_users SET roles = '{tenant_admin}' WHERE id = :'u';", u=uid)
        admin_routes = (("GET", "/auth/users", None),
                        ("POST", "/auth/users", {"login": "x", "roles": ["staff"]}),
                        ("PATCH", f"/auth/users/{other}", {"disabled": True}),
                        ("DELETE", f"/auth/users/{other}/mfa", None),
                        ("DELETE", f"/auth/users/{other}/sessions", None),
                        ("GET", "/auth/tokens", None),
                        ("POST", "/auth/tokens", {"name": "x", "roles": ["tenant_admin"]}),
                        ("DELETE", "/auth/tokens/00000000-0000-0000-0000-000000000000", None))

        def call(method, path, body, headers):
            return srv.req("a", method, path, headers=headers,
                           body=json.dumps(body) if body is not None else None)

        for method, path, body in admin_routes:
            r = call(method, path, body, nomfa.headers())
            self.assertEqual((r.status, r.json()["error"]["code"]), (401, "mfa_required"),
                             (method, path, r))
        # A tenant_admin token, minted by an admin who passed MFA.
        root = self.add_user("a", "root", OTHER, roles="tenant_admin")
        full = self.session(srv, "a", "root", OTHER)
        self.assertTrue(self.me(srv, "a", full).json()["mfa_passed"])
        r = call("POST", "/auth/tokens", {"name": "edi", "roles": ["tenant_admin"]},
                 full.headers())
        self.assertEqual(r.status, 201, r)
        bearer = {"Authorization": "Bearer " + r.json()["token"]}
        for method, path, body in admin_routes:
            r = call(method, path, body, bearer)
            self.assertEqual((r.status, r.json()["error"]["code"]), (401, "mfa_required"),
                             (method, path, r))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_users WHERE disabled;"), "0")
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_tokens;"), "1")
        # With MFA passed, the routes answer.
        self.assertEqual(call("GET", "/auth/users", None, full.headers(csrf=False)).status, 200)
        self.assertEqual(call("PATCH", f"/auth/users/{other}", {"disabled": True},
                              full.headers()).status, 200)
        self.assertEqual(root, self.me(srv, "a", full).json()["user"]["id"])

    def test_admin_resets_a_users_mfa_S13_S20(self):
        """S13: a tenant admin resets a user's MFA (DELETE
        /auth/users/:id/mfa, re-authentication within 5 minutes, S6): the
        user's TOTP and recovery codes are removed and the user's sessions
        end; a staff member of a tenant without mfa_required then logs in
        with the password alone, an admin must enrol again.  Staff may not
        (403), an admin not on their own account (409), a platform admin's
        account answers as no such user (404).  S20: audited
        auth.mfa_reset with the admin as user and the account as target;
        S6: security.important_operation published."""
        srv = self.auth_server()
        uid_root = self.add_user("a", "root", OTHER, roles="tenant_admin")
        alice = self.add_user("a", "alice", CANARY)
        bob = self.add_user("a", "bob", OTHER, roles="tenant_admin")
        op = self.add_user("a", "op", OTHER, roles="platform_admin")
        root = self.session(srv, "a", "root", OTHER)
        sa, _, _ = self.enrol(srv, "a", "alice", self.session(srv, "a", "alice", CANARY))
        self.session(srv, "a", "bob", OTHER)                     # enrols: an admin

        def reset(s, uid):
            return srv.req("a", "DELETE", f"/auth/users/{uid}/mfa", headers=s.headers())

        self.assertEqual(reset(sa, bob).status, 403)
        r = reset(root, uid_root)
        self.assertEqual((r.status, r.json()["error"]["code"]), (409, "own_account"), r)
        for uid in (op, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            self.assertEqual(reset(root, uid).status, 404, uid)
        self.shift(root.token, "authenticated_at", 310)
        r = reset(root, alice)
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "reauth_required"), r)
        self.assertEqual(srv.req("a", "POST", "/auth/reauth", body=json.dumps({"password": OTHER}),
                                 headers=root.headers(), timeout=20.0 * harness.SCALE).status, 200)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_mfa_totp;"), "3")
        r = reset(root, alice.upper())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.me(srv, "a", sa).status, 401)        # her sessions ended
        for table in ("auth_mfa_totp", "auth_mfa_recovery"):
            self.assertEqual(self.pg.scalar(f"SELECT count(*) FROM {table} "
                                            "WHERE user_id = :'u';", u=alice), "0", table)
        r = self.login(srv, "a", "alice", CANARY)                 # the password alone
        self.assertEqual(r.status, 200, r)
        self.assertIn("user", r.json())
        self.assertEqual(reset(root, bob).status, 200)
        r = self.login(srv, "a", "bob", OTHER)                    # an admin enrols again
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["mfa_enrolment_required"], r.json())
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_mfa_totp;"), "1")   # root's
        self.assertEqual(self.me(srv, "a", root).status, 200)    # the admin's own session lives
        self.assertEqual([(x[0], x[1], x[2]) for x in self.audit("a", "auth.mfa_reset")],
                         [("ok", uid_root, alice), ("ok", uid_root, bob)])
        self.assertEqual(self.pg.rows(
            "SELECT payload->>'user_id' FROM outbox WHERE name = 'security.important_operation' "
            "AND payload->>'operation' = 'mfa_reset' AND id > :'s'::bigint ORDER BY id;",
            s=self.outbox_since), [[alice], [bob]])

    def test_principal_details_for_other_plugins_S11_S13(self):
        """S11, S13: the auth plugin's principal carries how and when the
        user authenticated (SDK req_set_auth), read by another plugin
        (test plugin authprobe, GET /authprobe/me): method password,
        auth_time = the session's authenticated_at, the session's stored
        hash, buyer_id for a buyer's staff member, and mfa_passed once the
        second factor is passed."""
        srv = self.auth_server(also=("authprobe",))
        uid = self.add_user("a", "bob", CANARY, roles="buyer")
        self.pg.psql("UPDATE auth_users SET buyer_id = 'shop-7' WHERE id = :'u';", u=uid)
        s = self.session(srv, "a", "bob", CANARY)
        r = srv.req("a", "GET", "/authprobe/me", headers=s.headers(csrf=False))
        self.assertEqual(r.status, 200, r)
        at = int(self.pg.scalar("SELECT floor(extract(epoch FROM authenticated_at))::bigint "
                                "FROM auth_sessions WHERE id = :'i';", i=sid_of(s.token)))
        self.assertEqual(r.json(), {"route": "me", "user": uid, "auth": {
            "method": "password", "auth_time": at, "mfa_passed": False,
            "session_hash": sid_of(s.token), "buyer_id": "shop-7"}})
        full, _, _ = self.enrol(srv, "a", "bob", s)
        auth = srv.req("a", "GET", "/authprobe/me", headers=full.headers(csrf=False)).json()["auth"]
        self.assertTrue(auth["mfa_passed"], auth)
        self.assertEqual(auth["session_hash"], sid_of(full.token))

    def test_totp_secret_sealed_and_never_logged_S16_S18(self):
        """S18: the TOTP secret is stored only sealed with the keyring
        (tnsec:), never in clear.  S16: the secret, codes and recovery
        codes appear in no log line, audit entry or event."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        s = self.session(srv, "a", "alice", CANARY)
        _, codes, b32 = self.enrol(srv, "a", "alice", s)
        stored = self.pg.scalar("SELECT secret_sealed FROM auth_mfa_totp;")
        self.assertTrue(stored.startswith("tnsec:"), stored)
        self.assertNotIn(b32, stored)
        pre = self.password_step(srv, "a", "alice", CANARY)
        self.assertEqual(self.mfa(srv, "a", pre, {"recovery_code": codes[0]}).status, 200)
        dump = self.pg.scalar("SELECT coalesce(string_agg(a::text, ' '), '') FROM audit_log a;") + \
            self.pg.scalar("SELECT coalesce(string_agg(o::text, ' '), '') FROM outbox o;")
        srv.stop()
        for secret in [b32, b32.lower()] + codes:
            self.assertEqual(json_lines_mentioning(srv, secret), [], secret)
            self.assertNotIn(secret, dump)


if __name__ == "__main__":
    main()
