"""Hot reload without dropping traffic (P4): SIGHUP or `tanomu reload -c FILE`
swaps the configuration generation; in-flight and keep-alive traffic goes on,
a broken configuration is refused with FILE:LINE and the old one keeps
serving, and tanomu_reloads_total{result} counts both outcomes.
"""

import http.client
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time

import harness
from harness import RawConn, ServerTestCase, build_request, in_thread, wait_until

HOST = "demo.test"


def demo_tenant(greeting, probe=True):
    feats = {"hello": {"enabled": True, "greeting": greeting}}
    if probe:
        feats["probe"] = {"enabled": True}
    return {"id": "demo", "hosts": [HOST], "features": feats}


BROKEN_TENANT = ('tenant: {\n'
                 '  id = "demo";\n'
                 '  hosts = ["demo.test"];\n'
                 '  features: {\n'
                 '    hello: {\n'
                 '      enabled = true;\n'
                 '      greeting = "never served";\n'
                 '      volume = 11;\n'          # line 8: unknown key
                 '    };\n'
                 '  };\n'
                 '};\n')
BROKEN_LINE = 8


class ReloadTest(ServerTestCase):

    def start(self, **kw):
        kw.setdefault("tenants", {"demo": demo_tenant("greeting-0")})
        kw.setdefault("name", "reload")
        return self.new_server(**kw)

    def greeting(self, srv):
        r = srv.get("/hello", host=HOST)
        self.assertEqual(r.status, 200, r)
        return r.json()["greeting"]

    def reloads(self, srv, result):
        return srv.metrics().sum("tanomu_reloads_total", result=result)

    def reload_cli(self, srv):
        return srv.cli("reload", timeout=60)

    # -- the CLI path ------------------------------------------------------------

    def test_reload_cli_serves_new_config_when_it_returns(self):
        """P4: `tanomu reload` returns 0 once the new generation serves."""
        srv = self.start()
        self.assertEqual(self.greeting(srv), "greeting-0")
        ok0 = self.reloads(srv, "ok")
        srv.write_tenant("demo", demo_tenant("greeting-1"))
        res = self.reload_cli(srv)
        self.assertEqual(res.returncode, 0, res.stderr)
        # "exits 0 only when the new generation serves": no polling here.
        for _ in range(4):   # fresh connections, whichever worker takes them
            self.assertEqual(self.greeting(srv), "greeting-1")
        srv.wait_metric("tanomu_reloads_total", lambda v: v == ok0 + 1, result="ok")
        srv.stop()

    def test_reload_rejected_keeps_old_config(self):
        """P4: a broken configuration is refused with FILE:LINE; the old one serves on."""
        srv = self.start()
        failed0 = self.reloads(srv, "failed")
        ok0 = self.reloads(srv, "ok")
        path = srv.write_tenant("demo", BROKEN_TENANT)
        res = self.reload_cli(srv)
        self.assertNotEqual(res.returncode, 0, "a broken configuration was accepted")
        m = re.search(rf"(\S*demo\.conf):{BROKEN_LINE}: ", res.stderr)
        self.assertIsNotNone(m, f"no demo.conf:{BROKEN_LINE}: on stderr:\n{res.stderr}")
        self.assertTrue(path.endswith(m.group(1).lstrip("./")) or
                        os.path.realpath(m.group(1)) == os.path.realpath(path), m.group(1))
        # Old generation still serves, on new and on existing connections.
        self.assertEqual(self.greeting(srv), "greeting-0")
        srv.wait_metric("tanomu_reloads_total", lambda v: v == failed0 + 1, result="failed")
        self.assertEqual(self.reloads(srv, "ok"), ok0)
        # And a fixed file reloads fine afterwards.
        srv.write_tenant("demo", demo_tenant("greeting-fixed"))
        res = self.reload_cli(srv)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.greeting(srv), "greeting-fixed")
        srv.stop()

    def test_reload_rejected_by_plugin_check(self):
        # The plugin's own check() (hello: shout needs a short greeting) also
        # refuses a reload, not only the host's schema.
        srv = self.start()
        bad = demo_tenant("x" * 150)
        bad["features"]["hello"]["shout"] = True
        srv.write_tenant("demo", bad)
        res = self.reload_cli(srv)
        self.assertNotEqual(res.returncode, 0)
        self.assertRegex(res.stderr, r"demo\.conf:\d+: ")
        self.assertEqual(self.greeting(srv), "greeting-0")
        srv.stop()

    def test_reload_without_server_fails(self):
        srv = harness.Server(tenants={"demo": demo_tenant("g")}, name="reload-none")
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        res = self.reload_cli(srv)
        self.assertNotEqual(res.returncode, 0, "reload succeeded with no server running")
        self.assertTrue(res.stderr.strip())

    # -- SIGHUP ----------------------------------------------------------------------

    def test_sighup_reloads(self):
        """P4: SIGHUP reloads like `tanomu reload`."""
        srv = self.start()
        self.assertEqual(srv.pid_from_file(), srv.proc.pid, "pid_file is not the master's pid")
        ok0 = self.reloads(srv, "ok")
        srv.write_tenant("demo", demo_tenant("greeting-hup"))
        srv.send_signal(signal.SIGHUP)
        wait_until(lambda: self.greeting(srv) == "greeting-hup", 10,
                   what="new greeting after SIGHUP")
        srv.wait_metric("tanomu_reloads_total", lambda v: v == ok0 + 1, result="ok")
        self.assertTrue(srv.alive())
        srv.stop()

    # -- in-flight and keep-alive traffic ----------------------------------------------

    def test_inflight_request_survives_reload(self):
        """P4: a request in flight during a reload completes."""
        srv = self.start()
        conn = RawConn(srv.port)
        self.addCleanup(conn.close)
        # A keep-alive connection that has served one request already.
        self.assertEqual(conn.request("GET", "/hello", HOST).status, 200)
        conn.send(build_request("GET", "/probe/slow?ms=1500", HOST))
        wait_until(lambda: "probe slow start" in srv.stdout(), 10,
                   what="the slow request to be in flight")
        srv.write_tenant("demo", demo_tenant("greeting-2"))
        t, box = in_thread(self.reload_cli, srv)
        r = conn.read_response(timeout=15)
        self.assertEqual((r.status, r.json()), (200, {"slept": 1500}), r)
        t.join(60 * harness.SCALE)
        self.assertIn("result", box, box.get("error"))
        self.assertEqual(box["result"].returncode, 0, box["result"].stderr)
        # The old connection either goes on (next request served, by any
        # generation) or was closed politely with Connection: close.
        if (r.get("Connection") or "").lower() == "close":
            self.assertTrue(conn.wait_closed(5))
        else:
            r2 = conn.request("GET", "/hello", HOST)
            self.assertEqual(r2.status, 200, r2)
        self.assertEqual(self.greeting(srv), "greeting-2")
        srv.stop()

    def test_reload_enables_feature(self):
        """P3, P4: a tenant turns a feature on by configuration and reload."""
        # P3 + P4: a tenant turns a feature on by configuration and reload.
        srv = self.start(tenants={"demo": demo_tenant("g", probe=False)})
        self.assertEqual(srv.get("/probe/label", host=HOST).status, 404)
        srv.write_tenant("demo", demo_tenant("g", probe=True))
        self.assertEqual(self.reload_cli(srv).returncode, 0)
        self.assertEqual(srv.get("/probe/label", host=HOST).status, 200)
        srv.stop()

    def test_reload_loads_added_plugin(self):
        """P4: plugin builds are added by a reload, without a restart."""
        # P4 "and plugin builds": a plugin added to the load list is served
        # after a reload, without a restart.
        srv = self.start(plugins=("hello", "probe", "crashy"), load=["hello", "probe"])
        pid = srv.proc.pid
        srv.load = ["hello", "probe", "crashy"]
        srv.write_conf()
        t = demo_tenant("g")
        t["features"]["crashy"] = {"enabled": True}
        srv.write_tenant("demo", t)
        res = self.reload_cli(srv)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(srv.get("/crashy/ok", host=HOST).status, 200)
        self.assertEqual(srv.pid_from_file(), pid)
        srv.stop()

    def test_many_reloads_under_load_drop_nothing(self):
        """P4: wrk against /hello while reloading >= 20 times; zero non-2xx
        responses and zero socket errors."""
        min_reloads = 20
        duration = int(25 * harness.SCALE)
        # Access logging off: at wrk's rate it would write gigabytes of
        # lines this test does not look at.
        srv = self.start(conf={"logging": {"access": False}}, name="reload-wrk")
        wrk_timeout = f"{int(2 * harness.SCALE + 0.5)}s"   # wrk's default, scaled
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c16", f"-d{duration}s", "--timeout", wrk_timeout,
             "-H", f"Host: {HOST}", f"http://127.0.0.1:{srv.port}/hello"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: wrk.poll() is None and wrk.kill())
        t0 = time.monotonic()
        # Spread the reloads over the run (pacing, not waiting for state),
        # leaving the last seconds of the run without a reload in flight.
        interval = (duration - 4) / (min_reloads + 2)
        done = 0
        failures = []
        while done < min_reloads + 2 and time.monotonic() - t0 < duration - 3:
            greeting = f"greeting-{done + 1}"
            srv.write_tenant("demo", demo_tenant(greeting))
            res = self.reload_cli(srv)
            if res.returncode != 0:
                failures.append(f"reload {done + 1}: exit {res.returncode}: {res.stderr}")
                break
            got = self.greeting(srv)
            if got != greeting:
                failures.append(f"reload {done + 1}: served {got!r}, wanted {greeting!r}")
                break
            done += 1
            next_at = t0 + (done + 1) * interval
            while time.monotonic() < next_at and wrk.poll() is None:
                time.sleep(0.02)
        still_running = wrk.poll() is None
        out, _ = wrk.communicate(timeout=duration + 30 * harness.SCALE)
        self.assertEqual(failures, [])
        self.assertTrue(still_running, f"wrk ended before the reloads did:\n{out}")
        self.assertGreaterEqual(done, min_reloads, f"only {done} reloads under load")
        self.assertEqual(wrk.returncode, 0, out)
        m = re.search(r"(\d+) requests in", out)
        self.assertIsNotNone(m, out)
        self.assertGreater(int(m.group(1)), 1000, f"too little traffic to mean anything:\n{out}")
        # wrk prints these two lines only when a count is non-zero; parse
        # them anyway, in case a version prints zeros.
        non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
        self.assertEqual(int(non2xx.group(1)) if non2xx else 0, 0,
                         f"wrk saw non-2xx responses:\n{out}")
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                           r"timeout (\d+)", out)
        self.assertEqual(sum(map(int, errors.groups())) if errors else 0, 0,
                         f"wrk saw socket errors:\n{out}")
        srv.wait_metric("tanomu_reloads_total", lambda v: v >= done, result="ok")
        sys.stderr.write(f"\n[reload under load] {done} reloads; wrk: "
                         + " | ".join(l.strip() for l in out.splitlines()
                                      if re.search(r"requests in|Requests/sec|Socket|Non-2xx", l))
                         + "\n")
        srv.stop()


