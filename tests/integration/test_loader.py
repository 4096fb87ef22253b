"""The plugin loader (P1, S3): a plugin that cannot be served is refused with
one log line naming it and counted in tanomu_plugin_load_failures_total,
while the host keeps serving everything else; `tanomu check` reports the
same plugins as errors.  A plugin from an older SDK minor (shorter
descriptor) still loads.
"""

import json
import re
import shutil

import harness
from harness import Server, ServerTestCase, wait_until

BAD = ("bad_major", "newer_minor", "no_entry", "wrong_name", "needs_missing")
GOOD = ("hello", "probe", "old_abi")


def tenant(features):
    return {"t1": {"id": "t1", "hosts": ["t1.test"], "features": features}}


GOOD_FEATURES = {"hello": {"enabled": True, "greeting": "still here"},
                 "probe": {"enabled": True}, "old_abi": {"enabled": True}}


class LoaderTest(ServerTestCase):

    def lines_naming(self, srv, name):
        """Log lines (not access lines) that name the plugin as a word."""
        pat = re.compile(rf"(?<![a-z0-9_]){re.escape(name)}(?![a-z0-9_])")
        out = []
        for l in srv.log_lines():
            if "request_id" in l and "status" in l:
                continue
            text = l.get("_raw") or json.dumps(l)
            if pat.search(text):
                out.append(text)
        # The spec puts logs on stdout; stderr lines count too, so a line
        # written there is not missed (and not double counted as absent).
        out += [l for l in srv.stderr().splitlines() if pat.search(l)]
        return out

    def test_bad_plugins_refused_rest_served(self):
        # P1: a bad plugin is refused with one log line; the rest serves.
        srv = self.new_server(plugins=GOOD + BAD, load=list(GOOD) + list(BAD),
                              tenants=tenant(GOOD_FEATURES), name="loader")
        # Everything good still serves.
        r = srv.get("/hello")
        self.assertEqual((r.status, r.json()), (200, {"greeting": "still here"}), r)
        self.assertEqual(srv.get("/probe/label").status, 200)
        r = srv.get("/old")
        self.assertEqual((r.status, r.json()), (200, {"old": True}), r)
        # One log line per refused plugin.
        for name in BAD:
            with self.subTest(name):
                lines = wait_until(lambda n=name: self.lines_naming(srv, n), 5,
                                   what=f"log line naming {name}")
                self.assertEqual(len(lines), 1, f"{name}: expected one line, got {lines}")
        # Both versions, e.g. "built for SDK ABI 2.0, host has 1.0".
        major, minor = harness.sdk_abi()
        host = harness.abi_re(major, minor)
        # bad_major keeps today's minor and bumps the major.
        self.assertRegex(self.lines_naming(srv, "bad_major")[0],
                         harness.abi_re(major + 1, minor) + ".*" + host,
                         f"bad_major: built {major + 1}.{minor}, host {major}.{minor}")
        self.assertRegex(self.lines_naming(srv, "newer_minor")[0],
                         harness.abi_re(major, minor + 1) + ".*" + host,
                         f"newer_minor: built {major}.{minor + 1}, host {major}.{minor}")
        self.assertRegex(self.lines_naming(srv, "needs_missing")[0], r"nonexistent")
        # Counted once each (not once per worker).
        m = srv.metrics()
        self.assertEqual(m.sum("tanomu_plugin_load_failures_total"), len(BAD), m.text)
        # A refused plugin's route is not there.
        for name in BAD:
            self.assertEqual(srv.get("/" + name).status, 404)
        srv.stop()

    def test_duplicate_in_load_list_refused_once(self):
        srv = self.new_server(plugins=("hello", "probe"), load=["hello", "probe", "hello"],
                              name="loader-dup")
        self.assertEqual(srv.get("/hello").status, 200)
        self.assertEqual(srv.get("/probe/label").status, 200)
        self.assertEqual(srv.metrics().sum("tanomu_plugin_load_failures_total"), 1)
        self.assertTrue(any(re.search(r"duplicate|twice|more than once|already", l, re.I)
                            for l in self.lines_naming(srv, "hello")),
                        "no line about the duplicate hello")
        srv.stop()

    def test_old_abi_plugin_listed(self):
        """P1: a plugin with a shorter (older) descriptor is loaded and listed."""
        srv = Server(plugins=GOOD, load=list(GOOD), tenants=tenant(GOOD_FEATURES),
                     name="loader-list")
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        res = srv.cli("plugins")
        self.assertEqual(res.returncode, 0, res.stderr)
        line = next((l for l in res.stdout.splitlines() if "old_abi" in l), None)
        self.assertIsNotNone(line, res.stdout)
        self.assertIn("0.0.1-test", line)
        self.assertRegex(line, harness.abi_re(harness.sdk_abi()[0], 0))

    def test_old_minor_settings_layout(self):
        """P1: a plugin built for an older minor (1.0 settings layout) is served."""
        # old_keys is built as against ABI 1.0: its settings array has the
        # 1.0 tn_config_key layout (shorter entries).  abi.h promises that
        # a host serves plugins built for an older minor.
        feats = {"hello": {"enabled": True},
                 "old_keys": {"enabled": True, "level": 7}}  # motto, loud: defaults
        srv = self.new_server(start=False, plugins=("hello", "old_keys"),
                              load=["hello", "old_keys"], tenants=tenant(feats),
                              name="loader-oldkeys")
        srv.write_conf()
        res = srv.cli("plugins", "--schema", "old_keys")
        self.assertEqual(res.returncode, 0, res.stderr)
        for word in ("motto", "old but gold", "A word or two", "level", "One to nine",
                     "loud", "Whether to shout"):
            self.assertIn(word, res.stdout)
        res = srv.cli("check")
        self.assertEqual(res.returncode, 0, res.stderr)
        # The schema is enforced with the old layout too ...
        srv.write_tenant("t1", tenant({"old_keys": {"enabled": True, "level": 10}})["t1"])
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("level", res.stderr)
        # ... and the values arrive when serving.
        srv.write_tenant("t1", tenant(feats)["t1"])
        srv.start()
        r = srv.get("/old_keys")
        self.assertEqual((r.status, r.json()),
                         (200, {"motto": "old but gold", "level": 7, "loud": False}), r)
        srv.stop()

    def test_check_reports_each_bad_plugin(self):
        for name in BAD:
            with self.subTest(name):
                srv = Server(plugins=GOOD + (name,), load=list(GOOD) + [name],
                             tenants=tenant(GOOD_FEATURES), name="loader-check")
                self.addCleanup(srv.cleanup)
                srv.write_conf()
                res = srv.cli("check")
                self.assertEqual(res.returncode, 1, f"{name}: {res.stdout}{res.stderr}")
                self.assertIn(name, res.stderr)
                self.assertNotIn("configuration ok", res.stdout)

    def test_check_bad_plugin_error_has_file_line(self):
        # Like every check error: FILE:LINE: message, at the load list.
        srv = Server(plugins=GOOD + ("bad_major",), load=list(GOOD) + ["bad_major"],
                     tenants=tenant(GOOD_FEATURES), name="loader-check-line")
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        text = harness.read_text(srv.conf_path)
        load_line = next(i for i, l in enumerate(text.splitlines(), 1) if "load =" in l)
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1)
        m = re.search(r"^(\S*tanomu\.conf):(\d+): .*bad_major", res.stderr, re.M)
        self.assertIsNotNone(m, f"no FILE:LINE: for bad_major:\n{res.stderr}")
        self.assertEqual(int(m.group(2)), load_line)

    def test_check_good_plugins_ok(self):
        # Control for the test above: the same setup without the bad one.
        srv = Server(plugins=GOOD, load=list(GOOD), tenants=tenant(GOOD_FEATURES),
                     name="loader-check-ok")
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_check_before_after_cycle(self):
        srv = Server(plugins=("hello", "cycle_a", "cycle_b"),
                     load=["hello", "cycle_a", "cycle_b"], name="loader-cycle")
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertRegex(res.stderr, r"cycle_a|cycle_b")
        # Either one alone is fine: its "before" names a plugin not loaded.
        srv.load = ["hello", "cycle_a"]
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_plugin_outside_dir_not_loaded(self):
        """S3: plugins load by plain name from plugins.dir only."""
        # S3: loading is by plain name from plugins.dir only.
        srv = Server(plugins=("hello",), load=["hello"], name="loader-dir")
        self.addCleanup(srv.cleanup)
        shutil.copy(harness.plugin_path("probe"), srv.tmp + "/probe.so")
        srv.load = ["hello", "../probe"]
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("load", res.stderr)


if __name__ == "__main__":
    harness.main()
