"""Plugin-wide settings and request header iteration (ABI 1.2, issue 7 §8),
through the real host and the `wide` test plugin.

plugins.NAME { ... } in tanomu.conf holds settings for a plugin as a whole
(an SMTP relay, a provider's base URL).  They are checked by the same schema
code as a tenant's features.NAME section (P3: a mistake is caught by
`tanomu check`, at start and at reload, at its file and line, before it is
served) and the plugin reads them with api->plugin_config().
req_header_each gives a plugin (a WAF) every request header in arrival
order, repeats included.
"""

import re
import subprocess

import harness
from harness import Server, ServerTestCase

WIDE = {"relay": "smtp.example.com:587", "retries": 5}


def tenants():
    return {"t1": {"id": "t1", "hosts": ["t1.test"],
                   "features": {"hello": {"enabled": True}, "wide": {"enabled": True}}}}


def line_of(text, needle, after=None):
    """1-based number of the first line containing needle (after the line
    containing `after`, if given)."""
    start = line_of(text, after) if after else 0
    for i, line in enumerate(text.splitlines(), 1):
        if i > start and needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


class PluginSettingsTest(ServerTestCase):

    def server(self, wide=WIDE, start=True):
        conf = {"plugins": {"wide": dict(wide)}} if wide is not None else {}
        return self.new_server(plugins=("hello", "wide"), tenants=tenants(), conf=conf,
                               workers=1, start=start)

    def wide(self, srv):
        r = srv.get("/wide")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def check_error(self, srv, line, *words):
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1, f"stdout:{res.stdout}\nstderr:{res.stderr}")
        hits = [l for l in res.stderr.splitlines()
                if re.match(rf"^.*tanomu\.conf:{line}: ", l)]
        self.assertTrue(hits, f"no error at tanomu.conf:{line}:\n{res.stderr}")
        for w in words:
            self.assertTrue(any(w in h for h in hits), f"{w!r} not in {hits}")

    def test_values_reach_the_plugin_with_defaults(self):
        """P3: plugins.wide values, and defaults for the rest, from init() on."""
        srv = self.server()
        got = self.wide(srv)
        self.assertEqual(got["relay"], "smtp.example.com:587")
        self.assertEqual(got["retries"], 5)
        self.assertEqual(got["retries_at_init"], 5)      # readable in init()
        self.assertEqual(got["base_url"], "https://api.example.com")
        self.assertFalse(got["base_url_set"])
        self.assertTrue(got["tenant_null"])              # plugin-wide: no tenant
        srv.stop()   # clean exit, no sanitizer report (S10)

    def test_check_refuses_bad_values_at_their_line(self):
        """P3: type, bounds, unknown key, missing required key, a section for
        a plugin not loaded, and `enabled` (per tenant only) are refused by
        check, at the line in tanomu.conf."""
        cases = [
            ({"relay": "r:25", "retries": "five"}, "retries", "must be a int"),
            ({"relay": "r:25", "retries": 11}, "retries", "out of bounds"),
            ({"relay": "r:25", "base_url": "short"}, "base_url", "length out of bounds"),
            ({"relay": "r:25", "colour": "blue"}, "colour", "unknown setting 'colour'"),
            ({"relay": "r:25", "enabled": True}, "enabled", "enabled per tenant"),
        ]
        srv = self.server(start=False)
        for wide, key, words in cases:
            with self.subTest(key=key):
                srv.conf_over = {"plugins": {"wide": wide}}
                srv.write_conf()
                text = harness.read_text(srv.conf_path)
                self.check_error(srv, line_of(text, f"{key} =", after="wide:"), words)
        # A missing required key: reported at the section.
        srv.conf_over = {"plugins": {"wide": {"retries": 1}}}
        srv.write_conf()
        self.check_error(srv, line_of(harness.read_text(srv.conf_path), "wide:"),
                         "wide.relay is required")
        # No section at all: the required key is still missing.
        srv.conf_over = {}
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("wide.relay is required", res.stderr)
        # A section for a plugin that is not loaded.
        srv.conf_over = {"plugins": {"wide": WIDE, "ghost": {"x": 1}}}
        srv.write_conf()
        self.check_error(srv, line_of(harness.read_text(srv.conf_path), "ghost:"),
                         "plugins.ghost: no such plugin is loaded")
        # A plain value that is neither dir, load nor a group.
        srv.conf_over = {"plugins": {"wide": WIDE, "colour": "red"}}
        srv.write_conf()
        self.check_error(srv, line_of(harness.read_text(srv.conf_path), "colour ="),
                         "unknown setting 'plugins.colour'")
        srv.conf_over = {"plugins": {"wide": WIDE}}
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_start_refused_when_invalid(self):
        """P3: a server does not start on invalid plugin-wide settings; it
        says why, at the file and line."""
        srv = self.server(wide={"relay": "r:25", "retries": 99}, start=False)
        srv.write_conf()
        res = subprocess.run([harness.tanomu_bin(), "serve", "-c", srv.conf_path],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=30 * harness.SCALE)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        line = line_of(harness.read_text(srv.conf_path), "retries =", after="wide:")
        self.assertIn(f"tanomu.conf:{line}: wide.retries: out of bounds (0..10)",
                      res.stdout + res.stderr)

    def test_reload_applies_valid_and_refuses_invalid(self):
        """P4/P3: a reload with new values serves them; a reload with bad
        values is refused and the old generation keeps serving."""
        srv = self.server()
        srv.conf_over = {"plugins": {"wide": {"relay": "r:25", "retries": 7}}}
        srv.write_conf()
        res = srv.cli("reload", timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.wide(srv)["retries"], 7)
        srv.conf_over = {"plugins": {"wide": {"relay": "r:25", "retries": -1}}}
        srv.write_conf()
        res = srv.cli("reload", timeout=60)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("retries", res.stderr + res.stdout)
        self.assertEqual(self.wide(srv)["retries"], 7)
        srv.stop()   # both generations freed their settings (S10 under ASan)

    def test_schema_lists_plugin_wide_settings(self):
        srv = self.server(start=False)
        srv.write_conf()
        res = srv.cli("plugins", "--schema", "wide")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("Plugin-wide settings (tanomu.conf: plugins.wide { ... })", res.stdout)
        for key in ("base_url", "retries", "relay"):
            self.assertRegex(res.stdout, rf"\n  {key}  ")

    def test_sealed_plugin_wide_secret_opens_and_stays_secret(self):
        """S18/S16: a plugin-wide TN_KEY_SECRET sealed by `tanomu secret seal`
        without --tenant opens to the plaintext the plugin reads; one sealed
        for a tenant does not open there; the plaintext is never printed."""
        canary = "wide-canary-5518"
        srv = self.server(start=False)
        srv.conf_over = {"secrets": {"keyring_dir": "keys"}, "plugins": {"wide": WIDE}}
        srv.write_conf()

        def tanomu(*args, stdin=None):
            return subprocess.run([harness.tanomu_bin()] + list(args), input=stdin,
                                  capture_output=True, text=True, timeout=30 * harness.SCALE)

        r = tanomu("secret", "rotate", "-c", srv.conf_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = tanomu("secret", "seal", "-c", srv.conf_path, "--plugin", "wide", "--key",
                   "api_token", stdin=canary + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        sealed = r.stdout.strip()
        # hello declares no plugin-wide secret api_token: nothing to seal for.
        r = tanomu("secret", "seal", "-c", srv.conf_path, "--plugin", "hello", "--key",
                   "api_token", stdin=canary + "\n")
        self.assertNotEqual(r.returncode, 0)
        # A tampered value does not open: check refuses it at its line.
        i = len(sealed) - 10
        tampered = sealed[:i] + ("A" if sealed[i] != "A" else "B") + sealed[i + 1:]
        srv.conf_over = {"secrets": {"keyring_dir": "keys"},
                         "plugins": {"wide": dict(WIDE, api_token=tampered)}}
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        line = line_of(harness.read_text(srv.conf_path), "api_token =", after="wide:")
        self.assertIn(f"tanomu.conf:{line}:", res.stderr)
        self.assertNotIn(canary, res.stdout + res.stderr)
        srv.conf_over = {"secrets": {"keyring_dir": "keys"},
                         "plugins": {"wide": dict(WIDE, api_token=sealed)}}
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertNotIn(canary, res.stdout + res.stderr)
        out = srv.cli("plugins", "--schema", "wide")
        self.assertIn("api_token", out.stdout)
        self.assertNotIn(canary, out.stdout + out.stderr)
        srv.start()
        got = srv.get("/wide/token?guess=" + canary).json()
        self.assertEqual(got, {"set": True, "match": True})
        self.assertFalse(srv.get("/wide/token?guess=nope").json()["match"])
        srv.stop()
        self.assertNotIn(canary, srv.stdout() + srv.stderr())

    def test_header_each_gives_every_header_in_arrival_order(self):
        """A WAF sees every header, repeats apart, as the client sent them."""
        srv = self.server()
        with srv.raw() as c:
            r = c.request("GET", "/wide/headers", "t1.test",
                          [("X-Probe", "1"), ("accept", "*/*"), ("x-probe", "2 two")])
        self.assertEqual(r.status, 200, r)
        got = [tuple(h) for h in r.json()["headers"]]
        self.assertEqual(got, [("Host", "t1.test"), ("X-Probe", "1"), ("accept", "*/*"),
                               ("x-probe", "2 two")])
        srv.stop()


if __name__ == "__main__":
    harness.main()
