"""Plugin migrations (S21, P1; issue 7 §6 and §8, ABI 1.2).

`tanomu migrate` runs the plugins' migrations in `depends` order (mig_child's
table references mig_base's, and mig_child is listed first), then checks,
inside each file's transaction and once more at the end, that every table
with a tenant_id column has row-level security enabled AND forced: a file
that breaks the rule is rolled back, not recorded, and the run fails naming
the table.  `tanomu check` warns about such a file without a database.  A
plugin that declares schema_needs is not started until its migration is
applied: a clear line says to run `tanomu migrate`.
"""

import re

from dbharness import DbServer, DbTestCase, harness, main, wait_until

BASE = ("dbprobe", "mig_base", "mig_child")


class MigrateOrderAndGuardTest(DbTestCase):

    def server(self, load):
        srv = DbServer(self.pg, plugins=("dbprobe", "mig_base", "mig_child", "mig_norls"))
        srv.load = list(load)
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        return srv

    def applied(self, scope):
        return [r[0] for r in self.pg.rows(
            "SELECT name FROM schema_migrations WHERE scope = :'s' ORDER BY name", s=scope)]

    def test_1_depends_order_then_rls_guard_refuses_unforced_table(self):
        # Listed child first: its migration references mig_base_items, so it
        # can only succeed if mig_base's ran before it.
        srv = self.server(["dbprobe", "mig_child", "mig_base"])
        r = srv.migrate()
        out = r.stdout
        base_at = out.find("applied mig_base/0001_base_items.sql")
        child_at = out.find("applied mig_child/0001_child_refs.sql")
        self.assertTrue(0 <= base_at < child_at, out)
        self.assertEqual(self.applied("mig_child"), ["0001_child_refs.sql"])

        # RLS enabled but not forced: refused, rolled back, not recorded.
        srv = self.server(["dbprobe", "mig_base", "mig_child", "mig_norls"])
        r = srv.cli("migrate")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"mig_norls/0001_norls_items\.sql: table mig_norls_items has "
                                   r"a tenant_id column but row-level security is not forced")
        self.assertEqual(self.applied("mig_norls"), [])
        self.assertEqual(self.pg.scalar("SELECT to_regclass('public.mig_norls_items') IS NULL"),
                         "t")

    def test_2_guard_catches_a_table_made_outside_migrations(self):
        srv = self.server(BASE)
        srv.migrate()
        self.pg.psql("CREATE TABLE handmade (id int, tenant_id text)", role="owner")
        self.addCleanup(self.pg.psql, "DROP TABLE IF EXISTS handmade")
        r = srv.cli("migrate")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"table handmade has a tenant_id column but row-level "
                                   r"security is not enabled and forced")
        self.pg.psql("ALTER TABLE handmade ENABLE ROW LEVEL SECURITY;"
                     "ALTER TABLE handmade FORCE ROW LEVEL SECURITY", role="owner")
        r = srv.cli("migrate")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_3_check_lints_without_a_database(self):
        srv = self.server(["dbprobe", "mig_base", "mig_child", "mig_norls"])
        # The lint reads files only: no database is asked.
        r = srv.cli("check")
        warnings = [l for l in r.stderr.splitlines() if "warning:" in l]
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertRegex(warnings[0], r"mig_norls/migrations/0001_norls_items\.sql:5: warning: "
                                      r"plugin mig_norls: table mig_norls_items .* do not force "
                                      r"row-level security")


class SchemaNeedsTest(DbTestCase):

    def inits(self, srv, name):
        return [l for l in srv.log_lines()
                if l.get("plugin") == name and l.get("msg") == f"{name} init"]

    def test_plugin_refused_until_migrated(self):
        # Core migrations only (dbprobe's too), not mig_base's: listed in
        # plugins.load only after this migrate.
        srv = self.db_server(plugins=("dbprobe", "mig_base", "mig_child"), workers=1,
                             start=False, migrate=False)
        srv.load = ["dbprobe"]
        srv.migrate()
        srv.start()
        srv.load = list(BASE)
        srv.write_conf()
        # A reload (strict) is refused, and says what to do.
        r = srv.cli("reload")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"plugin mig_base: needs migration "
                                   r"mig_base/0001_base_items\.sql, which is not applied: run "
                                   r"`tanomu migrate`")
        self.assertEqual(self.inits(srv, "mig_base"), [])
        srv.stop()

        # A first start (lenient) serves without it, and without mig_child
        # (which depends on it), with the same line in the log.
        before = len(srv.log_lines())
        srv.start()
        wait_until(lambda: any("run `tanomu migrate`" in (l.get("msg") or "")
                               for l in srv.log_lines()[before:]), 10, what="the refusal line")
        # Both refused, counted once each.
        self.assertEqual(srv.metrics().sum("tanomu_plugin_load_failures_total"), 2)
        self.assertEqual(self.inits(srv, "mig_base"), [])
        self.assertEqual(self.inits(srv, "mig_child"), [])
        self.assertEqual(srv.req("a", "GET", "/db/notes").status, 200)

        # Once migrated, a reload starts both.
        srv.migrate()
        r = srv.cli("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: self.inits(srv, "mig_child"), 10, what="mig_child init")
        self.assertTrue(self.inits(srv, "mig_base"))


if __name__ == "__main__":
    main()
