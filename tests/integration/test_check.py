"""`tanomu check`, `version`, `plugins` and `--help`: configuration errors are
reported as FILE:LINE: message with exit status 1 (P3: tenants configure
features, and a mistake is caught before it is served), a valid configuration
prints "configuration ok".  No server is started here.
"""

import os
import re
import shutil
import subprocess

import harness
from harness import Server, ServerTestCase

PLUGINS = ("hello", "probe", "typed", "crashy")
LOAD = ["hello", "probe", "typed"]          # crashy is copied but not loaded


def line_of(text, needle, nth=1):
    """1-based number of the nth line containing needle."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in text")


def tenant_text(features="", extra="", headers=""):
    """A tenant file whose lines tests locate by their content."""
    return ("tenant: {\n"
            '  id = "t1";\n'
            '  hosts = ["t1.test"];\n'
            + extra + headers +
            "  features: {\n"
            "    hello: {\n"
            "      enabled = true;\n"
            '      greeting = "Hi";\n'
            "    };\n"
            "    typed: {\n"
            "      enabled = true;\n"
            '      name = "typed-one";\n'
            "    };\n"
            + features +
            "  };\n"
            "};\n")


class CheckTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.srv = Server(plugins=PLUGINS, load=LOAD, tenants={}, name="check")
        self.addCleanup(self.srv.cleanup)
        self.srv.write_conf()
        self.base_conf = harness.read_text(self.srv.conf_path)
        self.tenant_path = self.srv.write_tenant("t1", tenant_text())

    # -- helpers ----------------------------------------------------------------

    def check(self):
        return self.srv.cli("check")

    def errors(self, res):
        """[(path, line, message)] parsed from stderr lines FILE:LINE: msg."""
        out = []
        for line in res.stderr.splitlines():
            m = re.match(r"^(.+?):(\d+): (.+)$", line)
            if m:
                out.append((m.group(1), int(m.group(2)), m.group(3)))
        return out

    def same_file(self, reported, expected):
        cands = [reported, os.path.join(os.getcwd(), reported),
                 os.path.join(self.srv.tmp, reported)]
        return any(os.path.realpath(c) == os.path.realpath(expected) for c in cands)

    def assertCheckError(self, path, line, *words):
        """check exits 1 and reports path:line, with message words if given."""
        res = self.check()
        self.assertEqual(res.returncode, 1, f"exit {res.returncode}\nstdout:{res.stdout}\n"
                                            f"stderr:{res.stderr}")
        self.assertNotIn("configuration ok", res.stdout)
        errs = self.errors(res)
        hits = [e for e in errs if self.same_file(e[0], path) and e[1] == line]
        self.assertTrue(hits, f"no error at {path}:{line}; stderr:\n{res.stderr}")
        for w in words:
            self.assertTrue(any(w.lower() in e[2].lower() for e in hits),
                            f"{w!r} not in the message at line {line}; stderr:\n{res.stderr}")
        return res

    def write_tenant(self, text):
        self.srv.write_tenant("t1", text)
        return text

    def write_conf(self, text):
        self.srv.write_conf(text)
        return text

    # -- valid -------------------------------------------------------------------

    def test_valid_configuration_ok(self):
        """P3: a valid configuration passes check."""
        res = self.check()
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("configuration ok", res.stdout)
        self.assertEqual(self.errors(res), [])

    def test_shipped_example_configuration(self):
        # config/tanomu.conf and its demo tenant are what `make run` serves.
        # Rebuilt in a temporary tree with the layout scripts/run.sh makes
        # (config/, migrations/, var/pg/*.url), plugins.dir pointed at this
        # build's plugins; check neither reads the URL files nor connects.
        root = os.path.join(self.srv.tmp, "example")
        shutil.copytree(os.path.join(harness.SOURCE_DIR, "config"), os.path.join(root, "config"))
        if os.path.isdir(os.path.join(harness.SOURCE_DIR, "migrations")):
            shutil.copytree(os.path.join(harness.SOURCE_DIR, "migrations"),
                            os.path.join(root, "migrations"))
        os.symlink(os.path.join(harness.SOURCE_DIR, "plugins"), os.path.join(root, "plugins"))
        os.makedirs(os.path.join(root, "var", "pg"))
        os.makedirs(os.path.join(root, "var", "run"))
        for role in ("app", "owner"):
            path = os.path.join(root, "var", "pg", role + ".url")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, f"postgresql://tanomu_{role}@127.0.0.1:1/tanomu\n".encode())
            os.close(fd)
        conf = os.path.join(root, "config", "tanomu.conf")
        text = harness.read_text(conf)
        self.assertIn('dir = "../build/plugins";', text)
        with open(conf, "w") as f:
            f.write(text.replace('dir = "../build/plugins";',
                                 f'dir = "{os.path.join(harness.BUILD_DIR, "plugins")}";'))
        # the first key, as scripts/run.sh makes it (secrets.keyring_dir)
        res = harness.run_cli("secret", "rotate", "-c", conf)
        self.assertEqual(res.returncode, 0, res.stderr)
        res = harness.run_cli("check", "-c", conf)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("configuration ok", res.stdout)

    def test_check_does_not_need_database_url_files(self):
        """P3 in a build step: check does not read database.url_file and
        owner_url_file (the database's secrets, absent at build time) and
        says so; serve and migrate still need them."""
        conf = self.base_conf + ('database: {\n'
                                 '  url_file = "var/pg/app.url";\n'
                                 '  owner_url_file = "var/pg/owner.url";\n'
                                 '};\n')
        self.write_conf(conf)
        app = os.path.join(self.srv.tmp, "var", "pg", "app.url")
        owner = os.path.join(self.srv.tmp, "var", "pg", "owner.url")
        self.assertFalse(os.path.exists(app))
        res = self.check()
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("configuration ok", res.stdout)
        self.assertIn(f"not checked: database.url_file {app}", res.stdout)
        self.assertIn(f"not checked: database.owner_url_file {owner}", res.stdout)
        # The rest of the database group is still checked.
        self.write_conf(conf.replace('  url_file = "var/pg/app.url";\n',
                                     '  url_file = "var/pg/app.url";\n  url = "x";\n'))
        res = self.check()
        self.assertEqual(res.returncode, 1, res.stdout)
        self.assertIn("give either 'url' or 'url_file'", res.stderr)
        # migrate and serve read them, and refuse to go on without them.
        self.write_conf(conf)
        res = self.srv.cli("migrate")
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertIn(f"'owner_url_file': cannot read {owner}", res.stderr)
        res = subprocess.run([harness.tanomu_bin(), "serve", "-c", self.srv.conf_path],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=30 * harness.SCALE)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn(f"'url_file': cannot read {app}", res.stdout + res.stderr)

    def test_check_does_not_bind_ports(self):
        # check must be runnable next to the live server: it never listens.
        import socket
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.srv.port))
            s.listen()
            res = self.check()
        self.assertEqual(res.returncode, 0, res.stderr)

    # -- tanomu.conf errors ------------------------------------------------------

    def test_unknown_key_in_each_group_of_main_conf(self):
        for group in ("server: {", "limits: {", "tls: {", "logging: {", "plugins: {"):
            with self.subTest(group):
                lines = self.base_conf.splitlines(keepends=True)
                at = line_of(self.base_conf, group)
                lines.insert(at, "    listen_backlog = 5;\n")
                text = self.write_conf("".join(lines))
                self.assertCheckError(self.srv.conf_path, line_of(text, "listen_backlog"),
                                      "listen_backlog")

    def test_unknown_top_level_key(self):
        text = self.write_conf(self.base_conf + 'colour = "red";\n')
        self.assertCheckError(self.srv.conf_path, line_of(text, "colour"), "colour")

    def test_unknown_key_in_limits(self):
        text = self.write_conf(self.base_conf.replace(
            "header_bytes = 16384;", "header_bytes = 16384;\n    header_lines = 5;"))
        self.assertCheckError(self.srv.conf_path, line_of(text, "header_lines"))

    def test_wrong_type_in_main_conf(self):
        text = self.write_conf(re.sub(r"workers = \d+;", 'workers = "two";', self.base_conf))
        self.assertCheckError(self.srv.conf_path, line_of(text, "workers ="))

    def test_syntax_error_has_line(self):
        lines = self.base_conf.splitlines(keepends=True)
        at = line_of(self.base_conf, "logging: {")
        lines.insert(at, "    level = \"info\"\n")   # missing ';' (and duplicate)
        text = self.write_conf("".join(lines))
        res = self.check()
        self.assertEqual(res.returncode, 1, res.stderr)
        errs = [e for e in self.errors(res) if self.same_file(e[0], self.srv.conf_path)]
        self.assertTrue(errs, res.stderr)
        # libconfig reports the line where it noticed, at or just after.
        self.assertTrue(any(at + 1 <= e[1] <= at + 3 for e in errs),
                        f"syntax error reported at {errs}, inserted at {at + 1}; {text}")

    def test_invalid_plugin_name_in_load_list(self):
        for bad in ("../hello", "Hello", "a" * 33, "hello.so", ""):
            with self.subTest(bad):
                text = self.write_conf(self.base_conf.replace(
                    '"hello", "probe", "typed"', f'"hello", "probe", "typed", "{bad}"'))
                self.assertIn(bad, text)
                self.assertCheckError(self.srv.conf_path, line_of(text, "load ="))

    # -- tenant files -------------------------------------------------------------

    def test_unknown_key_in_tenant(self):
        text = self.write_tenant(tenant_text(extra='  colour = "red";\n'))
        self.assertCheckError(self.tenant_path, line_of(text, "colour"), "colour")

    def test_unknown_key_in_tenant_headers(self):
        text = self.write_tenant(tenant_text(headers=(
            "  headers: {\n"
            '    referrer_policy = "no-referrer";\n'
            '    x_frame_options = "DENY";\n'
            "  };\n")))
        self.assertCheckError(self.tenant_path, line_of(text, "x_frame_options"))

    def test_tenant_enables_plugin_not_loaded(self):
        text = self.write_tenant(tenant_text(features=(
            "    crashy: {\n"
            "      enabled = true;\n"
            "    };\n")))
        res = self.check()
        self.assertEqual(res.returncode, 1, res.stderr)
        hits = [e for e in self.errors(res) if self.same_file(e[0], self.tenant_path)
                and e[1] in (line_of(text, "crashy: {"), line_of(text, "crashy: {") + 1)]
        self.assertTrue(hits, f"expected an error at the crashy section; {res.stderr}")
        self.assertIn("crashy", hits[0][2])

    def test_unknown_plugin_setting(self):
        text = self.write_tenant(tenant_text().replace(
            'greeting = "Hi";', 'greeting = "Hi";\n      grreting = "typo";'))
        self.assertCheckError(self.tenant_path, line_of(text, "grreting"), "grreting")

    def test_wrong_type_setting(self):
        for key, bad in (("count", '"five"'), ("ratio", '"half"'), ("verbose", '"yes"'),
                         ("name", "42")):
            with self.subTest(key):
                text = tenant_text().replace('name = "typed-one";', 'name = "typed-one";\n'
                                             f"      {key} = {bad};")
                if key == "name":
                    text = tenant_text().replace('name = "typed-one";', f"name = {bad};")
                self.write_tenant(text)
                self.assertCheckError(self.tenant_path, line_of(text, f"{key} = {bad}"))

    def test_out_of_bounds_setting(self):
        for key, bad in (("count", "11"), ("count", "0"), ("ratio", "1.5"),
                         ("name", '"' + "n" * 33 + '"'), ("name", '""')):
            with self.subTest(f"{key}={bad}"):
                base = tenant_text()
                if key == "name":
                    text = base.replace('name = "typed-one";', f"name = {bad};")
                else:
                    text = base.replace('name = "typed-one";',
                                        f'name = "typed-one";\n      {key} = {bad};')
                self.write_tenant(text)
                self.assertCheckError(self.tenant_path, line_of(text, f"{key} = {bad}"))

    def test_hello_greeting_bounds(self):
        for bad in ('""', '"' + "g" * 201 + '"'):
            with self.subTest(len(bad)):
                text = self.write_tenant(tenant_text().replace('greeting = "Hi";',
                                                               f"greeting = {bad};"))
                self.assertCheckError(self.tenant_path, line_of(text, "greeting ="))

    def test_missing_required_setting(self):
        text = self.write_tenant(tenant_text().replace('      name = "typed-one";\n', ""))
        res = self.check()
        self.assertEqual(res.returncode, 1, res.stderr)
        sec = line_of(text, "typed: {")
        hits = [e for e in self.errors(res) if self.same_file(e[0], self.tenant_path)
                and sec <= e[1] <= sec + 2 and "name" in e[2]]
        self.assertTrue(hits, f"expected 'name' required at the typed section (line {sec});"
                              f"\n{res.stderr}")

    def test_plugin_check_error_at_key_line(self):
        # typed's own check(): verbose needs count >= 5, reported at count.
        text = self.write_tenant(tenant_text().replace(
            'name = "typed-one";', 'name = "typed-one";\n      count = 2;\n      verbose = true;'))
        self.assertCheckError(self.tenant_path, line_of(text, "count = 2"), "verbose")

    def test_hello_check_shout_long_greeting(self):
        # hello's check(): with shout = true the greeting must be <= 100 bytes.
        text = self.write_tenant(tenant_text().replace(
            'greeting = "Hi";', 'greeting = "' + "h" * 150 + '";\n      shout = true;'))
        res = self.check()
        self.assertEqual(res.returncode, 1, res.stderr)
        lines = {line_of(text, "greeting ="), line_of(text, "shout =")}
        hits = [e for e in self.errors(res) if self.same_file(e[0], self.tenant_path)
                and e[1] in lines]
        self.assertTrue(hits, f"expected an error at line {sorted(lines)}:\n{res.stderr}")
        # and within the bound it is fine
        self.write_tenant(tenant_text().replace(
            'greeting = "Hi";', 'greeting = "' + "h" * 100 + '";\n      shout = true;'))
        self.assertEqual(self.check().returncode, 0)

    def test_secret_value_never_printed(self):
        """S16: a SECRET setting never appears in check output."""
        # S16: even when the section with the secret has errors.
        text = self.write_tenant(tenant_text().replace(
            'name = "typed-one";',
            'name = "typed-one";\n      api_key = "SECRETKEY-c0ffee";\n      count = 99;'))
        res = self.assertCheckError(self.tenant_path, line_of(text, "count = 99"))
        self.assertNotIn("SECRETKEY-c0ffee", res.stdout + res.stderr)

    def test_all_errors_reported(self):
        # Two independent mistakes in two files: both are reported at once.
        text = self.write_tenant(tenant_text(extra='  colour = "red";\n'))
        conf = self.write_conf(self.base_conf + 'flavour = "mint";\n')
        res = self.check()
        self.assertEqual(res.returncode, 1)
        errs = self.errors(res)
        self.assertTrue(any(self.same_file(p, self.tenant_path) and l == line_of(text, "colour")
                            for p, l, _ in errs), res.stderr)
        self.assertTrue(any(self.same_file(p, self.srv.conf_path) and l == line_of(conf, "flavour")
                            for p, l, _ in errs), res.stderr)

    def test_duplicate_host_across_tenants(self):
        """S21: one host name selects exactly one tenant."""
        # S21: one host name must select exactly one tenant.
        other = tenant_text().replace('id = "t1";', 'id = "t2";')
        path2 = self.srv.write_tenant("t2", other)
        res = self.check()
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertTrue(any(self.same_file(p, path2) or self.same_file(p, self.tenant_path)
                            for p, _, _ in self.errors(res)), res.stderr)

    # -- other commands -------------------------------------------------------------

    def test_version(self):
        res = harness.run_cli("version")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("SDK ABI %d.%d" % harness.sdk_abi(), res.stdout)
        self.assertRegex(res.stdout, r"\b\d+\.\d+\.\d+\b")

    def test_help_for_each_command(self):
        for args in (["--help"], ["serve", "--help"], ["check", "--help"],
                     ["reload", "--help"], ["version", "--help"], ["plugins", "--help"]):
            with self.subTest(" ".join(args)):
                res = harness.run_cli(*args, timeout=10)
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertRegex(res.stdout.lower(), r"usage")

    def test_unknown_command_fails(self):
        res = harness.run_cli("frobnicate")
        self.assertNotEqual(res.returncode, 0)
        self.assertTrue(res.stderr.strip(), "no message for an unknown command")

    def test_plugins_lists_loaded(self):
        res = self.srv.cli("plugins")
        self.assertEqual(res.returncode, 0, res.stderr)
        for name, version in (("hello", None), ("probe", "0.1.0-test"), ("typed", "0.3.0-test")):
            line = next((l for l in res.stdout.splitlines() if re.search(rf"\b{name}\b", l)),
                        None)
            self.assertIsNotNone(line, f"{name} not listed:\n{res.stdout}")
            if version:
                self.assertIn(version, line)
            # Built from this tree, so built for the host's own ABI.
            self.assertRegex(line, harness.abi_re(*harness.sdk_abi()),
                             f"ABI not shown for {name}: {line!r}")
        self.assertNotRegex(res.stdout, r"\bcrashy\b", "lists a plugin that is not loaded")

    def test_plugins_schema(self):
        res = self.srv.cli("plugins", "--schema", "typed")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = res.stdout
        for key, typ, extra in (("name", "string", ["required", "32", "Display name"]),
                                ("count", "int", ["3", "1", "10", "How many"]),
                                ("ratio", "float", ["0.5", "A fraction"]),
                                ("verbose", "bool", ["false"]),
                                ("api_key", "string", ["secret", "Credential"])):
            line = next((l for l in out.splitlines() if re.search(rf"\b{key}\b", l)), None)
            self.assertIsNotNone(line, f"{key} missing from the schema:\n{out}")
            # One line per key, or a block per key: look no further than
            # the next key's line.
            rest = out[out.index(line) + len(line):]
            nxt = re.search(r"^\s*(name|count|ratio|verbose|api_key)\b", rest, re.M)
            block = line + (rest[:nxt.start()] if nxt else rest)
            self.assertIn(typ, block.lower(), f"type of {key}:\n{out}")
            for word in extra:
                self.assertIn(word.lower(), block.lower(), f"{word!r} for {key}:\n{out}")

    def test_plugins_schema_unknown_plugin(self):
        res = self.srv.cli("plugins", "--schema", "nonexistent")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("nonexistent", res.stderr)


if __name__ == "__main__":
    harness.main()
