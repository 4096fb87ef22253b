"""Orders through the real server (plugins/orders/orders_api.c, issue 9):
placing with server-computed prices, per-rate tax and totals; the
delivery-date window; Idempotency-Key under concurrent retries; every
status change, valid and not, with If-Match, audit rows and outbox
events; and every forbidden access (S11, S19, S21: another buyer's or
tenant's order is not found, a buyer cannot do staff's transitions).

Master data is written here as the database superuser."""

import datetime
import json
import os
import sys
import threading
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ordersharness import OrdersCase, main  # noqa: E402

JST = zoneinfo.ZoneInfo("Asia/Tokyo")

# code, name, unit price, tax rate, active, stock
PRODUCTS = [
    ("RICE5", "米 5kg", 198, 8, True, "in_stock"),
    ("SOY", "醤油", 55, 8, True, "low"),
    ("PAN", "フライパン", 1234, 10, True, "in_stock"),
    ("CLOTH", "布巾", 99, 10, True, "in_stock"),
    ("A109", "皿A", 109, 10, True, "in_stock"),
    ("B109", "皿B", 109, 10, True, "in_stock"),
    ("C109", "皿C", 109, 10, True, "in_stock"),
    ("OLD", "旧製品", 500, 10, False, "in_stock"),
    ("GONE", "品切れ", 500, 10, True, "out_of_stock"),
]


def day(n):
    """Today in JST plus n days, as YYYY-MM-DD."""
    return (datetime.datetime.now(JST).date() + datetime.timedelta(days=n)).isoformat()


