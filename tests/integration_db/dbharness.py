"""Database integration harness: the integration harness plus a private
PostgreSQL cluster and the dbprobe test plugin.

It wraps tests/integration/harness.py (owned elsewhere: never edited here).

  PgCluster   one throwaway PostgreSQL 15 cluster made by scripts/pg.sh
              (TANOMU_PG_FAST=1: fsync off, PGPORT=auto: a free port) in its
              own temporary directory; start/stop/destroy, libpq URLs, and
              psql as the superuser (sees every tenant: RLS does not bind it),
              the owner or the app role, with values passed as psql variables
              (:'name'), never spliced into SQL text (S1).
  DbServer    a harness.Server whose tanomu.conf has the database and outbox
              sections (URLs in files next to it, mode 0600), tenants "a"
              (host a.test) and "b" (b.test) enabling dbprobe with their own
              marker_dir, and `migrate()` = `tanomu migrate -c CONF`.
  DbTestCase  a ServerTestCase with one cluster per test class (cls.pg).

Run a file directly, e.g.
    python3 tests/integration_db/test_outbox.py --build-dir build-dbit
Deadlines scale with harness.SCALE (3 under AddressSanitizer).
"""

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from harness import (RawConn, ServerTestCase, in_thread, main,  # noqa: E402,F401
                     wait_until)

TENANTS = ("a", "b")


def host_of(tenant):
    return f"{tenant}.test"


def pg_sh():
    return os.path.join(harness.SOURCE_DIR, "scripts", "pg.sh")


# --------------------------------------------------------------------------
# the cluster

class PgCluster:
    """A private cluster under its own temporary directory.  The directory
    is made traversable (0711, not listable) so the `postgres` OS user that
    pg.sh runs the server as (we may be root) can reach it."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="tanomu-pg-")
        os.chmod(self.root, 0o711)
        self.dir = os.path.join(self.root, "pg")

    def _run(self, *args, env=None, timeout=60.0, check=True, stdin=None):
        e = dict(os.environ)
        e.update(env or {})
        # Bytes, decoded here: text mode would turn a stored CR LF into LF.
        r = subprocess.run([pg_sh()] + list(args), capture_output=True, env=e,
                           input=stdin.encode("utf-8") if stdin is not None else None,
                           timeout=timeout * harness.SCALE)
        r.stdout = r.stdout.decode("utf-8")
        r.stderr = r.stderr.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise AssertionError(f"pg.sh {' '.join(args[:2])} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}\n{self.log_tail()}")
        return r

    def start(self):
        self._run("start", self.dir, env={"TANOMU_PG_FAST": "1", "PGPORT": "auto"})
        return self

    def stop(self):
        self._run("stop", self.dir)

    def running(self):
        return self._run("status", self.dir, check=False).returncode == 0

    def destroy(self):
        if os.environ.get("TANOMU_KEEP_TMP"):
            self._run("stop", self.dir, check=False)
            sys.stderr.write(f"[dbharness] kept cluster {self.dir}\n")
            return
        self._run("destroy", self.dir, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, role="app"):
        return self._run("url", role, self.dir).stdout.strip()

    def log_tail(self, n=30):
        path = os.path.join(self.dir, "server.log")
        try:
            cl = os.path.join(self.dir, "CLUSTER")
            if os.path.exists(cl):
                with open(cl) as f:
                    path = os.path.join(f.read().strip(), "server.log")
            with open(path, errors="replace") as f:
                return "--- postgres server.log (tail) ---\n" + "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def psql(self, sql, role="super", check=True, **variables):
        """Runs sql (read from stdin, so psql interpolates :'var' and :var)
        as ROLE.  Returns the CompletedProcess; output is CSV without a
        header."""
        args = ["psql", role, self.dir, "-X", "-q", "-t", "--csv", "-v", "ON_ERROR_STOP=1"]
        for k, v in variables.items():
            args += ["-v", f"{k}={v}"]
        args += ["-f", "-"]
        return self._run(*args, check=check, stdin=sql)

    def rows(self, sql, role="super", **variables):
        out = self.psql(sql, role, **variables).stdout
        return [r for r in csv.reader(io.StringIO(out, newline="")) if r]

    def scalar(self, sql, role="super", **variables):
        rows = self.rows(sql, role, **variables)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise AssertionError(f"expected one value from {sql!r}, got {rows!r}")
        return rows[0][0]

    # -- what the tests ask often -------------------------------------------

    def count(self, table, tenant=None):
        """Rows of a table (as the superuser: all tenants), or one tenant's."""
        if table not in ("notes", "outbox", "audit_log", "tenants"):
            raise ValueError(table)
        if tenant is None:
            return int(self.scalar(f"SELECT count(*) FROM {table};"))
        return int(self.scalar(f"SELECT count(*) FROM {table} WHERE tenant_id = :'t';", t=tenant))

    def notes(self):
        """{id: (tenant, body)} of every note."""
        return {int(i): (t, b) for i, t, b in self.rows(
            "SELECT id, tenant_id, body FROM notes ORDER BY id;")}

    def outbox_rows(self, note_id):
        """Outbox rows whose payload names note NOTE_ID, as dicts."""
        cols = ("id", "tenant_id", "name", "state", "attempts", "last_error", "payload")
        rows = self.rows("SELECT id, tenant_id, name, state, attempts, coalesce(last_error, ''), "
                         "payload::text FROM outbox WHERE payload->>'id' = :'n' ORDER BY id;",
                         n=str(note_id))
        return [dict(zip(cols, r)) for r in rows]

    def tables_exist(self):
        return self.scalar("SELECT to_regclass('public.notes') IS NOT NULL AND "
                           "to_regclass('public.outbox') IS NOT NULL AND "
                           "to_regclass('public.audit_log') IS NOT NULL AND "
                           "to_regclass('public.tenants') IS NOT NULL;") == "t"


