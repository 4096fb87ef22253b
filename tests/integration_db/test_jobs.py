"""Cluster-wide scheduled jobs (SDK 1.2 job_*), through the real binary and
a real PostgreSQL (A4, A9, S21).

The jobprobe plugin (plugins/jobprobe/jobprobe.c) schedules: `tick` every
second, `hang` hourly (hangs once when armed, for the kill test), `weekly`
at Wednesday 14:00 Asia/Tokyo (fails on purpose) and `report` per tenant at
09:00 Asia/Tokyo (reads its tenant binding in a tx from tx_begin).  Every
run logs a line; the host writes one row per run in job_runs.  Tenant "a"
enables jobprobe, tenant "b" does not.
"""

import datetime
import os
import signal
import sys
import time
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, harness, host_of, main, wait_until  # noqa: E402

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def latest_tokyo(now, hour, minute, weekday=None):
    """The latest Tokyo wall-clock HH:MM (on weekday, Monday 0) at or
    before now (Unix seconds), as Unix seconds: Python's own zone rules,
    to check the host's."""
    local = datetime.datetime.fromtimestamp(now, TOKYO)
    for back in range(0, 9):
        day = (local - datetime.timedelta(days=back)).date()
        if weekday is not None and day.weekday() != weekday:
            continue
        t = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO)
        if t.timestamp() <= now:
            return int(t.timestamp())
    raise AssertionError("no tick in 9 days")


