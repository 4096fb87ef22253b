"""Accounts of the auth plugin, the later slice of issue 8, through the real
binary and a real PostgreSQL: e-mail addresses (migration 0004: the
invitation, GET /auth/me, the policy, PUT /auth/me/email with
re-authentication, its audit and events), buyer-role API tokens, a
tenant admin's change of a user's buyer ID, the CSRF token as a form
field (URL-encoded and multipart), and password-reset requests refused by
the per-address zone in the audit log.

The helpers (users with a real Argon2id hash, sessions with MFA where
needed) are test_auth.py's.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import harness, main  # noqa: E402
from test_auth import AuthCase, CANARY, OTHER  # noqa: E402


class AccountsTest(AuthCase):

    def outbox(self, name):
        return [json.loads(x[0]) for x in self.pg.rows(
            "SELECT payload::text FROM outbox WHERE name = :'n' AND id > :'s'::bigint "
            "ORDER BY id;", n=name, s=self.outbox_since)]

    # -- e-mail addresses ---------------------------------------------------------

    def test_email_invite_me_list_and_policy_S12_S21(self):
        """The invitation takes an e-mail address (validated: 422
        fields.email; stored with its domain in lower case; one account
        per address and tenant whatever its case: 409) and puts it in the
        auth.user_invited event; GET /auth/me and GET /auth/users show it;
        another tenant may use the same address (S21).  S12: a new
        password equal to or containing the address or its local part is
        refused 422 weak_password, fields.new_password contains_email."""
        srv = self.auth_server()
        self.add_user("a", "root", OTHER, roles="tenant_admin")
        root = self.session(srv, "a", "root", OTHER)

        def invite(body):
            return srv.req("a", "POST", "/auth/users", body=json.dumps(body),
                           headers=root.headers())

        for bad in ("not-an-address", "kenta@localhost", "kenta ito@example.jp", 17):
            r = invite({"login": "kenta", "roles": ["staff"], "email": bad})
            self.assertEqual((r.status, r.json()["error"]["fields"]), (422, {"email": "invalid"}),
                             (bad, r))
        r = invite({"login": "kenta", "roles": ["staff"], "email": "Kenta.Ito@Example.JP"})
        self.assertEqual(r.status, 201, r)
        kenta = r.json()["user"]["id"]
        self.assertEqual(r.json()["user"]["email"], "Kenta.Ito@example.jp")
        self.assertEqual(self.pg.scalar("SELECT email FROM auth_users WHERE id = :'u';", u=kenta),
                         "Kenta.Ito@example.jp")
        [ev] = self.outbox("auth.user_invited")
        self.assertEqual((ev["user_id"], ev["email"]), (kenta, "Kenta.Ito@example.jp"))
        r = invite({"login": "kenta2", "roles": ["staff"], "email": "KENTA.ITO@example.jp"})
        self.assertEqual(r.status, 409, r)
        # Tenant b: the same address is another account's, not a conflict.
        self.pg.psql("INSERT INTO auth_users (tenant_id, login, roles, password_hash, email) "
                     "SELECT 'b', login, roles, password_hash, email FROM auth_users "
                     "WHERE id = :'u';", u=kenta)

        uid = self.add_user("a", "asato", CANARY)
        self.pg.psql("UPDATE auth_users SET email = 'aiko.s@example.jp' WHERE id = :'u';", u=uid)
        s = self.session(srv, "a", "asato", CANARY)
        self.assertEqual(self.me(srv, "a", s).json()["user"]["email"], "aiko.s@example.jp")
        users = srv.req("a", "GET", "/auth/users", headers=root.headers(csrf=False)).json()
        self.assertEqual({u["login"]: u["email"] for u in users["users"]},
                         {"root": None, "kenta": "Kenta.Ito@example.jp",
                          "asato": "aiko.s@example.jp"})
        for pw in ("Velvet-AIKO.S-harbour-29", "aiko.s@example.jp"):
            r = srv.req("a", "POST", "/auth/password", headers=s.headers(),
                        body=json.dumps({"current_password": CANARY, "new_password": pw}),
                        timeout=20.0 * harness.SCALE)
            self.assertEqual((r.status, r.json()["error"]["code"],
                              r.json()["error"]["fields"]["new_password"]),
                             (422, "weak_password", "contains_email"), (pw, r))

    def test_email_change_reauth_audit_events_S6_S9_S20(self):
        """PUT /auth/me/email: S6/S9, the host answers 401 reauth_required
        when the session authenticated more than 300 s ago; then 422 for
        an address not taken, 409 for another account's; the change is
        stored normalised, audited (S20, auth.email_change), and publishes
        security.important_operation (email_change) and auth.email_changed
        with the user ID, the old and the new address (the old one is
        mailed).  The same address again changes nothing and publishes
        nothing."""
        srv = self.auth_server()
        uid = self.add_user("a", "aiko", CANARY)
        other = self.add_user("a", "ren", OTHER)
        self.pg.psql("UPDATE auth_users SET email = 'aiko.s@example.jp' WHERE id = :'u';"
                     "UPDATE auth_users SET email = 'ren@example.jp' WHERE id = :'o';",
                     u=uid, o=other)
        s = self.session(srv, "a", "aiko", CANARY)

        def put(email, headers=None):
            return srv.req("a", "PUT", "/auth/me/email", body=json.dumps({"email": email}),
                           headers=headers or s.headers())

        self.shift(s.token, "authenticated_at", 310)
        r = put("aiko@example.jp")
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "reauth_required"), r)
        r = srv.req("a", "POST", "/auth/reauth", body=json.dumps({"password": CANARY}),
                    headers=s.headers(), timeout=20.0 * harness.SCALE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(put("aiko@").status, 422)
        self.assertEqual(put("REN@Example.jp").status, 409)
        self.assertEqual(put("x@y.jp", headers=s.headers(csrf=False)).status, 403)   # CSRF
        r = put("Aiko.Sato@Mail.Example.JP")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"email": "Aiko.Sato@mail.example.jp", "changed": True})
        self.assertEqual(self.me(srv, "a", s).json()["user"]["email"],
                         "Aiko.Sato@mail.example.jp")
        self.assertEqual(self.outbox("auth.email_changed"),
                         [{"user_id": uid, "old_email": "aiko.s@example.jp",
                           "new_email": "Aiko.Sato@mail.example.jp"}])
        self.assertEqual([(e["user_id"], e["operation"])
                          for e in self.outbox("security.important_operation")],
                         [(uid, "email_change")])
        self.assertEqual([(x[0], x[1], x[2]) for x in self.audit("a", "auth.email_change")],
                         [("ok", uid, uid)])
        r = put("Aiko.Sato@mail.example.jp")
        self.assertEqual(r.json(), {"email": "Aiko.Sato@mail.example.jp", "changed": False})
        self.assertEqual(len(self.outbox("auth.email_changed")), 1)
        self.assertEqual(len(self.audit("a", "auth.email_change")), 1)

    # -- buyers: tokens and a changed buyer ID --------------------------------------

    def test_buyer_token_principal_S11(self):
        """S11: a tenant admin makes an API token with the role buyer only
        with a buyer_id (422 fields.buyer_id required; buyer mixed with
        another role 422 buyer_alone; a buyer_id without the role 422
        buyer_mismatch); its principal carries buyer_id exactly as a buyer
        user's session does (read by another plugin, authprobe).  A token
        never gets more than its creator's roles: demoted, the creator's
        buyer token keeps no role and no buyer_id."""
        srv = self.auth_server(also=("authprobe",))
        root = self.add_user("a", "root", OTHER, roles="tenant_admin")
        admin = self.session(srv, "a", "root", OTHER)
        bob = self.add_user("a", "bob", CANARY, roles="buyer")
        self.pg.psql("UPDATE auth_users SET buyer_id = 'shop-7' WHERE id = :'u';", u=bob)

        def mint(body):
            return srv.req("a", "POST", "/auth/tokens", body=json.dumps(dict(name="edi", **body)),
                           headers=admin.headers())

        for body, field, reason in (({"roles": ["buyer"]}, "buyer_id", "required"),
                                    ({"roles": ["buyer"], "buyer_id": ""}, "buyer_id", "invalid"),
                                    ({"roles": ["buyer", "staff"], "buyer_id": "shop-7"},
                                     "roles", "buyer_alone"),
                                    ({"roles": ["tenant_admin"], "buyer_id": "shop-7"},
                                     "buyer_id", "buyer_mismatch")):
            r = mint(body)
            self.assertEqual((r.status, r.json()["error"]["fields"]), (422, {field: reason}),
                             (body, r))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM auth_tokens;"), "0")
        r = mint({"roles": ["buyer"], "buyer_id": "shop-7"})
        self.assertEqual(r.status, 201, r)
        t = r.json()
        self.assertEqual((t["roles"], t["buyer_id"]), (["buyer"], "shop-7"))
        listed = srv.req("a", "GET", "/auth/tokens", headers=admin.headers(csrf=False)).json()
        self.assertEqual([(x["roles"], x["buyer_id"]) for x in listed["tokens"]],
                         [(["buyer"], "shop-7")])

        bearer = {"Authorization": "Bearer " + t["token"]}
        by_token = srv.req("a", "GET", "/authprobe/me", headers=bearer)
        self.assertEqual(by_token.status, 200, by_token)
        by_session = srv.req("a", "GET", "/authprobe/me",
                             headers=self.session(srv, "a", "bob", CANARY).headers(csrf=False))
        self.assertEqual(by_token.json()["auth"]["buyer_id"], "shop-7")
        self.assertEqual(by_token.json()["auth"]["buyer_id"],
                         by_session.json()["auth"]["buyer_id"])
        self.assertEqual(by_token.json()["user"], "token:" + t["id"])
        # A buyer token is no admin: the admin routes answer 403; it has
        # no sessions either (403 session_required, not a failed query).
        self.assertEqual(srv.req("a", "GET", "/auth/users", headers=bearer).status, 403)
        r = srv.req("a", "GET", "/auth/sessions", headers=bearer)
        self.assertEqual((r.status, r.json()["error"]["code"]), (403, "session_required"), r)
        # The creator is demoted: the token keeps neither the role nor the ID.
        self.pg.psql("UPDATE auth_users SET roles = '{staff}' WHERE id = :'u';", u=root)
        demoted = srv.req("a", "GET", "/authprobe/me", headers=bearer)
        self.assertEqual(demoted.status, 200, demoted)
        self.assertEqual(demoted.json()["auth"]["buyer_id"], "")

    def test_admin_changes_buyer_id_ends_sessions_S6_S11_S20(self):
        """S11: a tenant admin changes a user's buyer ID (and roles) with
        PATCH /auth/users/:id: re-authentication within 300 s (S6: 401
        reauth_required), the user's sessions end as at any privilege
        change, the new session carries the new buyer ID; the buyer role
        needs a buyer ID (422 required), a buyer ID needs the role (422
        buyer_mismatch), dropping the role clears the ID.  S20: audited
        auth.user_update; security.important_operation roles_change."""
        srv = self.auth_server()
        self.add_user("a", "root", OTHER, roles="tenant_admin")
        admin = self.session(srv, "a", "root", OTHER)
        bob = self.add_user("a", "bob", CANARY, roles="buyer")
        sam = self.add_user("a", "sam", OTHER)
        self.pg.psql("UPDATE auth_users SET buyer_id = 'shop-7' WHERE id = :'u';", u=bob)
        old = self.session(srv, "a", "bob", CANARY)
        self.assertEqual(self.me(srv, "a", old).json()["user"]["buyer_id"], "shop-7")

        def patch(uid, body):
            return srv.req("a", "PATCH", f"/auth/users/{uid}", body=json.dumps(body),
                           headers=admin.headers())

        self.shift(admin.token, "authenticated_at", 310)
        r = patch(bob, {"buyer_id": "shop-9"})
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "reauth_required"), r)
        self.assertEqual(srv.req("a", "POST", "/auth/reauth", body=json.dumps({"password": OTHER}),
                                 headers=admin.headers(),
                                 timeout=20.0 * harness.SCALE).status, 200)
        self.assertEqual(patch(bob, {"buyer_id": ""}).status, 400)
        self.assertEqual(patch(bob, {"buyer_id": None}).json()["error"]["fields"],
                         {"buyer_id": "required"})
        self.assertEqual(patch(sam, {"buyer_id": "shop-9"}).json()["error"]["fields"],
                         {"buyer_id": "buyer_mismatch"})
        self.assertEqual(patch(sam, {"roles": ["buyer"]}).json()["error"]["fields"],
                         {"buyer_id": "required"})
        self.assertEqual(self.me(srv, "a", old).status, 200)     # refusals end nothing
        r = patch(bob, {"buyer_id": "shop-9"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.me(srv, "a", old).status, 401)     # the old session is dead
        new = self.session(srv, "a", "bob", CANARY)
        self.assertEqual(self.me(srv, "a", new).json()["user"]["buyer_id"], "shop-9")
        r = patch(sam, {"roles": ["buyer", "staff"], "buyer_id": "shop-3"})
        self.assertEqual(r.status, 200, r)
        r = patch(bob, {"roles": ["staff"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.me(srv, "a", new).status, 401)
        self.assertEqual(self.pg.rows("SELECT login, array_to_string(roles, ','), "
                                      "coalesce(buyer_id, '-') FROM auth_users "
                                      "WHERE login IN ('bob', 'sam') ORDER BY login;"),
                         [["bob", "staff", "-"], ["sam", "buyer,staff", "shop-3"]])
        self.assertEqual([(x[0], x[2]) for x in self.audit("a", "auth.user_update")],
                         [("ok", bob), ("ok", sam), ("ok", bob)])
        self.assertEqual([(e["user_id"], e["operation"])
                          for e in self.outbox("security.important_operation")
                          if e["user_id"] in (bob, sam)],
                         [(bob, "roles_change"), (sam, "roles_change"), (bob, "roles_change")])

    # -- CSRF token as a form field --------------------------------------------------

    def test_csrf_token_as_form_field_S4(self):
        """S4: a state-changing request on a cookie session may carry the
        CSRF token as the form field csrf_token instead of X-CSRF-Token,
        in an application/x-www-form-urlencoded or a multipart/form-data
        body: the right one passes the hook (here /auth/reauth then fails
        on its non-JSON body, 400; /auth/logout succeeds), a wrong or
        missing one is 403 csrf_token, and a file part named csrf_token is
        no field."""
        srv = self.auth_server()
        self.add_user("a", "alice", CANARY)
        s = self.session(srv, "a", "alice", CANARY)
        cookie = s.headers(csrf=False)
        wrong = "A" * 43

        def urlenc(token):
            body = "note=hi" + (f"&csrf_token={token}" if token else "")
            return body, "application/x-www-form-urlencoded"

        def multipart(token, filename=False):
            b = "----tanomu7Gd3"
            parts = [f'--{b}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n']
            if token:
                disp = 'form-data; name="csrf_token"' + ('; filename="t"' if filename else "")
                parts.append(f"--{b}\r\nContent-Disposition: {disp}\r\n\r\n{token}\r\n")
            return "".join(parts) + f"--{b}--\r\n", f"multipart/form-data; boundary={b}"

        def post(path, form):
            body, ctype = form
            return srv.req("a", "POST", path, body=body,
                           headers=dict(cookie, **{"Content-Type": ctype}))

        for make in (urlenc, multipart):
            r = post("/auth/reauth", make(s.csrf))
            self.assertEqual((r.status, r.json()["error"]["code"]), (400, "bad_request"),
                             (make.__name__, r))
            for token in (wrong, None):
                r = post("/auth/reauth", make(token))
                self.assertEqual((r.status, r.json()["error"]["code"]), (403, "csrf_token"),
                                 (make.__name__, token, r))
        r = post("/auth/reauth", multipart(s.csrf, filename=True))
        self.assertEqual((r.status, r.json()["error"]["code"]), (403, "csrf_token"), r)
        self.assertEqual(self.me(srv, "a", s).status, 200)
        r = post("/auth/logout", multipart(s.csrf))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.me(srv, "a", s).status, 401)

    # -- password reset throttled -------------------------------------------------------

    def test_reset_refusals_audited_once_a_window_S9_S20(self):
        """S9, S20: POST /auth/password/reset and /confirm refused by the
        per-address zone (429) are audited as logins are: action
        auth.password_reset_request / auth.password_reset, result denied,
        target type address, the client address as target, the request
        ID; at most once a minute per address and tenant (the login_audit
        zone, whose budget login shares), so a flood is no write each.  The
        body (login ID, token) is not read."""
        srv = self.auth_server(wide={"login_burst": 2, "login_rate_per_min": 1.0})

        def reset(tenant):
            return srv.req(tenant, "POST", "/auth/password/reset",
                           body=json.dumps({"login": "nobody-x"}))

        def confirm(tenant):
            return srv.req(tenant, "POST", "/auth/password/reset/confirm",
                           body=json.dumps({"token": "A" * 43, "new_password": CANARY}))

        def denied(tenant, action):
            return self.pg.rows(
                "SELECT result, coalesce(user_id, ''), target_id, host(client_ip), request_id "
                "FROM audit_log WHERE tenant_id = :'t' AND action = :'a' "
                "AND target_type = 'address' AND id > :'s'::bigint;",
                t=tenant, a=action, s=self.since)

        self.assertEqual([reset("a").status for _ in range(2)], [202, 202])
        for _ in range(5):
            r = reset("a")
            self.assertEqual((r.status, r.json()["error"]["code"]), (429, "too_many_attempts"))
            self.assertIsNotNone(r.get("Retry-After"))
        [row] = denied("a", "auth.password_reset_request")
        self.assertEqual(row[:4], ["denied", "", "127.0.0.1", "127.0.0.1"])
        self.assertTrue(row[4])
        # The minute's audit budget of this address is spent: a refused
        # confirmation now is answered, not written.
        self.assertEqual(confirm("a").status, 429)
        self.assertEqual(denied("a", "auth.password_reset"), [])
        # Tenant b: its own zone and budget; a refused confirmation audited.
        self.assertEqual([confirm("b").status for _ in range(2)], [400, 400])
        for _ in range(3):
            self.assertEqual(confirm("b").status, 429)
        self.assertEqual([x[:3] for x in denied("b", "auth.password_reset")],
                         [["denied", "", "127.0.0.1"]])
        self.assertEqual(self.pg.scalar(
            "SELECT count(*) FROM audit_log WHERE id > :'s'::bigint AND "
            "audit_log::text LIKE '%nobody-x%';", s=self.since), "0")


if __name__ == "__main__":
    main()
