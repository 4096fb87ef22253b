"""Sealed secrets and the keyring (S18), and secrets kept out of output (S16).

A tenant writes a TN_KEY_SECRET setting sealed (`tanomu secret seal`,
plaintext on stdin), as file:PATH (mode 0600 or stricter) or in plain text
(a warning in `tanomu check`, an error with secrets.require_sealed).  The
test plugin `vault` answers the plaintext it reads with config_str and
seals/opens data with secret_seal/secret_unseal.  A canary secret is
searched for in every log line, `tanomu plugins --schema` and every error
message, and must never be there.
"""

import os
import re
import subprocess

import harness
from harness import Server, ServerTestCase, wait_until

CANARY = "canary-S16-9b7e41"
OTHER = "canary-S16-other-5c2a"


def vault_tenant(tid, token=None, extra=None):
    feats = {"enabled": True}
    if token is not None:
        feats["token"] = token
    feats.update(extra or {})
    return {"id": tid, "hosts": [f"{tid}.test"], "features": {"vault": feats}}


class SecretsTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.srv = self.new_server(start=False, plugins=("vault", "typed"),
                                   load=["vault", "typed"],
                                   tenants={}, name="secrets",
                                   conf={"secrets": {"keyring_dir": "keys"}})
        self.srv.write_conf()
        self.keys = os.path.join(self.srv.tmp, "keys")

    # -- helpers ----------------------------------------------------------

    def run_tanomu(self, *args, stdin=None):
        return subprocess.run([harness.tanomu_bin()] + list(args), input=stdin,
                              capture_output=True, text=True, timeout=30 * harness.SCALE)

    def rotate(self):
        r = self.run_tanomu("secret", "rotate", "-c", self.srv.conf_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"key (\S+) added", r.stdout)
        self.assertTrue(m, r.stdout)
        return m.group(1)

    def seal(self, plain, plugin="vault", tenant="t1", key="token", expect_rc=0):
        args = ["secret", "seal", "-c", self.srv.conf_path, "--plugin", plugin]
        if tenant:
            args += ["--tenant", tenant]
        if key:
            args += ["--key", key]
        r = self.run_tanomu(*args, stdin=plain + "\n")
        self.assertEqual(r.returncode, expect_rc, r.stderr)
        self.assertNotIn(plain, r.stdout + r.stderr)
        return r.stdout.strip()

    def check(self):
        r = self.srv.cli("check")
        self.assertNotIn(CANARY, r.stdout + r.stderr)
        self.assertNotIn(OTHER, r.stdout + r.stderr)
        return r

    def assertNoCanary(self, *texts):
        for t in texts:
            self.assertNotIn(CANARY, t)
            self.assertNotIn(OTHER, t)
            self.assertNotIn("dflt-canary-0451", t)

    def assertServerClean(self):
        self.assertNoCanary(self.srv.stdout(), self.srv.stderr())

    # -- tests ------------------------------------------------------------

    def test_s18_seal_round_trip_via_cli_and_plugin_reads_plaintext(self):
        """S18: a value sealed by `tanomu secret seal` (stdin) is what the
        plugin reads with config_str; check has no warning for it."""
        kid = self.rotate()
        sealed = self.seal(CANARY)
        self.assertTrue(sealed.startswith(f"tnsec:v1:{kid}:"), sealed)
        self.srv.write_tenant("t1", vault_tenant("t1", sealed))
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("warning", r.stderr)
        self.srv.start()
        resp = self.srv.get("/vault/token", host="t1.test")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["token"], CANARY)
        self.srv.stop()
        self.assertServerClean()

    def test_s18_api_seal_open_bound_to_tenant(self):
        """S18: secret_seal/secret_unseal through the host: round trip for
        the same tenant, TN_ESEAL for another tenant (row copied across)."""
        self.rotate()
        self.srv.write_tenant("t1", vault_tenant("t1"))
        self.srv.write_tenant("t2", vault_tenant("t2"))
        self.srv.start()
        r = self.srv.request("POST", "/vault/seal", host="t1.test", body=CANARY)
        self.assertEqual(r.status, 200, r)
        sealed = r.json()["sealed"]
        self.assertTrue(sealed.startswith("tnsec:v1:"))
        r = self.srv.request("POST", "/vault/open", host="t1.test", body=sealed)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"plain": CANARY, "stale": 0})
        r = self.srv.request("POST", "/vault/open", host="t2.test", body=sealed)
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["error"]["code"], "eseal")
        self.assertIn("does not open", r.json()["error"]["message"])
        self.assertNoCanary(r.body.decode())
        # a setting's sealed value does not open as data, and back
        setting = self.seal(OTHER)
        r = self.srv.request("POST", "/vault/open", host="t1.test", body=setting)
        self.assertEqual(r.status, 422, r)
        self.srv.stop()
        self.assertServerClean()

    def test_s18_wrong_tenant_or_plugin_refused(self):
        """S18: a sealed setting moved to another tenant, or sealed for
        another plugin or another key, does not open: check refuses it."""
        self.rotate()
        for sealed in (self.seal(CANARY, tenant="t2"),
                       self.seal(CANARY, plugin="typed", key="api_key"),
                       self.seal(CANARY, key="fallback"),
                       self.seal(CANARY, key=None)):
            path = self.srv.write_tenant("t1", vault_tenant("t1", sealed))
            r = self.check()
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("does not open", r.stderr)
            self.assertIn(path, r.stderr)

    def test_s18_plaintext_warning_and_require_sealed(self):
        """S18: a secret in plain text is a warning in check (the value not
        quoted), and an error when secrets.require_sealed = true."""
        self.rotate()
        path = self.srv.write_tenant("t1", vault_tenant("t1", CANARY))
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, re.escape(path) + r":\d+: warning: vault.token is a secret "
                         r"written in plain text")
        # the server serves it, and logs the warning once, without the value
        self.srv.start()
        self.assertEqual(self.srv.get("/vault/token").json()["token"], CANARY)
        self.srv.wait_log(lambda l: "plain text" in l.get("msg", str(l)), what="warning")
        self.srv.stop()
        self.assertServerClean()
        self.srv.conf_over["secrets"]["require_sealed"] = True
        self.srv.write_conf()
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("require_sealed", r.stderr)
        # sealed is fine with require_sealed
        self.srv.write_tenant("t1", vault_tenant("t1", self.seal(CANARY)))
        self.assertEqual(self.check().returncode, 0)

    def test_s18_file_secret_needs_private_mode(self):
        """S18: file:PATH is read when the file is 0600 or stricter and
        refused when group or others may read it."""
        self.rotate()
        tok = os.path.join(self.srv.tenants_dir, "t1.token")
        with open(tok, "w") as f:
            f.write(CANARY + "\n")
        os.chmod(tok, 0o600)
        self.srv.write_tenant("t1", vault_tenant("t1", "file:t1.token"))
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(tok, 0o644)
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("group or others", r.stderr)
        os.chmod(tok, 0o600)
        self.srv.start()
        self.assertEqual(self.srv.get("/vault/token").json()["token"], CANARY)
        self.srv.stop()
        self.assertServerClean()

    def test_s18_rotation_old_values_still_open_and_stale(self):
        """S18: after `secret rotate` and a reload, values sealed under the
        old key still open (settings and data), unseal says stale, and new
        values are sealed under the new key."""
        k1 = self.rotate()
        old_setting = self.seal(CANARY)
        self.srv.write_tenant("t1", vault_tenant("t1", old_setting))
        self.srv.start()
        data = self.srv.request("POST", "/vault/seal", body="data-1").json()["sealed"]
        self.assertTrue(data.startswith(f"tnsec:v1:{k1}:"))
        k2 = self.rotate()
        self.assertNotEqual(k1, k2)
        r = self.srv.cli("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.srv.get("/vault/token").json()["token"], CANARY)
        self.assertEqual(self.srv.request("POST", "/vault/open", body=data).json(),
                         {"plain": "data-1", "stale": 1})
        fresh = self.srv.request("POST", "/vault/seal", body="data-2").json()["sealed"]
        self.assertTrue(fresh.startswith(f"tnsec:v1:{k2}:"), fresh)
        self.assertEqual(self.srv.request("POST", "/vault/open", body=fresh).json(),
                         {"plain": "data-2", "stale": 0})
        # check tells the operator to re-seal the old setting
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no longer the active one", r.stderr)
        # the keyring lists both, the new one active
        r = self.run_tanomu("secret", "check", "-c", self.srv.conf_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{k2} (active)", r.stdout)
        self.assertIn(k1, r.stdout)
        self.srv.stop()
        self.assertServerClean()

    def test_s16_canary_never_in_logs_schema_or_errors(self):
        """S16: the secret never appears in --schema (defaults show ***),
        in an error about the secret, or in any log line."""
        self.rotate()
        r = self.srv.cli("plugins", "--schema", "vault")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("***", r.stdout)
        self.assertNoCanary(r.stdout, r.stderr)
        # too long once opened: the bound error does not quote it
        long_secret = CANARY * 4
        path = self.srv.write_tenant("t1", vault_tenant("t1", self.seal(long_secret)))
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("length out of bounds", r.stderr)
        self.assertIn(path, r.stderr)
        self.assertNoCanary(r.stderr, r.stdout)
        # served, then a failed unseal is logged with its reason only
        self.srv.write_tenant("t1", vault_tenant("t1", self.seal(CANARY)))
        self.srv.write_tenant("t2", vault_tenant("t2", self.seal(OTHER, tenant="t2")))
        self.srv.start()
        sealed = self.srv.request("POST", "/vault/seal", host="t2.test", body=OTHER).json()
        r = self.srv.request("POST", "/vault/open", host="t1.test", body=sealed["sealed"])
        self.assertEqual(r.status, 422)
        self.srv.wait_log(lambda l: "does not open" in str(l), what="unseal failure logged")
        self.srv.stop()
        self.assertServerClean()

    def test_s18_missing_or_open_keyring_stops_check_and_start(self):
        """S18: a configured keyring that is missing or readable by others
        stops `check` and `serve` with one clear message; a sealed value
        without a keyring is an error naming secrets.keyring_dir."""
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("secrets.keyring_dir", r.stderr)
        self.assertIn("tanomu secret rotate", r.stderr)
        proc = subprocess.run([harness.tanomu_bin(), "serve", "-c", self.srv.conf_path],
                              capture_output=True, text=True, timeout=30 * harness.SCALE)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("keyring", proc.stderr)
        kid = self.rotate()
        sealed = self.seal(CANARY)
        os.chmod(os.path.join(self.keys, kid + ".key"), 0o644)
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("chmod 600", r.stderr)
        os.chmod(os.path.join(self.keys, kid + ".key"), 0o600)
        self.assertEqual(self.check().returncode, 0)
        # no keyring configured: sealed values are refused
        self.srv.conf_over.pop("secrets")
        self.srv.write_conf()
        self.srv.write_tenant("t1", vault_tenant("t1", sealed))
        r = self.check()
        self.assertEqual(r.returncode, 1)
        self.assertIn("no keyring is configured", r.stderr)
        r = self.run_tanomu("secret", "seal", "-c", self.srv.conf_path, "--plugin", "vault",
                            stdin="x\n")
        self.assertEqual(r.returncode, 1)

    def test_s18_seal_refuses_unknown_plugin_or_key(self):
        """S18: `secret seal` refuses a plugin that is not loaded and a key
        that is not a secret string of it, before reading anything."""
        self.rotate()
        r = self.run_tanomu("secret", "seal", "-c", self.srv.conf_path, "--plugin", "other",
                            "--tenant", "t1", "--key", "token", stdin=CANARY)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not loaded", r.stderr)
        for key in ("note", "nosuch"):
            r = self.run_tanomu("secret", "seal", "-c", self.srv.conf_path, "--plugin", "vault",
                                "--tenant", "t1", "--key", key, stdin=CANARY)
            self.assertEqual(r.returncode, 1)
            self.assertIn("is not a secret string setting of vault", r.stderr)
            self.assertNotIn("tnsec:", r.stdout)
        self.assertNoCanary(r.stdout, r.stderr)

    def test_s18_seal_reads_stdin_only(self):
        """S18: the plaintext comes from stdin; an extra argument is refused
        and nothing is sealed from argv."""
        self.rotate()
        r = self.run_tanomu("secret", "seal", "-c", self.srv.conf_path, "--plugin", "vault",
                            CANARY, stdin="")
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("tnsec:", r.stdout)
        r = self.run_tanomu("secret", "seal", "-c", self.srv.conf_path, "--plugin", "vault",
                            stdin="")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to seal", r.stderr)


if __name__ == "__main__":
    harness.main()
