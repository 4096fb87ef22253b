"""Crash circuit breaker (A1, A2, S21): a route that keeps killing its worker
for one tenant is answered 503 for that tenant after server.breaker.crashes
crashes within window_ms, without running it (so no more workers die),
while other tenants and routes keep being served; the trip is logged and
counted; after cooldown_ms one request is let through (half-open), and a
reload closes the breaker.
"""

import json
import threading

import harness
from harness import RawConn, ServerTestCase, build_request, wait_until

FEATURES = {"hello": {"enabled": True, "greeting": "hi"}, "crashy": {"enabled": True}}
TENANTS = {
    "t1": {"id": "t1", "hosts": ["t1.test"], "features": FEATURES},
    "t2": {"id": "t2", "hosts": ["t2.test"], "features": FEATURES},
}


def breaker_conf(crashes, cooldown_ms):
    return {"server": {"breaker": {"crashes": crashes, "window_ms": 600000,
                                   "cooldown_ms": cooldown_ms}}}


class Traffic:
    """Another tenant's requests in a loop on fresh connections, each
    outcome recorded: 200s, other statuses, and exceptions."""

    def __init__(self, srv, host, paths):
        self.srv, self.host, self.paths = srv, host, paths
        self.ok = 0
        self.bad = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop_ev.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                r = self.srv.get(path, host=self.host, timeout=10 * harness.SCALE)
                if r.status == 200:
                    self.ok += 1
                else:
                    self.bad.append((path, r.status))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.bad.append((path, repr(e)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.stop_ev.set()
        self.thread.join(30 * harness.SCALE)


class BreakerTest(ServerTestCase):

    def start(self, crashes=3, cooldown_ms=600000):
        return self.new_server(plugins=("hello", "crashy"), tenants=TENANTS, name="breaker",
                               workers=2, conf=breaker_conf(crashes, cooldown_ms))

    def crash(self, srv, host="t1.test"):
        """GET /crash that kills its worker; waits for the restart."""
        restarts0 = srv.metrics().sum("tanomu_worker_restarts_total")
        c = RawConn(srv.port)
        self.addCleanup(c.close)
        c.send(build_request("GET", "/crash", host))
        try:
            r = c.read_response(timeout=10 * harness.SCALE)
            self.assertGreaterEqual(r.status, 500, f"/crash answered {r}")
        except (EOFError, ConnectionResetError):
            pass
        srv.wait_metric("tanomu_worker_restarts_total", lambda v: v >= restarts0 + 1,
                        10 * harness.SCALE)

    def crashes(self, srv):
        return srv.metrics().sum("tanomu_worker_crashes_total", plugin="crashy")

    def assert_refused(self, resp):
        self.assertEqual(resp.status, 503, resp)
        self.assertEqual(resp.json()["error"]["code"], "route_unavailable", resp)
        self.assertTrue(resp.get("Retry-After", "").isdigit(), resp)
        self.assertGreaterEqual(int(resp.get("Retry-After")), 1, resp)
        self.assertStandardHeaders(resp)

    def trip(self, srv, n):
        for _ in range(n):
            self.crash(srv)
        srv.wait_metric("tanomu_route_breaker_open", lambda v: v == 1, 5 * harness.SCALE,
                        plugin="crashy", route="/crash", tenant="t1")

    def test_trips_after_n_crashes_and_contains_them(self):
        """A1/S21: after 3 crashes t1's /crash is refused with 503, no worker
        dies any more, and t2 (same plugin) is served with zero errors."""
        srv = self.start(crashes=3)
        for _ in range(2):
            self.crash(srv)
        self.assertEqual(srv.metrics().sum("tanomu_route_breaker_open"), 0,
                         "open before the threshold")
        self.crash(srv)
        srv.wait_metric("tanomu_route_breaker_open", lambda v: v == 1, 5 * harness.SCALE,
                        plugin="crashy", route="/crash", tenant="t1")
        self.assertEqual(srv.metrics().sum("tanomu_route_breaker_trips_total", plugin="crashy",
                                           route="/crash", tenant="t1"), 1)
        # One line on trip naming plugin, route, tenant and count.
        srv.wait_log(lambda l: "circuit breaker open:" in json.dumps(l)
                     and all(w in json.dumps(l) for w in ("crashy", "/crash", "t1", "3 times")),
                     5, what="breaker trip log line")
        crashes0 = self.crashes(srv)
        restarts0 = srv.metrics().sum("tanomu_worker_restarts_total")
        with Traffic(srv, "t2.test", ["/crashy/ok", "/hello"]) as other:
            for _ in range(30):
                self.assert_refused(srv.get("/crash", host="t1.test"))
            # The plugin's other routes still serve t1.
            self.assertEqual(srv.get("/crashy/ok", host="t1.test").status, 200)
            wait_until(lambda: other.ok >= 50, 10, what="t2 traffic")
        self.assertEqual(other.bad, [], "t2 saw errors while t1's route was open")
        self.assertEqual(self.crashes(srv), crashes0, "a worker crashed after the trip")
        self.assertEqual(srv.metrics().sum("tanomu_worker_restarts_total"), restarts0)
        self.assertGreaterEqual(srv.metrics().sum("tanomu_route_breaker_rejected_total",
                                                  tenant="t1", route="/crash"), 30)
        self.assertEqual(srv.admin_get("/readyz").status, 200)
        srv.stop()

    def test_other_tenant_has_its_own_breaker(self):
        """S21: t1's open breaker does not refuse t2 on the same route."""
        srv = self.start(crashes=2)
        self.trip(srv, 2)
        self.assert_refused(srv.get("/crash", host="t1.test"))
        r = srv.get("/crash?survive=1", host="t2.test")
        self.assertEqual(r.status, 200, r)
        srv.stop()

    def test_half_open_after_cooldown(self):
        """After the cool-down one request runs: a crash reopens the breaker,
        a success closes it."""
        srv = self.start(crashes=2, cooldown_ms=int(1500 * harness.SCALE))
        self.trip(srv, 2)
        self.assert_refused(srv.get("/crash", host="t1.test"))
        crashes0 = self.crashes(srv)
        # The probe crashes: the breaker opens again, counted as a trip.
        wait_until(lambda: self.crashes(srv) > crashes0 or
                   self.probe_once(srv, "/crash"), 20, what="the half-open probe")
        srv.wait_metric("tanomu_route_breaker_trips_total", lambda v: v == 2, 5 * harness.SCALE,
                        plugin="crashy", route="/crash", tenant="t1")
        self.assertEqual(self.crashes(srv), crashes0 + 1)
        srv.wait_log(lambda l: "crashed on the half-open probe" in json.dumps(l), 5,
                     what="reopen log line")
        self.assert_refused(srv.get("/crash", host="t1.test"))
        # The next probe succeeds (the route is "fixed"): closed.
        wait_until(lambda: srv.get("/crash?survive=1", host="t1.test").status == 200, 20,
                   what="the second half-open probe")
        srv.wait_metric("tanomu_route_breaker_open", lambda v: v == 0, 5 * harness.SCALE,
                        plugin="crashy", route="/crash", tenant="t1")
        for _ in range(5):
            self.assertEqual(srv.get("/crash?survive=1", host="t1.test").status, 200)
        srv.stop()

    def probe_once(self, srv, path):
        """One request to path for t1: True once it was not refused."""
        try:
            r = srv.get(path, host="t1.test", timeout=10 * harness.SCALE)
        except Exception:  # noqa: BLE001 - the probe crashed its worker
            return True
        return r.status != 503

    def test_reload_closes_breaker(self):
        """P4: a reload (maybe with a fixed plugin) closes every breaker."""
        srv = self.start(crashes=2)
        self.trip(srv, 2)
        self.assert_refused(srv.get("/crash", host="t1.test"))
        res = srv.cli("reload", timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        srv.wait_metric("tanomu_route_breaker_open", lambda v: v == 0, 5 * harness.SCALE,
                        plugin="crashy", route="/crash", tenant="t1")
        self.assertEqual(srv.get("/crash?survive=1", host="t1.test").status, 200)
        # And it counts from zero again: one crash does not trip it.
        self.crash(srv)
        self.assertEqual(srv.metrics().sum("tanomu_route_breaker_open"), 0)
        srv.stop()

    def test_disabled_with_zero(self):
        srv = self.start(crashes=0)
        for _ in range(4):
            self.crash(srv)
        self.assertEqual(srv.metrics().sum("tanomu_route_breaker_trips_total"), 0)
        srv.stop()


if __name__ == "__main__":
    harness.main()