class Load:
    """A client thread that asks for /hello on fresh connections without a
    pause, over plain HTTP and TLS in turn, and records every failure."""

    def __init__(self, srv, timeout=5.0):
        self.srv, self.timeout = srv, timeout
        self.ctx = None
        if srv.tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ctx.load_verify_locations(srv.cert)
        self.done = threading.Event()
        self.errors, self.count = [], 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def one(self, tls):
        t = self.timeout * harness.SCALE
        if tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.srv.tls_port, timeout=t,
                                               context=self.ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=t)
        try:
            conn.request("GET", "/hello", headers={"Host": HOST})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    def run(self):
        tls = False
        while not self.done.is_set():
            tls = not tls and self.ctx is not None
            try:
                status = self.one(tls)
                if status != 200:
                    self.errors.append(f"{'https' if tls else 'http'}: status {status}")
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(f"{'https' if tls else 'http'}: {e!r}")
            self.count += 1

    def stop(self):
        self.done.set()
        self.thread.join(30 * harness.SCALE)
        return self.errors


class ReloadFailureTest(ServerTestCase):
    """P1, P4: a refused reload never touches the generation that serves,
    however many reloads came before it, and a reload asked for while
    another runs is carried out after it."""

    def reloads(self, srv, result):
        return srv.metrics().sum("tanomu_reloads_total", result=result)

    def greeting(self, srv, timeout=5.0):
        r = srv.get("/hello", host=HOST, timeout=timeout)
        self.assertEqual(r.status, 200, r)
        return r.json()["greeting"]

    def reload(self, srv, how, good):
        """One reload by `tanomu reload` or SIGHUP; asserts its outcome."""
        ok0, failed0 = self.reloads(srv, "ok"), self.reloads(srv, "failed")
        if how == "cli-early":
            # `tanomu reload` reads the files itself (for the pid file) and
            # refuses one that does not parse before it signals.
            res = srv.cli("reload", timeout=60)
            self.assertNotEqual(res.returncode, 0, "a broken configuration was accepted")
            self.assertRegex(res.stderr, r"demo\.conf:\d+: ")
        elif how == "cli":
            res = srv.cli("reload", timeout=60)
            if good:
                self.assertEqual(res.returncode, 0, res.stderr)
            else:
                self.assertNotEqual(res.returncode, 0, "a broken configuration was accepted")
                self.assertIn("reload rejected", res.stderr)
        else:
            srv.send_signal(signal.SIGHUP)
        want_ok = ok0 + (1 if good else 0)
        want_failed = failed0 + (0 if good or how == "cli-early" else 1)
        srv.wait_metric("tanomu_reloads_total", lambda v: v == want_ok, 30, result="ok")
        srv.wait_metric("tanomu_reloads_total", lambda v: v == want_failed, 30, result="failed")

    def test_good_and_bad_reloads_mixed_under_load(self):
        """P1: good and refused reloads in any order, by `tanomu reload` and
        by SIGHUP, a missing certificate or a tenant file that does not
        parse: no request fails and /readyz is ready after each."""
        srv = self.new_server(tls=True, name="reload-mixed",
                              tenants={"demo": demo_tenant("greeting-0")},
                              conf={"logging": {"access": False}})
        load = Load(srv)
        self.addCleanup(load.stop)
        # (`tanomu reload` reads the tenant files itself and refuses a
        # broken one before it signals: only SIGHUP brings one to the master.)
        steps = [("good", "cli"), ("bad-cert", "cli"), ("bad-tenant", "hup"), ("good", "hup"),
                 ("bad-tenant", "cli-early"), ("bad-tenant", "hup"), ("bad-cert", "hup"),
                 ("good", "cli"), ("bad-cert", "cli"), ("good", "hup"), ("bad-tenant", "hup")]
        serving = "greeting-0"
        for i, (kind, how) in enumerate(steps, 1):
            step = f"step {i}: {kind} reload by {how}"
            if kind == "good":
                serving = f"greeting-{i}"
                srv.write_tenant("demo", demo_tenant(serving))
            elif kind == "bad-tenant":
                srv.write_tenant("demo", BROKEN_TENANT[:-4])   # unbalanced braces
            else:
                os.rename(srv.cert, srv.cert + ".away")
            try:
                self.reload(srv, how, kind == "good")
            finally:
                if kind == "bad-cert":
                    os.rename(srv.cert + ".away", srv.cert)
                elif kind == "bad-tenant":
                    srv.write_tenant("demo", demo_tenant(serving))
            wait_until(lambda: srv.admin_get("/readyz", timeout=2).status == 200, 5,
                       what=f"/readyz ready after {step}")
            for _ in range(4):   # fresh connections, whichever worker takes them
                self.assertEqual(self.greeting(srv), serving, step)
            self.assertEqual(load.errors, [], step)
        errors = load.stop()
        self.assertEqual(errors, [])
        self.assertGreater(load.count, len(steps), "the load thread hardly ran")
        sys.stderr.write(f"\n[mixed reloads] {len(steps)} reloads, {load.count} requests, "
                         f"{len(errors)} errors\n")
        srv.stop()

    def test_reload_asked_for_during_a_failing_reload_is_carried_out(self):
        """P4: SIGHUP while a reload runs is not lost: when the running one
        is refused (by a plugin, in the new workers), the next one still
        starts, and the refused workers, killed as it starts, do not count
        against it."""
        srv = self.new_server(name="reload-queued", workers=2,
                              tenants={"demo": demo_tenant("greeting-0")})
        for i in range(1, 4):
            ok0, failed0 = self.reloads(srv, "ok"), self.reloads(srv, "failed")
            bad = demo_tenant("x" * 150)
            bad["features"]["hello"]["shout"] = True   # refused by hello's check()
            srv.write_tenant("demo", bad)
            srv.send_signal(signal.SIGHUP)
            # The refused reload's workers are loading (or, on a slow run,
            # the reload is over already, and the next one simply follows).
            wait_until(lambda: len(srv.worker_pids()) > 2 or
                       self.reloads(srv, "failed") != failed0, 10, interval=0.002,
                       what="the refused reload to start its workers")
            srv.write_tenant("demo", demo_tenant(f"greeting-{i}"))
            srv.send_signal(signal.SIGHUP)
            srv.wait_metric("tanomu_reloads_total", lambda v: v == ok0 + 1, 30, result="ok")
            self.assertEqual(self.reloads(srv, "failed"), failed0 + 1)
            self.assertEqual(self.greeting(srv), f"greeting-{i}")
            wait_until(lambda: srv.admin_get("/readyz", timeout=2).status == 200, 5,
                       what="/readyz ready")
        srv.stop()

    def test_reload_during_startup_runs_once_the_first_generation_serves(self):
        """P4: SIGHUP as soon as the pid file exists, while the first workers
        are still starting, neither ends the master nor is lost, nor leaves
        it not ready: the reload runs once the first generation serves."""
        srv = self.new_server(start=False, name="reload-startup",
                              tenants={"demo": demo_tenant("greeting-0")})
        srv.start(wait_ready=False)
        wait_until(lambda: os.path.exists(srv.pid_file), 10, interval=0.0005,
                   what="the pid file")
        srv.write_tenant("demo", demo_tenant("greeting-1"))
        srv.send_signal(signal.SIGHUP)
        srv.wait_ready()
        srv.wait_metric("tanomu_reloads_total", lambda v: v == 1, 10, result="ok")
        self.assertEqual(self.greeting(srv), "greeting-1")
        self.assertEqual(srv.admin_get("/readyz").status, 200)
        srv.stop()

    def test_new_worker_dying_after_ready_fails_the_reload_at_once(self):
        """P4: a new worker that reported ready and then died fails its
        reload at once, not at server.reload_timeout_ms; the old generation
        serves on and the new worker still starting is killed."""
        srv = self.new_server(name="reload-death", workers=2,
                              tenants={"demo": demo_tenant("greeting-0")},
                              conf={"server": {"reload_timeout_ms": 120000}})
        old = set(srv.worker_pids())
        failed0 = self.reloads(srv, "failed")
        for attempt in range(5):
            ok0 = self.reloads(srv, "ok")
            srv.write_tenant("demo", demo_tenant(f"greeting-{attempt + 1}"))
            srv.send_signal(signal.SIGHUP)
            # Hold back the first new worker before it can report ready...
            new = wait_until(lambda: set(srv.worker_pids()) - old, 10, interval=0.001,
                             what="a new worker")
            held = min(new)
            os.kill(held, signal.SIGSTOP)
            self.addCleanup(lambda p=held: os.path.exists(f"/proc/{p}") and
                            os.kill(p, signal.SIGCONT))
            # ...while the other one serves: it answers with the new greeting.
            wait_until(lambda: self.greeting(srv) == f"greeting-{attempt + 1}" or
                       self.reloads(srv, "ok") != ok0, 10, interval=0.01,
                       what="the other new worker serving")
            if self.reloads(srv, "ok") == ok0:
                break
            # Both were ready before the stop, and the reload went through:
            # let the held one run and try again.
            os.kill(held, signal.SIGCONT)
            old = set(srv.worker_pids())
        else:
            self.skipTest("could not stop a new worker before it was ready")
        serving = set(srv.worker_pids()) - old - {held}
        self.assertEqual(len(serving), 1, serving)
        t0 = time.monotonic()
        os.kill(serving.pop(), signal.SIGKILL)
        srv.wait_metric("tanomu_reloads_total", lambda v: v == failed0 + 1, 10,
                        result="failed")
        self.assertLess(time.monotonic() - t0, 60, "the reload waited for its timeout")
        self.assertEqual(self.reloads(srv, "ok"), ok0)
        wait_until(lambda: held not in srv.worker_pids(), 10, what="the held worker killed")
        self.assertLessEqual(set(srv.worker_pids()), old)
        self.assertEqual(self.greeting(srv), f"greeting-{attempt}")
        self.assertEqual(srv.admin_get("/readyz").status, 200)
        res = srv.cli("reload", timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.greeting(srv), f"greeting-{attempt + 1}")
        srv.stop()


if __name__ == "__main__":
    harness.main()
