"""Tenant isolation in the database, through the real binary (S11, S21, S1,
S19, S16).

The dbprobe plugin's GET /db/notes selects without any WHERE tenant_id:
only row-level security, bound by the host to the request's tenant, keeps
tenants apart.  Assertions about what is really stored use psql as the
superuser, which RLS does not bind.
"""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, main  # noqa: E402


class IsolationTest(DbTestCase):

    def test_rls_read_isolation_S21_S11(self):
        """S21/S11: a query with no WHERE tenant_id sees only the requesting
        tenant's notes; each tenant's listing is exactly its own rows."""
        srv = self.db_server()
        ids = {"a": set(), "b": set()}
        for t, n in (("a", 3), ("b", 2)):
            for i in range(n):
                nid, _ = srv.create_note(t, f"read-isolation {t} {i}")
                ids[t].add(nid)
        stored = self.pg.notes()
        for t in ("a", "b"):
            mine = {i for i, (tenant, _) in stored.items() if tenant == t}
            self.assertTrue(ids[t] <= mine, (t, ids[t], mine))
            doc = srv.list_notes(t)
            self.assertEqual({e["tenant"] for e in doc["tenants"]}, {t}, doc)
            self.assertEqual({e["id"] for e in doc["tenants"]}, mine, doc)
            self.assertEqual(doc["count"], len(mine), doc)
        # The other tenant's rows do exist: the listing hid them.
        self.assertTrue(ids["a"] and ids["b"])
        self.assertEqual(len(stored), self.pg.count("notes"))

    def test_write_naming_other_tenant_refused_S11_S16(self):
        """S11: an INSERT naming another tenant is refused by RLS (422 JSON),
        nothing is added; the SQL error stays in the log as a SQLSTATE, its
        text is not sent to the client (S16)."""
        srv = self.db_server()
        before = self.pg.notes()
        r = srv.req("b", "POST", "/db/notes/as/a")
        err = self.assertJsonError(r, 422)
        self.assertEqual(err["code"], "refused")
        self.assertNotIn(b"row-level", r.body)
        self.assertNotIn(b"policy", r.body)
        self.assertEqual(self.pg.notes(), before, "a refused write added a row")
        rid = r.get("X-Request-Id")
        line = srv.wait_log(lambda l: l.get("request_id") == rid and "sqlstate" in l.get("msg", ""),
                            what="database error log line")
        self.assertIn("42501", line["msg"])
        self.assertNotIn("foreign", line["msg"])  # the value the statement carried
        # A tenant that does not exist at all: refused too.
        r = srv.req("b", "POST", "/db/notes/as/nosuchtenant")
        self.assertJsonError(r, 422)
        self.assertEqual(self.pg.notes(), before)
        # Control: the same route naming the requesting tenant itself works,
        # so the 422 above is the policy, not a broken route.
        r = srv.req("b", "POST", "/db/notes/as/b")
        self.assertEqual(r.status, 201, r)
        after = self.pg.notes()
        self.assertEqual(len(after), len(before) + 1)
        new = set(after) - set(before)
        self.assertEqual([after[i] for i in new], [("b", "foreign")])

    def test_app_role_least_privilege_S1_S19(self):
        """S1 (IPA 1-(iv)) / S19: the application role is no superuser, has no
        BYPASSRLS, owns nothing, cannot create objects, cannot change or
        delete history (audit_log) nor delete notes, and without a tenant
        bound sees no rows at all (fail closed)."""
        self.db_server(start=False)  # migrated: tables, grants, tenants a and b
        role = self.pg.rows("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, "
                            "rolreplication FROM pg_roles WHERE rolname = 'tanomu_app';")
        self.assertEqual(role, [["f", "f", "f", "f", "f"]])
        owned = self.pg.scalar("SELECT count(*) FROM pg_class c JOIN pg_roles r "
                               "ON r.oid = c.relowner WHERE r.rolname = 'tanomu_app';")
        self.assertEqual(owned, "0")
        # The app role's table privileges, exactly.
        privs = self.pg.rows(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
            "FROM information_schema.role_table_grants WHERE grantee = 'tanomu_app' "
            "GROUP BY table_name ORDER BY table_name;")
        self.assertEqual(dict(privs), {
            "audit_log": "INSERT,SELECT",
            "notes": "INSERT,SELECT",
            "outbox": "INSERT,SELECT,UPDATE",
            "job_runs": "INSERT,SELECT,UPDATE",
            "outbox_acks": "INSERT,SELECT",
            "tenants": "SELECT",
        })
        self.pg.psql("INSERT INTO notes (tenant_id, body) VALUES ('a', 'priv-check'); "
                     "INSERT INTO audit_log (tenant_id, action, result) "
                     "VALUES ('a', 'priv.check', 'ok');")
        self.assertGreater(self.pg.count("notes", "a"), 0)
        self.assertGreater(self.pg.count("audit_log", "a"), 0)
        for sql, needle in (
                ("UPDATE audit_log SET result = 'ok';", "permission denied for table audit_log"),
                ("DELETE FROM audit_log;", "permission denied for table audit_log"),
                ("TRUNCATE audit_log;", "permission denied for table audit_log"),
                ("DELETE FROM notes;", "permission denied for table notes"),
                ("UPDATE notes SET body = 'x';", "permission denied for table notes"),
                ("DELETE FROM outbox;", "permission denied for table outbox"),
                ("CREATE TABLE sneaky (x int);", "permission denied for schema public"),
                ("ALTER TABLE notes DISABLE ROW LEVEL SECURITY;", "must be owner"),
                ("SET row_security = off; SELECT count(*) FROM notes;",
                 "query would be affected by row-level security policy"),
        ):
            r = self.pg.psql(sql, role="app", check=False)
            self.assertNotEqual(r.returncode, 0, f"app role could run {sql!r}: {r.stdout}")
            self.assertIn(needle, r.stderr, sql)
        # No tenant bound: RLS matches nothing, even though rows exist.
        self.assertEqual(self.pg.rows("SELECT count(*) FROM notes;", role="app"), [["0"]])
        self.assertEqual(self.pg.rows("SELECT count(*) FROM audit_log;", role="app"), [["0"]])
        # The owner is bound by the policies too (FORCE), and history is
        # append-only even for the owner.
        audit = self.pg.count("audit_log")
        for sql in ("DELETE FROM audit_log;", "UPDATE audit_log SET result = 'failed';",
                    "TRUNCATE audit_log;"):
            r = self.pg.psql("BEGIN; SELECT set_config('app.tenant_id', 'a', true); "
                             + sql + " COMMIT;", role="owner", check=False)
            self.assertNotEqual(r.returncode, 0, f"the owner could run {sql!r}: {r.stdout}")
            self.assertIn("append-only", r.stderr, sql)
        self.assertEqual(self.pg.count("audit_log"), audit)

    def test_pooled_connection_never_carries_tenant_S21(self):
        """S21: one worker, two pooled connections, two keep-alive clients
        interleaving tenants a and b (and failing transactions: refused
        writes, aborted commits).  Every listing shows only its own tenant,
        though the listings name the backend that served them and one
        backend served both tenants."""
        srv = self.db_server(workers=1, db={"pool_size": 2})
        listings = []
        errors = []
        lock = threading.Lock()
        rounds = 32

        def client(i):
            mine = {"a": set(), "b": set()}  # notes this client made, by tenant
            with srv.raw(timeout=15) as c:
                for k in range(rounds):
                    t = ("a", "b")[(i + k + k // 4) % 2]  # every step type sees both
                    other = "b" if t == "a" else "a"
                    step = k % 4
                    if step == 0:
                        r = c.request("POST", "/db/notes", f"{t}.test", body=f"carry {i} {k}")
                        ok = r.status == 201
                        if ok:
                            mine[t].add(r.json()["id"])
                    elif step == 1:
                        r = c.request("GET", "/db/notes", f"{t}.test")
                        # Its own earlier notes are all there (not an empty,
                        # fail-closed listing), the other tenant's are not.
                        ok = (r.status == 200 and
                              mine[t] <= {e["id"] for e in r.json()["tenants"]} and
                              not mine[other] & {e["id"] for e in r.json()["tenants"]})
                        if ok:
                            with lock:
                                listings.append((t, r.json()))
                    elif step == 2:
                        r = c.request("POST", f"/db/notes/as/{other}", f"{t}.test", body="")
                        ok = r.status == 422
                    else:
                        r = c.request("POST", "/db/fail", f"{t}.test", body="")
                        ok = r.status == 200 and r.json() == {"rolled_back": True}
                    if not ok:
                        with lock:
                            errors.append((t, step, r))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(listings), 2 * rounds // 4)
        stored = self.pg.notes()
        for t, doc in listings:
            self.assertEqual({e["tenant"] for e in doc["tenants"]} - {t}, set(), (t, doc))
            for e in doc["tenants"]:
                self.assertEqual(stored[e["id"]][0], t, (t, e))
        self.assertEqual({t for t, _ in listings}, {"a", "b"})
        # The listings ran on at most pool_size connections, and some
        # connection served both tenants: reuse across tenants happened.
        served = {}
        for t, doc in listings:
            served.setdefault(doc["backend"], set()).add(t)
        self.assertLessEqual(len(served), 2, served)
        self.assertIn({"a", "b"}, served.values(), f"no connection served both: {served}")


if __name__ == "__main__":
    main()
