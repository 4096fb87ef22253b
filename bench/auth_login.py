#!/usr/bin/env python3
"""bench/auth_login.py - the auth plugin under load, by hand (issue 8).

Starts a private PostgreSQL cluster and one host (WORKERS workers) loading
auth and hello for tenant "a", creates one user, then measures:

  logins    successful POST /auth/login per second with CLIENTS threads
            for SECONDS (each request from its own loopback source address,
            127.1.x.y, so the per-address zone does not throttle the bench)
  hello     GET /hello with wrk --latency (1 thread, 4 connections), alone
            and while 50 threads keep logging in: p50 / p99 (the loop must
            stay responsive while Argon2id runs in the pool)
  me        GET /auth/me with one session (wrk), against GET /hello

    python3 bench/auth_login.py [--build-dir build] [--seconds 10]
                                [--workers 2] [--clients 8]
                                [--hash-nice N] [--hash-concurrency N]

--hash-nice and --hash-concurrency set plugins.auth hash_nice (the hashing
threads' nice value, SCHED_BATCH; default 10) and hash_concurrency (per
worker; default 1); unset, the plugin's defaults apply.

Needs BUILD/plugins/auth.so and hello.so, wrk and PostgreSQL 15
(scripts/deps.sh).  Everything lives in temporary directories removed at
the end.  Figures depend on the machine and its load: print them with it.
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration_db"))

PASSWORD = "Bench-Pw-4d1a-heron-cobalt"


class Addresses:
    """A fresh loopback source address per request: 127.1.0.1, ..."""

    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.n += 1
            n = self.n
        return f"127.1.{(n // 250) % 250}.{n % 250 + 1}"


def login_once(port, addrs):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                      source_address=(addrs.next(), 0))
    try:
        conn.request("POST", "/auth/login", body=json.dumps(
            {"login": "bench", "password": PASSWORD}), headers={"Host": "a.test"})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("Set-Cookie")
    finally:
        conn.close()


def login_storm(port, clients, stop, counts, addrs):
    def run():
        while not stop.is_set():
            status, _ = login_once(port, addrs)
            with addrs.lock:
                counts[status] = counts.get(status, 0) + 1
    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads


def wrk(port, path, seconds, headers=()):
    cmd = ["wrk", "--latency", "-t1", "-c4", f"-d{seconds}s", "-H", "Host: a.test"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True,
                         text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat.get("50"), lat.get("99"), int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--hash-nice", type=int, default=None)
    ap.add_argument("--hash-concurrency", type=int, default=None)
    a = ap.parse_args()
    wide = {}
    if a.hash_nice is not None:
        wide["hash_nice"] = a.hash_nice
    if a.hash_concurrency is not None:
        wide["hash_concurrency"] = a.hash_concurrency

    os.environ["TANOMU_BUILD_DIR"] = os.path.abspath(a.build_dir)
    os.environ["TANOMU_SOURCE_DIR"] = SOURCE
    import dbharness  # noqa: E402
    dbharness.harness.BUILD_DIR = os.path.abspath(a.build_dir)
    dbharness.harness.SOURCE_DIR = SOURCE
    sys.path.insert(0, os.path.join(SOURCE, "tests", "integration_db"))
    from test_auth import argon2id  # noqa: E402  (libsodium through ctypes)

    pg = dbharness.PgCluster()
    srv = None
    try:
        pg.start()
        srv = dbharness.DbServer(pg, workers=a.workers, plugins=("auth", "hello"),
                                 access_log=False, conf={"plugins": {"auth": wide}} if wide
                                 else None, db={
                                     "plugin_migrations_dir": os.path.join(SOURCE, "plugins"),
                                     "pool_size": 4})
        srv.write_tenant("a", {"id": "a", "hosts": ["a.test"], "features": {
            "auth": {"enabled": True}, "hello": {"enabled": True}}})
        srv.write_tenant("b", {"id": "b", "hosts": ["b.test"], "features": {}})
        srv.migrate()
        srv.start()
        pg.psql("INSERT INTO auth_users (tenant_id, login, roles, password_hash) "
                "VALUES ('a', 'bench', '{staff}', :'h');", h=argon2id(PASSWORD))
        addrs = Addresses()
        print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
              f"{a.workers} workers, plugins.auth {wide or 'defaults'}", flush=True)

        stop, counts = threading.Event(), {}
        t0 = time.monotonic()
        threads = login_storm(srv.port, a.clients, stop, counts, addrs)
        time.sleep(a.seconds)
        stop.set()
        for t in threads:
            t.join(60)
        dt = time.monotonic() - t0
        print(f"logins:  {counts.get(200, 0) / dt:.1f}/s ok with {a.clients} clients "
              f"({counts})", flush=True)

        rps, p50, p99, bad = wrk(srv.port, "/hello", a.seconds)
        print(f"hello alone:        {rps:.0f} req/s  p50 {p50}  p99 {p99}  non-2xx {bad}",
              flush=True)
        stop, counts = threading.Event(), {}
        threads = login_storm(srv.port, 50, stop, counts, addrs)
        time.sleep(1)
        rps, p50, p99, bad = wrk(srv.port, "/hello", a.seconds)
        stop.set()
        for t in threads:
            t.join(60)
        print(f"hello + 50 logins:  {rps:.0f} req/s  p50 {p50}  p99 {p99}  non-2xx {bad}  "
              f"(logins {counts})", flush=True)

        _, cookie = login_once(srv.port, addrs)
        token = cookie.split(";", 1)[0]
        rps, p50, p99, bad = wrk(srv.port, "/auth/me", a.seconds, [f"Cookie: {token}"])
        print(f"me (session):       {rps:.0f} req/s  p50 {p50}  p99 {p99}  non-2xx {bad}",
              flush=True)
        return 0
    finally:
        if srv is not None:
            try:
                srv.stop()
            except Exception as e:  # noqa: BLE001 - report, go on cleaning up
                print(f"stop: {e}", file=sys.stderr)
            srv.cleanup()
        pg.destroy()


if __name__ == "__main__":
    sys.exit(main())
