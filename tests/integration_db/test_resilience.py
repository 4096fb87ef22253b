"""The database failing under the host: outages, a full pool, slow
statements (A4, A3, S16).

What a client sees when the database cannot serve is a 503 with Retry-After
and a JSON error, never a hang, a 500 or a dropped connection; /readyz says
503 meanwhile so a load balancer stops sending; no worker dies; and the
service comes back by itself once the database does.
"""

import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, harness, main, wait_until  # noqa: E402


class Load:
    """Clients on keep-alive connections looping over database routes,
    recording every outcome with the time it came back."""

    def __init__(self, srv, nclients=3):
        self.srv = srv
        self.results = []          # (monotonic time, path, status, Response or exception)
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(nclients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop()

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(30)

    def _run(self, i):
        conn = None
        k = 0
        while not self.stopping:
            k += 1
            tenant = ("a", "b")[(i + k) % 2]
            if (i + k) % 3 == 0:
                method, path, body = "POST", "/db/notes", f"load {i} {k}"
            else:
                method, path, body = "GET", f"/db/echo?v=load-{i}-{k}", None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.srv.port,
                                                      timeout=10 * harness.SCALE)
                conn.request(method, path, body=body, headers={"Host": f"{tenant}.test"})
                r = conn.getresponse()
                data = r.read()
                resp = harness.Response(r.status, r.reason, list(r.getheaders()), data)
                out = (time.monotonic(), path, r.status, resp)
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                out = (time.monotonic(), path, None, e)
                conn = None
            with self.lock:
                self.results.append(out)
        if conn is not None:
            conn.close()

    def since(self, t0):
        with self.lock:
            return [x for x in self.results if x[0] >= t0]

    def count(self, t0, pred):
        return sum(1 for x in self.since(t0) if pred(x))


