"""Out of file descriptors (P1): a worker that cannot accept because it has
no descriptor left stops polling the listener for a while instead of
spinning on accept(), counts the pause in tanomu_accept_paused_total, and
/readyz says not ready while no worker accepts; once connections close, it
accepts again.  At start the master raises its soft RLIMIT_NOFILE to the
hard limit and logs both.
"""

import os
import resource
import socket
import time

import harness
from harness import ServerTestCase, wait_until

HOST = "t1.test"
LIMIT = 256


def limit_nofile(soft, hard):
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return apply


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FdLimitTest(ServerTestCase):

    def ready(self, srv):
        return srv.admin_get("/readyz", timeout=2).status == 200

    def test_soft_limit_raised_to_hard_at_start(self):
        srv = self.new_server(name="nofile-raise", preexec_fn=limit_nofile(200, 300))
        srv.wait_log(lambda l: "open files limit: 300 (soft was 200, hard 300)"
                     in l.get("msg", ""), what="the raised limit in the log")
        with open(f"/proc/{srv.proc.pid}/limits") as f:
            line = next(l for l in f if l.startswith("Max open files"))
        self.assertEqual(line.split()[3:5], ["300", "300"], line)
        srv.stop()

    def test_out_of_descriptors_pauses_accepting(self):
        """P1: at the descriptor limit a worker does not spin, the pause is
        counted, /readyz is not ready until descriptors free up, and then
        requests are served again."""
        # soft = hard: the master cannot raise it.  Silent connections must
        # not be dropped by the header timeout while the test looks.
        srv = self.new_server(name="nofile", workers=2, preexec_fn=limit_nofile(LIMIT, LIMIT),
                              conf={"server": {"limits": {"header_timeout_ms": 600000}},
                                    "logging": {"access": False}})
        srv.wait_log(lambda l: f"open files limit: {LIMIT} " in l.get("msg", ""),
                     what="the limit in the log")
        workers = srv.worker_pids()
        self.assertEqual(len(workers), 2, workers)
        paused0 = srv.metrics().sum("tanomu_accept_paused_total")
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(3 * LIMIT):   # more than both workers can hold
            socks.append(socket.create_connection(("127.0.0.1", srv.port),
                                                  timeout=10 * harness.SCALE))
        srv.wait_metric("tanomu_accept_paused_total", lambda v: v > paused0, 10)
        wait_until(lambda: not self.ready(srv), 10, what="/readyz not ready while saturated")
        # Not spinning: over a couple of seconds each worker uses far less
        # than a core (a spinning one uses all it can get; the paused one
        # wakes four times a second).
        before = {p: cpu_seconds(p) for p in workers}
        t0 = time.monotonic()
        time.sleep(2)
        wall = time.monotonic() - t0
        used = {p: cpu_seconds(p) - before[p] for p in workers}
        for p, cpu in used.items():
            self.assertLess(cpu, 0.1 * wall, f"worker {p} used {cpu:.2f}s CPU in {wall:.2f}s")
        self.assertFalse(self.ready(srv), "/readyz ready while no worker can accept")
        paused = srv.metrics().sum("tanomu_accept_paused_total")
        self.assertGreater(paused, paused0)
        for s in socks:
            s.close()
        socks.clear()
        wait_until(lambda: self.ready(srv), 10, what="/readyz ready once descriptors are free")
        for _ in range(4):
            r = srv.get("/hello", host=HOST)
            self.assertEqual(r.status, 200, r)
        srv.wait_log(lambda l: "descriptors free again" in l.get("msg", ""),
                     what="the resume in the log")
        srv.stop()


if __name__ == "__main__":
    harness.main()
