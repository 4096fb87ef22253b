"""Maintenance mode (issue 9): operators turn it on in the configuration,
for every tenant (tanomu.conf `maintenance { }`) or for one tenant (its
file's `tenant.maintenance { }`), and reload.  While on, every tenant route
answers 503 with Retry-After and the JSON error body {"error": {"code":
"maintenance", "message", "until"?, "retry_after_s"}}; health checks, the
admin listener and routes only platform admins may call stay open, and
tanomu_maintenance_refused_total{tenant} counts the refusals.  A request in
flight across the reload completes; turning it off again serves normally.
"""

import json

import harness
from harness import RawConn, ServerTestCase, build_request, in_thread, wait_until

T1, T2 = "t1.test", "t2.test"
MESSAGE = "定期メンテナンス中です。14:15 に再開します。"
UNTIL = "2026-12-09T14:15:00+09:00"


def tenant(tid, host, maint=None):
    t = {"id": tid, "hosts": [host],
         "features": {"hello": {"enabled": True, "greeting": "hi " + tid},
                      "probe": {"enabled": True}, "authprobe": {"enabled": True}}}
    if maint is not None:
        t["maintenance"] = maint
    return harness.render_libconfig({"tenant": t})


PLATFORM = {"X-Auth-User": "op-1", "X-Auth-Roles": "platform_admin"}
TENANT_ADMIN = {"X-Auth-User": "adm-1", "X-Auth-Roles": "tenant_admin"}


class MaintenanceTest(ServerTestCase):

    def start(self):
        return self.new_server(plugins=("hello", "probe", "authprobe"), name="maint",
                               tenants={"t1": tenant("t1", T1), "t2": tenant("t2", T2)})

    def set_global(self, srv, maint):
        srv.conf_over = harness.deep_merge(srv.conf_over, {"maintenance": maint})
        srv.write_conf()

    def reload(self, srv):
        res = srv.cli("reload", timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)

    def assertMaintenance(self, r, retry="900", until=UNTIL, message=MESSAGE):
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.get("Retry-After"), retry, r)
        self.assertIn("application/json", r.get("Content-Type") or "")
        err = json.loads(r.body)["error"]
        self.assertEqual(err["code"], "maintenance")
        self.assertEqual(err["message"], message)
        self.assertEqual(err.get("until"), until)
        self.assertEqual(err["retry_after_s"], int(retry))

    def refused(self, srv, tid):
        return srv.metrics().sum("tanomu_maintenance_refused_total", tenant=tid)

    def test_global_on_then_off(self):
        """Issue 9: reload with the section on -> 503 + Retry-After + JSON on
        every tenant route; health checks and the admin port still 200; a
        platform-admin-only route still served; reload off -> normal again."""
        srv = self.start()
        self.assertEqual(srv.get("/hello", host=T1).status, 200)
        self.set_global(srv, {"enabled": True, "retry_after_s": 900, "message": MESSAGE,
                              "until": UNTIL})
        self.reload(srv)
        for host in (T1, T2):
            self.assertMaintenance(srv.get("/hello", host=host))
            self.assertMaintenance(srv.request("POST", "/probe/echo", host=host, body=b"x"))
            # A tenant admin's route is a tenant route: closed too.
            self.assertMaintenance(srv.get("/authprobe/admin", host=host, headers=TENANT_ADMIN))
        r = srv.get("/authprobe/platform", host=T1, headers=PLATFORM)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["route"], "platform")
        for path in ("/healthz", "/readyz"):
            self.assertEqual(srv.get(path, host=T1).status, 200, path)
        self.assertEqual(srv.admin_get("/metrics").status, 200)
        srv.wait_log(lambda l: "maintenance mode on for every tenant (retry after 900 s)"
                     in l.get("msg", ""), what="the master's maintenance warning")
        srv.wait_metric("tanomu_maintenance_refused_total", lambda v: v >= 3, tenant="t1")
        srv.wait_metric("tanomu_maintenance_refused_total", lambda v: v >= 3, tenant="t2")

        self.set_global(srv, {"enabled": False})
        self.reload(srv)
        for _ in range(4):  # whichever worker takes the connection
            self.assertEqual(srv.get("/hello", host=T1).status, 200)
            self.assertEqual(srv.get("/hello", host=T2).status, 200)
        srv.stop()

    def test_per_tenant_switch_affects_only_that_tenant(self):
        """Issue 9: tenant.maintenance in t2's file closes t2 alone; defaults
        (Retry-After 300, the default message, no until) apply."""
        srv = self.start()
        before = self.refused(srv, "t1")
        srv.write_tenant("t2", tenant("t2", T2, {"enabled": True}))
        self.reload(srv)
        for _ in range(4):
            r = srv.get("/hello", host=T2)
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.get("Retry-After"), "300")
            self.assertEqual(r.json()["error"]["code"], "maintenance")
            self.assertNotIn("until", r.json()["error"])
            self.assertEqual(srv.get("/hello", host=T1).status, 200)
        srv.wait_metric("tanomu_maintenance_refused_total", lambda v: v >= 4, tenant="t2")
        srv.wait_log(lambda l: l.get("process") == "master" and l.get("level") == "warn"
                     and "maintenance mode on for tenant t2" in l.get("msg", ""),
                     what="the master's maintenance warning")
        self.assertFalse(any("every tenant" in l.get("msg", "") for l in srv.log_lines()))
        self.assertEqual(self.refused(srv, "t1"), before)
        srv.write_tenant("t2", tenant("t2", T2, {"enabled": False}))
        self.reload(srv)
        self.assertEqual(srv.get("/hello", host=T2).status, 200)
        srv.stop()

    def test_tenant_section_overrides_global_message(self):
        """A tenant's own section, when on, is the one shown to that tenant."""
        srv = self.start()
        self.set_global(srv, {"enabled": True, "retry_after_s": 900, "message": MESSAGE,
                              "until": UNTIL})
        srv.write_tenant("t2", tenant("t2", T2, {"enabled": True, "retry_after_s": 60,
                                                  "message": "t2 only"}))
        self.reload(srv)
        self.assertMaintenance(srv.get("/hello", host=T1))
        self.assertMaintenance(srv.get("/hello", host=T2), retry="60", until=None,
                               message="t2 only")
        srv.stop()

    def test_no_connection_dropped_across_reload(self):
        """P4 with maintenance: a request in flight when maintenance is turned
        on completes normally; the connection then either gets 503 or was
        closed politely with Connection: close; nothing is reset."""
        srv = self.start()
        conn = RawConn(srv.port)
        self.addCleanup(conn.close)
        self.assertEqual(conn.request("GET", "/hello", T1).status, 200)
        conn.send(build_request("GET", "/probe/slow?ms=1500", T1))
        wait_until(lambda: "probe slow start" in srv.stdout(), 10,
                   what="the slow request to be in flight")
        self.set_global(srv, {"enabled": True, "retry_after_s": 900, "message": MESSAGE,
                              "until": UNTIL})
        t, box = in_thread(self.reload, srv)
        r = conn.read_response(timeout=15)
        self.assertEqual((r.status, r.json()), (200, {"slept": 1500}), r)
        t.join(60 * harness.SCALE)
        self.assertIn("result", box, box.get("error"))
        if (r.get("Connection") or "").lower() == "close":
            self.assertTrue(conn.wait_closed(5))
        else:
            r2 = conn.request("GET", "/hello", T1)
            self.assertIn(r2.status, (200, 503), r2)
        self.assertMaintenance(srv.get("/hello", host=T1))
        srv.stop()


