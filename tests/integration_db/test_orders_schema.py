"""The ordering plugin's tables (plugins/orders/migrations) and the test
harness its API tests stand on: every table is tenant-owned with
row-level security enabled and forced (S21), the application role cannot
delete orders or master data (S19: they are cancelled or made inactive),
and a caller made by ordersharness is signed in as the auth plugin
would have it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ordersharness import OrdersCase, main  # noqa: E402

TABLES = ("orders_buyers", "orders_products", "orders_prices", "orders_orders",
          "orders_lines", "orders_announcements")


class OrdersSchemaTest(OrdersCase):
    def test_every_table_has_forced_row_level_security_S21(self):
        self.orders_server()
        for t in TABLES:
            row = self.pg.rows("SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                               "WHERE relname = :'t';", t=t)
            self.assertEqual(row, [["t", "t"]], t)

    def test_app_role_cannot_delete_orders_or_master_data_S19(self):
        self.orders_server()
        for t in ("orders_buyers", "orders_products", "orders_orders", "orders_lines"):
            r = self.pg.psql(f"DELETE FROM {t};", role="app", check=False)
            self.assertNotEqual(r.returncode, 0, t)
            self.assertIn("permission denied", r.stderr, t)

    def test_harness_caller_is_signed_in_with_its_buyer(self):
        srv = self.orders_server()
        buyer = self.caller("a", "buyer", buyer="B001")
        r = buyer.req(srv, "GET", "/auth/me")
        self.assertEqual(r.status, 200, f"{r}\n{srv.tail()}")
        me = r.json()
        self.assertEqual(me["user"]["id"] if "user" in me else me.get("id"), buyer.user_id)
        # The same session means nothing to another tenant (S21).
        r = buyer.req(srv, "GET", "/auth/me", tenant="b")
        self.assertEqual(r.status, 401, f"{r}")


if __name__ == "__main__":
    main()
