"""waf.alert to the tenant's security contacts (issue 11; S8).

The event is inserted into the outbox with the payload plugins/waf makes
(docs/waf.md "The waf.alert event"): the notifications plugin e-mails each
of the tenant's enabled tenant_admin accounts with an address
(auth_users), never staff, buyers, disabled admins or another tenant's
admins, whatever the payload says; the body summarises rule IDs, families,
counts and the time window, and no request value reaches it.
"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_notify  # noqa: E402
from test_notify import decoded_subject, has_aiosmtpd, parse  # noqa: E402
from ordersharness import harness, main  # noqa: E402

HASH = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43
# A value an attacker sent: it must never be in a message (the WAF does not
# publish it; a payload that carried it anyway is not copied).
ATTACK = "' OR 1=1 -- canary-7f3a"


@unittest.skipUnless(has_aiosmtpd(), "python3-aiosmtpd missing: run scripts/deps.sh")
class NotifyWafAlertTest(test_notify.NotifyMailCase):

    def user(self, tenant, login, roles, email, disabled=False, buyer=None):
        self.pg.psql("INSERT INTO auth_users (tenant_id, login, roles, password_hash, email, "
                     "disabled, buyer_id) VALUES (:'t', :'l', :'r'::text[], :'h', "
                     "NULLIF(:'e', ''), :'d'::boolean, NULLIF(:'b', ''));",
                     t=tenant, l=login, r="{" + ",".join(roles) + "}", h=HASH, e=email or "",
                     d="true" if disabled else "false", b=buyer or "")

    def alert(self, event_tenant, **extra):
        """The outbox row plugins/waf's payload makes for event_tenant; extra
        replaces or adds payload fields."""
        payload = {"tenant": event_tenant, "interval_s": 60, "blocked": 12, "detected": 1,
                   "rules": [{"id": 942100, "count": 9}, {"id": 941100, "count": 3},
                             {"id": 942190, "count": 2}],
                   "other_rule_hits": 4}
        payload.update(extra)
        return self.publish(event_tenant, "waf.alert", payload)

    def test_waf_alert_mails_enabled_tenant_admins_only(self):
        """S8: recipients from auth_users only: enabled tenant admins with an
        address; not staff, buyers, disabled admins, nor tenant b's admin;
        one message each, Japanese, rule IDs and families, no request value."""
        srv = self.notify_server()
        self.user("a", "admin1", ["tenant_admin"], "admin1@shop-a.example.jp")
        self.user("a", "admin2", ["tenant_admin", "staff"], "admin2@shop-a.example.jp")
        self.user("a", "noaddr", ["tenant_admin"], None)
        self.user("a", "gone", ["tenant_admin"], "gone@shop-a.example.jp", disabled=True)
        self.user("a", "staff1", ["staff"], "staff1@shop-a.example.jp")
        self.user("a", "buyer1", ["buyer"], "buyer1@buyer.example.jp", buyer="B001")
        self.user("b", "adminb", ["tenant_admin"], "adminb@shop-b.example.jp")
        # The payload names tenant b and carries a matched value: neither is used.
        ev = self.alert("a", tenant="b", matched=ATTACK,
                        rules=[{"id": 942100, "count": 9, "value": ATTACK},
                               {"id": 941100, "count": 3}, {"id": 942190, "count": 2},
                               {"id": ATTACK, "count": 1}])
        self.wait_delivered(ev)
        msgs = self.peers["a"].messages()
        self.assertEqual(sorted(m["to"][0] for m in msgs),
                         ["admin1@shop-a.example.jp", "admin2@shop-a.example.jp"])
        self.assertEqual(self.peers["b"].messages(), [], "another tenant's admins got it")
        for m in msgs:
            self.assertEqual(decoded_subject(m),
                             "【セキュリティ警告】WAF が攻撃とみられる通信を検知しました（遮断 12 件）")
            body = parse(m).get_content()
            for want in ("942100 (sqli): 9", "941100 (xss): 3", "942190 (sqli): 2",
                         "sqli: 11", "xss: 3", "遮断: 12 件", "検知のみ（遮断なし）: 1 件",
                         "その他のルール: 4 件", "60 秒ごと"):
                self.assertIn(want, body)
            self.assertRegex(body, r"期間: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 〜 "
                                   r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d（UTC")
            self.assertNotIn("canary-7f3a", m["data"])
            self.assertNotIn("canary-7f3a", body)
            self.assertNotIn("OR 1=1", body)
        rows = self.log_rows(ev)
        self.assertEqual(sorted((r[1], r[2], r[3]) for r in rows),
                         [("email", "a***@shop-a.example.jp", "sent")] * 2)
        self.assertNoSecretsLogged(srv)

    def test_a_blocked_request_reaches_the_tenant_admins_by_mail_S17(self):
        """S17 end to end: the WAF blocks a request, publishes waf.alert
        through the outbox, and the tenant's admin gets the e-mail; the
        request's value is in no message."""
        rules = os.path.join(harness.SOURCE_DIR, "plugins", "waf", "testdata")
        self.notify_server(also=("waf", "echo"),
                           more_conf={"plugins": {"waf": {"rules_dir": rules}}})
        self.user("a", "admin1", ["tenant_admin"], "admin1@shop-a.example.jp")
        q = "/search?q=" + urllib.parse.quote("1' UNION SELECT name FROM users-- canary-7f3a")
        r = self.srv.req("a", "GET", q)
        self.assertEqual(r.status, 403, f"{r}\n{self.srv.tail()}")
        # Committed in a transaction of its own, after the answer.
        ev = harness.wait_until(lambda: int(self.pg.scalar(
            "SELECT coalesce(max(id), 0) FROM outbox WHERE tenant_id = 'a' "
            "AND name = 'waf.alert' AND id > :'s';", s=str(self.outbox_since))),
            20.0, interval=0.2, what="waf.alert in the outbox")
        self.wait_delivered(ev)
        msgs = self.peers["a"].messages()
        self.assertEqual([m["to"][0] for m in msgs], ["admin1@shop-a.example.jp"])
        body = parse(msgs[0]).get_content()
        self.assertIn("sqli", body)
        self.assertNotIn("canary-7f3a", msgs[0]["data"])
        self.assertNotIn("UNION", body)
        self.assertEqual(self.peers["b"].messages(), [])

    def test_waf_alert_english_and_opt_out(self):
        """The tenant's language is honoured (b: English); a tenant whose
        mail_events leave waf.alert out (a) sends nothing, and its event is
        still delivered."""
        self.notify_server(tenant_settings={"a": {"mail_events": "order.placed"},
                                            "b": {"language": "en"}})
        self.user("a", "admin1", ["tenant_admin"], "admin1@shop-a.example.jp")
        self.user("b", "adminb", ["tenant_admin"], "adminb@shop-b.example.jp")
        ev_a, ev_b = self.alert("a"), self.alert("b")
        self.wait_delivered(ev_a)
        self.wait_delivered(ev_b)
        self.assertEqual(self.peers["a"].messages(), [])
        self.assertEqual(self.log_rows(ev_a), [])
        msgs = self.peers["b"].messages()
        self.assertEqual([m["to"] for m in msgs], [["adminb@shop-b.example.jp"]])
        self.assertEqual(decoded_subject(msgs[0]),
                         "Security alert: the WAF stopped 12 suspicious requests")
        body = parse(msgs[0]).get_content()
        for want in ("942100 (sqli): 9", "sqli: 11", "Blocked: 12", "Other rules: 4"):
            self.assertIn(want, body)

    def test_waf_alert_without_contacts_is_delivered_silently(self):
        """No enabled admin with an address: nothing sent, the event done."""
        self.notify_server()
        self.user("a", "staff1", ["staff"], "staff1@shop-a.example.jp")
        ev = self.alert("a")
        self.wait_delivered(ev)
        self.assertEqual(self.peers["a"].messages(), [])


if __name__ == "__main__":
    main()