class JobsTest(DbTestCase):

    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.pg.root, f"jobprobe-{self._testMethodName}")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        os.environ["JOBPROBE_DIR"] = self.dir   # inherited by the servers' workers
        # One cluster per class: each test starts with no runs, so the
        # hourly and calendar jobs have their latest tick to run again.
        if self.pg.scalar("SELECT to_regclass('public.job_runs') IS NOT NULL;") == "t":
            self.pg.psql("DELETE FROM job_runs;")

    def job_server(self, migrate=True, workers=2, **kw):
        srv = self.db_server(start=False, migrate=migrate, plugins=("dbprobe", "jobprobe"),
                             workers=workers, **kw)
        srv.write_tenant("a", {"id": "a", "hosts": [host_of("a")], "features": {
            "dbprobe": {"enabled": True, "marker_dir": srv.marker_dir},
            "jobprobe": {"enabled": True}}})
        srv.start()
        return srv

    def runs(self, job, where="", **v):
        return self.pg.rows(
            "SELECT tick, coalesce(tenant_id, ''), attempt, result, coalesce(error, ''), "
            "manual, (ended_at IS NOT NULL) FROM job_runs WHERE plugin = 'jobprobe' "
            f"AND job = :'job' {where} ORDER BY tick, id;", job=job, **v)

    @staticmethod
    def probe_logs(servers, prefix):
        out = []
        for srv in servers:
            for line in srv.log_lines():
                if line.get("plugin") == "jobprobe" and line.get("msg", "").startswith(prefix):
                    out.append(line["msg"])
        return out

    # -- once per tick ---------------------------------------------------------

    def test_each_tick_runs_once_across_two_nodes_A4_A9(self):
        """A4/A9: two host processes of 4 workers each on one database run
        the every-second job exactly once per tick over a window: one row
        per tick (no duplicate, none missing), each ended ok at its first
        attempt, and one "tick T" log line per tick across both nodes."""
        one = self.job_server(workers=4)
        two = self.job_server(migrate=False, workers=4)
        first = int(time.time()) + 2
        last = first + 7
        want = set(range(first, last + 1))

        def ended():
            rows = self.runs("tick", "AND tick BETWEEN :'a' AND :'b' AND ended_at IS NOT NULL",
                             a=str(first), b=str(last))
            return rows if {int(r[0]) for r in rows} >= want else None
        wait_until(ended, (last - time.time()) + 15 * harness.SCALE, interval=0.2,
                   what=f"ticks {first}..{last} ended")
        rows = self.runs("tick", "AND tick BETWEEN :'a' AND :'b'", a=str(first), b=str(last))
        ticks = [int(r[0]) for r in rows]
        self.assertEqual(sorted(ticks), sorted(want), f"rows per tick: {rows}")
        for r in rows:
            self.assertEqual((r[2], r[3], r[4]), ("1", "ok", ""), r)
        lines = [m for m in self.probe_logs((one, two), "tick ")
                 if first <= int(m.split()[1]) <= last]
        self.assertEqual(sorted(int(m.split()[1]) for m in lines), sorted(want), lines)
        self.assertTrue(one.alive() and two.alive())

    def test_killed_run_is_rerun_after_its_lease_A4(self):
        """A4: the worker running the hourly `hang` job is SIGKILLed in the
        middle of the run; once the 3 s lease lapses another worker claims
        the same tick again (attempt 2) and ends it ok: still one row for
        the tick, and the job ran twice (hanging, then to the end)."""
        open(os.path.join(self.dir, "hang_armed"), "w").close()
        srv = self.job_server(workers=2)
        line = wait_until(lambda: next(iter(self.probe_logs((srv,), "hanging tick ")), None),
                          20 * harness.SCALE, what="the hang job hanging")
        tick, pid = int(line.split()[2]), int(line.split()[4])
        row = self.runs("hang", "AND tick = :'t'", t=str(tick))
        self.assertEqual([(r[2], r[3]) for r in row], [("1", "running")], row)
        os.kill(pid, signal.SIGKILL)

        def rerun():
            rows = self.runs("hang", "AND tick = :'t'", t=str(tick))
            return rows if rows and rows[0][3] == "ok" else None
        rows = wait_until(rerun, 30 * harness.SCALE, interval=0.2,
                          what=f"hang tick {tick} rerun after its lease")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][2], "2", rows)
        ran = [m for m in self.probe_logs((srv,), "hang ran tick ") if int(m.split()[3]) == tick]
        self.assertEqual(len(ran), 1, ran)
        self.assertNotEqual(int(ran[0].split()[5]), pid)

    # -- tenants and calendars ----------------------------------------------------

    def test_per_tenant_job_only_for_enabling_tenants_S21(self):
        """S21: the per-tenant `report` job runs for tenant a (which enables
        jobprobe) in a transaction bound to a, never for b; job_runs rows
        are seen only by their own tenant's transactions, and global rows
        only by transactions bound to no tenant."""
        srv = self.job_server()
        line = wait_until(lambda: next(iter(self.probe_logs((srv,), "report tenant ")), None),
                          20 * harness.SCALE, what="the report job")
        self.assertTrue(line.startswith("report tenant a bound a tick "), line)
        wait_until(lambda: self.runs("report", "AND ended_at IS NOT NULL"), 10 * harness.SCALE,
                   what="report ended")
        time.sleep(1.5)  # a sweep or two: nothing runs for b
        rows = self.runs("report")
        self.assertEqual([(r[1], r[3]) for r in rows], [("a", "ok")], rows)
        self.assertEqual([m for m in self.probe_logs((srv,), "report tenant ")
                          if not m.startswith("report tenant a ")], [])
        wait_until(lambda: self.runs("tick"), 10 * harness.SCALE, what="a tick row")

        def seen(tenant):
            sql = ("BEGIN; SELECT set_config('app.tenant_id', :'t', true); "
                   "SELECT coalesce(tenant_id, '-') || ':' || job FROM job_runs "
                   "WHERE plugin = 'jobprobe'; COMMIT;")
            out = self.pg.psql(sql, role="app", t=tenant).stdout.split()
            return {x for x in out if ":" in x}
        self.assertEqual(seen("a"), {"a:report"})
        self.assertEqual(seen("b"), set())
        glob = seen("")
        self.assertIn("-:tick", glob)
        self.assertFalse([x for x in glob if not x.startswith("-:")], glob)

    def test_calendar_ticks_in_tokyo_A4(self):
        """A4: the weekly maintenance job (Wednesday 14:00 Asia/Tokyo) and the
        daily 09:00 report run their latest tick once at start (not a
        burst of missed ones); the ticks are the instants Python's own
        zone rules give.  The weekly one's failure is recorded."""
        before = int(time.time())
        srv = self.job_server()
        weekly = wait_until(lambda: self.runs("weekly", "AND ended_at IS NOT NULL"),
                            20 * harness.SCALE, what="the weekly job's row")
        report = wait_until(lambda: self.runs("report", "AND ended_at IS NOT NULL"),
                            20 * harness.SCALE, what="the report job's row")
        after = int(time.time())
        want = {latest_tokyo(t, 14, 0, weekday=2) for t in (before, after)}
        self.assertEqual(len(weekly), 1, weekly)
        self.assertIn(int(weekly[0][0]), want)
        self.assertEqual((weekly[0][3], weekly[0][4]), ("failed", "weekly failed on purpose"))
        self.assertEqual(datetime.datetime.fromtimestamp(int(weekly[0][0]), TOKYO)
                         .strftime("%a %H:%M"), "Wed 14:00")
        self.assertEqual(len(report), 1, report)
        self.assertIn(int(report[0][0]), {latest_tokyo(t, 9, 0) for t in (before, after)})
        m = srv.metrics()
        self.assertGreaterEqual(m.sum("tanomu_job_runs_total", job="weekly", result="failed"), 1)
        self.assertGreaterEqual(m.sum("tanomu_job_lag_seconds_count", job="tick"), 1)

    # -- the CLI ----------------------------------------------------------------------

    def test_cli_history_and_run_now_A4(self):
        """A4: `tanomu jobs` prints the history (start, end, result, error),
        --failed only the failed runs, --tenant one tenant's; `--run NAME
        --tenant T` has a worker run the job now, once, and prints its end
        (exit 0 ok, 1 failed); a job that is not there, a per-tenant job
        without a tenant, and a tenant that does not enable the plugin are
        refused before anything is asked."""
        srv = self.job_server()
        wait_until(lambda: self.runs("weekly", "AND ended_at IS NOT NULL"), 20 * harness.SCALE,
                   what="the weekly job's row")
        wait_until(lambda: self.runs("report", "AND ended_at IS NOT NULL"), 20 * harness.SCALE,
                   what="the report job's row")
        r = srv.cli("jobs")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.splitlines()[0], r"^STARTED\s+ENDED\s+JOB\s+TENANT\s+TICK")
        self.assertIn("jobprobe.tick", r.stdout)
        self.assertRegex(r.stdout, r"jobprobe\.weekly .* failed\s+weekly failed on purpose")
        r = srv.cli("jobs", "--failed")
        self.assertEqual(r.returncode, 0, r.stderr)
        body = r.stdout.splitlines()[1:]
        self.assertTrue(body and all(" failed " in l and "jobprobe.weekly" in l for l in body),
                        r.stdout)
        r = srv.cli("jobs", "--tenant", "a")
        body = r.stdout.splitlines()[1:]
        self.assertTrue(body and all("jobprobe.report" in l and " a " in l for l in body),
                        r.stdout)
        # Run now: one manual row, ended ok by some worker, logged once.
        r = srv.cli("jobs", "--run", "jobprobe.report", "--tenant", "a", "--wait",
                    str(int(30 * harness.SCALE)))
        self.assertEqual(r.returncode, 0, f"{r.stdout}\n{r.stderr}\n{srv.tail()}")
        self.assertRegex(r.stdout, r"run \d+: ok")
        manual = self.runs("report", "AND manual")
        self.assertEqual([(m[1], m[2], m[3]) for m in manual], [("a", "1", "ok")], manual)
        r = srv.cli("jobs", "--run", "weekly", "--wait", str(int(30 * harness.SCALE)))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("failed: weekly failed on purpose", r.stdout)
        for args, needle in ((("--run", "nosuch"), "no job 'nosuch'"),
                             (("--run", "report"), "runs per tenant"),
                             (("--run", "report", "--tenant", "b"), "does not enable"),
                             (("--run", "tick", "--tenant", "a"), "is global")):
            r = srv.cli("jobs", *args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(needle, r.stderr, args)
        self.assertEqual(len(self.runs("report", "AND manual")), 1)


if __name__ == "__main__":
    main()