class MaintenanceCheckTest(ServerTestCase):
    """`tanomu check` validates the section, with FILE:LINE."""

    def check(self, srv):
        return srv.cli("check")

    def bad(self, maint, needle, in_tenant=False):
        srv = self.new_server(start=False, plugins=("hello",), name="maintcheck",
                              tenants={"t1": {"id": "t1", "hosts": [T1],
                                              "features": {"hello": {"enabled": True}}}})
        if in_tenant:
            srv.write_tenant("t1", harness.render_libconfig({"tenant": {
                "id": "t1", "hosts": [T1], "features": {"hello": {"enabled": True}},
                "maintenance": maint}}))
        else:
            srv.conf_over = {"maintenance": maint}
        srv.write_conf()
        res = self.check(srv)
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertIn(needle, res.stderr + res.stdout)
        return res

    def test_valid_section_passes(self):
        srv = self.new_server(start=False, plugins=("hello",), name="maintcheck",
                              conf={"maintenance": {"enabled": True, "retry_after_s": 900,
                                                    "message": MESSAGE, "until": UNTIL}})
        srv.write_conf()
        res = self.check(srv)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_invalid_sections_refused(self):
        self.bad({"enabled": True, "until": "2026-12-09 14:15"}, "maintenance.until")
        self.bad({"enabled": True, "until": "2026-02-30T14:15:00+09:00"}, "maintenance.until")
        self.bad({"enabled": True, "retry_after_s": 0}, "maintenance.retry_after_s")
        self.bad({"enabled": True, "retry_after_s": 86401}, "maintenance.retry_after_s")
        self.bad({"enabled": "yes"}, "maintenance.enabled")
        self.bad({"enabled": True, "message": ""}, "maintenance.message")
        self.bad({"enabled": True, "mesage": "typo"}, "maintenance.mesage")
        res = self.bad({"enabled": True, "until": "tomorrow"}, "tenant.maintenance.until",
                       in_tenant=True)
        self.assertRegex(res.stderr + res.stdout, r"t1\.conf:\d+")


if __name__ == "__main__":
    harness.main()
