"""The WAF plugin through the real host (issue 17; S5, S16, S17, S21).

Tenants: "blk" (WAF in block mode + echo), "det" (detect mode + echo),
"off" (echo, no WAF) and "plain" (hello only, the cheap route).  The WAF's
rules directory is the plugin's own testdata (a minimal setup.conf and
exclusions.conf) with Debian's CRS.  The attack samples are our own.
"""

import os
import re
import threading
import urllib.parse

import harness
from harness import ServerTestCase, wait_until

ATTACKS = {
    "sqli": ("GET", "/search?q=" + urllib.parse.quote("1' UNION SELECT name, pass FROM users--"),
             None, None),
    "xss": ("POST", "/comments", "application/x-www-form-urlencoded",
            "body=" + urllib.parse.quote("<svg/onload=alert(document.domain)>")),
    "traversal": ("GET", "/files?name=" + urllib.parse.quote("../../../../etc/shadow"), None, None),
    "cmdi": ("POST", "/api/ping", "application/json", '{"host": "10.0.0.1; cat /etc/passwd"}'),
    "header_injection": ("GET", "/go?next=%0d%0aLocation:%20http://evil.example/", None, None),
}
# ASCII only: Japanese text is the platform profile's business (rules/),
# not that of testdata's CRS as shipped.
BENIGN = [
    ("GET", "/search?q=" + urllib.parse.quote("invoice 2026-03 page 2"), None, None),
    ("PATCH", "/api/orders/17", "application/json", '{"qty": 4, "note": "deliver before noon"}'),
]
SECRET = "Zq8sessionSecretValue"


def waf(mode="block", **more):
    d = {"enabled": True, "mode": mode}
    d.update(more)
    return d


def tenants(blk_waf=None):
    return {
        "blk": {"id": "blk", "hosts": ["blk.test"],
                "features": {"waf": blk_waf or waf(), "echo": {"enabled": True}}},
        "det": {"id": "det", "hosts": ["det.test"],
                "features": {"waf": waf("detect"), "echo": {"enabled": True}}},
        "off": {"id": "off", "hosts": ["off.test"], "features": {"echo": {"enabled": True}}},
        "plain": {"id": "plain", "hosts": ["plain.test"],
                  "features": {"hello": {"enabled": True, "greeting": "hi"}}},
    }


def rules_conf():
    return {"plugins": {"waf": {
        "rules_dir": os.path.join(harness.SOURCE_DIR, "plugins", "waf", "testdata")}}}


def send(srv, host, method, path, ctype=None, body=None, headers=None, timeout=20.0):
    h = {"User-Agent": "waf-it/1.0", "Accept": "*/*"}
    if ctype:
        h["Content-Type"] = ctype
    h.update(headers or {})
    data = body.encode("utf-8") if isinstance(body, str) else body
    return srv.request(method, path, host=host, headers=h, body=data,
                       timeout=timeout * harness.SCALE)


