"""Notifications plugin, webhook channel (issue 11; S6, S8, S16, S18, S20,
S21, A4): Standard Webhooks to a local HTTPS receiver.

The receiver (http.server + ssl, a certificate from a CA made at test
time, trusted by the host through outbound.ca_file, reached through an
outbound.allow entry) verifies every request with the Standard Webhooks
algorithm written here independently of the plugin (hmac + hashlib +
base64 of Python), and answers statuses the test queues (500, 410, ...).
Endpoints are made through the API by a tenant admin who authenticated
recently; events are inserted into the outbox as the orders plugin
writes them.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from ordersharness import OrdersCase, harness, host_of, main  # noqa: E402
from dbharness import json_lines_mentioning, wait_until  # noqa: E402
from test_outbound import make_ca_and_cert  # noqa: E402


def sw_verify(secret, headers, body, tolerance=300):
    """Standard Webhooks verification, independent of the plugin: the key
    is the base64 after whsec_, the signed content id.timestamp.body, any
    space-separated v1 signature may match, the timestamp within
    tolerance."""
    msg_id, ts = headers.get("webhook-id"), headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature", "")
    if not msg_id or not ts or not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    want = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body,
                                     hashlib.sha256).digest()).decode()
    return any(s.startswith("v1,") and hmac.compare_digest(s[3:], want)
               for s in sigs.split(" "))


class Receiver:
    """HTTPS webhook receiver: records (path, headers, body); answers the
    statuses queued for a path, then 200."""

    def __init__(self, crt, key):
        rec = self
        self.seen, self.queue, self.lock = [], {}, threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with rec.lock:
                    rec.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()},
                                     body))
                    q = rec.queue.get(self.path) or []
                    status = q.pop(0) if q else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Srv(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Srv(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def requests(self, path):
        with self.lock:
            return [(h, b) for p, h, b in self.seen if p == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class NotifyWebhookTest(OrdersCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tanomu-wh-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ca, crt, key = make_ca_and_cert(self.tmp)
        self.rx = Receiver(crt, key)
        self.addCleanup(self.rx.close)

    def server(self):
        db = {"plugin_migrations_dir": os.path.join(harness.SOURCE_DIR, "plugins"),
              "pool_size": 4}
        conf = {"secrets": {"keyring_dir": "keys"},
                "outbound": {"allow": [f"127.0.0.1:{self.rx.port}"], "ca_file": self.ca,
                             "max_timeout_ms": 20000},
                "outbox": {"max_attempts": 25, "backoff_ms": 200, "sweep_ms": 200}}
        srv = self.db_server(start=False, migrate=False, plugins=("auth", "orders", "notify"),
                             db=db, workers=2, conf=conf)
        srv.write_conf()
        r = __import__("subprocess").run(
            [harness.tanomu_bin(), "secret", "rotate", "-c", srv.conf_path],
            capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        for t in ("a", "b"):
            srv.write_tenant(t, {"id": t, "hosts": [host_of(t)], "features": {
                "auth": {"enabled": True}, "orders": {"enabled": True},
                "notify": {"enabled": True}}})
        srv.migrate()
        self.pg.psql("DELETE FROM notify_deliveries; DELETE FROM notify_webhooks; "
                     "DELETE FROM auth_sessions; DELETE FROM auth_users;")
        self.audit_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM audit_log;")
        self.outbox_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM outbox;")
        self.srv = srv.start()
        return srv

    def url(self, path):
        return f"https://127.0.0.1:{self.rx.port}{path}"

    def add_endpoint(self, srv, admin, path, **extra):
        r = admin.req(srv, "POST", "/api/v1/notify/webhooks", dict(url=self.url(path), **extra))
        self.assertEqual(r.status, 201, r)
        j = r.json()
        self.assertRegex(j["secret"], r"^whsec_[A-Za-z0-9+/]+=*$")
        return j

    def publish(self, tenant, name, payload):
        return int(self.pg.scalar(
            "INSERT INTO outbox (tenant_id, name, payload) VALUES (:'t', :'n', :'p'::jsonb) "
            "RETURNING id;", t=tenant, n=name, p=json.dumps(payload)))

    def state(self, ev):
        return self.pg.rows("SELECT state, attempts FROM outbox WHERE id = :'i';", i=str(ev))[0]

    def wait_delivered(self, ev, timeout=40.0):
        wait_until(lambda: self.state(ev)[0] != "pending", timeout=timeout * harness.SCALE,
                   what=f"event {ev} handled")
        self.assertEqual(self.state(ev)[0], "delivered", self.srv.tail())

    def test_signed_delivery_verifies_and_tampered_body_fails(self):
        """A webhook carries webhook-id = the outbox event id, a fresh
        timestamp and a v1 signature that the independent verifier
        accepts; a changed body or another secret does not verify."""
        srv = self.server()
        admin = self.caller("a", "tenant_admin")
        ep = self.add_endpoint(srv, admin, "/hook")
        ev = self.publish("a", "order.placed", {"id": "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c10",
                                                "number": 1001, "buyer": "B001"})
        self.wait_delivered(ev)
        got = self.rx.requests("/hook")
        self.assertEqual(len(got), 1, got)
        h, body = got[0]
        self.assertEqual(h["webhook-id"], str(ev))
        self.assertEqual(h["content-type"], "application/json")
        self.assertTrue(sw_verify(ep["secret"], h, body), h)
        self.assertFalse(sw_verify(ep["secret"], h, body.replace(b"1001", b"1002")))
        other = "whsec_" + base64.b64encode(b"x" * 24).decode()
        self.assertFalse(sw_verify(other, h, body))
        j = json.loads(body)
        self.assertEqual((j["type"], j["data"]["number"]), ("order.placed", 1001))
        rows = self.pg.rows("SELECT channel, result, provider_id FROM notify_deliveries "
                            "WHERE event_id = :'i';", i=str(ev))
        self.assertEqual([tuple(r) for r in rows], [("webhook", "sent", str(ev))])
        # The secret is shown once: never listed, never logged, stored sealed.
        listed = admin.req(srv, "GET", "/api/v1/notify/webhooks").json()["webhooks"]
        self.assertEqual([w["id"] for w in listed], [ep["id"]])
        self.assertNotIn("secret", listed[0])
        stored = self.pg.scalar("SELECT secret FROM notify_webhooks;")
        self.assertTrue(stored.startswith("tnsec:v1:"), "S18: stored sealed")
        self.assertEqual(json_lines_mentioning(srv, ep["secret"][6:]), [], "S16")
        self.assertEqual([a["action"] for a in self.audit("notify.webhook_create")],
                         ["notify.webhook_create"])

    def test_retries_reuse_webhook_id_then_410_disables(self):
        """A4: 500, 500, then 200 -> three requests with the same webhook-id,
        each verifying, one 'sent' row; an endpoint answering 410 is disabled
        and not called again, and the event is not retried for it."""
        srv = self.server()
        admin = self.caller("a", "tenant_admin")
        ep = self.add_endpoint(srv, admin, "/flaky")
        gone = self.add_endpoint(srv, admin, "/gone")
        self.rx.queue["/flaky"] = [500, 500]
        self.rx.queue["/gone"] = [410]
        ev = self.publish("a", "order.shipped", {"id": "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c11"})
        self.wait_delivered(ev)
        flaky = self.rx.requests("/flaky")
        self.assertEqual(len(flaky), 3, flaky)
        self.assertEqual({h["webhook-id"] for h, _ in flaky}, {str(ev)})
        self.assertTrue(all(sw_verify(ep["secret"], h, b) for h, b in flaky))
        self.assertEqual(len(self.rx.requests("/gone")), 1)
        listed = {w["id"]: w for w in admin.req(srv, "GET",
                                                 "/api/v1/notify/webhooks").json()["webhooks"]}
        self.assertFalse(listed[gone["id"]]["enabled"])
        self.assertTrue(listed[ep["id"]]["enabled"])
        results = [r[0] for r in self.pg.rows(
            "SELECT result FROM notify_deliveries WHERE event_id = :'i' AND recipient LIKE "
            "'%' ORDER BY id;", i=str(ev))]
        self.assertEqual(results.count("sent"), 1, results)
        srv.wait_metric("tanomu_plugin_notify_webhook_sent_total", lambda v: v == 1, tenant="a")
        srv.wait_metric("tanomu_plugin_notify_webhook_failed_total", lambda v: v == 2,
                        tenant="a")
        ev2 = self.publish("a", "order.cancelled", {"id": "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c12"})
        self.wait_delivered(ev2)
        self.assertEqual(len(self.rx.requests("/gone")), 1, "a disabled endpoint was called")

    def test_rotation_signs_with_both_secrets_during_overlap(self):
        """Rotating a secret: during the overlap every request carries a v1
        signature under the new secret and one under the old, so either
        verifies; after a rotation with overlap_s 0 only the newest does.
        Audited; a stale authentication gets 401."""
        srv = self.server()
        admin = self.caller("a", "tenant_admin")
        old = self.add_endpoint(srv, admin, "/rot")["secret"]
        r = admin.req(srv, "POST", f"/api/v1/notify/webhooks/{self._id(srv, admin)}/rotate", {})
        self.assertEqual(r.status, 200, r)
        new = r.json()["secret"]
        self.assertNotEqual(new, old)
        ev = self.publish("a", "order.placed", {"id": "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c15"})
        self.wait_delivered(ev)
        h, b = self.rx.requests("/rot")[-1]
        self.assertEqual(len(h["webhook-signature"].split(" ")), 2, h)
        self.assertTrue(sw_verify(old, h, b) and sw_verify(new, h, b))
        r = admin.req(srv, "POST", f"/api/v1/notify/webhooks/{self._id(srv, admin)}/rotate",
                      {"overlap_s": 0})
        self.assertEqual(r.status, 200, r)
        newest = r.json()["secret"]
        ev = self.publish("a", "order.placed", {"id": "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c16"})
        self.wait_delivered(ev)
        h, b = self.rx.requests("/rot")[-1]
        self.assertTrue(sw_verify(newest, h, b))
        self.assertFalse(sw_verify(new, h, b))
        self.assertFalse(sw_verify(old, h, b))
        for bad in ({"overlap_s": -1}, {"overlap_s": "1"}, {"overlap_s": 604801}):
            r = admin.req(srv, "POST",
                          f"/api/v1/notify/webhooks/{self._id(srv, admin)}/rotate", bad)
            self.assertEqual(r.status, 400, (bad, r))
        stale = self.caller("a", "tenant_admin")
        self.age_auth(stale, 400)
        r = stale.req(srv, "POST", f"/api/v1/notify/webhooks/{self._id(srv, admin)}/rotate", {})
        self.assertEqual(r.status, 401)
        self.assertEqual(len(self.audit("notify.webhook_rotate")), 2)
        self.assertEqual(json_lines_mentioning(srv, newest[6:]), [], "S16")

    def _id(self, srv, admin):
        return admin.req(srv, "GET", "/api/v1/notify/webhooks").json()["webhooks"][0]["id"]

    def test_endpoints_need_recent_auth_admin_role_and_stay_in_tenant(self):
        """S6: an admin whose authentication is older than 300 s gets 401
        reauth_required; staff 403; bad URLs 400 with fields; tenant b's
        events never reach a's endpoint; account events never go to
        webhooks (they carry reset codes)."""
        srv = self.server()
        admin = self.caller("a", "tenant_admin")
        stale = self.caller("a", "tenant_admin")
        self.age_auth(stale, 400)
        r = stale.req(srv, "POST", "/api/v1/notify/webhooks", {"url": self.url("/x")})
        self.assertEqual((r.status, r.json()["error"]["code"]), (401, "reauth_required"))
        r = self.caller("a", "staff").req(srv, "POST", "/api/v1/notify/webhooks",
                                          {"url": self.url("/x")})
        self.assertEqual(r.status, 403)
        for bad in ({"url": "http://127.0.0.1/x"}, {"url": "https://a.example/\r\nX: y"},
                    {"url": self.url("/x"), "events": "auth.password_reset_requested"}):
            r = admin.req(srv, "POST", "/api/v1/notify/webhooks", bad)
            self.assertEqual(r.status, 400, (bad, r))
        # The template preview (tenant admins): sample values, ja by default.
        r = admin.req(srv, "GET", "/api/v1/notify/preview?event=order.placed")
        self.assertEqual((r.status, r.json()["subject"]), (200, "【ご注文受付】注文番号 1001"))
        self.assertIn("山田 太郎 様", r.json()["body"])
        r = admin.req(srv, "GET", "/api/v1/notify/preview?event=order.placed&lang=en")
        self.assertEqual(r.json()["subject"], "Order 1001 received")
        self.assertEqual(admin.req(srv, "GET", "/api/v1/notify/preview?event=x.y").status, 404)
        self.assertEqual(admin.req(srv, "GET",
                                   "/api/v1/notify/preview?event=order.placed&lang=fr").status,
                         400)
        self.assertEqual(self.caller("a", "staff").req(
            srv, "GET", "/api/v1/notify/preview?event=order.placed").status, 403)
        self.add_endpoint(srv, admin, "/a-only", events="*")
        eb = self.publish("b", "order.placed", {"id": "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c13"})
        er = self.publish("a", "auth.password_reset_requested",
                          {"user_id": "0b0e7a4e-8d0c-4f43-9a53-4a0f7a3b2c14", "token": "t0ken"})
        self.wait_delivered(eb)
        self.wait_delivered(er)
        self.assertEqual(self.rx.requests("/a-only"), [])
        wid = admin.req(srv, "GET", "/api/v1/notify/webhooks").json()["webhooks"][0]["id"]
        self.assertEqual(admin.req(srv, "DELETE", f"/api/v1/notify/webhooks/{wid}").status, 204)
        self.assertEqual(admin.req(srv, "DELETE", f"/api/v1/notify/webhooks/{wid}").status, 404)
        self.assertEqual([a["action"] for a in self.audit() if a["action"].startswith("notify.")],
                         ["notify.webhook_create", "notify.webhook_delete"])


if __name__ == "__main__":
    main()
