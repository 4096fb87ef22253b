#!/usr/bin/env python3
"""bench/jobs_lag.py - scheduled jobs under several nodes, by hand.

Starts a private PostgreSQL cluster and NODES host processes of WORKERS
workers each on it, all loading the jobprobe test plugin (its `tick` job
runs every second, see tests/integration_db/plugins/jobprobe), lets them
run for SECONDS, and then reports for the ticks in the window:

  lag       job_runs.started_at minus the tick (the claim's commit time
            is close to it), p50 / p99 / max in milliseconds
  missed    ticks without a row
  double    ticks whose job function ran more than once (log lines
            "tick T" across every node), and rows past attempt 1

    python3 bench/jobs_lag.py [--build-dir build] [--seconds 60]
                              [--nodes 2] [--workers 4]

Needs the build's test plugins (BUILD/test-plugins/jobprobe.so) and
PostgreSQL 15 (scripts/deps.sh).  Everything lives in temporary
directories removed at the end.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration_db"))


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--workers", type=int, default=4)
    a = ap.parse_args()

    os.environ["TANOMU_BUILD_DIR"] = os.path.abspath(a.build_dir)
    os.environ["TANOMU_SOURCE_DIR"] = SOURCE
    import dbharness  # noqa: E402  (reads the two variables above)
    dbharness.harness.BUILD_DIR = os.path.abspath(a.build_dir)
    dbharness.harness.SOURCE_DIR = SOURCE

    os.environ["JOBPROBE_DIR"] = tempfile.mkdtemp(prefix="jobprobe-bench-")
    pg = dbharness.PgCluster()
    servers = []
    try:
        pg.start()
        for i in range(a.nodes):
            srv = dbharness.DbServer(pg, workers=a.workers, plugins=("dbprobe", "jobprobe"),
                                     access_log=False)
            srv.write_tenant("a", {"id": "a", "hosts": ["a.test"], "features": {
                "dbprobe": {"enabled": True, "marker_dir": srv.marker_dir},
                "jobprobe": {"enabled": True}}})
            servers.append(srv)
            if i == 0:
                srv.migrate()
            srv.start()
        first = int(time.time()) + 2
        last = first + a.seconds - 1
        print(f"{a.nodes} node(s) x {a.workers} worker(s), ticks {first}..{last} "
              f"({a.seconds} s)", file=sys.stderr, flush=True)
        time.sleep(max(0.0, last + 3 - time.time()))
        rows = pg.rows(
            "SELECT tick, attempt, result, "
            "round(extract(epoch FROM started_at) * 1000 - tick * 1000) "
            "FROM job_runs WHERE plugin = 'jobprobe' AND job = 'tick' "
            "AND tick BETWEEN :'a' AND :'b' ORDER BY tick;", a=str(first), b=str(last))
        ran = {}
        for srv in servers:
            for line in srv.log_lines():
                msg = line.get("msg", "")
                if line.get("plugin") == "jobprobe" and msg.startswith("tick "):
                    t = int(msg.split()[1])
                    if first <= t <= last:
                        ran[t] = ran.get(t, 0) + 1
        lags = [float(r[3]) for r in rows if r[1] == "1"]
        ticks = {int(r[0]) for r in rows}
        missed = [t for t in range(first, last + 1) if t not in ticks]
        doubles = [t for t, n in ran.items() if n > 1]
        retried = [r for r in rows if r[1] != "1"]
        failed = [r for r in rows if r[2] != "ok"]
        print(f"ticks:   {a.seconds} expected, {len(ticks)} with a row, "
              f"{sum(ran.values())} runs logged")
        print(f"lag ms:  p50 {percentile(lags, 50):.0f}  p99 {percentile(lags, 99):.0f}  "
              f"max {max(lags) if lags else float('nan'):.0f}  "
              f"mean {statistics.mean(lags) if lags else float('nan'):.1f}")
        print(f"missed:  {len(missed)} {missed[:10]}")
        print(f"double:  {len(doubles)} ticks run twice {doubles[:10]}, "
              f"{len(retried)} rows past attempt 1")
        print(f"failed:  {len(failed)}")
        return 0 if not missed and not doubles and not failed else 1
    finally:
        for srv in servers:
            try:
                srv.stop()
            except Exception as e:  # noqa: BLE001 - report, go on cleaning up
                print(f"stop: {e}", file=sys.stderr)
            srv.cleanup()
        pg.destroy()


if __name__ == "__main__":
    sys.exit(main())
