"""What the ordering plugin's integration tests share (plugins/orders,
issue 9): a server with the auth and orders plugins for tenants "a" and
"b", and callers of every role without paying for a password login.

A caller's session is made as the database superuser the way the auth
plugin makes one: a 32-byte token, its SHA-256 stored, MFA passed, and the
CSRF token derived from it as plugins/auth/session.c does (HMAC-SHA256
keyed by the token over "tanomu.auth.csrf.v1").  Logging in for real is
tested in test_auth.py; here it would only cost Argon2id time.

    class T(OrdersCase):
        def test_x(self):
            srv = self.orders_server()
            staff = self.caller("a", "staff")
            buyer = self.caller("a", "buyer", buyer="B001")   # a buyer's staff member
            r = staff.req(srv, "GET", "/api/v1/products")
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, harness, host_of, main  # noqa: E402,F401

COOKIE = "__Host-tanomu_sid"
CSRF_LABEL = b"tanomu.auth.csrf.v1"
# A hash no password matches (these callers never log in with one).
NO_PASSWORD = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class Caller:
    """A signed-in user: its id, roles, buyer code, and the headers of its
    session (cookie and CSRF token)."""

    def __init__(self, tenant, user_id, roles, buyer, token, csrf):
        self.tenant, self.user_id, self.roles, self.buyer = tenant, user_id, roles, buyer
        self.token, self.csrf = token, csrf

    def headers(self, csrf=True, extra=None):
        h = {"Cookie": f"{COOKIE}={self.token}"}
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        h.update(extra or {})
        return h

    def req(self, srv, method, path, body=None, headers=None, tenant=None, timeout=10.0):
        """A request as this caller (to its own tenant unless told); a dict
        or list body is sent as JSON."""
        h = self.headers(extra=headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False)
            h.setdefault("Content-Type", "application/json")
        return srv.req(tenant or self.tenant, method, path, body=body, headers=h,
                       timeout=timeout * harness.SCALE)


class OrdersCase(DbTestCase):
    """One cluster per class; each orders_server() starts from empty
    orders and auth tables."""

    def orders_server(self, features=None, tenant_features=None, workers=2, conf=None,
                      also=()):
        """features: orders settings of both tenants; tenant_features:
        {"a": {...}} for one; also: more plugins enabled for both."""
        db = {"plugin_migrations_dir": os.path.join(harness.SOURCE_DIR, "plugins")}
        over = {"secrets": {"keyring_dir": "keys"}}
        over = harness.deep_merge(over, conf or {})
        srv = self.db_server(start=False, migrate=False, plugins=("auth", "orders") + tuple(also),
                             db=db, workers=workers, conf=over)
        srv.write_conf()
        r = subprocess.run([harness.tanomu_bin(), "secret", "rotate", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        for t in ("a", "b"):
            orders = {"enabled": True}
            orders.update(features or {})
            orders.update((tenant_features or {}).get(t, {}))
            feats = {"auth": {"enabled": True}, "orders": orders}
            feats.update({p: {"enabled": True} for p in also})
            srv.write_tenant(t, {"id": t, "hosts": [host_of(t)], "features": feats})
        srv.migrate()
        self.pg.psql("DELETE FROM orders_lines; DELETE FROM orders_orders; "
                     "DELETE FROM orders_prices; DELETE FROM orders_products; "
                     "DELETE FROM orders_buyers; DELETE FROM orders_announcements; "
                     "DELETE FROM auth_sessions; DELETE FROM auth_password_resets; "
                     "DELETE FROM auth_mfa_recovery; DELETE FROM auth_mfa_totp; "
                     "DELETE FROM auth_tokens; DELETE FROM auth_users;")
        self.audit_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM audit_log;")
        self.outbox_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM outbox;")
        self.srv = srv.start()
        return srv

    def caller(self, tenant, roles, buyer=None, login=None):
        """A user of `tenant` with `roles` ("staff", "tenant_admin",
        "buyer" ...; comma-separated) and, for a buyer's staff member, the
        buyer's code; signed in with MFA passed just now."""
        login = login or f"{roles.replace(',', '-')}-{secrets.token_hex(4)}"
        user_id = self.pg.scalar(
            "INSERT INTO auth_users (tenant_id, login, roles, buyer_id, password_hash) "
            "VALUES (:'t', :'l', string_to_array(:'r', ','), nullif(:'b', ''), :'h') "
            "RETURNING id;", t=tenant, l=login, r=roles, b=buyer or "", h=NO_PASSWORD)
        raw = secrets.token_bytes(32)
        self.pg.psql(
            "INSERT INTO auth_sessions (id, tenant_id, user_id, mfa_passed) "
            "VALUES (:'s', :'t', :'u', true);",
            s=hashlib.sha256(raw).hexdigest(), t=tenant, u=user_id)
        csrf = b64url(hmac.new(raw, CSRF_LABEL, hashlib.sha256).digest())
        return Caller(tenant, user_id, roles, buyer, b64url(raw), csrf)

    def age_auth(self, caller, seconds):
        """Moves the caller's last authentication `seconds` into the past
        (for the re-authentication rule: S6, S9)."""
        self.pg.psql("UPDATE auth_sessions SET authenticated_at = now() - make_interval("
                     "secs => :'n'::int) WHERE user_id = :'u';", n=str(seconds),
                     u=caller.user_id)

    def audit(self, action=None):
        """Audit rows written since orders_server(): dicts."""
        rows = self.pg.rows("SELECT action, tenant_id, user_id, target_type, target_id, result "
                            "FROM audit_log WHERE id > :'s' ORDER BY id;",
                            s=str(self.audit_since))
        keys = ("action", "tenant", "user", "target_type", "target_id", "result")
        out = [dict(zip(keys, r)) for r in rows]
        return [a for a in out if action is None or a["action"] == action]

    def events(self, name=None):
        """Outbox events published since orders_server(): (name, tenant,
        payload dict)."""
        rows = self.pg.rows("SELECT name, tenant_id, payload FROM outbox WHERE id > :'s' "
                            "ORDER BY id;", s=str(self.outbox_since))
        out = [(n, t, json.loads(p)) for n, t, p in rows]
        return [e for e in out if name is None or e[0] == name]