class OrdersApiTest(OrdersCase):
    def start(self, **kw):
        srv = self.orders_server(**kw)
        for t in ("a", "b"):
            for b in ("B001", "B002"):
                self.pg.psql("INSERT INTO orders_buyers (tenant_id, code, name) "
                             "VALUES (:'t', :'c', :'n');", t=t, c=b, n=f"店 {b}")
            for code, name, price, rate, active, stock in PRODUCTS:
                self.pg.psql("INSERT INTO orders_products (tenant_id, code, name, unit_price, "
                             "tax_rate, active, stock_status) VALUES (:'t', :'c', :'n', "
                             ":'p'::bigint, :'r'::smallint, :'a'::boolean, :'s');",
                             t=t, c=code, n=name, p=str(price), r=str(rate),
                             a="true" if active else "false", s=stock)
        # B001 of tenant a has its own price of PAN.
        self.pg.psql("INSERT INTO orders_prices (tenant_id, buyer_id, product_id, unit_price) "
                     "SELECT 'a', b.id, p.id, 1000 FROM orders_buyers b, orders_products p "
                     "WHERE b.tenant_id = 'a' AND b.code = 'B001' AND p.tenant_id = 'a' "
                     "AND p.code = 'PAN';")
        return srv

    def place(self, srv, who, lines, delivery=None, extra=None, headers=None, want=201):
        body = {"lines": [{"product": c, "quantity": q} for c, q in lines],
                "delivery_date": delivery or day(5)}
        body.update(extra or {})
        r = who.req(srv, "POST", "/api/v1/orders", body, headers=headers)
        if want is not None:
            self.assertEqual(r.status, want, f"{r}\n{srv.tail()}")
        return r

    def orders_count(self):
        return int(self.pg.scalar("SELECT count(*) FROM orders_orders;"))

    def move(self, srv, who, oid, action, etag, body=None, want=200):
        h = {"If-Match": etag} if etag else {}
        r = who.req(srv, "POST", f"/api/v1/orders/{oid}/{action}",
                    body if body is not None else "", headers=h)
        if want is not None:
            self.assertEqual(r.status, want, f"{action}: {r}\n{srv.tail()}")
        return r

    # -- placing ------------------------------------------------------------

    def test_server_computes_prices_tax_per_rate_and_totals(self):
        srv = self.start()
        buyer = self.caller("a", "buyer", buyer="B001")
        r = self.place(srv, buyer, [("RICE5", 3), ("PAN", 2), ("SOY", 7), ("CLOTH", 1)],
                       extra={"note": "午前中にお願いします"})
        o = r.json()
        self.assertEqual(r.get("ETag"), '"v1"')
        self.assertEqual(r.get("Location"), f"/api/v1/orders/{o['id']}")
        self.assertEqual(o["status"], "placed")
        self.assertEqual(o["buyer"], "B001")
        self.assertEqual(o["note"], "午前中にお願いします")
        # PAN at B001's own price 1000, not the list price 1234.
        self.assertEqual([(l["product"], l["unit_price"], l["tax_rate"], l["amount"])
                          for l in o["lines"]],
                         [("RICE5", 198, 8, 594), ("PAN", 1000, 10, 2000),
                          ("SOY", 55, 8, 385), ("CLOTH", 99, 10, 99)])
        # 8%: 979 -> floor(78.32) = 78; 10%: 2,099 -> floor(209.9) = 209.
        self.assertEqual(o["totals"], {"subtotal": 3078, "taxable_8": 979, "taxable_10": 2099,
                                       "tax_8": 78, "tax_10": 209, "total": 3365})
        # Staff places for B002, which pays list prices.  Three 109-yen
        # lines: per line 10 + 10 + 10 = 30, on the total floor(32.7) = 32.
        staff = self.caller("a", "staff")
        r = self.place(srv, staff, [("A109", 1), ("B109", 1), ("C109", 1)],
                       extra={"buyer": "B002"})
        self.assertEqual(r.json()["buyer"], "B002")
        self.assertEqual(r.json()["totals"]["tax_10"], 32)
        self.assertEqual(r.json()["totals"]["total"], 359)
        self.assertGreater(r.json()["number"], o["number"])
        ev = self.events("order.placed")
        self.assertEqual(len(ev), 2)
        self.assertEqual(ev[0][1], "a")
        self.assertEqual(ev[0][2]["id"], o["id"])
        self.assertEqual(ev[0][2]["buyer"], "B001")
        self.assertEqual(ev[0][2]["totals"]["total"], 3365)
        self.assertEqual([a["target_id"] for a in self.audit("orders.order.place")],
                         [o["id"], r.json()["id"]])
        self.assertEqual(self.audit("orders.order.place")[0]["user"], buyer.user_id)

    def test_client_cannot_set_prices_or_totals(self):
        srv = self.start()
        buyer = self.caller("a", "buyer", buyer="B001")
        r = self.place(srv, buyer, [("RICE5", 1)], extra={"total": 1}, want=400)
        self.assertEqual(r.json()["error"]["code"], "unknown_field")
        self.assertIn("total", r.json()["error"]["fields"])
        body = {"lines": [{"product": "RICE5", "quantity": 1, "unit_price": 1}],
                "delivery_date": day(5)}
        r = buyer.req(srv, "POST", "/api/v1/orders", body)
        self.assertEqual(r.status, 400, f"{r}")
        self.assertIn("lines[0].unit_price", r.json()["error"]["fields"])
        self.assertEqual(self.orders_count(), 0)

    def test_refused_orders_name_their_fields_and_write_nothing(self):
        srv = self.start(features={"order_max_lines": 3, "cutoff_time": "23:59"})
        buyer = self.caller("a", "buyer", buyer="B001")
        staff = self.caller("a", "staff")
        cases = [
            ([("NOPE", 1)], None, "lines[0].product"),
            ([("RICE5", 1), ("OLD", 1)], None, "lines[1].product"),
            ([("GONE", 1)], None, "lines[0].product"),
            ([("RICE5", 1), ("RICE5", 2)], None, "lines[1].product"),
            ([("RICE5", 0)], None, "lines[0].quantity"),
            ([("RICE5", 1000001)], None, "lines[0].quantity"),
            ([], None, "lines"),
            ([("RICE5", 1), ("SOY", 1), ("PAN", 1), ("CLOTH", 1)], None, "lines"),
            ([("RICE5", 1)], day(61), "delivery_date"),
            ([("RICE5", 1)], "2026-02-30", "delivery_date"),
        ]
        for lines, delivery, field in cases:
            r = self.place(srv, buyer, lines, delivery=delivery, want=None)
            self.assertEqual(r.status, 422, f"{lines} {delivery}: {r}")
            self.assertIn(field, r.json()["error"]["fields"], f"{lines}: {r}")
        # Today is before the earliest date (lead 1): the error names it.
        before = day(1)
        r = self.place(srv, buyer, [("RICE5", 1)], delivery=day(0), want=422)
        msg = r.json()["error"]["fields"]["delivery_date"]
        self.assertTrue(before in msg or day(1) in msg or day(2) in msg, msg)
        # Staff must name the buyer; a buyer cannot order for another.
        r = self.place(srv, staff, [("RICE5", 1)], want=422)
        self.assertIn("buyer", r.json()["error"]["fields"])
        r = self.place(srv, staff, [("RICE5", 1)], extra={"buyer": "B999"}, want=422)
        self.assertIn("buyer", r.json()["error"]["fields"])
        self.place(srv, buyer, [("RICE5", 1)], extra={"buyer": "B002"}, want=403)
        r = buyer.req(srv, "POST", "/api/v1/orders", "[1]")
        self.assertEqual(r.status, 400)
        self.assertEqual(self.orders_count(), 0)
        self.assertEqual(self.events("order.placed"), [])

    # -- Idempotency-Key ------------------------------------------------------

    def test_same_key_same_body_returns_the_same_order(self):
        srv = self.start()
        buyer = self.caller("a", "buyer", buyer="B001")
        h = {"Idempotency-Key": "k-1"}
        r1 = self.place(srv, buyer, [("RICE5", 2)], headers=h, want=201)
        r2 = self.place(srv, buyer, [("RICE5", 2)], headers=h, want=200)
        self.assertEqual(r1.json(), r2.json())
        self.assertEqual(self.orders_count(), 1)
        # The same key with another body is refused, and writes nothing.
        r3 = self.place(srv, buyer, [("RICE5", 3)], headers=h, want=422)
        self.assertEqual(r3.json()["error"]["code"], "idempotency_key_reused")
        self.assertEqual(self.orders_count(), 1)
        # A retry finds its order even when the rules would now refuse the
        # body (the product went out of stock since).
        self.pg.psql("UPDATE orders_products SET stock_status = 'out_of_stock' "
                     "WHERE code = 'RICE5';")
        r4 = self.place(srv, buyer, [("RICE5", 2)], headers=h, want=200)
        self.assertEqual(r4.json()["id"], r1.json()["id"])
        self.place(srv, buyer, [("RICE5", 2)], headers={"Idempotency-Key": "k-new"}, want=422)
        self.pg.psql("UPDATE orders_products SET stock_status = 'in_stock' WHERE code = 'RICE5';")
        # Key order and spacing of the body do not matter.
        raw = '{ "delivery_date": "%s",  "lines": [{"quantity": 2, "product": "RICE5"}]}' % day(5)
        r5 = buyer.req(srv, "POST", "/api/v1/orders", raw,
                       headers={**h, "Content-Type": "application/json"})
        self.assertEqual((r5.status, r5.json()["id"]), (200, r1.json()["id"]), f"{r5}")
        # Another key is another order; a bad key is refused.
        self.place(srv, buyer, [("RICE5", 2)], headers={"Idempotency-Key": "k-2"}, want=201)
        self.place(srv, buyer, [("RICE5", 2)], headers={"Idempotency-Key": "x" * 256},
                   want=400)
        self.assertEqual(self.orders_count(), 2)
        self.assertEqual(len(self.events("order.placed")), 2)

    def test_concurrent_retries_with_one_key_make_one_order(self):
        srv = self.start(workers=2)
        buyer = self.caller("a", "buyer", buyer="B001")
        for attempt in range(3):
            key = f"retry-{attempt}"
            results = []
            gate = threading.Barrier(8)

            def send():
                gate.wait()
                results.append(self.place(srv, buyer, [("RICE5", 1), ("PAN", 2)],
                                          headers={"Idempotency-Key": key}, want=None))

            threads = [threading.Thread(target=send) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(len(results), 8)
            for r in results:
                self.assertIn(r.status, (200, 201), f"{r}\n{srv.tail()}")
            self.assertEqual(len({r.json()["id"] for r in results}), 1)
            self.assertEqual(sum(r.status == 201 for r in results), 1)
            n = self.pg.scalar("SELECT count(*) FROM orders_orders WHERE idempotency_key = :'k';",
                               k=key)
            self.assertEqual(n, "1")
        self.assertEqual(len(self.events("order.placed")), 3)

    # -- status changes -----------------------------------------------------

    def test_accept_ship_partially_then_fully(self):
        srv = self.start()
        buyer = self.caller("a", "buyer", buyer="B001")
        staff = self.caller("a", "staff")
        o = self.place(srv, buyer, [("RICE5", 3), ("PAN", 2)]).json()
        oid = o["id"]
        self.move(srv, staff, oid, "accept", None, want=428)
        self.move(srv, staff, oid, "accept", '"v7"', want=412)
        self.move(srv, staff, oid, "ship", '"v1"', want=409)  # not accepted yet
        r = self.move(srv, staff, oid, "accept", '"v1"')
        self.assertEqual(r.json()["status"], "accepted")
        self.assertEqual(r.get("ETag"), '"v2"')
        r = self.move(srv, staff, oid, "accept", '"v2"', want=409)
        self.assertEqual(r.json()["error"]["code"], "invalid_transition")
        self.assertEqual(r.json()["error"]["status"], "accepted")
        # More than ordered, an unknown line, a line twice: 422.
        for lines in ([{"line_no": 1, "quantity": 4}], [{"line_no": 3, "quantity": 1}],
                      [{"line_no": 1, "quantity": 1}, {"line_no": 1, "quantity": 1}],
                      [{"line_no": 1, "quantity": 0}]):
            self.move(srv, staff, oid, "ship", '"v2"', {"lines": lines}, want=422)
        r = self.move(srv, staff, oid, "ship", '"v2"', {"lines": [{"line_no": 1, "quantity": 2}]})
        self.assertEqual(r.json()["status"], "partially_shipped")
        self.assertEqual([l["shipped_quantity"] for l in r.json()["lines"]], [2, 0])
        self.move(srv, staff, oid, "cancel", '"v3"', {"reason": "x"}, want=409)
        r = self.move(srv, staff, oid, "ship", '"v3"')  # everything remaining
        self.assertEqual(r.json()["status"], "shipped")
        self.assertEqual([l["shipped_quantity"] for l in r.json()["lines"]], [3, 2])
        self.assertIsNotNone(r.json()["shipped_at"])
        self.move(srv, staff, oid, "ship", '"v4"', want=409)
        self.move(srv, staff, oid, "cancel", '"v4"', {"reason": "x"}, want=409)
        shipped = self.events("order.shipped")
        self.assertEqual([e[2]["status"] for e in shipped], ["partially_shipped", "shipped"])
        self.assertEqual(shipped[0][2]["shipped_lines"],
                         [{"line_no": 1, "product": "RICE5", "quantity": 2}])
        self.assertEqual(shipped[1][2]["shipped_lines"],
                         [{"line_no": 1, "product": "RICE5", "quantity": 1},
                          {"line_no": 2, "product": "PAN", "quantity": 2}])
        self.assertEqual(len(self.events("order.accepted")), 1)
        self.assertEqual(self.events("order.accepted")[0][2]["number"], o["number"])
        self.assertEqual([a["action"] for a in self.audit() if a["action"].startswith("orders.")],
                         ["orders.order.place", "orders.order.accept", "orders.order.ship",
                          "orders.order.ship"])

    def test_cancel_rules(self):
        srv = self.start()
        buyer = self.caller("a", "buyer", buyer="B001")
        staff = self.caller("a", "staff")
        # A buyer cancels its own placed order (a reason is optional).
        o1 = self.place(srv, buyer, [("RICE5", 1)]).json()
        r = self.move(srv, buyer, o1["id"], "cancel", '"v1"')
        self.assertEqual(r.json()["status"], "cancelled")
        self.move(srv, staff, o1["id"], "accept", '"v2"', want=409)
        self.move(srv, buyer, o1["id"], "cancel", '"v2"', want=409)
        # Not once accepted; staff may, with a reason.
        o2 = self.place(srv, buyer, [("RICE5", 1)]).json()
        self.move(srv, staff, o2["id"], "accept", '"v1"')
        r = self.move(srv, buyer, o2["id"], "cancel", '"v2"', want=409)
        self.assertEqual(r.json()["error"]["status"], "accepted")
        r = self.move(srv, staff, o2["id"], "cancel", '"v2"', {}, want=422)
        self.assertIn("reason", r.json()["error"]["fields"])
        r = self.move(srv, staff, o2["id"], "cancel", '"v2"', {"reason": "在庫切れ"})
        self.assertEqual(r.json()["cancel_reason"], "在庫切れ")
        ev = self.events("order.cancelled")
        self.assertEqual([(e[2]["id"], e[2]["status"]) for e in ev],
                         [(o1["id"], "cancelled"), (o2["id"], "cancelled")])
        self.assertEqual(len(self.audit("orders.order.cancel")), 2)

    # -- who may see and move what (S11, S19, S21) ----------------------------

    def test_forbidden_access_S11_S19_S21(self):
        srv = self.start()
        b1 = self.caller("a", "buyer", buyer="B001")
        b2 = self.caller("a", "buyer", buyer="B002")
        staff = self.caller("a", "staff")
        other = self.caller("b", "staff")
        nobody = self.caller("a", "buyer")  # a buyer without its buyer
        o = self.place(srv, b1, [("RICE5", 1)]).json()
        oid = o["id"]
        # Another buyer: not found, neither read nor cancelled, not listed.
        self.assertEqual(b2.req(srv, "GET", f"/api/v1/orders/{oid}").status, 404)
        self.move(srv, b2, oid, "cancel", '"v1"', want=404)
        self.assertEqual(b2.req(srv, "GET", "/api/v1/orders").json()["items"], [])
        r = b2.req(srv, "GET", "/api/v1/orders?buyer=B001")
        self.assertEqual(r.json()["items"], [])
        # A buyer never does staff's transitions, even on its own order.
        self.move(srv, b1, oid, "accept", '"v1"', want=403)
        self.move(srv, b1, oid, "ship", '"v1"', want=403)
        # Another tenant's staff sees nothing (S21).
        self.assertEqual(other.req(srv, "GET", f"/api/v1/orders/{oid}").status, 404)
        self.assertEqual(other.req(srv, "GET", "/api/v1/orders").json()["items"], [])
        self.move(srv, other, oid, "accept", '"v1"', want=404)
        self.move(srv, other, oid, "cancel", '"v1"', {"reason": "x"}, want=404)
        # A buyer without its buyer attribute: 403; a malformed id: 404.
        self.assertEqual(nobody.req(srv, "GET", "/api/v1/orders").status, 403)
        self.place(srv, nobody, [("RICE5", 1)], extra={"buyer": "B001"}, want=403)
        self.assertEqual(staff.req(srv, "GET", "/api/v1/orders/not-a-uuid").status, 404)
        # Nothing moved, and the owner and staff still see it.
        r = b1.req(srv, "GET", f"/api/v1/orders/{oid}")
        self.assertEqual((r.status, r.json()["status"], r.get("ETag")), (200, "placed", '"v1"'))
        self.assertEqual(staff.req(srv, "GET", f"/api/v1/orders/{oid}").status, 200)
        self.assertEqual(self.events("order.accepted") + self.events("order.cancelled"), [])

    def test_list_newest_first_with_filters_and_cursor(self):
        srv = self.start()
        b1 = self.caller("a", "buyer", buyer="B001")
        b2 = self.caller("a", "buyer", buyer="B002")
        staff = self.caller("a", "staff")
        ids = [self.place(srv, b1, [("RICE5", 1)]).json()["id"] for _ in range(3)]
        ids.append(self.place(srv, b2, [("SOY", 1)]).json()["id"])
        self.move(srv, staff, ids[0], "accept", '"v1"')
        r = staff.req(srv, "GET", "/api/v1/orders?limit=3")
        self.assertEqual(r.status, 200, f"{r}")
        page = r.json()
        self.assertEqual([i["id"] for i in page["items"]], ids[::-1][:3])
        self.assertIsNotNone(page["next_cursor"])
        r = staff.req(srv, "GET", f"/api/v1/orders?limit=3&cursor={page['next_cursor']}")
        self.assertEqual([i["id"] for i in r.json()["items"]], [ids[0]])
        self.assertIsNone(r.json()["next_cursor"])
        r = staff.req(srv, "GET", "/api/v1/orders?status=accepted")
        self.assertEqual([i["id"] for i in r.json()["items"]], [ids[0]])
        r = staff.req(srv, "GET", "/api/v1/orders?buyer=B002")
        self.assertEqual([i["id"] for i in r.json()["items"]], [ids[3]])
        r = b1.req(srv, "GET", "/api/v1/orders")
        self.assertEqual([i["id"] for i in r.json()["items"]], ids[2::-1])
        r = staff.req(srv, "GET", f"/api/v1/orders?from={day(-1)}&to={day(1)}")
        self.assertEqual(len(r.json()["items"]), 4)
        r = staff.req(srv, "GET", f"/api/v1/orders?from={day(2)}")
        self.assertEqual(r.json()["items"], [])
        for q in ("status=lost", "from=yesterday", "limit=0", "cursor=AAAA"):
            self.assertEqual(staff.req(srv, "GET", f"/api/v1/orders?{q}").status, 400, q)

    def test_codes_are_compared_as_stored_full_width_and_lower_case(self):
        """A code in a line, in the buyer field, in a filter or in the
        principal's buyer attribute is normalised as the master data API
        stores it (NFKC, ASCII upper case): "ｒｉｃｅ５" is RICE5."""
        srv = self.start()
        b1 = self.caller("a", "buyer", buyer="ｂ００１")
        staff = self.caller("a", "staff")
        r = self.place(srv, b1, [("ｒｉｃｅ５", 1), ("pan", 2)])
        self.assertEqual(r.json()["buyer"], "B001")
        self.assertEqual(sorted(l["product"] for l in r.json()["lines"]), ["PAN", "RICE5"])
        r = self.place(srv, staff, [("soy", 1)], extra={"buyer": "b００２"})
        self.assertEqual(r.json()["buyer"], "B002")
        r = staff.req(srv, "GET", "/api/v1/orders?buyer=b002")
        self.assertEqual(len(r.json()["items"]), 1, f"{r}")
        self.place(srv, staff, [("SOY", 1)], extra={"buyer": "B/1"}, want=422)


if __name__ == "__main__":
    main()
