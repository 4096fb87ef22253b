"""CSV export and import of the ordering plugin (plugins/orders/export.c,
import.c; docs/orders.md "CSV export and import"), over HTTP against a
real database (A5): export -> import gives the same data in UTF-8 and
Shift_JIS, and re-importing changes nothing (no version bump); formula
cells are neutralised on the way out and restored on the way in;
malformed files are refused with where they are wrong and change
nothing; a role too weak, a stale authentication (S6) and another tenant
(S21) get nothing; every export and import is audited (S20)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ordersharness import OrdersCase, main  # noqa: E402
from dbharness import json_lines_mentioning, wait_until  # noqa: E402

BOM = b"\xef\xbb\xbf"

PRODUCTS = (
    "code,name,kana,unit,unit_price,tax_rate,category,stock_status,active\r\n"
    "Ａ－１,青森りんご,アオモリリンゴ,箱,1200,8,果物,in_stock,true\r\n"
    "B-2,\"=HYPERLINK(\"\"http://x\"\")\",,個,0,10,,low,false\r\n"
    "C-3,-5 off,,本,98000,10,\"飲料, 酒\",out_of_stock,1\r\n"
    "D-4,'=typed escaped,,袋,15,8,\"改行\nあり\",in_stock,0\r\n"
)
BUYERS = (
    "code,name,kana,postal_code,address,phone,closing_day,active\r\n"
    "S001,山田商店,ヤマダショウテン,100-0001,東京都千代田区千代田1-1,03-1234-5678,20,true\r\n"
    "S002,@mention shop,,,,+81 3-1234-5678,31,false\r\n"
    # A full-width, lower-case code is stored as the API stores codes: S3.
    "ｓ３,ハイフン店,,１０００００１,,,1,true\r\n"
)
PRICES = (
    "buyer_code,product_code,unit_price\r\n"
    "S001,A-1,1100\r\n"
    "S002,C-3,90000\r\n"
)


class OrdersCsvTest(OrdersCase):
    def snapshot(self, tenant="a"):
        """Everything the imports touch, versions included."""
        q = {
            "products": "SELECT code, name, kana, unit, unit_price, tax_rate, category, "
                        "stock_status, active, version FROM orders_products "
                        "WHERE tenant_id = :'t' ORDER BY code;",
            "buyers": "SELECT code, name, kana, postal_code, address, phone, closing_day, "
                      "active, version FROM orders_buyers WHERE tenant_id = :'t' ORDER BY code;",
            "prices": "SELECT b.code, p.code, x.unit_price, x.version FROM orders_prices x "
                      "JOIN orders_buyers b ON b.id = x.buyer_id "
                      "JOIN orders_products p ON p.id = x.product_id "
                      "WHERE x.tenant_id = :'t' ORDER BY 1, 2;",
        }
        return {k: self.pg.rows(v, t=tenant) for k, v in q.items()}

    def imp(self, who, kind, body, encoding=None, tenant=None):
        path = f"/api/v1/import/{kind}" + (f"?encoding={encoding}" if encoding else "")
        if isinstance(body, str):
            body = body.encode("utf-8")
        return who.req(self.srv, "POST", path, body=body,
                       headers={"Content-Type": "text/csv"}, tenant=tenant)

    def exp(self, who, kind, query="", tenant=None):
        return who.req(self.srv, "GET", f"/api/v1/export/{kind}.csv" + query, tenant=tenant,
                       timeout=60)

    def load(self, who):
        for kind, body in (("products", PRODUCTS), ("buyers", BUYERS), ("prices", PRICES)):
            r = self.imp(who, kind, body)
            self.assertEqual(r.status, 200, f"{kind}: {r}\n{self.srv.tail()}")

    def test_round_trip_in_both_encodings_changes_nothing_A5(self):
        self.orders_server()
        staff = self.caller("a", "staff")
        r = self.imp(staff, "products", PRODUCTS)
        self.assertEqual(r.status, 200, f"{r}\n{self.srv.tail()}")
        self.assertEqual(r.json(), {"kind": "products", "rows": 4, "inserted": 4, "updated": 0,
                                    "unchanged": 0})
        self.load(staff)
        before = self.snapshot()
        # Codes are stored normalised (NFKC): the price of "A-1" found "Ａ－１".
        self.assertEqual(before["products"][0][:3], ["A-1", "青森りんご", "アオモリリンゴ"])
        self.assertEqual(before["prices"][0][:3], ["S001", "A-1", "1100"])
        # A code or phone that starts like a formula survives the round trip;
        # full-width digits are normalised.
        buyers = {row[0]: row for row in before["buyers"]}
        self.assertEqual(buyers["S002"][5], "+81 3-1234-5678")
        self.assertEqual(buyers["S3"][3], "1000001")
        # Formula cells come back as they were typed; an apostrophe that was
        # data stays.
        names = {row[0]: row[1] for row in before["products"]}
        self.assertEqual(names["B-2"], '=HYPERLINK("http://x")')
        self.assertEqual(names["C-3"], "-5 off")
        # A cell typed already neutralised is read as its text (the escape is
        # the writer's own: csv.h).
        self.assertEqual(names["D-4"], "=typed escaped")

        for enc, codec in (("utf-8", "utf-8"), ("shift_jis", "cp932")):
            for kind in ("products", "buyers", "prices"):
                r = self.exp(staff, kind, f"?encoding={enc}")
                self.assertEqual(r.status, 200, f"{kind} {enc}: {r}\n{self.srv.tail()}")
                self.assertIn(f'filename="{kind}.csv"', r.get("Content-Disposition"))
                self.assertTrue(r.get("Content-Type").startswith("text/csv"))
                body = r.body
                if enc == "utf-8":
                    self.assertTrue(body.startswith(BOM), body[:10])
                else:
                    self.assertFalse(body.startswith(BOM))
                    self.assertIn("shift_jis", r.get("Content-Type").lower())
                text = body.decode(codec).lstrip("\ufeff")
                self.assertTrue(text.endswith("\r\n"))
                if kind == "products":
                    # Neutralised for spreadsheets (A5); numbers the program
                    # wrote are not.
                    self.assertIn("\"'=HYPERLINK(\"\"http://x\"\")\"", text)
                    self.assertIn("'-5 off", text)
                    self.assertIn(",'=typed escaped,", text)
                    self.assertIn("A-1,青森りんご,アオモリリンゴ,箱,1200,8,果物,in_stock,true\r\n",
                                  text)
                # Export -> import: the same data, nothing changes, no version bump.
                r = self.imp(staff, kind, body, encoding=enc)
                self.assertEqual(r.status, 200, f"{kind} {enc}: {r}\n{self.srv.tail()}")
                self.assertEqual(r.json()["inserted"], 0, r.json())
                self.assertEqual(r.json()["updated"], 0, r.json())
                self.assertEqual(self.snapshot(), before, f"{kind} {enc}")
        # Audited (S20), with an event per export.
        self.assertEqual(len(self.audit("orders.export")), 6)
        self.assertTrue(all(a["result"] == "ok" and a["user"] == staff.user_id
                            for a in self.audit("orders.export")))
        self.assertEqual(len(self.audit("orders.import")), 1 + 3 + 6)
        ev = self.events("orders.exported")
        self.assertEqual(len(ev), 6)
        self.assertEqual(ev[0][1], "a")
        self.assertEqual(ev[0][2]["kind"], "products")
        self.assertEqual(ev[0][2]["rows"], 4)

    def test_changed_row_is_updated_once(self):
        self.orders_server()
        staff = self.caller("a", "tenant_admin")
        self.load(staff)
        body = PRODUCTS.replace("1200,8,果物", "1300,8,果物")
        r = self.imp(staff, "products", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["inserted"], r.json()["updated"], r.json()["unchanged"]),
                         (0, 1, 3))
        self.assertEqual(self.pg.scalar("SELECT version || ':' || unit_price FROM "
                                        "orders_products WHERE code = 'A-1';"), "2:1300")

    def test_malformed_files_are_refused_and_change_nothing_A5(self):
        # A body limit above the line limit, so the plugin's own check answers.
        self.orders_server(conf={"server": {"limits": {"body_bytes": 16 << 20}}})
        staff = self.caller("a", "staff")
        self.load(staff)
        before = self.snapshot()
        head = PRODUCTS.split("\r\n")[0] + "\r\n"
        ok_row = "E-5,新商品,,個,10,10,,in_stock,true\r\n"
        cases = [
            # (name, body, encoding, status, code, (line, column) of the first error)
            ("quote inside a field", head + ok_row + 'F-6,ab"c,,個,1,10,,in_stock,true\r\n',
             None, 400, "invalid_csv", (3, 2)),
            ("unterminated quote", head + ok_row + 'F-6,"abc,,個,1,10,,in_stock,true\r\n',
             None, 400, "invalid_csv", (3, 2)),
            ("after closing quote", head + '"E-5"x,n,,個,1,10,,in_stock,true\r\n',
             None, 400, "invalid_csv", (2, 1)),
            ("NUL byte", (head + ok_row).encode() + b"F-6,a\x00b,,x,1,10,,in_stock,true\r\n",
             None, 400, "invalid_csv", (3, 2)),
            ("invalid UTF-8", (head + ok_row).encode() + b"F-6,\xff,,x,1,10,,in_stock,true\r\n",
             None, 400, "invalid_encoding", (3, 2)),
            ("Shift_JIS sent as UTF-8", (head + ok_row).encode("cp932"), None, 400,
             "invalid_encoding", (2, 2)),
            ("UTF-8 with BOM sent as Shift_JIS", BOM + (head + ok_row).encode(), "shift_jis",
             400, "invalid_encoding", (1, 1)),
            ("invalid Shift_JIS", head.encode() + b"E-5,\x81\x20,,x,1,10,,in_stock,true\r\n",
             "shift_jis", 400, "invalid_encoding", (2, 2)),
            ("wrong columns", "code,name,price\r\nE-5,x,1\r\n", None, 400, "wrong_columns", None),
            ("empty file", "", None, 400, "wrong_columns", None),
            ("invalid values", head + ok_row + "F-6,,,個,-1,9,,maybe,yes\r\n",
             None, 422, "invalid_rows", (3, 2)),
            ("too few columns", head + ok_row + "F-6,x\r\n", None, 422, "invalid_rows", (3, 3)),
            ("a code twice", head + ok_row + ok_row.replace("E-5", "Ｅ－５"), None, 422,
             "invalid_rows", (3, 1)),
        ]
        for name, body, enc, status, code, where in cases:
            r = self.imp(staff, "products", body, encoding=enc)
            self.assertEqual(r.status, status, f"{name}: {r}")
            err = r.json()["error"]
            self.assertEqual(err["code"], code, f"{name}: {err}")
            if where:
                first = err["errors"][0]
                self.assertEqual((first["line"], first["column"]), where, f"{name}: {err}")
            self.assertEqual(self.snapshot(), before, name)
        # Every invalid value of a row is named, with its column's name.
        r = self.imp(staff, "products", head + "F-6,,,個,-1,9,,maybe,yes\r\n")
        fields = [(e["line"], e["column"], e["field"]) for e in r.json()["error"]["errors"]]
        self.assertEqual(fields, [(2, 2, "name"), (2, 5, "unit_price"), (2, 6, "tax_rate"),
                                  (2, 8, "stock_status"), (2, 9, "active")])
        # Unknown codes in prices: the lines, and nothing is written.
        r = self.imp(staff, "prices", "buyer_code,product_code,unit_price\r\n"
                                      "S001,B-2,5\r\nS999,A-1,5\r\nS001,ZZZ,5\r\n")
        self.assertEqual(r.status, 422, r)
        errs = [(e["line"], e["column"]) for e in r.json()["error"]["errors"]]
        self.assertEqual(errs, [(3, 1), (4, 2)])
        self.assertEqual(self.snapshot(), before)
        # Many bad rows: the list is capped, the count is not.
        r = self.imp(staff, "products", head + "x,,,,,,,,\r\n" * 300)
        self.assertEqual(r.status, 422)
        self.assertEqual(len(r.json()["error"]["errors"]), 100)
        self.assertGreater(r.json()["error"]["count"], 300)
        # A line of 10 MB: 413, with its line.
        r = self.imp(staff, "products",
                     head + ok_row + "G-7," + "x" * (10 << 20) + ",,個,1,10,,low,true\r\n")
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json()["error"]["code"], "line_too_long")
        self.assertEqual(r.json()["error"]["errors"][0]["line"], 3)
        self.assertEqual(self.snapshot(), before)

    def test_roles_reauthentication_and_tenants_S6_S11_S21(self):
        self.orders_server()
        staff = self.caller("a", "staff")
        self.load(staff)
        before = self.snapshot()
        buyer = self.caller("a", "buyer", buyer="S001")
        for who in (buyer,):
            r = self.exp(who, "products")
            self.assertEqual(r.status, 403, r)
            r = self.imp(who, "products", PRODUCTS.replace("1200", "1"))
            self.assertEqual(r.status, 403, r)
        # Authenticated more than 5 minutes ago: re-authenticate first.
        old = self.caller("a", "staff")
        self.age_auth(old, 400)
        r = self.exp(old, "products")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"]["code"], "reauth_required")
        r = self.imp(old, "products", PRODUCTS.replace("1200", "1"))
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.snapshot(), before)
        # Another tenant's staff sees none of a's rows and writes only its own.
        other = self.caller("b", "staff")
        for kind in ("products", "buyers", "prices", "orders"):
            r = self.exp(other, kind)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body.count(b"\r\n"), 1, f"{kind}: {r.body!r}")
        r = self.imp(other, "prices", PRICES)
        self.assertEqual(r.status, 422, r)  # a's buyers and products do not exist for b
        r = self.imp(other, "products", PRODUCTS)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["inserted"], 4)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(len(self.snapshot("b")["products"]), 4)
        # Unknown kinds and parameters.
        self.assertEqual(self.exp(staff, "users").status, 404)
        self.assertEqual(self.imp(staff, "orders", "x").status, 404)
        self.assertEqual(self.exp(staff, "products", "?encoding=latin1").status, 400)
        self.assertEqual(self.exp(staff, "orders", "?from=yesterday").status, 400)

    def test_shift_jis_export_stops_at_a_character_it_cannot_hold_S20(self):
        self.orders_server()
        staff = self.caller("a", "staff")
        self.load(staff)
        r = self.imp(staff, "products", PRODUCTS.split("\r\n")[0] + "\r\n"
                     "B-9,りんご\U0001F34E,,個,1,10,,in_stock,true\r\n")
        self.assertEqual(r.status, 200, r)
        r = self.exp(staff, "products", "?encoding=shift_jis")
        self.assertEqual(r.status, 200, r)
        text = r.body.decode("cp932")
        self.assertIn("\r\nA-1,", text)     # the rows before it went out
        self.assertNotIn("B-9", text)       # the row and those after did not
        self.assertNotIn("C-3", text)
        # No audit entry or event claims a complete export; UTF-8 has it all.
        self.assertEqual(self.audit("orders.export"), [])
        self.assertEqual(self.events("orders.exported"), [])
        wait_until(lambda: json_lines_mentioning(self.srv, "no Shift_JIS form"), 10,
                   what="the server logs why the export stopped")
        r = self.exp(staff, "products")
        self.assertIn("りんご\U0001F34E".encode(), r.body)
        self.assertEqual(len(self.audit("orders.export")), 1)

    def test_export_orders_in_batches_with_date_range_A5(self):
        self.orders_server()
        staff = self.caller("a", "staff")
        self.load(staff)
        # 1,250 orders of 2 lines each: three FETCH batches and a short one.
        self.pg.psql("""
            INSERT INTO orders_orders (tenant_id, buyer_id, delivery_date, subtotal, taxable_8,
                taxable_10, tax_8, tax_10, total, placed_by, placed_at)
            SELECT 'a', b.id, DATE '2026-04-10', 3600, 2400, 1200, 192, 120, 3912, 'u',
                   TIMESTAMPTZ '2026-04-01 00:30:00+09' + (g || ' hours')::interval
            FROM generate_series(0, 1249) g, orders_buyers b
            WHERE b.tenant_id = 'a' AND b.code = 'S001';
            INSERT INTO orders_lines (tenant_id, order_id, line_no, product_id, product_code,
                product_name, unit, unit_price, tax_rate, quantity, amount)
            SELECT 'a', o.id, n, p.id, p.code, p.name, p.unit, 1200, p.tax_rate, n, 1200 * n
            FROM orders_orders o, generate_series(1, 2) n, orders_products p
            WHERE o.tenant_id = 'a' AND p.tenant_id = 'a' AND p.code = 'A-1';
        """)
        r = self.exp(staff, "orders", "?encoding=shift_jis")
        self.assertEqual(r.status, 200, f"{r}\n{self.srv.tail()}")
        lines = r.body.decode("cp932").split("\r\n")
        self.assertEqual(lines[-1], "")
        self.assertEqual(len(lines) - 2, 2500)
        self.assertTrue(lines[0].startswith("number,placed_at,buyer_code,status,delivery_date"))
        first = lines[1].split(",")
        self.assertEqual(first[1:7], ["2026-04-01T00:30:00+09:00", "S001", "placed",
                                      "2026-04-10", "1", "A-1"])
        self.assertEqual(first[7], "青森りんご")
        # Dates are days in Japan time, both ends included: 2026-04-01 has
        # 24 orders (00:30 .. 23:30 JST).
        r = self.exp(staff, "orders", "?from=2026-04-01&to=2026-04-01")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.count(b"\r\n") - 1, 48)
        r = self.exp(staff, "orders", "?from=2026-04-02&to=2026-04-01")
        self.assertEqual(r.body.count(b"\r\n"), 1)
        r = self.exp(staff, "orders", "?from=2026-02-30")
        self.assertEqual(r.status, 400, r)
        ev = self.events("orders.exported")
        self.assertEqual([e[2]["rows"] for e in ev], [2500, 48, 0])


if __name__ == "__main__":
    main()