# --------------------------------------------------------------------------
# the server

class DbServer(harness.Server):
    """A tanomu with a database section, the dbprobe plugin and tenants a/b.

    db, outbox: overrides of the database/outbox sections.
    marker_dir: dbprobe's marker directory (default: one of its own; pass
                another server's to continue its crash/hold/fail story).
    """

    def __init__(self, pg, db=None, outbox=None, workers=2, conf=None, tenants=TENANTS,
                 plugins=("dbprobe",), access_log=True, marker_dir=None):
        database = {
            "url_file": "app.url",
            "owner_url_file": "owner.url",
            "migrations_dir": os.path.join(harness.SOURCE_DIR, "migrations"),
            "plugin_migrations_dir": os.path.join(harness.SOURCE_DIR, "tests",
                                                  "integration_db", "plugins"),
            "pool_size": 2,
            "queue_max": 64,
            "queue_timeout_ms": int(2000 * harness.SCALE),
            "statement_timeout_ms": int(5000 * harness.SCALE),
        }
        database.update(db or {})
        ob = {"sweep_ms": 300, "backoff_ms": 100, "max_attempts": 3}
        ob.update(outbox or {})
        over = {"database": database, "outbox": ob, "logging": {"access": access_log}}
        over = harness.deep_merge(over, conf or {})
        super().__init__(plugins=plugins, tenants={}, conf=over, workers=workers,
                         name="tanomu-db")
        self.pg = pg
        self.marker_dir = marker_dir or os.path.join(self.tmp, "markers")
        os.makedirs(self.marker_dir, exist_ok=True)
        for name, role in (("app.url", "app"), ("owner.url", "owner")):
            path = os.path.join(self.tmp, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(pg.url(role) + "\n")
        for t in tenants:
            self.write_tenant(t, {"id": t, "hosts": [host_of(t)], "features": {
                "dbprobe": {"enabled": True, "marker_dir": self.marker_dir}}})

    def migrate(self):
        """`tanomu migrate`: core and dbprobe migrations, tenants registered."""
        if self.port is None:
            self.write_conf()
        r = self.cli("migrate")
        if r.returncode != 0:
            raise AssertionError(f"tanomu migrate failed ({r.returncode}):\n{r.stdout}\n"
                                 f"{r.stderr}\n{self.pg.log_tail()}")
        return r

    def start(self, wait_ready=True, timeout=20.0):
        super().start(wait_ready, timeout)
        return self

    # -- requests as a tenant -------------------------------------------------

    def req(self, tenant, method, path, body=None, headers=None, timeout=10.0):
        if isinstance(body, str):
            body = body.encode("utf-8")
        return self.request(method, path, host=host_of(tenant), body=body, headers=headers,
                            timeout=timeout)

    def create_note(self, tenant, body, flags=""):
        """POST /db/notes; returns (note id, response).  flags: "crash=1" etc."""
        r = self.req(tenant, "POST", "/db/notes" + (f"?{flags}" if flags else ""), body=body)
        if r.status != 201:
            raise AssertionError(f"POST /db/notes as {tenant} answered {r}\n{self.tail()}")
        return r.json()["id"], r

    def list_notes(self, tenant):
        r = self.req(tenant, "GET", "/db/notes")
        if r.status != 200:
            raise AssertionError(f"GET /db/notes as {tenant} answered {r}")
        return r.json()

    # -- logs and processes ------------------------------------------------------

    def plugin_logs(self, pattern):
        """dbprobe log lines whose msg matches the regex, with match groups:
        a list of (line dict, match)."""
        rx = re.compile(pattern)
        out = []
        for line in self.log_lines():
            if line.get("plugin") != "dbprobe":
                continue
            m = rx.search(line.get("msg", ""))
            if m:
                out.append((line, m))
        return out

    def deliveries(self, event_id):
        """Log lines "delivered event ID ..." for this event."""
        return self.plugin_logs(rf"^delivered event {int(event_id)} attempt (\d+) tenant (\S+)$")

    def master_lines(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.log_lines()
                if l.get("process") == "master" and rx.search(l.get("msg", ""))]

    def crashes(self):
        return self.metrics().sum("tanomu_worker_crashes_total")

    def tail(self, n=40):
        return super().tail(n) + self.pg.log_tail(15)


# --------------------------------------------------------------------------
# test case base

class DbTestCase(ServerTestCase):
    """One private cluster per test class, destroyed after it."""

    pg = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = PgCluster()
        cls.addClassCleanup(cls.pg.destroy)
        cls.pg.start()

    def db_server(self, start=True, migrate=True, **kw):
        """A DbServer for this test, cleaned up after it (logs dumped on
        failure, by harness.ServerTestCase)."""
        srv = DbServer(self.pg, **kw)
        self.addCleanup(srv.cleanup)
        self.addCleanup(self._dump_if_failed, srv)   # cleanups run LIFO:
        self.addCleanup(self._stop_and_check, srv)   # this one first
        if migrate:
            srv.migrate()
        if start:
            srv.start()
        return srv

    def _stop_and_check(self, srv):
        """Graceful stop (SIGTERM: exit status 0, no worker left behind),
        then no sanitizer report in the server's stderr: teardown with open
        transactions and pooled connections is part of what is tested."""
        if srv.proc is None:
            return
        srv.stop()
        bad = [l for l in srv.stderr().splitlines()
               if re.search(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:", l)]
        if bad:
            raise AssertionError("sanitizer reports in the server's stderr:\n"
                                 + "\n".join(bad[:20]))

    def assertDbUnavailable(self, resp):
        """A database outage answered the documented way: 503, JSON error
        code database_unavailable, Retry-After (A4: clients back off)."""
        err = self.assertJsonError(resp, 503)
        self.assertEqual(err["code"], "database_unavailable", resp)
        ra = resp.get("Retry-After")
        self.assertIsNotNone(ra, f"503 without Retry-After: {resp}")
        self.assertRegex(ra, r"^\d+$")
        return err


def json_lines_mentioning(srv, needle):
    """Server log lines (stdout and stderr) containing needle: for S16."""
    return [l for l in (srv.stdout() + srv.stderr()).splitlines() if needle in l]


__all__ = ["PgCluster", "DbServer", "DbTestCase", "RawConn", "in_thread", "main", "wait_until",
           "host_of", "TENANTS", "json_lines_mentioning", "harness"]