class WafTest(ServerTestCase):

    def start(self, workers=2, blk_waf=None):
        return self.new_server(plugins=("waf", "echo", "hello"), tenants=tenants(blk_waf),
                               conf=rules_conf(), workers=workers, name="waf")

    def test_attacks_blocked_in_block_mode_logged_in_detect_mode(self):
        """S5, S17: each category is 403 for blk, 200 and logged for det; off is
        not inspected at all (S21)."""
        srv = self.start()
        for name, (method, path, ctype, body) in ATTACKS.items():
            r = send(srv, "blk.test", method, path, ctype, body)
            self.assertEqual(r.status, 403, f"{name}: {r}")
            self.assertEqual(r.json()["error"]["code"], "waf_blocked")
            self.assertEqual(r.json()["error"]["request_id"], r.get("X-Request-Id"))
            self.assertEqual(send(srv, "det.test", method, path, ctype, body).status, 200, name)
            self.assertEqual(send(srv, "off.test", method, path, ctype, body).status, 200, name)
        for method, path, ctype, body in BENIGN:
            self.assertEqual(send(srv, "blk.test", method, path, ctype, body).status, 200, path)
        n = len(ATTACKS)
        m = srv.wait_metric("tanomu_plugin_waf_blocked_total", lambda v: v == n, tenant="blk")
        srv.wait_metric("tanomu_plugin_waf_detected_total", lambda v: v == n, tenant="det")
        self.assertEqual(srv.metrics().sum("tanomu_plugin_waf_inspected_total", tenant="off"), 0)
        self.assertGreaterEqual(
            srv.metrics().sum("tanomu_plugin_waf_blocked_sqli_total", tenant="blk"), 1)
        self.assertEqual(m, n)
        lines = [l for l in srv.log_lines() if '"event":"waf"' in l.get("msg", "")]
        self.assertTrue(any('"action":"detect"' in l["msg"] and '"tenant":"det"' in l["msg"]
                            for l in lines))
        self.assertTrue(any('"action":"block"' in l["msg"] for l in lines))
        srv.stop()

    def test_per_tenant_exclusion_applies_to_that_tenant_only(self):
        """S21: blk excludes the SQLi rules under /notes; det's and other paths
        are unchanged."""
        srv = self.start(blk_waf=waf(exclude_rules="942100@/notes 942190@/notes 942360@/notes "
                                                   "942361@/notes 942270@/notes"))
        q = "/search?q=" + urllib.parse.quote("1' UNION SELECT name FROM users")
        excluded = "/notes" + q[len("/search"):]
        self.assertEqual(send(srv, "blk.test", "GET", q).status, 403)
        self.assertEqual(send(srv, "blk.test", "GET", excluded).status, 200)
        srv.stop()

    def test_body_over_the_limit_is_refused(self):
        """S5: 413 before any rule runs."""
        srv = self.start(blk_waf=waf(body_limit=4096))
        ok = "a=" + "x" * 4000
        self.assertEqual(send(srv, "blk.test", "POST", "/upload",
                              "application/x-www-form-urlencoded", ok).status, 200)
        r = send(srv, "blk.test", "POST", "/upload", "application/x-www-form-urlencoded",
                 ok + "y" * 200)
        self.assertEqual(r.status, 413)
        self.assertEqual(r.json()["error"]["code"], "payload_too_large")
        srv.stop()

    def test_broken_tenant_rule_fails_check_and_reload_keeps_old_rules(self):
        own = os.path.join(self.tmpdir(), "own.conf")
        with open(own, "w") as f:
            f.write('SecRule ARGS:sku "@streq BANNED" "id:10001,phase:2,deny,status:403,log"\n')
        srv = self.start(blk_waf=waf(rules_file=own))
        self.assertEqual(send(srv, "blk.test", "GET", "/p?sku=BANNED").status, 403)
        with open(own, "w") as f:
            f.write('# line 1\n# line 2\nSecRule ARGS "@rx x" "id:10002,deny,nosuchaction"\n')
        res = srv.cli("check")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn(own, res.stderr)
        self.assertRegex(res.stderr, r"Line: 3")
        res = srv.cli("reload", timeout=60)
        self.assertNotEqual(res.returncode, 0, "a broken rule was accepted")
        # The old generation, with the old rules, serves on.
        self.assertEqual(send(srv, "blk.test", "GET", "/p?sku=BANNED").status, 403)
        self.assertEqual(send(srv, "blk.test", "GET", "/p?sku=fine").status, 200)
        srv.stop()

    def test_no_secret_value_in_the_logs(self):
        """S16: the matched values of a cookie and a body never reach the log."""
        srv = self.start()
        r = send(srv, "blk.test", "POST", "/login", "application/x-www-form-urlencoded",
                 "user=a&password=" + urllib.parse.quote(SECRET + "' OR '1'='1' --"),
                 headers={"Cookie": "sid=" + SECRET + "' or 1=1--"})
        self.assertEqual(r.status, 403)
        srv.wait_log(lambda l: '"event":"waf"' in l.get("msg", ""))
        srv.stop()
        self.assertNotIn(SECRET, srv.stdout() + srv.stderr())

    def test_loop_answers_while_the_waf_is_saturated(self):
        """The rules run in the thread pool: with one worker busy inspecting
        many large bodies, a cheap route on the same loop still answers."""
        srv = self.start(workers=1, blk_waf=waf(body_limit=1048576))
        # Tens of ms of rules each on an idle core: a queue of them saturates.
        body = "&".join(f"f{i}=Tokyo+order+{i}" for i in range(1500))
        n = 48
        done = []
        lock = threading.Lock()

        def heavy():
            try:
                r = send(srv, "blk.test", "POST", "/bulk", "application/x-www-form-urlencoded",
                         body, timeout=120)
                st = r.status
            except Exception as e:  # reported below
                st = repr(e)
            with lock:
                done.append(st)
        threads = [threading.Thread(target=heavy, daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        srv.wait_metric("tanomu_plugin_waf_inspected_total", lambda v: v >= 2, timeout=30,
                        tenant="blk")
        r = srv.get("/hello", host="plain.test", timeout=10 * harness.SCALE)
        with lock:
            finished = len(done)
        self.assertEqual(r.status, 200)
        self.assertLess(finished, n, "the WAF was not saturated when the cheap route answered")
        for t in threads:
            t.join(180 * harness.SCALE)
        self.assertEqual(len(done), n)
        self.assertTrue(all(isinstance(s, int) for s in done), done)
        srv.stop()

    def tmpdir(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="waf-it-rules-")
        self.addCleanup(lambda: __import__("shutil").rmtree(d, ignore_errors=True))
        return d


if __name__ == "__main__":
    harness.main()
