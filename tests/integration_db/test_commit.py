"""Commit outcome unknown (A3, A10): when the database connection is lost
while COMMIT runs, the change may or may not have been applied.  The client
must not be told "503, retry" (which says nothing happened): it gets 500
with the error code commit_unknown and no Retry-After; the host logs the
request id at error level and counts tanomu_db_commit_unknown_total.

To lose the connection exactly during COMMIT, a deferred constraint trigger
on notes sleeps inside COMMIT for one marked body; the test finds that
backend in pg_stat_activity (query COMMIT, waiting in PgSleep) and
terminates it with pg_terminate_backend as the superuser.
"""

import json

from dbharness import DbTestCase, harness, in_thread, main, wait_until

PROBE_BODY = "commit-unknown-probe"

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION commit_probe_sleep() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN PERFORM pg_sleep(600); RETURN NULL; END$$;
DROP TRIGGER IF EXISTS commit_probe_sleep ON notes;
CREATE CONSTRAINT TRIGGER commit_probe_sleep AFTER INSERT ON notes
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.body = 'commit-unknown-probe') EXECUTE FUNCTION commit_probe_sleep();
"""


class CommitUnknownTest(DbTestCase):

    def test_connection_lost_during_commit_is_commit_unknown_not_503(self):
        """A3/A10: 500 commit_unknown without Retry-After, logged with the
        request id and counted; not 503 database_unavailable."""
        # The statement timeout must not end the sleeping COMMIT first.
        srv = self.db_server(db={"statement_timeout_ms": 300000})
        self.pg.psql(TRIGGER_SQL)
        self.addCleanup(self.pg.psql, "DROP TRIGGER IF EXISTS commit_probe_sleep ON notes")
        before = srv.metrics().sum("tanomu_db_commit_unknown_total", tenant="a")
        t, box = in_thread(srv.req, "a", "POST", "/db/notes", body=PROBE_BODY,
                           timeout=60 * harness.SCALE)
        pid = wait_until(lambda: (self.pg.rows(
            "SELECT pid FROM pg_stat_activity WHERE query = 'COMMIT' "
            "AND wait_event = 'PgSleep' LIMIT 1") or [[None]])[0][0], 20,
            what="the COMMIT sleeping in its trigger")
        self.assertEqual(self.pg.scalar("SELECT pg_terminate_backend(:'pid'::int)", pid=pid), "t")
        t.join(60 * harness.SCALE)
        self.assertNotIn("error", box, box.get("error"))
        resp = box["result"]
        err = self.assertJsonError(resp, 500)
        self.assertEqual(err["code"], "commit_unknown", resp)
        self.assertIsNone(resp.get("Retry-After"), f"commit_unknown invites a retry: {resp}")
        rid = resp.get("X-Request-Id")
        self.assertTrue(rid, resp)
        line = srv.wait_log(lambda l: l.get("level") == "error" and
                            l.get("request_id") == rid and
                            "COMMIT outcome unknown" in json.dumps(l),
                            5 * harness.SCALE, what="error line naming the request id")
        self.assertIn("a", json.dumps(line))
        srv.wait_metric("tanomu_db_commit_unknown_total", lambda v: v == before + 1,
                        5 * harness.SCALE, tenant="a")
        # The worker lives on and the pool replaces the connection.
        wait_until(lambda: srv.req("a", "GET", "/db/notes").status == 200, 10,
                   what="the database serving again")
        self.assertEqual(srv.crashes(), 0)


class EndOfTransactionTest(DbTestCase):

    def test_rollback_of_nothing_calls_back_and_late_calls_are_refused_at_once(self):
        """docs/sdk.md, the database: db_rollback with nothing begun answers
        TN_OK and still calls back; a statement or an end asked after
        db_commit was asked is refused at once with TN_ESTATE (no callback),
        even while the commit still waits for the transaction to begin, as
        the testkit answers (test_db_commit_of_nothing_and_statements_after_commit)."""
        srv = self.db_server()
        r = srv.req("a", "GET", "/db/late")
        self.assertEqual(r.status, 200, r)
        got = r.json()
        self.assertEqual(got["nothing_rc"], 0)
        self.assertEqual(got["nothing_cb"], 1)       # called back, with TN_OK
        self.assertEqual(got["after_query"], -3)     # TN_ESTATE
        self.assertEqual(got["after_end"], -3)
        self.assertEqual(got["late_cb"], 0)
        self.assertEqual(got["commit"], 0)           # SELECT 1 committed


if __name__ == "__main__":
    main()
