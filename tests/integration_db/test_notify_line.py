"""Notifications plugin, LINE push (issue 11; S8, S16, S18, A4): a local
HTTPS server stands in for the Messaging API (line_api_base points at
it; trusted through outbound.ca_file, reached through outbound.allow).
Recipients are the buyer's contacts with a line_user_id (from the
database); the channel access token is a sealed setting and a canary.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from ordersharness import OrdersCase, harness, host_of, main  # noqa: E402
from dbharness import json_lines_mentioning, wait_until  # noqa: E402
from test_outbound import make_ca_and_cert  # noqa: E402
from test_notify_webhooks import Receiver  # noqa: E402

TOKEN = "line-token-canary-93f1c0"
PUSH = "/v2/bot/message/push"
U1, U2 = "U" + "1" * 32, "U" + "a" * 32


class NotifyLineTest(OrdersCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tanomu-line-")
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
        r = subprocess.run([harness.tanomu_bin(), "secret", "rotate", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([harness.tanomu_bin(), "secret", "seal", "-c", srv.conf_path,
                            "--tenant", "a", "--plugin", "notify", "--key",
                            "line_channel_token"], input=TOKEN, capture_output=True, text=True,
                           timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        notify = {"a": {"enabled": True, "line_channel_token": r.stdout.strip(),
                        "line_api_base": f"https://127.0.0.1:{self.rx.port}"},
                  "b": {"enabled": True}}
        for t in ("a", "b"):
            srv.write_tenant(t, {"id": t, "hosts": [host_of(t)], "features": {
                "auth": {"enabled": True}, "orders": {"enabled": True}, "notify": notify[t]}})
        srv.migrate()
        self.pg.psql("DELETE FROM notify_deliveries; DELETE FROM orders_lines; "
                     "DELETE FROM orders_orders; DELETE FROM orders_buyers;")
        self.srv = srv.start()
        return srv

    def order(self, tenant, contacts):
        buyer = self.pg.scalar(
            "INSERT INTO orders_buyers (tenant_id, code, name, contacts) "
            "VALUES (:'t', 'B001', '株式会社テスト商店', :'j'::jsonb) RETURNING id;",
            t=tenant, j=json.dumps(contacts, ensure_ascii=False))
        row = self.pg.rows(
            "INSERT INTO orders_orders (tenant_id, buyer_id, delivery_date, subtotal, taxable_8, "
            "tax_8, total, placed_by) VALUES (:'t', :'b', DATE '2026-12-24', 11431, 11431, 914, "
            "12345, 'u1') RETURNING id, number;", t=tenant, b=buyer)
        return row[0][0], row[0][1]

    def publish(self, tenant, name, payload):
        return int(self.pg.scalar(
            "INSERT INTO outbox (tenant_id, name, payload) VALUES (:'t', :'n', :'p'::jsonb) "
            "RETURNING id;", t=tenant, n=name, p=json.dumps(payload)))

    def state(self, ev):
        return self.pg.rows("SELECT state FROM outbox WHERE id = :'i';", i=str(ev))[0][0]

    def wait_delivered(self, ev, timeout=40.0):
        wait_until(lambda: self.state(ev) != "pending", timeout=timeout * harness.SCALE,
                   what=f"event {ev} handled")
        self.assertEqual(self.state(ev), "delivered", self.srv.tail())

    def test_push_retry_reuses_key_and_409_is_success(self):
        """A4: a push answered 500 is retried with the same X-Line-Retry-Key
        (one per recipient), carrying the Japanese text and the sealed
        token; a push answered 409 (LINE already has that key) counts as
        sent and is not retried."""
        srv = self.server()
        oid, number = self.order("a", [{"name": "山田", "line_user_id": U1},
                                       {"name": "佐藤", "line_user_id": U2},
                                       {"name": "bad", "line_user_id": "U1\r\nX: y"},
                                       {"name": "mail only", "email": "m@buyer.example.jp"}])
        self.rx.queue[PUSH] = [500]
        ev = self.publish("a", "order.placed", {"id": oid})
        self.wait_delivered(ev)
        got = self.rx.requests(PUSH)
        bodies = [json.loads(b) for _, b in got]
        self.assertEqual({b["to"] for b in bodies}, {U1, U2})
        self.assertEqual(len(got), 3, got)   # one failed, then each once
        keys = {}
        for h, b in got:
            keys.setdefault(json.loads(b)["to"], set()).add(h["x-line-retry-key"])
            self.assertEqual(h["authorization"], f"Bearer {TOKEN}")
        self.assertEqual({u: len(k) for u, k in keys.items()}, {U1: 1, U2: 1})
        self.assertNotEqual(keys[U1], keys[U2])
        self.assertRegex(next(iter(keys[U1])),
                         r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        text = bodies[-1]["messages"][0]["text"]
        self.assertTrue(text.startswith(f"【ご注文受付】注文番号 {number}\n"), text)
        rows = self.pg.rows("SELECT result, count(*) FROM notify_deliveries WHERE event_id = :'i' "
                            "AND channel = 'line' GROUP BY result ORDER BY result;", i=str(ev))
        self.assertEqual(dict((r, int(n)) for r, n in rows).get("sent"), 2, rows)
        srv.wait_metric("tanomu_plugin_notify_line_sent_total", lambda v: v == 2, tenant="a")
        srv.wait_metric("tanomu_plugin_notify_line_failed_total", lambda v: v == 1, tenant="a")
        # 409: already accepted -> delivered, not retried.
        n = len(self.rx.requests(PUSH))
        self.rx.queue[PUSH] = [409]
        ev2 = self.publish("a", "order.accepted", {"id": oid})
        self.wait_delivered(ev2)
        self.assertEqual(len(self.rx.requests(PUSH)) - n, 2)
        rows = self.pg.rows("SELECT result, detail FROM notify_deliveries WHERE event_id = :'i';",
                            i=str(ev2))
        self.assertEqual(sorted(r[0] for r in rows), ["sent", "sent"], rows)
        self.assertIn("HTTP 409 (already accepted)", [r[1] for r in rows])
        self.assertEqual(json_lines_mentioning(srv, TOKEN), [], "S16: the token in the logs")

    def test_tenant_without_token_pushes_nothing(self):
        """Tenant b has no channel token: its events push nothing (and a's
        token is never used for them)."""
        self.server()
        oid, _ = self.order("b", [{"name": "B", "line_user_id": U1}])
        ev = self.publish("b", "order.placed", {"id": oid})
        self.wait_delivered(ev)
        self.assertEqual(self.rx.requests(PUSH), [])


if __name__ == "__main__":
    main()
