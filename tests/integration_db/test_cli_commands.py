"""Plugins' CLI commands (SDK 1.2 command_add) through the real binary and
a real PostgreSQL, with the auth plugin's `tanomu user add` (issue 8):
a user made from the command line signs in over HTTP; a weak password is
refused with its reason; an unknown tenant is refused; the password is
never taken from argv and never appears in any output or log; a plugin
cannot take a built-in command's name; `tanomu help` lists plugin
commands.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbharness import DbTestCase, harness, host_of, main  # noqa: E402

CANARY = "Canary-Cli-5b1d-otter-glacier"   # a known password, hunted in the logs


class CliCommandsTest(DbTestCase):

    def auth_server(self, plugins=("auth",), conf=None):
        db = {"plugin_migrations_dir": os.path.join(harness.SOURCE_DIR, "plugins")}
        srv = self.db_server(start=False, migrate=False, plugins=plugins, db=db, conf=conf)
        for t in ("a", "b"):
            srv.write_tenant(t, {"id": t, "hosts": [host_of(t)],
                                 "features": {"auth": {"enabled": True}}})
        srv.migrate()
        self.pg.psql("DELETE FROM auth_sessions; DELETE FROM auth_users;")
        self.since = self.pg.scalar("SELECT coalesce(max(id), 0) FROM audit_log;")
        return srv

    def run_cmd(self, srv, args, stdin=""):
        """`tanomu ARGS... -c CONF` with stdin; the CompletedProcess."""
        cmd = [harness.tanomu_bin()] + list(args) + ["-c", srv.conf_path]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                              timeout=60 * harness.SCALE)

    def user_add(self, srv, tenant, login, role, password, extra=()):
        return self.run_cmd(srv, ["user", "add", "--tenant", tenant, "--login", login,
                                  "--role", role] + list(extra), stdin=password + "\n")

    def users(self, tenant=None):
        return self.pg.rows("SELECT tenant_id, login, array_to_string(roles, ','), "
                            "coalesce(buyer_id, '') FROM auth_users ORDER BY login;")

    def test_user_add_then_login_S12_S20(self):
        """S12: `tanomu user add` makes the first admin of a tenant from a
        password on stdin, hashed with the plugin's Argon2id parameters;
        the user then signs in over HTTP.  S20: the creation is in the
        tenant's audit log."""
        srv = self.auth_server()
        r = self.user_add(srv, "a", "admin", "tenant_admin", CANARY)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("user admin created in tenant a", r.stdout)
        self.assertEqual(self.users(), [["a", "admin", "tenant_admin", ""]])
        h = self.pg.scalar("SELECT password_hash FROM auth_users WHERE login = 'admin';")
        self.assertTrue(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), h)
        uid = self.pg.scalar("SELECT id FROM auth_users WHERE login = 'admin';")
        self.assertEqual(self.pg.rows(
            "SELECT tenant_id, action, target_type, target_id, result FROM audit_log "
            "WHERE id > :'s'::bigint ORDER BY id;", s=self.since),
            [["a", "auth.user_create", "user", uid, "ok"]])
        srv.start()
        login = srv.req("a", "POST", "/auth/login",
                        body=json.dumps({"login": "admin", "password": CANARY}),
                        timeout=20.0 * harness.SCALE)
        self.assertEqual(login.status, 200, login)
        self.assertEqual(login.json()["user"]["roles"], ["tenant_admin"])
        # Tenant-bound: tenant b has no such user.
        other = srv.req("b", "POST", "/auth/login",
                        body=json.dumps({"login": "admin", "password": CANARY}),
                        timeout=20.0 * harness.SCALE)
        self.assertEqual(other.status, 401, other)
        # A second user with the same login in the tenant is refused.
        r = self.user_add(srv, "a", "ADMIN", "staff", CANARY + "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("already has a user with login ADMIN", r.stderr)

    def test_platform_admin_and_buyer_only_with_rules(self):
        """Issue 8: platform_admin is given only from the command line;
        the buyer role goes with --buyer, and only with it."""
        srv = self.auth_server()
        r = self.user_add(srv, "a", "root", "platform_admin", CANARY)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.user_add(srv, "a", "shop1", "buyer", CANARY)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--buyer goes with the buyer role", r.stderr)
        r = self.user_add(srv, "a", "shop1", "staff", CANARY, ("--buyer", "b-1"))
        self.assertEqual(r.returncode, 1)
        r = self.user_add(srv, "a", "shop1", "buyer", CANARY, ("--buyer", "b-1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.user_add(srv, "a", "x", "owner", CANARY)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--role", r.stderr)
        self.assertEqual(self.users(), [["a", "root", "platform_admin", ""],
                                        ["a", "shop1", "buyer", "b-1"]])

    def test_weak_password_refused_with_reason_S12(self):
        """S12: the tenant's password policy applies, and each refusal
        names its reason; nothing is created."""
        srv = self.auth_server()
        for pw, reason in (("123456789012345", "digits_only"),
                           ("short-1x", "too_short"),
                           ("xx-alice-2024-yy", "contains_login"),
                           ("", "empty")):
            r = self.user_add(srv, "a", "alice", "staff", pw)
            self.assertEqual(r.returncode, 1, (pw, r.stdout))
            self.assertIn(f"password refused ({reason})", r.stderr)
        self.assertEqual(self.users(), [])

    def test_unknown_tenant_refused(self):
        srv = self.auth_server()
        r = self.user_add(srv, "zz", "alice", "staff", CANARY)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no tenant zz", r.stderr)
        self.assertEqual(self.users(), [])

    def test_password_never_from_argv_nor_in_logs_S16(self):
        """S16: there is no option that takes the password (it would show
        in `ps` and shell history); the refusal says to use stdin; the
        password appears in no output and no log line."""
        srv = self.auth_server()
        r = self.run_cmd(srv, ["user", "add", "--tenant", "a", "--login", "eve", "--role",
                               "staff", "--password", CANARY])
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown option", r.stderr)
        self.assertIn("standard input", r.stderr)
        self.assertEqual(self.users(), [])
        ok = self.user_add(srv, "a", "eve", "staff", CANARY)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        bad = self.user_add(srv, "a", "eve2", "staff", CANARY[:6])
        srv.start()
        srv.req("a", "POST", "/auth/login", body=json.dumps({"login": "eve", "password": CANARY}),
                timeout=20.0 * harness.SCALE)
        srv.stop()
        self.assertIn("password refused (too_short)", bad.stderr)
        for out in (r.stdout, ok.stdout, ok.stderr, bad.stdout, bad.stderr):
            self.assertNotIn(CANARY[:6], out)
        self.assertNotIn(CANARY[:6], srv.stdout() + srv.stderr())
        self.assertNotIn(CANARY[:6], self.pg.log_tail(100000))

    def test_help_lists_plugin_commands_and_builtins_win(self):
        """`tanomu help` lists plugin commands with their usage line; an
        unknown command is refused (2); a built-in name is the host's."""
        srv = self.auth_server()
        r = subprocess.run([harness.tanomu_bin(), "help", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("plugin commands", r.stdout)
        self.assertIn("user", r.stdout)
        self.assertIn("add --tenant T --login L --role R", r.stdout)
        r = self.run_cmd(srv, ["user", "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage: tanomu user [-c FILE] add --tenant T", r.stdout)
        r = self.run_cmd(srv, ["nosuchcommand"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'nosuchcommand'", r.stderr)
        r = self.run_cmd(srv, ["version"])
        self.assertEqual(r.returncode, 0)

    # -- the mechanism, with the test-only cmdprobe plugin ----------------------

    def test_command_runs_on_the_loop_with_a_tenant_bound_tx(self):
        """A plugin's command gets its arguments after the name (-c is the
        host's wherever it stands), stdin when it asked, and a database:
        tx_begin(self, T) binds the transaction to T as in a worker.  A
        TN_ERROR return prints the plugin's last_error and exits 1."""
        srv = self.auth_server(plugins=("auth", "cmdprobe"))
        r = self.run_cmd(srv, ["probe", "b", "x", "--flag"], stdin="secret\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "bound b argc 3 last --flag stdin 7")
        r = self.run_cmd(srv, ["probe-fail", "zz"], stdin="ignored")
        self.assertEqual(r.returncode, 1)
        self.assertIn('tanomu probe-fail: tx_begin: no tenant "zz"', r.stderr)

    def test_builtin_name_refused_at_init(self):
        """A plugin cannot register a built-in command's name: command_add
        answers TN_EEXIST with last_error, so its init() fails, and `tanomu
        check` says why.  Built-ins always win."""
        srv = self.auth_server(plugins=("auth", "cmdprobe"))
        env = dict(os.environ, CMDPROBE_CLASH="jobs")
        r = subprocess.run([harness.tanomu_bin(), "check", "-c", srv.conf_path], env=env,
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("plugin cmdprobe: init() failed: command_add: 'jobs' is a built-in "
                      "command", r.stderr)
        r = subprocess.run([harness.tanomu_bin(), "check", "-c", srv.conf_path],
                           env=dict(os.environ, CMDPROBE_CLASH="user"),
                           capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("command_add: 'user' is taken by plugin auth", r.stderr)


if __name__ == "__main__":
    main()
