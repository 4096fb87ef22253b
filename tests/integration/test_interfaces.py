"""Interfaces between plugins (P1, P2; issue 7 §6, ABI 1.2).

A provider exports a named, versioned table of functions from init(); a
consumer that lists the provider in `depends` gets it with iface_get().  The
host inits a plugin after the plugins it depends on, whatever the run order
(before/after) says, and finis in reverse.  A missing or too-old interface,
or one looked up without the dependency declared, fails the consumer's
init() with one line that says why: `tanomu check` and a reload refuse it.
"""

import json
import re

import harness
from harness import Server, ServerTestCase, wait_until

PLUGINS = ("hello", "iface_provider", "iface_consumer", "iface_too_old", "iface_undeclared")


def tenant(*enabled):
    feats = {"hello": {"enabled": True, "greeting": "hi"}}
    for name in enabled:
        feats[name] = {"enabled": True}
    return {"t1": {"id": "t1", "hosts": ["t1.test"], "features": feats}}


def problems(text, name):
    """Lines of check's stderr about plugin name that are not info lines."""
    out = []
    for l in text.splitlines():
        if name not in l:
            continue
        try:
            if json.loads(l).get("level") == "info":
                continue
        except ValueError:
            pass
        out.append(l)
    return out


def messages(srv, word):
    """The "msg" of every JSON log line that contains word, in log order."""
    out = []
    for l in srv.log_lines():
        text = l.get("msg") or l.get("message") or l.get("_raw") or json.dumps(l)
        if word in text:
            out.append(text)
    return out


class InterfacesTest(ServerTestCase):

    def server(self, load, enabled, name, start=True):
        return self.new_server(plugins=PLUGINS, load=load, tenants=tenant(*enabled), name=name,
                               workers=1, start=start)

    def test_consumer_uses_provider_init_and_fini_in_depends_order(self):
        # The consumer is listed first and says `before` the provider (its
        # hooks run first), yet its init() needs the provider's interface.
        srv = self.server(["hello", "iface_consumer", "iface_provider"],
                          ["iface_provider", "iface_consumer"], "iface-ok")
        r = srv.get("/iface_consumer/sum")
        self.assertEqual((r.status, r.json()), (200, {"sum": 5, "owner": "iface_provider"}), r)
        inits = messages(srv, " init")
        self.assertEqual(inits[:2], ["iface_provider init", "iface_consumer init"], inits)
        srv.stop()
        finis = messages(srv, " fini")
        self.assertEqual(finis, ["iface_consumer fini", "iface_provider fini"], finis)

    def check(self, load, name):
        srv = Server(plugins=PLUGINS, load=load, tenants=tenant(), name=name)
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        return srv.cli("check")

    def test_check_accepts_consumer_with_provider(self):
        res = self.check(["hello", "iface_consumer", "iface_provider"], "iface-check-ok")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_too_old_interface_refused_in_one_line(self):
        res = self.check(["hello", "iface_provider", "iface_too_old"], "iface-old")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        lines = problems(res.stderr, "iface_too_old")
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertRegex(lines[0], r"init\(\) failed: interface demo\.math of plugin "
                                   r"iface_provider is version 2, iface_too_old needs "
                                   r"version >= 3")

    def test_undeclared_dependency_refused(self):
        res = self.check(["hello", "iface_provider", "iface_undeclared"], "iface-undecl")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        lines = problems(res.stderr, "iface_undeclared")
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertRegex(lines[0], r"exported by plugin iface_provider, which iface_undeclared "
                                   r"does not list in depends")

    def test_missing_provider_refused(self):
        # Without the provider loaded, depends already refuses the consumer.
        res = self.check(["hello", "iface_consumer"], "iface-missing")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertRegex(res.stderr, r"iface_consumer: depends on 'iface_provider'")

    def test_depends_cycle_refused(self):
        srv = Server(plugins=("hello", "dep_cycle_a", "dep_cycle_b"),
                     load=["hello", "dep_cycle_a", "dep_cycle_b"], tenants=tenant(),
                     name="iface-cycle")
        self.addCleanup(srv.cleanup)
        srv.write_conf()
        res = srv.cli("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertRegex(res.stderr, r"depends cycle among dep_cycle_a, dep_cycle_b")

    def test_reload_with_too_old_interface_rejected_old_generation_stays(self):
        srv = self.server(["hello", "iface_provider", "iface_consumer"],
                          ["iface_provider", "iface_consumer"], "iface-reload")
        self.assertEqual(srv.get("/iface_consumer/sum").status, 200)
        srv.load = ["hello", "iface_provider", "iface_consumer", "iface_too_old"]
        srv.write_conf()
        res = srv.cli("reload")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertRegex(res.stderr, r"iface_too_old: init\(\) failed: interface demo\.math")
        r = srv.get("/iface_consumer/sum")
        self.assertEqual((r.status, r.json()), (200, {"sum": 5, "owner": "iface_provider"}), r)
        srv.stop()


if __name__ == "__main__":
    harness.main()
