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

    def fields_of(self, r):
        self.assertEqual(r.status, 400, f"{r}")
        err = r.json()["error"]
        self.assertEqual(err["code"], "invalid_fields")
        return err["fields"]

    def test_buyer_create_read_update_with_etags_audit_and_events_S20(self):
        srv, staff = self.setup_master()
        r = staff.req(srv, "POST", "/api/v1/buyers", dict(BUYER, code="b002", name="二号店"))
        self.assertEqual(r.status, 201, f"{r}")
        self.assertEqual(r.get("ETag"), '"v1"')
        self.assertEqual(r.get("Location"), "/api/v1/buyers/B002")
        self.assertEqual(r.json()["code"], "B002")
        # One code whatever the width: a full-width duplicate is refused.
        r = staff.req(srv, "POST", "/api/v1/buyers", dict(BUYER, code="Ｂ００１"))
        self.assertEqual(r.status, 409, f"{r}")
        self.assertEqual(r.json()["error"]["fields"], {"code": "is already taken"})
        r = staff.req(srv, "GET", "/api/v1/buyers/" + quote("ｂ００１"))
        self.assertEqual(r.status, 200, f"{r}")
        self.assertEqual(r.json()["name"], BUYER["name"])
        self.assertEqual(r.get("ETag"), '"v1"')
        # Updates need the ETag read: 428 without, 412 stale.
        path = "/api/v1/buyers/B001"
        r = staff.req(srv, "PATCH", path, {"closing_day": 10})
        self.assertEqual(r.status, 428, f"{r}")
        r = staff.req(srv, "PATCH", path, {"closing_day": 10}, headers={"If-Match": '"v7"'})
        self.assertEqual(r.status, 412, f"{r}")
        r = staff.req(srv, "PATCH", path, {"closing_day": 10, "active": False},
                      headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 200, f"{r}")
        self.assertEqual(r.get("ETag"), '"v2"')
        self.assertEqual((r.json()["closing_day"], r.json()["active"]), (10, False))
        # Nothing changed: no new version, no audit row, no event.
        r = staff.req(srv, "PATCH", path, {"closing_day": 10}, headers={"If-Match": '"v2"'})
        self.assertEqual(r.status, 200, f"{r}")
        self.assertEqual(r.get("ETag"), '"v2"')
        self.assertEqual(r.json()["version"], 2)
        # The code names the buyer: it cannot be changed.
        r = staff.req(srv, "PATCH", path, {"code": "B009"}, headers={"If-Match": '"v2"'})
        self.assertEqual(self.fields_of(r), {"code": "cannot be changed"})
        r = staff.req(srv, "PATCH", "/api/v1/buyers/NOPE", {"name": "x"},
                      headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 404, f"{r}")
        # Lists: active filter, cursor pages.
        r = staff.req(srv, "GET", "/api/v1/buyers?active=true")
        self.assertEqual([b["code"] for b in r.json()["items"]], ["B002"])
        r = staff.req(srv, "GET", "/api/v1/buyers?limit=1")
        page = r.json()
        self.assertEqual([b["code"] for b in page["items"]], ["B001"])
        r = staff.req(srv, "GET", "/api/v1/buyers?limit=1&cursor=" + page["next_cursor"])
        page = r.json()
        self.assertEqual(([b["code"] for b in page["items"]], page["next_cursor"]),
                         (["B002"], None))
        r = staff.req(srv, "GET", "/api/v1/buyers?cursor=!!")
        self.assertEqual(r.status, 400, f"{r}")
        # S20: every write audited, with its target; one event each.
        acts = [(a["action"], a["target_id"], a["user"], a["result"])
                for a in self.audit() if a["action"].startswith("orders.buyer")]
        self.assertEqual(acts, [("orders.buyer.create", "B001", staff.user_id, "ok"),
                                ("orders.buyer.create", "B002", staff.user_id, "ok"),
                                ("orders.buyer.update", "B001", staff.user_id, "ok")])
        evs = [(t, p["code"], p["change"]) for _, t, p in self.events("buyer.changed")]
        self.assertEqual(evs, [("a", "B001", "created"), ("a", "B002", "created"),
                               ("a", "B001", "updated")])

    def test_buyer_validation_names_each_field(self):
        srv = self.orders_server()
        staff = self.caller("a", "staff")
        bad = {"code": "B/1", "name": "", "kana": "漢字", "postal_code": "12-345",
               "phone": "03-1234-abcd", "closing_day": 32, "active": "yes", "colour": "red",
               "contacts": [{"name": "a", "email": "not-an-address"}, {"email": "x@y.jp"}]}
        f = self.fields_of(staff.req(srv, "POST", "/api/v1/buyers", bad))
        self.assertEqual(set(f), {"code", "name", "kana", "postal_code", "phone",
                                  "closing_day", "active", "colour", "contacts[0].email",
                                  "contacts[1].name"})
        f = self.fields_of(staff.req(srv, "POST", "/api/v1/buyers", {"kana": "カナ"}))
        self.assertEqual(set(f), {"code", "name"})
        many = [{"name": "n", "email": "a@b.jp"}] * 11
        f = self.fields_of(staff.req(srv, "POST", "/api/v1/buyers",
                                     dict(BUYER, contacts=many)))
        self.assertEqual(set(f), {"contacts"})
        f = self.fields_of(staff.req(srv, "POST", "/api/v1/buyers",
                                     dict(BUYER, name="a\u0001b")))
        self.assertEqual(set(f), {"name"})
        r = staff.req(srv, "POST", "/api/v1/buyers", "[1]")
        self.assertEqual(r.status, 400, f"{r}")
        # Full-width digits and hiragana are fine: stored normalised.
        r = staff.req(srv, "POST", "/api/v1/buyers",
                      dict(BUYER, postal_code="１００－０００１", kana="せいか ﾃﾝ"))
        self.assertEqual(r.status, 201, f"{r}")
        self.assertEqual((r.json()["postal_code"], r.json()["kana"]), ("100-0001", "せいか テン"))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM orders_buyers;"), "1")

    def test_product_fields_integer_yen_and_tax_rate(self):
        srv = self.orders_server()
        staff = self.caller("a", "staff")
        for price in (1.5, "100", -1, None, True):
            f = self.fields_of(staff.req(srv, "POST", "/api/v1/products",
                                         dict(APPLE, unit_price=price)))
            self.assertEqual(set(f), {"unit_price"}, price)
        f = self.fields_of(staff.req(srv, "POST", "/api/v1/products",
                                     dict(APPLE, tax_rate=5, stock_status="plenty", unit="")))
        self.assertEqual(set(f), {"tax_rate", "stock_status", "unit"})
        r = staff.req(srv, "POST", "/api/v1/products", {"code": "P9", "name": "x",
                                                         "unit_price": 0})
        self.assertEqual(r.status, 201, f"{r}")
        self.assertEqual((r.json()["tax_rate"], r.json()["unit"], r.json()["stock_status"]),
                         (10, "個", "in_stock"))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM orders_products;"), "1")

    def test_two_updates_with_one_etag_one_wins_one_412(self):
        srv, staff = self.setup_master()
        other = self.caller("a", "staff")
        results = []

        def patch(who, price):
            r = who.req(srv, "PATCH", "/api/v1/products/P-001", {"unit_price": price},
                        headers={"If-Match": '"v1"'})
            results.append(r.status)

        threads = [threading.Thread(target=patch, args=(w, p))
                   for w, p in ((staff, 1300), (other, 1400))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30 * harness.SCALE)
        self.assertEqual(sorted(results), [200, 412])
        self.assertEqual(self.pg.scalar(
            "SELECT version FROM orders_products WHERE code = 'P-001';"), "2")
        self.assertEqual(len(self.audit("orders.product.update")), 1)

    def test_search_by_code_name_and_kana_in_any_script(self):
        srv, staff = self.setup_master()

        def codes(query):
            r = staff.req(srv, "GET", "/api/v1/products?" + query)
            self.assertEqual(r.status, 200, f"{r}")
            return [p["code"] for p in r.json()["items"]]

        for q in ("りんご", "リンゴ", "ﾘﾝｺﾞ", "林檎", "ｐ－００１", "p-001"):
            self.assertEqual(codes("q=" + quote(q)), ["P-001"], q)
        self.assertEqual(codes("q=" + quote("ぺん")), ["P-002"])
        self.assertEqual(codes("q=" + quote("ぶどう")), [])
        self.assertEqual(codes("category=" + quote("文具")), ["P-002"])
        self.assertEqual(codes(""), ["P-001", "P-002"])
        r = staff.req(srv, "GET", "/api/v1/buyers?q=" + quote("さくら"))
        self.assertEqual([b["code"] for b in r.json()["items"]], ["B001"])
        r = staff.req(srv, "GET", "/api/v1/products?limit=0")
        self.assertEqual(r.status, 400, f"{r}")
        r = staff.req(srv, "GET", "/api/v1/products?q=" + "x" * 401)
        self.assertEqual(r.status, 400, f"{r}")
        # An update refreshes the search text: the new kana is found.
        r = staff.req(srv, "PATCH", "/api/v1/products/P-002",
                      {"name": "万年筆", "kana": "マンネンヒツ"}, headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 200, f"{r}")
        self.assertEqual(codes("q=" + quote("まんねんひつ")), ["P-002"])
        self.assertEqual(codes("q=" + quote("ぼーる")), [])

    def test_prices_set_update_delete_with_etags_audit_and_events_S20(self):
        srv, staff = self.setup_master()
        path = "/api/v1/prices/B001/P-001"
        r = staff.req(srv, "PUT", path, {"unit_price": 1000}, headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 412, f"{r}")  # nothing to match yet
        r = staff.req(srv, "PUT", path, {"unit_price": 1000})
        self.assertEqual(r.status, 201, f"{r}")
        self.assertEqual(r.get("ETag"), '"v1"')
        self.assertEqual(r.json()["unit_price"], 1000)
        r = staff.req(srv, "PUT", path, {"unit_price": 900})
        self.assertEqual(r.status, 428, f"{r}")
        r = staff.req(srv, "PUT", path, {"unit_price": 900}, headers={"If-Match": '"v5"'})
        self.assertEqual(r.status, 412, f"{r}")
        r = staff.req(srv, "PUT", "/api/v1/prices/" + quote("ｂ００１") + "/P-001",
                      {"unit_price": 900}, headers={"If-Match": '"v1"'})
        self.assertEqual((r.status, r.get("ETag")), (200, '"v2"'), f"{r}")
        r = staff.req(srv, "PUT", path, {"unit_price": 9.5}, headers={"If-Match": '"v2"'})
        self.assertEqual(set(self.fields_of(r)), {"unit_price"})
        r = staff.req(srv, "PUT", "/api/v1/prices/B404/P-001", {"unit_price": 1})
        self.assertEqual(r.status, 404, f"{r}")
        r = staff.req(srv, "PUT", "/api/v1/prices/B001/P-002", {"unit_price": 100})
        self.assertEqual(r.status, 201, f"{r}")
        r = staff.req(srv, "GET", "/api/v1/prices?product=P-001")
        items = r.json()["items"]
        self.assertEqual([(p["buyer"], p["product"], p["unit_price"], p["list_price"])
                          for p in items], [("B001", "P-001", 900, 1200)])
        r = staff.req(srv, "GET", "/api/v1/prices?limit=1")
        page = r.json()
        r = staff.req(srv, "GET", "/api/v1/prices?limit=1&cursor=" + page["next_cursor"])
        self.assertEqual([p["product"] for p in page["items"] + r.json()["items"]],
                         ["P-001", "P-002"])
        r = staff.req(srv, "DELETE", "/api/v1/prices/B001/P-002", headers={"If-Match": '"v3"'})
        self.assertEqual(r.status, 412, f"{r}")
        r = staff.req(srv, "DELETE", "/api/v1/prices/B001/P-002")
        self.assertEqual(r.status, 204, f"{r}")
        r = staff.req(srv, "DELETE", "/api/v1/prices/B001/P-002")
        self.assertEqual(r.status, 404, f"{r}")
        acts = [(a["action"], a["target_id"]) for a in self.audit()
                if a["action"].startswith("orders.price")]
        self.assertEqual(acts, [("orders.price.set", "B001/P-001"),
                                ("orders.price.set", "B001/P-001"),
                                ("orders.price.set", "B001/P-002"),
                                ("orders.price.delete", "B001/P-002")])
        evs = [(p["buyer"], p["product"], p["change"]) for _, _, p in self.events("price.changed")]
        self.assertEqual(evs[-1], ("B001", "P-002", "deleted"))
        self.assertEqual(len(evs), 4)
        self.assertEqual(len(self.events("product.changed")), 2)

    def test_buyer_sees_active_products_with_its_own_price_only_S11_S19(self):
        srv, staff = self.setup_master()
        r = staff.req(srv, "POST", "/api/v1/buyers", dict(BUYER, code="B002"))
        self.assertEqual(r.status, 201)
        for b, p, price in (("B001", "P-001", 1000), ("B002", "P-001", 950)):
            r = staff.req(srv, "PUT", f"/api/v1/prices/{b}/{p}", {"unit_price": price})
            self.assertEqual(r.status, 201, f"{r}")
        r = staff.req(srv, "POST", "/api/v1/products",
                      {"code": "P-OLD", "name": "旧商品", "unit_price": 5, "active": False})
        self.assertEqual(r.status, 201, f"{r}")
        buyer = self.caller("a", "buyer", buyer="b001")
        r = buyer.req(srv, "GET", "/api/v1/products")
        self.assertEqual(r.status, 200, f"{r}")
        items = {p["code"]: p for p in r.json()["items"]}
        self.assertEqual(set(items), {"P-001", "P-002"})
        self.assertEqual((items["P-001"]["price"], items["P-002"]["price"]), (1000, 110))
        for p in items.values():
            self.assertNotIn("list_price", p)
            self.assertNotIn("unit_price", p)
        r = buyer.req(srv, "GET", "/api/v1/products/P-001")
        self.assertEqual((r.status, r.json()["price"]), (200, 1000))
        self.assertEqual(buyer.req(srv, "GET", "/api/v1/products/P-OLD").status, 404)
        self.assertEqual(buyer.req(srv, "GET", "/api/v1/products?active=false")
                         .json()["items"], [])
        # Its own prices only, whatever it asks for.
        r = buyer.req(srv, "GET", "/api/v1/prices?buyer=B002")
        self.assertEqual([(p["buyer"], p["unit_price"]) for p in r.json()["items"]],
                         [("B001", 1000)])
        self.assertNotIn("list_price", r.json()["items"][0])
        # Its own buyer only; another is as if it did not exist; no lists.
        self.assertEqual(buyer.req(srv, "GET", "/api/v1/buyers/B001").status, 200)
        self.assertEqual(buyer.req(srv, "GET", "/api/v1/buyers/B002").status, 404)
        self.assertEqual(buyer.req(srv, "GET", "/api/v1/buyers").status, 403)
        # No writes at all.
        for method, path, body in (
                ("POST", "/api/v1/products", dict(APPLE, code="P-X")),
                ("PATCH", "/api/v1/products/P-001", {"unit_price": 1}),
                ("POST", "/api/v1/buyers", dict(BUYER, code="B-X")),
                ("PATCH", "/api/v1/buyers/B001", {"name": "x"}),
                ("PUT", "/api/v1/prices/B001/P-001", {"unit_price": 1}),
                ("DELETE", "/api/v1/prices/B001/P-001", None)):
            r = buyer.req(srv, method, path, body, headers={"If-Match": '"v1"'})
            self.assertEqual(r.status, 403, f"{method} {path}: {r}")
        self.assertEqual(self.pg.scalar("SELECT unit_price FROM orders_prices x JOIN "
                                        "orders_buyers b ON b.id = x.buyer_id "
                                        "WHERE b.code = 'B001';"), "1000")
        # A buyer without its buyer code, and a role this plugin does not
        # know, see nothing.
        lost = self.caller("a", "buyer")
        self.assertEqual(lost.req(srv, "GET", "/api/v1/products").status, 403)
        nobody = self.caller("a", "platform_admin")
        self.assertEqual(nobody.req(srv, "GET", "/api/v1/products").status, 403)

    def test_another_tenant_sees_nothing_S21(self):
        srv, staff = self.setup_master()
        r = staff.req(srv, "PUT", "/api/v1/prices/B001/P-001", {"unit_price": 1})
        self.assertEqual(r.status, 201)
        other = self.caller("b", "staff")
        for path in ("/api/v1/buyers/B001", "/api/v1/products/P-001"):
            self.assertEqual(other.req(srv, "GET", path).status, 404, path)
        for path in ("/api/v1/buyers", "/api/v1/products", "/api/v1/prices"):
            r = other.req(srv, "GET", path)
            self.assertEqual((r.status, r.json()["items"]), (200, []), path)
        r = other.req(srv, "PATCH", "/api/v1/products/P-001", {"unit_price": 1},
                      headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 404, f"{r}")
        r = other.req(srv, "PUT", "/api/v1/prices/B001/P-001", {"unit_price": 2},
                      headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 404, f"{r}")
        self.assertEqual(other.req(srv, "DELETE", "/api/v1/prices/B001/P-001").status, 404)
        # The same code is free in tenant b: codes are per tenant.
        r = other.req(srv, "POST", "/api/v1/buyers", BUYER)
        self.assertEqual(r.status, 201, f"{r}")
        # A session of tenant a means nothing to tenant b.
        self.assertEqual(staff.req(srv, "GET", "/api/v1/products", tenant="b").status, 401)
        self.assertEqual(self.pg.scalar("SELECT unit_price FROM orders_prices;"), "1")

    def seed(self, srv, tenant):
        return subprocess.run([harness.tanomu_bin(), "orders-seed-demo", "--tenant", tenant,
                               "-c", srv.conf_path], capture_output=True, text=True,
                              timeout=60 * harness.SCALE)

    def test_demo_seed_is_idempotent_and_refuses_other_tenants(self):
        srv = self.orders_server()
        srv.write_tenant("demo", {"id": "demo", "hosts": ["demo.localhost"],
                                  "features": {"auth": {"enabled": True},
                                               "orders": {"enabled": True}}})
        srv.migrate()
        count = ("SELECT (SELECT count(*) FROM orders_products) || '/' || "
                 "(SELECT count(*) FROM orders_buyers) || '/' || "
                 "(SELECT count(*) FROM orders_prices);")
        r = self.seed(srv, "a")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("demo", r.stderr)
        self.assertEqual(self.pg.scalar(count), "0/0/0")
        r = self.seed(srv, "demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        first = self.pg.rows("SELECT tenant_id, code, name, kana, unit_price, tax_rate, "
                             "search_text, version FROM orders_products ORDER BY code;")
        self.assertGreaterEqual(len(first), 3)
        self.assertEqual({row[5] for row in first}, {"8", "10"})
        self.assertEqual({row[0] for row in first}, {"demo"})
        self.assertEqual(self.pg.scalar("SELECT code FROM orders_buyers;"), "DEMO-SHOP")
        self.assertEqual(self.pg.scalar(count), f"{len(first)}/1/1")
        r = self.seed(srv, "demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.pg.scalar(count), f"{len(first)}/1/1")
        self.assertEqual(first, self.pg.rows(
            "SELECT tenant_id, code, name, kana, unit_price, tax_rate, search_text, version "
            "FROM orders_products ORDER BY code;"))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM audit_log WHERE "
                                        "action = 'orders.seed_demo' AND tenant_id = 'demo';"),
                         "2")


if __name__ == "__main__":
    main()
