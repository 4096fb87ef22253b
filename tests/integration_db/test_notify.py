"""Notifications plugin, e-mail channel (issue 11; S8, S16, S18, S21, A4).

Real peers on loopback: aiosmtpd with STARTTLS and AUTH required
(plugins/notify/tests/smtp_auth_peer.py, Debian's /usr/bin/python3) and a
CA made at test time, which the host trusts through outbound.ca_file; the
peers are reached only through outbound.allow entries.  Events are
inserted into the outbox as the orders and auth plugins write them (the
orders plugin on main does not publish yet); recipients come from
orders_buyers.contacts and auth_users.email.  The SMTP password is a
sealed setting (`tanomu secret seal`) and a canary: it must appear in no
log line.
"""

import email
import email.header
import email.policy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from ordersharness import OrdersCase, harness, host_of, main  # noqa: E402
from dbharness import json_lines_mentioning, wait_until  # noqa: E402
from test_outbound import make_ca_and_cert  # noqa: E402



def peer_script():
    return os.path.join(harness.SOURCE_DIR, "plugins", "notify", "tests", "smtp_auth_peer.py")

CANARY = {"a": "pw-canary-a-5d1e9", "b": "pw-canary-b-77c20"}


def has_aiosmtpd():
    try:
        return subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"],
                              capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


class SmtpPeer:
    """One aiosmtpd process; stop() and start() again on the same port."""

    def __init__(self, tmp, name, crt, key, user, pw):
        self.port = harness.free_port()
        self.out = os.path.join(tmp, name + ".jsonl")
        self.args = ["/usr/bin/python3", peer_script(), str(self.port), self.out, crt, key, user, pw]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise AssertionError(f"SMTP peer did not start: {line!r}")
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc.stdout.close()
            self.proc = None

    def messages(self):
        try:
            with open(self.out, encoding="utf-8") as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []


def parse(msg):
    return email.message_from_string(msg["data"], policy=email.policy.default)


def decoded_subject(m):
    raw = m["data"].split("\r\n\r\n", 1)[0]
    head = email.message_from_string(raw + "\r\n\r\n", policy=email.policy.compat32)
    return str(email.header.make_header(email.header.decode_header(head["Subject"])))


