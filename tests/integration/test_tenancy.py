"""Tenancy: the Host header selects the tenant (S21), tenants enable and set
plugins by configuration (P3), a disabled plugin neither routes nor hooks,
per-tenant security headers (S5, S9) and route access control (S11).
"""

import harness
from harness import ServerTestCase

ALPHA = "alpha.test"
BETA = "beta.test"
BETA_CSP = "default-src 'none'; frame-ancestors 'none'"


class TenancyTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(name="tenancy", tenants={
            "alpha": {"id": "alpha", "hosts": [ALPHA, "www.alpha.test"], "features": {
                "hello": {"enabled": True, "greeting": "Hello alpha"},
                "probe": {"enabled": True, "label": "label-of-alpha"},
            }},
            "beta": {"id": "beta", "hosts": [BETA], "headers": {
                "content_security_policy": BETA_CSP,
                "referrer_policy": "no-referrer",
            }, "features": {
                "hello": {"enabled": True, "greeting": "Hello beta"},
                "probe": {"enabled": False, "label": "label-of-beta"},
            }},
            "gamma": {"id": "gamma", "hosts": ["gamma.test"], "features": {
                "probe": {"enabled": True},   # hello not mentioned: off
            }},
        })

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def get(self, path, host, **kw):
        return self.server.get(path, host=host, **kw)

    # -- tenant selection (S21) ------------------------------------------------

    def test_host_selects_tenant(self):
        """S21: the Host header selects the tenant."""
        self.assertEqual(self.get("/hello", ALPHA).json(), {"greeting": "Hello alpha"})
        self.assertEqual(self.get("/hello", "www.alpha.test").json(),
                         {"greeting": "Hello alpha"})
        self.assertEqual(self.get("/hello", BETA).json(), {"greeting": "Hello beta"})

    def test_host_port_stripped_and_case_insensitive(self):
        for host in ("ALPHA.Test", f"alpha.test:{self.server.port}", "Alpha.TEST:1"):
            with self.subTest(host):
                r = self.get("/hello", host)
                self.assertEqual((r.status, r.json()), (200, {"greeting": "Hello alpha"}), r)

    def test_unknown_host_404_unknown_tenant(self):
        for host in ("nobody.test", "alpha.test.evil.example", "alpha", "127.0.0.1"):
            with self.subTest(host):
                err = self.assertJsonError(self.get("/hello", host), 404)
                self.assertEqual(err["code"], "unknown_tenant")

    def test_settings_are_per_tenant(self):
        r = self.get("/probe/label", ALPHA)
        self.assertEqual(r.json(), {"label": "label-of-alpha", "tenant": "alpha"})
        # Default applies where the tenant does not set the key.
        r = self.get("/probe/label", "gamma.test")
        self.assertEqual(r.json(), {"label": "probe", "tenant": "gamma"})

    # -- P3: features on and off ---------------------------------------------

    def test_disabled_plugin_routes_404(self):
        # P3: a feature off for a tenant has no routes there.
        self.assertEqual(self.get("/probe/label", ALPHA).status, 200)   # control
        for path in ("/probe/label", "/probe/params/1/2", "/probe/me"):
            with self.subTest(path):
                self.assertEqual(self.get(path, BETA).status, 404)
        # Not mentioned at all is off too.
        self.assertEqual(self.get("/hello", "gamma.test").status, 404)

    def test_disabled_plugin_hooks_do_not_run(self):
        """P3: a feature off for a tenant runs no hooks there."""
        # probe's RESPONSE hook marks every response of tenants enabling it.
        self.assertEqual(self.get("/hello", ALPHA).get("X-Probe-Hook"), "ran")  # control
        r = self.get("/hello", BETA, headers={"X-Test-User": "mallory;admin"})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.get("X-Probe-Hook"), "probe's hook ran for a tenant disabling it")

    def test_disabled_plugin_cannot_authenticate(self):
        # beta's access log must not carry a user set by probe's hook ...
        rid = "tenancy-noauth-beta"
        self.get("/hello", BETA, headers={"X-Test-User": "mallory;admin",
                                          "X-Request-Id": rid})
        line = self.server.access_line(rid)
        self.assertNotEqual(line.get("user"), "mallory", line)
        # ... while for alpha, which enables probe, the same request has one.
        rid = "tenancy-auth-alpha"
        self.get("/hello", ALPHA, headers={"X-Test-User": "mallory;admin",
                                           "X-Request-Id": rid})
        self.assertEqual(self.server.access_line(rid).get("user"), "mallory")

    # -- headers per tenant (S5, S9) --------------------------------------------

    def test_default_security_headers(self):
        self.assertStandardHeaders(self.get("/hello", ALPHA))

    def test_tenant_security_headers_override(self):
        """S5, S9: a tenant overrides CSP and Referrer-Policy."""
        r = self.get("/hello", BETA)
        self.assertEqual(r.status, 200)
        self.assertStandardHeaders(r, csp=BETA_CSP, referrer="no-referrer")
        # Also on the tenant's error responses.
        self.assertStandardHeaders(self.get("/missing", BETA), csp=BETA_CSP,
                                   referrer="no-referrer")

    # -- health endpoints ----------------------------------------------------------

    def test_health_whatever_host(self):
        for host in (ALPHA, BETA, "nobody.test"):
            for path in ("/healthz", "/readyz"):
                with self.subTest(f"{path} @{host}"):
                    self.assertEqual(self.get(path, host).status, 200)

    # -- access control (S11) ------------------------------------------------------

    def test_authenticated_route_without_principal_401(self):
        """S11: authentication on every protected resource."""
        self.assertJsonError(self.get("/probe/me", ALPHA), 401)

    def test_authenticated_route_with_principal(self):
        r = self.get("/probe/me", ALPHA, headers={"X-Test-User": "alice"})
        self.assertEqual((r.status, r.json()), (200, {"me": True, "user": "alice"}), r)

    def test_role_route_without_principal_401(self):
        self.assertJsonError(self.get("/probe/admin", ALPHA), 401)

    def test_role_route_missing_role_403(self):
        # S11, S19: a role route refuses principals without the role.
        for user in ("bob;user", "bob;", "bob;administrator", "bob;user,viewer"):
            with self.subTest(user):
                self.assertJsonError(
                    self.get("/probe/admin", ALPHA, headers={"X-Test-User": user}), 403)

    def test_role_route_with_role(self):
        for user in ("carol;admin", "carol;user,admin"):
            with self.subTest(user):
                r = self.get("/probe/admin", ALPHA, headers={"X-Test-User": user})
                self.assertEqual((r.status, r.json()), (200, {"admin": True, "user": "carol"}))

    # -- metrics per tenant ----------------------------------------------------------

    def test_request_metrics_by_tenant(self):
        m0 = self.server.metrics()
        a0 = m0.sum("tanomu_http_requests_total", tenant="alpha", status="2xx")
        b0 = m0.sum("tanomu_http_requests_total", tenant="beta", status="4xx")
        for _ in range(3):
            self.get("/hello", ALPHA)
        for _ in range(2):
            self.get("/probe/label", BETA)   # 404: disabled
        self.server.wait_metric("tanomu_http_requests_total", lambda v: v == a0 + 3,
                                tenant="alpha", status="2xx")
        self.server.wait_metric("tanomu_http_requests_total", lambda v: v == b0 + 2,
                                tenant="beta", status="4xx")

    def test_response_hook_suspended_then_done_runs_once(self):
        """A response hook that suspends and resumes with TN_DONE ends the
        response phase: it does not run again (one X-Probe-Hook header)."""
        r = self.get("/probe/label", ALPHA, headers={"X-Probe-Suspend-Response": "1"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.get_all("X-Probe-Hook"), ["ran"])

    def test_plugin_metric_per_tenant(self):
        """A plugin's counter (hello's greetings_total) is kept per tenant,
        also when tenants alternate request by request (A4, S21)."""
        m0 = self.server.metrics()
        a0 = m0.sum("tanomu_plugin_hello_greetings_total", tenant="alpha")
        b0 = m0.sum("tanomu_plugin_hello_greetings_total", tenant="beta")
        for _ in range(3):
            self.get("/hello", ALPHA)
            self.get("/hello", BETA)
        self.get("/hello", ALPHA)
        self.server.wait_metric("tanomu_plugin_hello_greetings_total", lambda v: v == a0 + 4,
                                tenant="alpha")
        self.server.wait_metric("tanomu_plugin_hello_greetings_total", lambda v: v == b0 + 3,
                                tenant="beta")


if __name__ == "__main__":
    harness.main()
