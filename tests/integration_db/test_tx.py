"""Transactions outside a request (SDK 1.2 tx_*, delivery_tx), through the
real binary and a real PostgreSQL (S1, S21, A3).

The txprobe plugin runs every transaction from a timer callback (no request
is involved: the request only waits for the answer) and its durable
subscriber writes through delivery_tx(); see plugins/txprobe/txprobe.c.
Rows go to dbprobe's notes table, which has row-level security.
Status codes: TN_OK 0, TN_EINVAL -1, TN_ECANCELED -6, TN_EDB_QUERY -11,
TN_EDB_ABORTED -12.
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, harness, host_of, main, wait_until  # noqa: E402

TN_EINVAL, TN_ECANCELED, TN_EDB_QUERY, TN_EDB_ABORTED = -1, -6, -11, -12


class TxTest(DbTestCase):

    def tx_server(self, **kw):
        srv = self.db_server(start=False, plugins=("dbprobe", "txprobe"), **kw)
        for t in ("a", "b"):
            feat = {"enabled": True, "marker_dir": srv.marker_dir}
            srv.write_tenant(t, {"id": t, "hosts": [host_of(t)],
                                 "features": {"dbprobe": dict(feat), "txprobe": dict(feat)}})
        srv.start()
        return srv

    def call(self, srv, method, path, body=None):
        r = srv.req("a", method, path, body=body, timeout=20.0 * harness.SCALE)
        self.assertEqual(r.status, 200, f"{method} {path}: {r}\n{srv.tail()}")
        return r.json()

    def notes_with(self, body):
        return int(self.pg.scalar("SELECT count(*) FROM notes WHERE body = :'b';", b=body))

    def event(self, key):
        rows = self.pg.rows("SELECT id, state, attempts FROM outbox WHERE name = 'txprobe.sub' "
                            "AND payload->>'key' = :'k';", k=key)
        return rows[0] if len(rows) == 1 else None

    def acks(self, event_id):
        return self.pg.rows("SELECT subscriber, tenant_id FROM outbox_acks "
                            "WHERE outbox_id = :'i';", i=str(event_id))

    def logs(self, srv, pattern):
        import re
        rx = re.compile(pattern)
        return [(l, rx.search(l.get("msg", ""))) for l in srv.log_lines()
                if l.get("plugin") == "txprobe" and rx.search(l.get("msg", ""))]

    def wait_delivered(self, key, timeout=15.0):
        return wait_until(lambda: (lambda e: e if e and e[1] == "delivered" else None)(
            self.event(key)), timeout * harness.SCALE, interval=0.1,
            what=f"event {key} delivered (now {self.event(key)})")

    # -- a timer's transaction --------------------------------------------

    def test_timer_tx_binds_tenant_and_rls_holds_S21(self):
        """S21: a transaction begun from a timer is bound to the tenant it
        names: its row lands for that tenant, a transaction bound to another
        tenant does not see it, one bound to no tenant sees no rows at all,
        and RLS refuses a row written for another tenant (42501, then the
        commit reports the abort)."""
        srv = self.tx_server()
        self.assertEqual(self.call(srv, "POST", "/tx/write?t=a&flags=commit", "tx-a-row"),
                         {"insert": 0, "end": 0, "sqlstate": ""})
        self.assertEqual(self.call(srv, "POST", "/tx/write?t=b&flags=commit", "tx-b-row")["end"],
                         0)
        self.assertEqual(self.pg.rows("SELECT tenant_id FROM notes WHERE body = 'tx-a-row';"),
                         [["a"]])
        for t in ("a", "b"):
            got = self.call(srv, "GET", f"/tx/count?t={t}")
            self.assertEqual(got["status"], 0, got)
            self.assertEqual(got["count"], self.pg.count("notes", t), f"tenant {t}: {got}")
        self.assertEqual(self.call(srv, "GET", "/tx/count?t=none"),
                         {"status": 0, "sqlstate": "", "count": 0})
        self.assertGreaterEqual(self.pg.count("notes"), 2)
        for path in ("/tx/write?t=b&as=a&flags=commit", "/tx/write?t=none&as=a&flags=commit"):
            got = self.call(srv, "POST", path, "foreign-row")
            self.assertEqual(got, {"insert": TN_EDB_QUERY, "end": TN_EDB_ABORTED,
                                   "sqlstate": "42501"}, path)
        self.assertEqual(self.notes_with("foreign-row"), 0)

    def test_uncommitted_tx_rolled_back(self):
        """A rolled back transaction leaves nothing; one still open when the
        worker stops is rolled back by the host, said in the log, and the
        plugin's statement in flight answers TN_ECANCELED."""
        srv = self.tx_server(workers=1)
        self.assertEqual(self.call(srv, "POST", "/tx/write?t=a&flags=rollback", "rolled-back"),
                         {"insert": 0, "end": 0, "sqlstate": ""})
        self.assertEqual(self.notes_with("rolled-back"), 0)
        self.assertEqual(self.call(srv, "POST", "/tx/hold?t=a"), {"insert": 0})
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(self.notes_with("held-open"), 0, "the open transaction committed")
        self.assertTrue(self.logs(srv, rf"^held statement answered {TN_ECANCELED}$"),
                        srv.tail())
        self.assertTrue([l for l in srv.log_lines()
                         if "transaction not committed when its handle ended" in l.get("msg", "")
                         and l.get("plugin") == "txprobe"], srv.tail())

    def test_refused_statements_EINVAL_S21(self):
        """S21: transaction control, SET and set_config are the host's: a
        tx_query carrying them answers TN_EINVAL at once, with a reason in
        last_error, and nothing runs."""
        srv = self.tx_server()
        for sql in ("BEGIN", "commit", "ROLLBACK", "START TRANSACTION", "SET search_path = x",
                    "  /* x */ set role tanomu_owner", "RESET ALL", "SAVEPOINT s",
                    "SELECT set_config('app.tenant_id', 'b', true)",
                    "select SET_CONFIG('app.tenant_id', 'b', false)",
                    "SELECT U&\"\\0073et_config\"('app.tenant_id', 'b', true)"):
            got = self.call(srv, "POST", "/tx/refused?t=a", sql)
            self.assertEqual(got["rc"], TN_EINVAL, sql)
            self.assertIn("refused", got["last_error"], sql)
        self.assertEqual(self.call(srv, "POST", "/tx/refused?t=a", "SELECT 1")["rc"], 0)

    def test_statement_timeout_is_a_db_error(self):
        """The pool's statement timeout binds these transactions too: a
        statement running past it answers TN_EDB_QUERY with SQLSTATE 57014."""
        srv = self.tx_server(db={"statement_timeout_ms": int(300 * harness.SCALE)})
        got = self.call(srv, "GET", f"/tx/sleep?t=a&ms={int(5000 * harness.SCALE)}")
        self.assertEqual((got["status"], got["sqlstate"]), (TN_EDB_QUERY, "57014"), got)

    def audits(self, action, target_id):
        return self.pg.rows("SELECT tenant_id, coalesce(user_id, '-'), target_type, "
                            "coalesce(client_ip::text, '-'), coalesce(request_id, '-'), result "
                            "FROM audit_log WHERE action = :'a' AND target_id = :'t' ORDER BY id;",
                            a=action, t=target_id)

    def test_timer_tx_audit_iff_committed_tenant_bound_S20(self):
        """S20: tx_audit from a timer's transaction writes the operation log
        row of the transaction's tenant, the actor as user, no client
        address or request id, if and only if the transaction commits; a
        transaction bound to no tenant cannot write one (TN_EINVAL, and the
        transaction is not spoiled by it)."""
        srv = self.tx_server()
        self.assertEqual(self.call(srv, "POST", "/tx/write?t=b&flags=commit&audit=1", "aud-c"),
                         {"insert": 0, "end": 0, "sqlstate": "", "audit": 0})
        self.assertEqual(self.audits("txprobe.write", "aud-c"),
                         [["b", "txprobe", "note", "-", "-", "ok"]])
        self.assertEqual(self.call(srv, "POST", "/tx/write?t=a&flags=rollback&audit=1", "aud-r"),
                         {"insert": 0, "end": 0, "sqlstate": "", "audit": 0})
        self.assertEqual(self.audits("txprobe.write", "aud-r"), [])
        got = self.call(srv, "POST", "/tx/write?t=none&flags=commit&audit=1", "aud-n")
        self.assertEqual(got["audit"], TN_EINVAL, got)
        self.assertEqual(self.audits("txprobe.write", "aud-n"), [])

    # -- a delivery's transaction -------------------------------------------

    def test_kill9_before_ack_loses_nothing_and_doubles_nothing_A3(self):
        """A3: the subscriber wrote through delivery_tx and holds the
        delivery before it is acknowledged; the worker is SIGKILLed there.
        The uncommitted write is gone with the connection, the event is
        delivered again, and in the end there is exactly one row, one ack
        and a delivered event."""
        srv = self.tx_server()
        self.assertEqual(self.call(srv, "POST", "/tx/publish?t=a&keys=ka&flags=hold"),
                         {"publish": 0, "end": 0})
        (line, _), = wait_until(lambda: self.logs(srv, r"^holding ka after its write$"),
                                10 * harness.SCALE, what="the held delivery")
        victim = int(line["pid"])
        self.assertEqual(self.notes_with("sub-ka"), 0, "visible before its ack committed")
        self.assertEqual(self.event("ka")[1], "pending")
        os.kill(victim, signal.SIGKILL)
        eid = self.wait_delivered("ka")[0]
        self.assertEqual(self.notes_with("sub-ka"), 1)
        self.assertEqual(self.acks(eid), [["txprobe", "a"]])
        wrote = self.logs(srv, r"^wrote ka attempt \d+$")
        self.assertEqual(len(wrote), 1, wrote)
        self.assertNotEqual(int(wrote[0][0]["pid"]), victim)

    def test_kill9_after_ack_before_settle_does_not_double_A3(self):
        """A3: two events in one batch; the first is written and its ack
        committed, the second holds the batch open; the worker is SIGKILLed
        before the batch records the delivery.  The redelivery skips the
        subscriber whose ack is there: still one row for the first event,
        and the second is delivered once.  One worker: with two, the other
        worker's sweep may claim one of the events, and they are no longer
        one batch (the kill then proves nothing); the master restarts it."""
        srv = self.tx_server(workers=1)
        self.assertEqual(self.call(srv, "POST", "/tx/publish?t=b&keys=kb,kc&flags=wait"),
                         {"publish": 0, "end": 0})
        (line, _), = wait_until(lambda: self.logs(srv, r"^waiting kc$"), 10 * harness.SCALE,
                                what="the second event held")
        victim = int(line["pid"])
        eid = int(self.event("kb")[0])
        wait_until(lambda: self.acks(eid), 10 * harness.SCALE, what="the first event's ack")
        (wline, _), = self.logs(srv, r"^wrote kb attempt 1$")
        self.assertEqual(int(wline["pid"]), victim)
        self.assertEqual(self.notes_with("sub-kb"), 1)
        self.assertEqual(self.event("kb")[1], "pending", "the batch settled before the kill")
        os.kill(victim, signal.SIGKILL)
        self.wait_delivered("kc")
        self.wait_delivered("kb")
        self.assertEqual(self.notes_with("sub-kb"), 1, "the acknowledged write ran twice")
        self.assertEqual(self.notes_with("sub-kc"), 1)
        self.assertEqual(len(self.logs(srv, r"^wrote kb ")), 1)
        self.assertEqual(self.acks(eid), [["txprobe", "b"]])

    def test_failed_delivery_rolls_back_its_writes_and_retries(self):
        """A subscriber that wrote and then failed has its write rolled back
        with the retry; the retry writes once and acknowledges."""
        srv = self.tx_server()
        self.call(srv, "POST", "/tx/publish?t=a&keys=kd&flags=fail")
        eid, _, attempts = self.wait_delivered("kd")
        self.assertEqual(attempts, "2")
        self.assertEqual(len(self.logs(srv, r"^failing kd$")), 1)
        self.assertEqual(self.notes_with("sub-kd"), 1)
        self.assertEqual(self.acks(eid), [["txprobe", "a"]])
        # S20: the delivery's tx_audit row exists once, from the committed
        # attempt only, in the event's tenant.
        self.assertEqual(self.audits("txprobe.sub", "sub-kd"), [["a", "-", "note", "-", "-", "ok"]])


if __name__ == "__main__":
    main()
