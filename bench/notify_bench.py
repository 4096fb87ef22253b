#!/usr/bin/env python3
"""bench/notify_bench.py - notifications throughput per channel, by hand.

Starts a private PostgreSQL cluster, one host (WORKERS workers) loading
hello, auth, orders and notify, and the local peers of the tests: aiosmtpd
with STARTTLS + AUTH (plugins/notify/tests/smtp_auth_peer.py) and an HTTPS
receiver standing in for webhook endpoints and the LINE Messaging API
(tests/integration_db/test_notify_webhooks.py).  Three tenants, one
channel each (a: e-mail, b: webhook, c: LINE).  For each channel it
inserts EVENTS order.placed events into the outbox at once (one order,
one contact) and measures the time until the outbox has delivered them
all, while wrk drives GET /hello on the same host; it reports messages
per second and wrk's p99 of /hello during the run.

    python3 bench/notify_bench.py [--build-dir build] [--events 300] [--workers 2]

Needs wrk, /usr/bin/python3 with aiosmtpd, PostgreSQL 15 (scripts/deps.sh).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration_db"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()

    import dbharness
    dbharness.harness.BUILD_DIR = os.path.abspath(a.build_dir)
    dbharness.harness.SOURCE_DIR = SOURCE
    from test_outbound import make_ca_and_cert
    from test_notify import SmtpPeer
    from test_notify_webhooks import Receiver

    tmp = tempfile.mkdtemp(prefix="notify-bench-")
    pg = dbharness.PgCluster()
    peer = rx = srv = None
    try:
        pg.start()
        ca, crt, key = make_ca_and_cert(tmp)
        peer = SmtpPeer(tmp, "smtp", crt, key, "bench", "bench-pw").start()
        rx = Receiver(crt, key)
        conf = {"secrets": {"keyring_dir": "keys"},
                "outbound": {"allow": [f"127.0.0.1:{peer.port}", f"127.0.0.1:{rx.port}"],
                             "ca_file": ca, "max_timeout_ms": 20000},
                "outbox": {"max_attempts": 25, "backoff_ms": 200, "sweep_ms": 200},
                "logging": {"access": False}}
        db = {"plugin_migrations_dir": os.path.join(SOURCE, "plugins"), "pool_size": 8}
        srv = dbharness.DbServer(pg, db=db, workers=a.workers, conf=conf,
                                 tenants=(), plugins=("hello", "auth", "orders", "notify"),
                                 access_log=False)
        srv.write_conf()
        tanomu = dbharness.harness.tanomu_bin()
        subprocess.run([tanomu, "secret", "rotate", "-c", srv.conf_path], check=True,
                       capture_output=True)

        def seal(tenant, plain, key=None):
            args = [tanomu, "secret", "seal", "-c", srv.conf_path, "--tenant", tenant,
                    "--plugin", "notify"] + (["--key", key] if key else [])
            return subprocess.run(args, input=plain, capture_output=True, text=True,
                                  check=True).stdout.strip()

        n = {"a": {"smtp_url": f"smtp://127.0.0.1:{peer.port}/bench.test", "smtp_user": "bench",
                   "smtp_password": seal("a", "bench-pw", "smtp_password"),
                   "mail_from": "noreply@a.example.jp"},
             "b": {},
             "c": {"line_channel_token": seal("c", "bench-token", "line_channel_token"),
                   "line_api_base": f"https://127.0.0.1:{rx.port}"}}
        for t in "abc":
            srv.write_tenant(t, {"id": t, "hosts": [f"{t}.test"], "features": {
                "hello": {"enabled": True}, "auth": {"enabled": True},
                "orders": {"enabled": True}, "notify": dict(enabled=True, **n[t])}})
        srv.migrate()
        secret = "whsec_" + __import__("base64").b64encode(os.urandom(24)).decode()
        pg.psql("INSERT INTO notify_webhooks (tenant_id, url, secret, events) "
                "VALUES ('b', :'u', :'s', '*');", u=f"https://127.0.0.1:{rx.port}/hook",
                s=seal("b", secret))
        srv.start()
        print(f"events per channel: {a.events}, workers: {a.workers}")
        out = subprocess.run(["wrk", "-t1", "-c8", "-d5s", "--latency", "-H", "Host: a.test",
                              f"http://127.0.0.1:{srv.port}/hello"], capture_output=True,
                             text=True).stdout
        p99 = re.search(r"99%\s+(\S+)", out).group(1)
        rps = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
        print(f"baseline /hello (no events): p99 {p99}, {rps} req/s")
        for tenant, channel in (("a", "email"), ("b", "webhook"), ("c", "line")):
            buyer = pg.scalar("INSERT INTO orders_buyers (tenant_id, code, name, contacts) VALUES "
                              "(:'t', 'B1', '商店', :'j'::jsonb) RETURNING id;", t=tenant,
                              j=json.dumps([{"name": "山田", "email": "y@buyer.example.jp",
                                             "line_user_id": "U" + "1" * 32}]))
            oid = pg.scalar("INSERT INTO orders_orders (tenant_id, buyer_id, delivery_date, "
                            "subtotal, taxable_8, tax_8, total, placed_by) VALUES (:'t', :'b', "
                            "DATE '2026-12-24', 100, 100, 8, 108, 'u') RETURNING id;",
                            t=tenant, b=buyer)
            first = int(pg.scalar("SELECT coalesce(max(id), 0) FROM outbox;"))
            wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d600s", "--latency", "-H",
                                    f"Host: {tenant}.test", f"http://127.0.0.1:{srv.port}/hello"],
                                   stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)
            t0 = time.monotonic()
            pg.psql("INSERT INTO outbox (tenant_id, name, payload) SELECT :'t', 'order.placed', "
                    "jsonb_build_object('id', :'o'::text) FROM generate_series(1, :'n'::int);",
                    t=tenant, o=oid, n=str(a.events))
            while int(pg.scalar("SELECT count(*) FROM outbox WHERE id > :'f' AND state = "
                                "'pending';", f=str(first))) > 0:
                time.sleep(0.05)
                if time.monotonic() - t0 > 600:
                    raise SystemExit("not delivered within 600 s")
            dt = time.monotonic() - t0
            wrk.send_signal(2)
            out = wrk.communicate(timeout=30)[0]
            p99 = re.search(r"99%\s+(\S+)", out)
            rps = re.search(r"Requests/sec:\s+(\S+)", out)
            sent = int(pg.scalar("SELECT count(*) FROM notify_deliveries WHERE tenant_id = :'t' "
                                 "AND result = 'sent';", t=tenant))
            print(f"{channel:8s} {a.events / dt:8.1f} msg/s  ({sent} sent in {dt:.1f} s)  "
                  f"/hello meanwhile: p99 {p99.group(1) if p99 else '?'}, "
                  f"{rps.group(1) if rps else '?'} req/s")
    finally:
        if srv is not None:
            srv.stop()
            srv.cleanup()
        if peer is not None:
            peer.stop()
        if rx is not None:
            rx.close()
        pg.destroy()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
