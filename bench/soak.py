"""bench/soak.py - the driver of bench/soak.sh (see there): load, events,
error classification and RSS samples against a running tanomu."""

import argparse
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "integration"))
import harness  # noqa: E402  (child_pids; the harness itself is not run)

HOST = "soak.localhost"
GOOD_TENANT = ('tenant: {{\n  id = "soak";\n  hosts = ["soak.localhost"];\n'
               '  features: {{ hello: {{ enabled = true; greeting = "{g}"; }};'
               ' dbprobe: {{ enabled = true; }}; }};\n}};\n')
UNPARSABLE_TENANT = 'tenant: {\n  id = "soak";\n  hosts = ["soak.localhost"\n'
# Parses, but hello's own check() refuses it (shout needs a short greeting),
# so `tanomu reload` reaches the master and the new workers refuse it.
REFUSED_TENANT = GOOD_TENANT.replace('greeting = "{g}";', 'greeting = "{g}"; shout = true;')

DB_GRACE = 5.0      # reconnect backoff tops at 2 s; a pool may take one more round
KILL_GRACE = 2.0


class Soak:
    def __init__(self, a):
        self.a = a
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.requests = 0
        self.ok = 0
        self.errors = []          # (t, route, what)
        self.windows = []         # (start, end or None, reason, routes prefix or None)
        self.events = []          # (t, text)
        self.rss = []             # (t, master kB, {pid: kB})
        self.not_ready = []       # t of /readyz samples that were not 200
        self.slow = {"runs": 0, "answered": 0, "cut": 0}
        self.stopped = set()

    def now(self):
        return time.monotonic() - self.t0

    def note(self, text):
        with self.lock:
            self.events.append((self.now(), text))
        print(f"[{self.now():6.1f}s] {text}", file=sys.stderr, flush=True)

    # -- processes ------------------------------------------------------------

    def workers(self):
        return harness.child_pids(self.a.master)

    @staticmethod
    def rss_kb(pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    # -- load -------------------------------------------------------------------

    def record(self, route, what):
        t = self.now()
        with self.lock:
            self.requests += 1
            if what is None:
                self.ok += 1
            else:
                self.errors.append((t, route, what))

    def one(self, conn, route):
        if route == "/hello":
            conn.request("GET", route, headers={"Host": HOST})
        else:
            conn.request("POST", route, body=b"soak",
                         headers={"Host": HOST, "Content-Type": "text/plain"})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("Connection", "")

    def client(self, keepalive):
        conn = None
        while not self.done.is_set():
            route = random.choice(("/hello", "/db/roundtrip"))
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.a.port, timeout=10)
            try:
                status, connection = self.one(conn, route)
                self.record(route, None if status in (200, 201) else f"status {status}")
                if not keepalive or connection.lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self.record(route, type(e).__name__)
                conn.close()
                conn = None
        if conn:
            conn.close()

    def slow_reader(self):
        """Pipelines 200 requests, then reads the answers 64 bytes at a time."""
        while not self.done.wait(random.uniform(3, 8)):
            self.slow["runs"] += 1
            try:
                s = socket.create_connection(("127.0.0.1", self.a.port), timeout=30)
                req = f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
                s.sendall(req * 200)
                got = b""
                deadline = time.monotonic() + 20
                while got.count(b"HTTP/1.1 200") < 200 and time.monotonic() < deadline:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    got += chunk
                    time.sleep(0.002)
                if got.count(b"HTTP/1.1 200") >= 200:
                    self.slow["answered"] += 1
                else:
                    self.slow["cut"] += 1
                s.close()
            except OSError:
                self.slow["cut"] += 1

    # -- samplers ----------------------------------------------------------------

    def sampler(self):
        next_rss = 0.0
        while not self.done.wait(1.0):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.a.admin, timeout=5)
                c.request("GET", "/readyz")
                ready = c.getresponse().status == 200
                c.close()
            except (OSError, http.client.HTTPException):
                ready = False
            if not ready:
                self.not_ready.append(self.now())
            if self.now() >= next_rss:
                next_rss = self.now() + 5
                self.rss.append((self.now(), self.rss_kb(self.a.master),
                                 {p: self.rss_kb(p) for p in self.workers()}))

    # -- events --------------------------------------------------------------------

    def write_tenant(self, text):
        path = os.path.join(self.a.tenants, "soak.conf")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def cli_reload(self):
        r = subprocess.run([self.a.tanomu, "reload", "-c", self.a.conf], capture_output=True,
                           text=True, timeout=60)
        return r.returncode, (r.stdout + r.stderr).strip().splitlines()[:1]

    def ev_good_cli(self, n):
        self.write_tenant(GOOD_TENANT.format(g=f"soak-{n}"))
        self.note(f"good reload (tanomu reload): {self.cli_reload()}")

    def ev_good_hup(self, n):
        self.write_tenant(GOOD_TENANT.format(g=f"soak-{n}"))
        os.kill(self.a.master, signal.SIGHUP)
        self.note("good reload (SIGHUP)")

    def ev_bad_hup(self, n):
        self.write_tenant(UNPARSABLE_TENANT)
        os.kill(self.a.master, signal.SIGHUP)
        time.sleep(1.0)    # the master reads the files at once; then repair them
        self.write_tenant(GOOD_TENANT.format(g=f"soak-{n}"))
        self.note("refused reload (SIGHUP, tenant file does not parse)")

    def ev_refused_cli(self, n):
        self.write_tenant(REFUSED_TENANT.format(g="x" * 150))
        rc = self.cli_reload()
        self.write_tenant(GOOD_TENANT.format(g=f"soak-{n}"))
        self.note(f"refused reload (tanomu reload, plugin check): {rc}")

    def ev_kill(self, n):
        pids = [p for p in self.workers() if p not in self.stopped]
        if not pids:
            return
        pid = random.choice(pids)
        t = self.now()
        with self.lock:
            self.windows.append((t, t + KILL_GRACE, "worker SIGKILLed", None))
        os.kill(pid, signal.SIGKILL)
        self.note(f"SIGKILL worker {pid}")

    def ev_stop(self, n):
        pids = self.workers()
        if not pids:
            return
        pid = random.choice(pids)
        self.stopped.add(pid)
        os.kill(pid, signal.SIGSTOP)
        self.note(f"SIGSTOP worker {pid} for 3 s")
        time.sleep(3)
        os.kill(pid, signal.SIGCONT)
        self.stopped.discard(pid)

    def ev_db_restart(self, n):
        t = self.now()
        with self.lock:
            self.windows.append((t, None, "database down", "/db/"))
            i = len(self.windows) - 1
        subprocess.run([self.a.pg, "stop", self.a.pg_dir], capture_output=True, check=True)
        self.note("database stopped")
        time.sleep(5)
        subprocess.run([self.a.pg, "start", self.a.pg_dir], capture_output=True, check=True)
        with self.lock:
            s, _, reason, routes = self.windows[i]
            self.windows[i] = (s, self.now() + DB_GRACE, reason, routes)
        self.note("database started")

    def events_loop(self):
        order = [self.ev_good_cli, self.ev_kill, self.ev_bad_hup, self.ev_stop,
                 self.ev_db_restart, self.ev_good_hup, self.ev_refused_cli]
        n = 0
        while not self.done.wait(self.a.period):
            if self.now() > self.a.duration - self.a.period:
                break      # the last period runs without events
            n += 1
            try:
                order[(n - 1) % len(order)](n)
            except Exception as e:   # an event that cannot run is reported, not fatal
                self.note(f"event failed: {e!r}")

    # -- report ----------------------------------------------------------------------

    def explain(self, t, route):
        for start, end, reason, routes in self.windows:
            if start <= t and (end is None or t <= end) and (routes is None or
                                                            route.startswith(routes)):
                return reason
        return None

    def report(self):
        explained, unexplained = {}, []
        for t, route, what in self.errors:
            reason = self.explain(t, route)
            if reason:
                explained[(reason, what)] = explained.get((reason, what), 0) + 1
            else:
                unexplained.append((t, route, what))
        db_down = [(s, e) for s, e, r, _ in self.windows if r == "database down"]
        not_ready_outside = [t for t in self.not_ready
                             if not any(s <= t <= (e or t) for s, e in db_down)]
        print(f"\n== soak: {self.now():.0f} s, {self.requests} requests, {self.ok} ok, "
              f"{len(self.errors)} errors ({len(unexplained)} unexplained)")
        print("events: " + ", ".join(f"{t:.0f}s {x.split(':')[0].split(' (')[0]}"
                                     for t, x in self.events))
        for (reason, what), n in sorted(explained.items()):
            print(f"  explained   {n:6d}  {what:28s} ({reason})")
        for t, route, what in unexplained[:20]:
            print(f"  UNEXPLAINED at {t:6.1f}s {route} {what}")
        print(f"slow readers: {self.slow['runs']} runs, {self.slow['answered']} read to the end, "
              f"{self.slow['cut']} cut")
        print(f"/readyz not ready: {len(self.not_ready)} one-second samples, "
              f"{len(not_ready_outside)} outside database restarts")
        print("RSS (kB):   t    master   workers (each)")
        step = max(1, len(self.rss) // 12)
        for t, m, w in self.rss[::step] + ([self.rss[-1]] if self.rss else []):
            print(f"        {t:5.0f}s  {m or 0:7d}   " + " ".join(str(v) for v in w.values() if v))
        if self.rss:
            first, last = self.rss[0], self.rss[-1]
            wmax = max((v for _, _, w in self.rss for v in w.values() if v), default=0)
            print(f"master RSS {first[1]} -> {last[1]} kB; largest worker RSS seen {wmax} kB")
        return 1 if unexplained else 0

    def run(self):
        threads = [threading.Thread(target=self.client, args=(i % 2 == 0,), daemon=True)
                   for i in range(self.a.clients)]
        threads += [threading.Thread(target=self.slow_reader, daemon=True) for _ in range(2)]
        threads += [threading.Thread(target=self.sampler, daemon=True)]
        for t in threads:
            t.start()
        ev = threading.Thread(target=self.events_loop, daemon=True)
        ev.start()
        try:
            while self.now() < self.a.duration:
                time.sleep(0.5)
        finally:
            self.done.set()
            for pid in list(self.stopped):
                os.kill(pid, signal.SIGCONT)
            ev.join(60)
            for t in threads:
                t.join(30)
        return self.report()


def main():
    ap = argparse.ArgumentParser()
    for name in ("tanomu", "conf", "tenants", "pg", "pg-dir"):
        ap.add_argument("--" + name, required=True)
    for name in ("port", "admin", "master", "duration", "period", "clients"):
        ap.add_argument("--" + name, type=int, required=True)
    sys.exit(Soak(ap.parse_args()).run())


if __name__ == "__main__":
    main()