class NotifyMailCase(OrdersCase):
    """Peers and a server for e-mail tests (no tests of its own: other
    files subclass it)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tanomu-notify-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ca, crt, key = make_ca_and_cert(self.tmp)
        self.peers = {t: SmtpPeer(self.tmp, t, crt, key, f"notify-{t}", CANARY[t])
                      for t in ("a", "b")}
        for p in self.peers.values():
            self.addCleanup(p.stop)
            p.start()

    def notify_server(self, mail_events=None, tenant_settings=None, also=(), more_conf=None):
        """auth + orders + notify for tenants a and b, each with its own SMTP
        peer, user and sealed password; tenant_settings: {tenant: {key: value}}
        added to that tenant's notify settings; also: more plugins enabled
        for both with their defaults; more_conf: merged into tanomu.conf."""
        allow = [f"127.0.0.1:{p.port}" for p in self.peers.values()]
        # A failed attempt logs in a transaction of its own while the
        # delivery's is open: two connections per worker at least.
        db = {"plugin_migrations_dir": os.path.join(harness.SOURCE_DIR, "plugins"),
              "pool_size": 4}
        conf = {"secrets": {"keyring_dir": "keys"},
                "outbound": {"allow": allow, "ca_file": self.ca, "max_timeout_ms": 20000},
                "outbox": {"max_attempts": 25, "backoff_ms": 200, "sweep_ms": 200}}
        conf = harness.deep_merge(conf, more_conf or {})
        srv = self.db_server(start=False, migrate=False, plugins=("auth", "orders", "notify") + tuple(also),
                             db=db, workers=2, conf=conf)
        srv.write_conf()
        r = subprocess.run([harness.tanomu_bin(), "secret", "rotate", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        for t in ("a", "b"):
            r = subprocess.run([harness.tanomu_bin(), "secret", "seal", "-c", srv.conf_path,
                                "--tenant", t, "--plugin", "notify", "--key", "smtp_password"],
                               input=CANARY[t], capture_output=True, text=True,
                               timeout=30 * harness.SCALE)
            self.assertEqual(r.returncode, 0, r.stderr)
            sealed = r.stdout.strip()
            notify = {"enabled": True,
                      "smtp_url": f"smtp://127.0.0.1:{self.peers[t].port}/notify.test",
                      "smtp_user": f"notify-{t}", "smtp_password": sealed,
                      "mail_from": f"noreply@{t}.example.jp", "mail_from_name": f"問屋{t.upper()}"}
            if mail_events is not None:
                notify["mail_events"] = mail_events
            notify.update((tenant_settings or {}).get(t, {}))
            feats = {"auth": {"enabled": True}, "orders": {"enabled": True}, "notify": notify}
            feats.update({p: {"enabled": True} for p in also})
            srv.write_tenant(t, {"id": t, "hosts": [host_of(t)], "features": feats})
        srv.migrate()
        self.pg.psql("DELETE FROM notify_deliveries; DELETE FROM orders_lines; "
                     "DELETE FROM orders_orders; DELETE FROM orders_buyers; "
                     "DELETE FROM auth_sessions; DELETE FROM auth_users;")
        self.audit_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM audit_log;")
        self.outbox_since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM outbox;")
        self.srv = srv.start()
        return srv

    # -- data as the orders and auth plugins write it -------------------------

    def order(self, tenant, contacts, buyer_name="株式会社テスト商店", code="B001"):
        """A buyer with contacts and an order of 12,345 yen; (order id, number)."""
        buyer = self.pg.scalar(
            "INSERT INTO orders_buyers (tenant_id, code, name, contacts) "
            "VALUES (:'t', :'c', :'n', :'j'::jsonb) RETURNING id;",
            t=tenant, c=code, n=buyer_name, j=json.dumps(contacts, ensure_ascii=False))
        row = self.pg.rows(
            "INSERT INTO orders_orders (tenant_id, buyer_id, delivery_date, subtotal, taxable_8, "
            "tax_8, total, placed_by) VALUES (:'t', :'b', DATE '2026-12-24', 11431, 11431, 914, "
            "12345, 'u1') RETURNING id, number;", t=tenant, b=buyer)
        return row[0][0], row[0][1]

    def publish(self, tenant, name, payload):
        """The outbox row a plugin's db_publish writes; its id."""
        return int(self.pg.scalar(
            "INSERT INTO outbox (tenant_id, name, payload) VALUES (:'t', :'n', :'p'::jsonb) "
            "RETURNING id;", t=tenant, n=name, p=json.dumps(payload)))

    def outbox_state(self, event_id):
        return self.pg.rows("SELECT state, attempts FROM outbox WHERE id = :'i';",
                            i=str(event_id))[0]

    def wait_delivered(self, event_id, timeout=30.0):
        wait_until(lambda: self.outbox_state(event_id)[0] != "pending",
                   timeout=timeout * harness.SCALE, what=f"event {event_id} handled")
        self.assertEqual(self.outbox_state(event_id)[0], "delivered", self.srv.tail())

    def log_rows(self, event_id):
        return self.pg.rows("SELECT tenant_id, channel, recipient, result, attempts, provider_id "
                            "FROM notify_deliveries WHERE event_id = :'i' ORDER BY id;",
                            i=str(event_id))

    def assertNoSecretsLogged(self, srv):
        for pw in CANARY.values():
            self.assertEqual(json_lines_mentioning(srv, pw), [], "S16: a password in the logs")