class ResilienceTest(DbTestCase):

    def tearDown(self):
        # Whatever happened, leave the cluster running for the next test.
        if not self.pg.running():
            self.pg.start()

    def test_database_outage_mid_load_A4(self):
        """A4: PostgreSQL stopped under load.  Database routes answer 503 +
        Retry-After + JSON (nothing else: no reset, and no 500 but the
        commit_unknown of a write caught mid-COMMIT, A3), /readyz turns
        503 while /healthz stays 200, no worker crashes or restarts; once
        the database is started again the service returns by itself within
        seconds, and durable events flow again."""
        srv = self.db_server(workers=2)
        pids = srv.worker_pids()
        self.assertEqual(len(pids), 2)
        with Load(srv) as load:
            t_start = time.monotonic()
            wait_until(lambda: load.count(t_start, lambda x: x[2] in (200, 201)) >= 30, 10,
                       what="load running")
            t_stop = time.monotonic()
            self.pg.stop()
            wait_until(lambda: srv.admin_get("/readyz", timeout=2).status == 503, 10,
                       what="/readyz 503 with the database down")
            wait_until(lambda: load.count(t_stop, lambda x: x[2] == 503) >= 30, 10,
                       what="503s under load")
            self.assertDbUnavailable(srv.req("a", "GET", "/db/echo?v=down"))
            r = srv.req("b", "POST", "/db/notes", body="while down")
            self.assertDbUnavailable(r)
            self.assertEqual(srv.admin_get("/healthz").status, 200)
            t_down = time.monotonic()
            # Down for a while: answers stay fast 503s, nothing queues up.
            wait_until(lambda: load.count(t_down, lambda x: x[2] == 503) >= 20, 10,
                       what="503s after the pool noticed")
            self.assertEqual(load.count(t_down, lambda x: x[2] in (200, 201)), 0)
            self.assertEqual(srv.admin_get("/readyz").status, 503)

            self.pg.start()
            t_up = time.monotonic()
            wait_until(lambda: srv.req("a", "GET", "/db/echo?v=up", timeout=5).status == 200,
                       15, interval=0.1, what="service back after the database restart")
            wait_until(lambda: srv.admin_get("/readyz", timeout=2).status == 200, 10,
                       what="/readyz 200 again")
            back_after = time.monotonic() - t_up
            # Each worker's pool reconnects on its own backoff (<= 2 s):
            # soon every answer is a success again.
            wait_until(lambda: all(srv.req("b", "GET", "/db/echo?v=all").status == 200
                                   for _ in range(12)), 10, interval=0.2,
                       what="every worker serving again")
            wait_until(lambda: load.count(time.monotonic() - 0.5,
                                          lambda x: x[2] in (200, 201)) >= 10, 10,
                       what="load served again")
        sys.stderr.write(f"[resilience] service back {back_after:.2f}s after the database\n")

        statuses = {}
        for _, path, status, resp in load.results:
            statuses[status] = statuses.get(status, 0) + 1
            if status is None:
                self.fail(f"{path}: connection error {resp!r}")
            self.assertIn(status, (200, 201, 500, 503), (path, resp))
            if status == 503:
                self.assertDbUnavailable(resp)
            if status == 500:
                # A write whose COMMIT was in flight when the server went
                # away: its outcome is unknown, and said so (A3).
                err = self.assertJsonError(resp, 500)
                self.assertEqual((path, err["code"]), ("/db/notes", "commit_unknown"), resp)
                self.assertIsNone(resp.get("Retry-After"), resp)
        self.assertGreater(statuses.get(503, 0), 0)
        self.assertEqual(srv.crashes(), 0)
        self.assertEqual(srv.metrics().sum("tanomu_worker_restarts_total"), 0)
        self.assertEqual(srv.worker_pids(), pids)
        # Durable events after the reconnect (a 503 is retried, as
        # Retry-After asks, in case this lands on a worker still reconnecting).
        r = wait_until(lambda: (lambda r: r if r.status == 201 else None)(
            srv.req("a", "POST", "/db/notes", body="after the outage")), 10, interval=0.5,
            what="a note created after the outage")
        nid = r.json()["id"]
        wait_until(lambda: [r for r in self.pg.outbox_rows(nid) if r["state"] == "delivered"],
                   10, what="event delivered after the outage")

    def test_start_without_database_A4(self):
        """A4: a host started while the database is down serves (503s),
        says not ready, and becomes ready when the database comes up."""
        srv = self.db_server(start=False)  # migrated while the cluster runs
        self.pg.stop()
        srv.start(wait_ready=False)
        wait_until(lambda: srv.admin_get("/healthz", timeout=2).status == 200, 10,
                   what="admin listener")
        self.assertDbUnavailable(wait_until(
            lambda: (lambda r: r if r.status == 503 else None)(
                srv.req("a", "GET", "/db/echo?v=x")), 10, what="503 from a database route"))
        # (Polled: a worker counts as "no database" until its first pool
        # check, a moment after it starts; see the report.)
        wait_until(lambda: srv.admin_get("/readyz", timeout=2).status == 503, 5,
                   what="/readyz 503 with the database down")
        for _ in range(5):
            self.assertEqual(srv.admin_get("/readyz").status, 503)
            time.sleep(0.1)  # spaced samples of a steady state, not a wait for one
        self.pg.start()
        wait_until(lambda: srv.admin_get("/readyz", timeout=2).status == 200, 15,
                   what="ready once the database is up")
        # Ready means one worker has a connection; each worker's pool
        # reconnects on its own backoff (at most ~2 s): soon all serve.
        wait_until(lambda: all(srv.req("a", "GET", "/db/echo?v=x").body == b"x"
                               for _ in range(10)), 10, interval=0.2,
                   what="every worker serving")
        self.assertEqual(srv.crashes(), 0)

    def test_pool_exhaustion_fails_fast_A4(self):
        """A4: one worker, pool_size 2, queue_max 2: six concurrent slow
        requests.  Two get connections and succeed; the four others are
        refused with a 503 + Retry-After before either connection frees (two
        find the queue full, two time out in it: which is which is only
        visible in time, so tests/db/test_pool.c tells EBUSY from ETIMEDOUT);
        /readyz stays 200 (busy is not down); nothing crashes; afterwards
        the pool serves normally."""
        qt = 0.5 * harness.SCALE
        sleep_s = 4.0 * harness.SCALE   # well past qt, so the order below holds
        srv = self.db_server(workers=1, db={"pool_size": 2, "queue_max": 2,
                                            "queue_timeout_ms": int(qt * 1000)})
        rejected0 = srv.metrics().sum("tanomu_db_pool_rejected_total")
        n = 6
        barrier = threading.Barrier(n)
        out = [None] * n
        order = []                      # indexes, in the order answers came
        lock = threading.Lock()

        def one(i):
            barrier.wait()
            r = srv.req(("a", "b")[i % 2], "GET", f"/db/sleep?ms={int(sleep_s * 1000)}",
                        timeout=30)
            with lock:
                out[i] = r
                order.append(i)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        wait_until(lambda: sum(1 for r in out if r and r.status == 503) >= 2, 10,
                   what="refusals while the pool is busy")
        self.assertEqual(srv.admin_get("/readyz").status, 200, "a busy pool is not down")
        for t in threads:
            t.join(60)
        self.assertTrue(all(out), out)
        ok = [i for i in order if out[i].status == 200]
        refused = [i for i in order if out[i].status != 200]
        self.assertEqual(len(ok), 2, out)
        for i in refused:
            self.assertDbUnavailable(out[i])
        # Refusals do not wait for a connection: every one came back before
        # either sleep ended (an order of events, not a stopwatch).
        self.assertEqual(order[:4], refused, f"a refusal waited for a connection: {order}")
        # Counted (at least these four: the outbox sweeper shares the pool
        # and can be refused too).
        srv.wait_metric("tanomu_db_pool_rejected_total", lambda v: v >= rejected0 + 4, 5)
        # The pool is whole again: two at once succeed.
        res = [None, None]

        def echo(i):
            res[i] = srv.req("a", "GET", f"/db/echo?v=after{i}")
        ts = [threading.Thread(target=echo, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual([(r.status, r.body) for r in res], [(200, b"after0"), (200, b"after1")])
        self.assertEqual(srv.crashes(), 0)

    def test_statement_timeout_A4(self):
        """A4: a statement over statement_timeout_ms is cancelled by the
        server: the request gets a JSON 5xx error, not before the limit,
        because PostgreSQL cancelled the statement (SQLSTATE 57014, not the
        statement running its own time out), the error log carries only
        the SQLSTATE (S16), and the connection is reusable."""
        limit = 0.5 * harness.SCALE
        srv = self.db_server(workers=1, db={"pool_size": 1,
                                            "statement_timeout_ms": int(limit * 1000)})
        t0 = time.monotonic()
        r = srv.req("a", "GET", f"/db/sleep?ms={int(limit * 6000)}", timeout=30)
        took = time.monotonic() - t0
        self.assertIn(r.status, (500, 503, 504), r)
        self.assertJsonError(r, r.status)
        # A lower bound only: the server cannot cancel before the limit, but
        # a loaded machine can answer late (57014 below shows who ended it).
        self.assertGreaterEqual(took, limit * 0.9)
        rid = r.get("X-Request-Id")
        line = srv.wait_log(lambda l: l.get("request_id") == rid and "sqlstate" in l.get("msg", ""),
                            what="database error line")
        self.assertIn("57014", line["msg"])
        self.assertNotIn("statement timeout", r.body.decode())
        for i in range(3):
            r = srv.req("b", "GET", f"/db/echo?v=again{i}")
            self.assertEqual((r.status, r.body), (200, f"again{i}".encode()))
        self.assertEqual(srv.crashes(), 0)

    def test_client_gone_mid_statement_A4(self):
        """A4: a client that hangs up while its statement runs costs nothing
        lasting: its transaction ends, the single pooled connection comes
        back for the next request, no worker dies (and, under ASan, nothing
        touches the finished request)."""
        # The queue wait must outlast the sleep: the sleep is long so that a
        # loaded machine's slow psql poll still sees it running.
        srv = self.db_server(workers=1, db={"pool_size": 1, "queue_timeout_ms": 15000})
        before = self.pg.count("notes")
        with srv.raw() as c:
            c.send(harness.build_request("GET", "/db/sleep?ms=3000", "a.test"))
            wait_until(lambda: self.pg.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = 'tanomu_app' "
                "AND query LIKE 'SELECT pg_sleep%';") == "1", 5, what="the sleep running")
        # Gone.  The next request waits for the connection, then gets it.
        r = srv.req("b", "GET", "/db/echo?v=next", timeout=15)   # the wait is bounded
        self.assertEqual((r.status, r.body), (200, b"next"))
        # A hung-up POST: whatever the plugin did, the pool stays whole.
        with srv.raw() as c:
            c.send(harness.build_request("POST", "/db/notes", "a.test", body="hung up"))
        for i in range(3):
            r = srv.req("a", "GET", f"/db/echo?v=again{i}")
            self.assertEqual(r.status, 200, r)
        self.assertLessEqual(self.pg.count("notes"), before + 1)
        self.assertEqual(srv.crashes(), 0)

    def test_sigterm_drains_database_requests_A4(self):
        """A4: SIGTERM while a database request runs: the request still gets
        its answer (drain), then the host exits 0 with its transactions
        ended and no worker left (checked by stop())."""
        srv = self.db_server(workers=1)
        t, box = harness.in_thread(srv.req, "a", "GET", "/db/sleep?ms=3000", timeout=15)
        wait_until(lambda: self.pg.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'tanomu_app' "
            "AND query LIKE 'SELECT pg_sleep%';") == "1", 5, what="the sleep running")
        self.assertEqual(srv.stop(), 0)
        t.join(15)
        self.assertNotIn("error", box, box)
        self.assertEqual(box["result"].status, 200, box["result"])
        wait_until(lambda: self.pg.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'tanomu_app';") == "0", 5,
            what="the pool's connections closed")


if __name__ == "__main__":
    main()
