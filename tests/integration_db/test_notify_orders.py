"""Notifications from a real order (issue 11; S8): a buyer places an
order through the orders plugin's API (POST /api/v1/orders), which
publishes order.placed in the order's transaction; the buyer's contacts
(orders_buyers.contacts) get the Japanese e-mail at the SMTP peer
(STARTTLS + AUTH), with the number the API answered.  Skipped where the
orders API is not built in (it answers 404)."""

import datetime
import os
import sys
import unittest
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_notify  # noqa: E402
from test_notify import decoded_subject, has_aiosmtpd, parse  # noqa: E402
from ordersharness import main  # noqa: E402


@unittest.skipUnless(has_aiosmtpd(), "python3-aiosmtpd missing: run scripts/deps.sh")
class NotifyOrderApiTest(test_notify.NotifyMailCase):

    def test_order_placed_through_the_api_mails_the_buyer(self):
        srv = self.notify_server()
        self.pg.psql("INSERT INTO orders_buyers (tenant_id, code, name, contacts) VALUES "
                     "('a', 'B001', '株式会社テスト商店', :'j'::jsonb);",
                     j='[{"name": "山田 太郎", "email": "yamada@buyer.example.jp"}]')
        self.pg.psql("INSERT INTO orders_products (tenant_id, code, name, unit_price, tax_rate) "
                     "VALUES ('a', 'RICE5', '米 5kg', 198, 8);")
        buyer = self.caller("a", "buyer", buyer="B001")
        day = (datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).date()
               + datetime.timedelta(days=5)).isoformat()
        r = buyer.req(srv, "POST", "/api/v1/orders",
                      {"lines": [{"product": "RICE5", "quantity": 2}], "delivery_date": day})
        if r.status == 404:
            self.skipTest("the orders API is not in this build")
        self.assertEqual(r.status, 201, f"{r}\n{srv.tail()}")
        number = r.json()["number"]
        ev = [e for e in self.pg.rows("SELECT id, name FROM outbox WHERE name = 'order.placed';")]
        self.assertEqual(len(ev), 1, ev)
        self.wait_delivered(int(ev[0][0]))
        msgs = self.peers["a"].messages()
        self.assertEqual([m["to"] for m in msgs], [["yamada@buyer.example.jp"]])
        self.assertTrue(msgs[0]["tls"])
        self.assertEqual(decoded_subject(msgs[0]), f"【ご注文受付】注文番号 {number}")
        body = parse(msgs[0]).get_content()
        self.assertIn("山田 太郎 様", body)
        self.assertIn(day, body)
        self.assertNoSecretsLogged(srv)


if __name__ == "__main__":
    main()