@unittest.skipUnless(has_aiosmtpd(), "python3-aiosmtpd missing: run scripts/deps.sh")
class NotifyMailTest(NotifyMailCase):

    def test_order_placed_mails_buyer_contacts_in_japanese(self):
        """S8: order.placed -> each contact of the buyer (from the database)
        gets one message over STARTTLS with AUTH, Japanese subject and
        body; the delivery log holds masked recipients; tenant admins read
        it, staff may not."""
        srv = self.notify_server()
        oid, number = self.order("a", [{"name": "山田 太郎", "email": "yamada@buyer.example.jp"},
                                       {"name": "Sato", "email": "sato@buyer.example.jp"},
                                       {"name": "no address"}])
        ev = self.publish("a", "order.placed", {"id": oid, "number": int(number),
                                                "buyer": "B001", "status": "placed"})
        self.wait_delivered(ev)
        msgs = self.peers["a"].messages()
        self.assertEqual(sorted(m["to"][0] for m in msgs),
                         ["sato@buyer.example.jp", "yamada@buyer.example.jp"])
        for m in msgs:
            self.assertTrue(m["tls"], "sent in clear")
            self.assertEqual(m["user"], "notify-a")
            self.assertEqual(m["from"], "noreply@a.example.jp")
            self.assertEqual(decoded_subject(m), f"【ご注文受付】注文番号 {number}")
            body = parse(m).get_content()
            self.assertIn("12,345 円", body)
            self.assertIn("株式会社テスト商店", body)
            self.assertIn("2026-12-24", body)
        yamada = next(m for m in msgs if m["to"] == ["yamada@buyer.example.jp"])
        self.assertIn("山田 太郎 様", parse(yamada).get_content())
        self.assertEqual(self.peers["b"].messages(), [])
        rows = self.log_rows(ev)
        self.assertEqual(sorted((r[1], r[2], r[3]) for r in rows),
                         [("email", "s***@buyer.example.jp", "sent"),
                          ("email", "y***@buyer.example.jp", "sent")])
        ids = {r[5] for r in rows}
        self.assertEqual(ids, {parse(m)["Message-ID"] for m in msgs})
        admin = self.caller("a", "tenant_admin")
        r = admin.req(srv, "GET", "/api/v1/notify/deliveries")
        self.assertEqual(r.status, 200, r)
        got = r.json()["deliveries"]
        self.assertEqual(len(got), 2)
        self.assertTrue(all("@buyer.example.jp" in d["recipient"] and "***" in d["recipient"]
                            for d in got), got)
        self.assertEqual(self.caller("b", "tenant_admin").req(srv, "GET",
                         "/api/v1/notify/deliveries").json()["deliveries"], [])
        self.assertEqual(self.caller("a", "staff").req(srv, "GET",
                         "/api/v1/notify/deliveries").status, 403)
        self.assertNoSecretsLogged(srv)

    def test_header_injection_produces_no_extra_header(self):
        """Names, the buyer's name and addresses with CR/LF: the address is
        refused before libcurl (logged 'refused'), the other message has
        exactly the fixed headers and a single recipient."""
        self.notify_server()
        evil = "Eve\r\nBcc: spy@evil.example.jp\r\nX-Injected: 1"
        oid, number = self.order("a", [
            {"name": evil, "email": "good@buyer.example.jp"},
            {"name": "x", "email": "bad@buyer.example.jp\r\nRCPT TO:<spy@evil.example.jp>"},
            {"name": "y", "email": "Spy <spy@evil.example.jp>"}],
            buyer_name="商店\r\nBcc: spy@evil.example.jp")
        ev = self.publish("a", "order.placed", {"id": oid})
        self.wait_delivered(ev)
        msgs = self.peers["a"].messages()
        self.assertEqual([m["to"] for m in msgs], [["good@buyer.example.jp"]])
        m = parse(msgs[0])
        self.assertEqual(sorted(m.keys()), sorted([
            "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type",
            "Content-Transfer-Encoding", "Auto-Submitted"]))
        self.assertNotIn("spy@evil", msgs[0]["data"].split("\r\n\r\n", 1)[0])
        self.assertEqual(sorted(r[3] for r in self.log_rows(ev)), ["refused", "refused", "sent"])

    def test_peer_down_retries_then_delivered_once(self):
        """A4: the SMTP peer is down: the delivery fails (logged, the outbox
        retries with backoff); when the peer is back the message arrives
        once, and the event is delivered."""
        self.notify_server()
        self.peers["a"].stop()
        oid, _ = self.order("a", [{"name": "A", "email": "a1@buyer.example.jp"}])
        ev = self.publish("a", "order.accepted", {"id": oid})
        wait_until(lambda: any(r[3] == "failed" for r in self.log_rows(ev)),
                   timeout=30 * harness.SCALE, what="a failed attempt logged")
        self.assertEqual(self.outbox_state(ev)[0], "pending")
        self.peers["a"].start()
        self.wait_delivered(ev, timeout=60.0)
        msgs = self.peers["a"].messages()
        self.assertEqual(len(msgs), 1, msgs)
        self.assertTrue(decoded_subject(msgs[0]).startswith("【ご注文確定】"))
        results = [r[3] for r in self.log_rows(ev)]
        self.assertEqual(results.count("sent"), 1, results)
        self.assertGreaterEqual(int(self.outbox_state(ev)[1]), 2)
        self.srv.wait_metric("tanomu_plugin_notify_email_sent_total", lambda v: v == 1,
                             tenant="a")
        self.srv.wait_metric("tanomu_plugin_notify_email_failed_total", lambda v: v >= 1,
                             tenant="a")

    def test_tenant_settings_never_used_for_another_tenant(self):
        """S21: b's event goes through b's server, user and password only;
        a's through a's; an event of b naming a's order finds nothing."""
        self.notify_server()
        oa, na = self.order("a", [{"name": "A", "email": "a@buyer.example.jp"}])
        ob, nb = self.order("b", [{"name": "B", "email": "b@buyer.example.jp"}], code="B002")
        e1 = self.publish("b", "order.shipped", {"id": ob})
        e2 = self.publish("a", "order.shipped", {"id": oa})
        e3 = self.publish("b", "order.shipped", {"id": oa})   # a's order in b's event
        for e in (e1, e2, e3):
            self.wait_delivered(e)
        a, b = self.peers["a"].messages(), self.peers["b"].messages()
        self.assertEqual([(m["to"], m["user"], m["from"]) for m in a],
                         [(["a@buyer.example.jp"], "notify-a", "noreply@a.example.jp")])
        self.assertEqual([(m["to"], m["user"], m["from"]) for m in b],
                         [(["b@buyer.example.jp"], "notify-b", "noreply@b.example.jp")])
        self.assertEqual(self.log_rows(e3), [])

    def test_tenant_template_override(self):
        """A tenant admin's own wording (re-authenticated, audited) is what
        the buyer receives, rendered with the same escaping; the preview
        shows it; a subject with CR/LF or an event without a template is
        refused; DELETE goes back to the shipped default."""
        srv = self.notify_server()
        admin = self.caller("a", "tenant_admin")
        path = "/api/v1/notify/templates/order.placed/ja"
        tpl = {"subject": "ご注文 {{order_number}} ありがとうございます（{{buyer_name}}）",
               "body": "{{contact_name}} 様\n合計 {{total}} 円\n"}
        r = admin.req(srv, "PUT", path, tpl)
        self.assertEqual(r.status, 200, r)
        for bad, code in ((dict(tpl, subject="a\r\nBcc: x@evil.example.jp"), 400),
                          (dict(tpl, body=""), 400)):
            self.assertEqual(admin.req(srv, "PUT", path, bad).status, code, bad)
        self.assertEqual(admin.req(srv, "PUT", "/api/v1/notify/templates/no.such/ja",
                                   tpl).status, 404)
        stale = self.caller("a", "tenant_admin")
        self.age_auth(stale, 400)
        self.assertEqual(stale.req(srv, "PUT", path, tpl).status, 401)
        r = admin.req(srv, "GET", "/api/v1/notify/preview?event=order.placed&lang=ja")
        self.assertEqual((r.json()["source"], r.json()["subject"]),
                         ("tenant", "ご注文 1001 ありがとうございます（株式会社サンプル商店）"))
        oid, number = self.order("a", [{"name": "山田", "email": "y@buyer.example.jp"}],
                                 buyer_name="商店\r\nBcc: spy@evil.example.jp")
        ev = self.publish("a", "order.placed", {"id": oid})
        self.wait_delivered(ev)
        msgs = self.peers["a"].messages()
        self.assertEqual(decoded_subject(msgs[0]),
                         f"ご注文 {number} ありがとうございます（商店 Bcc: spy@evil.example.jp）")
        self.assertEqual(parse(msgs[0]).get_content(), "山田 様\r\n合計 12,345 円\r\n")
        self.assertNotIn("Bcc", msgs[0]["data"].split("\r\n\r\n", 1)[0])
        # b has no template of its own: a's is never used for b.
        ob, nb = self.order("b", [{"name": "B", "email": "b@buyer.example.jp"}], code="B9")
        eb = self.publish("b", "order.placed", {"id": ob})
        self.wait_delivered(eb)
        self.assertEqual(decoded_subject(self.peers["b"].messages()[0]),
                         f"【ご注文受付】注文番号 {nb}")
        self.assertEqual(admin.req(srv, "DELETE", path).status, 204)
        self.assertEqual(admin.req(srv, "DELETE", path).status, 404)
        r = admin.req(srv, "GET", "/api/v1/notify/preview?event=order.placed&lang=ja")
        self.assertEqual(r.json()["source"], "default")
        self.assertEqual([a["action"] for a in self.audit() if a["action"].startswith("notify.")],
                         ["notify.template_set", "notify.template_reset"])

    def test_announcement_fans_out_to_active_buyers(self):
        """announcement.published -> one durable event per active buyer with
        contacts (in the delivery's transaction: once), each mailed to that
        buyer's contacts; inactive buyers and buyers without contacts get
        nothing; a staff-only announcement goes to no buyer."""
        self.notify_server()
        self.order("a", [{"name": "山田", "email": "y@one.example.jp"},
                         {"name": "Ito", "email": "i@one.example.jp"}], code="B1")
        self.order("a", [{"name": "Old", "email": "old@two.example.jp"}], code="B2")
        self.order("a", [], code="B3")
        self.pg.psql("UPDATE orders_buyers SET active = false WHERE code = 'B2';")
        ann = {}
        for audience in ("all", "staff"):
            ann[audience] = self.pg.scalar(
                "INSERT INTO orders_announcements (tenant_id, audience, title, body, display_from, "
                "display_until, created_by) VALUES ('a', :'au', 'システムメンテナンスのお知らせ', "
                "'12月24日 2時から停止します。', now(), now() + interval '1 day', 'u1') "
                "RETURNING id;", au=audience)
        evs = [self.publish("a", "announcement.published", {"id": ann[k]}) for k in ann]
        for ev in evs:
            self.wait_delivered(ev)
        fan = self.pg.rows("SELECT id FROM outbox WHERE name = 'notify.announcement_mail';")
        self.assertEqual(len(fan), 1, fan)
        self.wait_delivered(int(fan[0][0]))
        msgs = self.peers["a"].messages()
        self.assertEqual(sorted(m["to"][0] for m in msgs), ["i@one.example.jp",
                                                            "y@one.example.jp"])
        self.assertEqual(decoded_subject(msgs[0]), "【お知らせ】システムメンテナンスのお知らせ")
        self.assertIn("12月24日 2時から停止します。", parse(msgs[0]).get_content())

    def test_account_event_mails_registered_address(self):
        """security.important_operation -> the account's own address
        (auth_users.email), Japanese subject; the English setting and an
        event left out of mail_events are honoured."""
        self.notify_server()
        uid = self.pg.scalar(
            "INSERT INTO auth_users (tenant_id, login, roles, password_hash, email) VALUES "
            "('a', 'alice', '{staff}', :'h', 'alice@shop.example.jp') RETURNING id;",
            h="$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43)
        ev = self.publish("a", "security.important_operation",
                          {"user_id": uid, "operation": "password_change",
                           "client_addr": "192.0.2.1"})
        self.wait_delivered(ev)
        msgs = self.peers["a"].messages()
        self.assertEqual([m["to"] for m in msgs], [["alice@shop.example.jp"]])
        self.assertEqual(decoded_subject(msgs[0]), "【重要】アカウントで重要な操作が行われました")
        self.assertIn("password_change", parse(msgs[0]).get_content())


if __name__ == "__main__":
    main()
