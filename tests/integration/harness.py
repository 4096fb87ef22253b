"""Integration test harness: runs the real `tanomu` binary and speaks HTTP.

Every test file in this directory imports this module.  A `Server` owns a
temporary directory with a generated tanomu.conf, tenants/*.conf and a plugin
directory into which it copies the .so files the test needs (from
BUILD/plugins and BUILD/test-plugins), starts `BUILD/bin/tanomu serve -c CONF`
with stdout/stderr captured to files, waits for the admin /readyz, and stops
it with SIGTERM, asserting exit status 0 and that no worker is left behind.

Helpers: `RawConn` (a socket that sends exact bytes and parses responses
itself, for malformed requests, pipelining and timeouts), `Server.request`
(http.client), `Server.metrics` (Prometheus text), `Server.log_lines` (the
JSON log on stdout) and `Server.cli` (`tanomu check|reload|plugins ...`).

Run a test file directly with
    python3 tests/integration/test_http.py --build-dir build --source-dir .
Never sleep for correctness: wait with `wait_until(predicate, timeout)`.
Timeouts scale with SCALE (3 under AddressSanitizer, or TANOMU_TEST_SCALE).
"""

import argparse
import email.utils
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BUILD_DIR = os.environ.get("TANOMU_BUILD_DIR", "")
SOURCE_DIR = os.environ.get("TANOMU_SOURCE_DIR", "")
SCALE = 1.0

SECURITY_CSP = "default-src 'self'; frame-ancestors 'none'"
# assertStandardHeaders(csp=ANY_CSP): any policy, as long as it forbids
# framing (S9).  For tests about something else, so that the exact default
# value is asserted in one place and one deviation fails one test.
ANY_CSP = object()
SECURITY_REFERRER = "strict-origin-when-cross-origin"
REQUEST_ID_RE = re.compile(r"^[0-9a-f]{32}$")
IMF_DATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$")


# --------------------------------------------------------------------------
# command line and environment

def main():
    """Entry point of every test file: --build-dir/--source-dir, then unittest."""
    global BUILD_DIR, SOURCE_DIR, SCALE
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--build-dir", default=BUILD_DIR or None)
    ap.add_argument("--source-dir", default=SOURCE_DIR or None)
    args, rest = ap.parse_known_args()
    here = os.path.dirname(os.path.abspath(__file__))
    SOURCE_DIR = os.path.abspath(args.source_dir or os.path.join(here, "..", ".."))
    BUILD_DIR = os.path.abspath(args.build_dir or os.path.join(SOURCE_DIR, "build"))
    SCALE = _detect_scale()
    unittest.main(module="__main__", argv=[sys.argv[0]] + rest, verbosity=2)


def _detect_scale():
    """Sanitizer builds are 2-3x slower: stretch every deadline, not the spec."""
    env = os.environ.get("TANOMU_TEST_SCALE")
    if env:
        return float(env)
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            if re.search(r"^TANOMU_SANITIZE:BOOL=(ON|1|TRUE|YES)$", f.read(), re.M | re.I):
                return 3.0
    except OSError:
        pass
    return 1.0


def sdk_abi():
    """(major, minor) of the SDK in this source tree: what the host and the
    plugins under test were compiled against."""
    with open(os.path.join(SOURCE_DIR, "sdk", "include", "tanomu", "abi.h")) as f:
        text = f.read()
    major = int(re.search(r"#define TN_SDK_ABI_MAJOR (\d+)", text).group(1))
    minor = int(re.search(r"#define TN_SDK_ABI_MINOR (\d+)", text).group(1))
    return major, minor


def abi_re(major, minor):
    """A regex for "MAJOR.MINOR" that does not match inside 0.1.0 or 1.10."""
    return rf"(?<![\d.]){major}\.{minor}(?![\d.])"


def read_text(path):
    with open(path) as f:
        return f.read()


def tanomu_bin():
    return os.path.join(BUILD_DIR, "bin", "tanomu")


def plugin_path(name):
    """Where the build put NAME.so: product plugins first, then test-only ones."""
    for sub in ("plugins", "test-plugins"):
        p = os.path.join(BUILD_DIR, sub, name + ".so")
        if os.path.exists(p):
            return p
    raise FileNotFoundError(
        f"plugin {name}.so is not built in {BUILD_DIR}/plugins or {BUILD_DIR}/test-plugins")


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value or the (scaled) deadline
    passes; returns the value or raises AssertionError naming `what`."""
    deadline = time.monotonic() + timeout * SCALE
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except (OSError, http.client.HTTPException, ValueError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout * SCALE:.1f}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


def free_port():
    """A port that was free a moment ago (bind to 0).  Server.start retries
    with fresh ports if another process takes it in between."""
    return free_ports(1)[0]


def free_ports(n):
    """n distinct ports that were free a moment ago.  All n sockets are bound
    before any is closed: bind(0) one socket at a time may hand out the port
    the previous socket just gave back (about 1 draw in 12,000 on Linux), so
    distinct ports cannot be had by drawing one at a time until they differ."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------
# libconfig rendering

def _lc_value(v, indent):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if "." in repr(v) or "e" in repr(v) else repr(v) + ".0"
    if isinstance(v, str):
        return lc_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_lc_value(x, indent) for x in v) + "]"
    if isinstance(v, dict):
        pad = "  " * (indent + 1)
        body = "".join(f"{pad}{k}{_lc_sep(x)}{_lc_value(x, indent + 1)};\n" for k, x in v.items())
        return "{\n" + body + "  " * indent + "}"
    raise TypeError(f"cannot render {v!r} as libconfig")


def _lc_sep(v):
    return ": " if isinstance(v, dict) else " = "


def lc_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_libconfig(d):
    """Render a dict of dicts as libconfig text (groups, arrays, scalars)."""
    return "".join(f"{k}{_lc_sep(v)}{_lc_value(v, 0)};\n" for k, v in d.items())


def deep_merge(base, over):
    """Return base updated by over; nested dicts merge, a None value deletes."""
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def tenant_conf(tid, hosts, features, headers=None):
    """The text of one tenant file."""
    t = {"id": tid, "hosts": list(hosts)}
    if headers:
        t["headers"] = headers
    t["features"] = features
    return render_libconfig({"tenant": t})


# --------------------------------------------------------------------------
# HTTP

class Response:
    """One parsed response; header lookups are case-insensitive."""

    def __init__(self, status, reason, headers, body, chunked=False, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), in order
        self.body = body
        self.chunked = chunked
        self.version = version

    def get(self, name, default=None):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return (f"<Response {self.status} {self.reason!r} headers={self.headers!r} "
                f"body={self.body[:300]!r}>")


class RawConn:
    """A client socket that sends exactly the bytes given and parses the
    responses itself, keeping unread bytes between calls so pipelined
    responses are not lost (http.client buffers them away)."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, tls_context=None,
                 server_hostname="localhost"):
        self.sock = socket.create_connection((host, port), timeout=timeout * SCALE)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no (complete) response before the deadline; got so far: "
                               + repr(self.buf[:500]))
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no (complete) response before the deadline; got so far: "
                               + repr(self.buf[:500])) from None
        if not chunk:
            self.eof = True
            raise EOFError("connection closed; got so far: " + repr(self.buf[:500]))
        self.buf += chunk

    def _read_until(self, sep, deadline):
        while sep not in self.buf:
            self._fill(deadline)
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, timeout=10.0, head_request=False):
        deadline = time.monotonic() + timeout * SCALE
        head = self._read_until(b"\r\n\r\n", deadline).decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError(f"bad status line {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise AssertionError(f"bad header line {line!r}")
            headers.append((name, value.strip(" \t")))
        status = int(m.group(2))
        resp = Response(status, m.group(3) or "", headers, b"", version=m.group(1))
        te = (resp.get("Transfer-Encoding") or "").lower()
        if head_request or status in (204, 304) or 100 <= status < 200:
            return resp
        if "chunked" in te:
            resp.chunked = True
            body = []
            while True:
                size_line = self._read_until(b"\r\n", deadline).decode("latin-1").strip()
                size = int(size_line.split(";")[0], 16)
                if size == 0:
                    while self._read_until(b"\r\n", deadline) != b"\r\n":
                        pass  # trailers
                    break
                body.append(self._read_exact(size, deadline))
                if self._read_exact(2, deadline) != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
            resp.body = b"".join(body)
        elif resp.get("Content-Length") is not None:
            resp.body = self._read_exact(int(resp.get("Content-Length")), deadline)
        else:
            try:
                while True:
                    self._fill(deadline)
            except EOFError:
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def wait_closed(self, timeout):
        """True if the peer closes (EOF or reset) within timeout (scaled);
        bytes that arrive meanwhile are kept in self.buf."""
        deadline = time.monotonic() + timeout * SCALE
        while True:
            try:
                self._fill(deadline)
            except EOFError:
                return True
            except TimeoutError:
                return False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                return True

    def request(self, method, path, host, headers=(), body=None, timeout=10.0):
        self.send(build_request(method, path, host, headers, body))
        return self.read_response(timeout, head_request=(method == "HEAD"))


def build_request(method, path, host, headers=(), body=None, version="HTTP/1.1"):
    """Bytes of one request; Content-Length is added for a body unless the
    caller passed framing headers itself."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = set()
    for k, v in (headers.items() if isinstance(headers, dict) else headers):
        lines.append(f"{k}: {v}")
        names.add(k.lower())
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode("utf-8")
    return data


def http_request(port, method, path, host, headers=None, body=None, timeout=10.0):
    """One request on a fresh connection through http.client."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SCALE)
    try:
        hdrs = {"Host": host} if host is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        body = r.read()
        return Response(r.status, r.reason, list(r.getheaders()), body,
                        version="HTTP/1.1" if r.version == 11 else "HTTP/1.0")
    finally:
        conn.close()


# --------------------------------------------------------------------------
# metrics

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


class Metrics:
    """Parsed Prometheus text exposition: a list of (name, labels, value)."""

    def __init__(self, text):
        self.text = text
        self.samples = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE_RE.match(line)
            if not m:
                raise AssertionError(f"unparseable metrics line {line!r}")
            labels = {}
            if m.group(2):
                pos = 0
                raw = m.group(2)
                while pos < len(raw):
                    lm = _LABEL_RE.match(raw, pos)
                    if not lm:
                        raise AssertionError(f"bad labels in metrics line {line!r}")
                    labels[lm.group(1)] = (lm.group(2).replace('\\"', '"')
                                           .replace("\\n", "\n").replace("\\\\", "\\"))
                    pos = lm.end()
            self.samples.append((m.group(1), labels, float(m.group(3))))

    def find(self, name, **labels):
        return [(n, l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def sum(self, name, **labels):
        """Sum over every sample of `name` whose labels include `labels`
        (0 when there is none yet: counters may appear on first use)."""
        return sum(v for _, _, v in self.find(name, **labels))

    def has(self, name):
        return any(n == name for n, _, _ in self.samples)

    def label_values(self, name, label):
        return sorted({l[label] for n, l, _ in self.samples if n == name and label in l})


# --------------------------------------------------------------------------
# the server under test

class StartError(Exception):
    pass



def child_pids(ppid):
    """PIDs of ppid's live (not zombie) children, sorted, from /proc."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Field 4 (ppid) comes after "(comm)", which may contain spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            pids.append(int(d))
    return sorted(pids)

class Server:
    """One tanomu instance in its own temporary directory.

    plugins:  names to copy into the plugin dir; `load` defaults to them.
    tenants:  {file_stem: text or dict(id=, hosts=, features=, headers=)};
              default: tenant "t1" on host t1.test enabling hello (and probe
              when copied).
    conf:     overrides deep-merged into the generated tanomu.conf dict.
    """

    def __init__(self, plugins=("hello", "probe"), load=None, tenants=None, conf=None,
                 workers=2, tls=False, name="tanomu", preexec_fn=None):
        self.plugins = list(plugins)
        self.preexec_fn = preexec_fn   # run in the server process before exec (rlimits)
        self.load = list(load) if load is not None else list(self.plugins)
        self.workers = workers
        self.tls = tls
        self.conf_over = conf or {}
        self.tmp = tempfile.mkdtemp(prefix=f"{name}-it-")
        self.conf_path = os.path.join(self.tmp, "tanomu.conf")
        self.tenants_dir = os.path.join(self.tmp, "tenants")
        self.plugin_dir = os.path.join(self.tmp, "plugins")
        self.pid_file = os.path.join(self.tmp, "run", "tanomu.pid")
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        os.makedirs(self.tenants_dir)
        os.makedirs(self.plugin_dir)
        os.makedirs(os.path.dirname(self.pid_file))
        for p in self.plugins:
            self.copy_plugin(p)
        if tls:
            self.cert, self.key = make_cert(self.tmp)
        if tenants is None:
            feats = {"hello": {"enabled": True, "greeting": "Hello t1"}}
            if "probe" in self.load:
                feats["probe"] = {"enabled": True}
            tenants = {"t1": {"id": "t1", "hosts": ["t1.test"], "features": feats}}
        for stem, t in tenants.items():
            self.write_tenant(stem, t)
        self.proc = None
        self.port = self.admin_port = self.tls_port = None
        self._out = self._err = None

    # -- files --------------------------------------------------------------

    def copy_plugin(self, name, as_name=None):
        shutil.copy(plugin_path(name), os.path.join(self.plugin_dir, (as_name or name) + ".so"))

    def write_tenant(self, stem, t):
        """Write tenants/STEM.conf atomically (rename), so a reload racing
        with the write never sees half a file."""
        text = t if isinstance(t, str) else tenant_conf(
            t["id"], t["hosts"], t.get("features", {}), t.get("headers"))
        path = os.path.join(self.tenants_dir, stem + ".conf")
        tmp = path + ".tmp~"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    def conf_dict(self):
        d = {
            "server": {
                "listen": [f"127.0.0.1:{self.port}"],
                "admin_listen": f"127.0.0.1:{self.admin_port}",
                "workers": self.workers,
                "pid_file": self.pid_file,
                "drain_timeout_ms": 10000,
                "reload_timeout_ms": 10000,
                "limits": {
                    "header_bytes": 16384,
                    "headers": 100,
                    "body_bytes": 1048576,
                    "header_timeout_ms": 10000,
                    "keepalive_timeout_ms": 5000,
                },
                "tls": {
                    "enabled": bool(self.tls),
                    "listen": [f"127.0.0.1:{self.tls_port}"],
                    "cert": getattr(self, "cert", os.path.join(self.tmp, "none.crt")),
                    "key": getattr(self, "key", os.path.join(self.tmp, "none.key")),
                },
            },
            "logging": {"level": "info", "access": True},
            "plugins": {"dir": self.plugin_dir, "load": self.load},
            "tenants_dir": self.tenants_dir,
        }
        return deep_merge(d, self.conf_over)

    def write_conf(self, text=None):
        if self.port is None:
            self._pick_ports()
        text = text if text is not None else render_libconfig(self.conf_dict())
        tmp = self.conf_path + ".tmp~"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf_path)

    def _pick_ports(self):
        # One draw of three: redrawing only tls_port until the three differed
        # spun forever whenever port and admin_port came out equal.
        self.port, self.admin_port, self.tls_port = free_ports(3)

    # -- process ------------------------------------------------------------

    def start(self, wait_ready=True, timeout=20.0):
        for attempt in range(3):
            self._pick_ports()
            self.write_conf()
            try:
                self._spawn()
                if wait_ready:
                    self.wait_ready(timeout)
                return self
            except StartError as e:
                # Only a lost port race is retried; anything else is a failure.
                if attempt < 2 and re.search(r"address (already )?in use|EADDRINUSE",
                                             self.stdout() + self.stderr(), re.I):
                    self.kill()
                    continue
                self.kill()
                raise AssertionError(f"server did not start: {e}\n{self.tail()}") from None
        return self

    def _spawn(self):
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([tanomu_bin(), "serve", "-c", self.conf_path],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, start_new_session=True,
                                     preexec_fn=self.preexec_fn)

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout * SCALE
        while True:
            if self.proc.poll() is not None:
                raise StartError(f"exited with status {self.proc.returncode} before ready")
            try:
                if self.admin_get("/readyz", timeout=2).status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise StartError(f"admin /readyz not 200 within {timeout * SCALE:.0f}s")
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def worker_pids(self):
        """PIDs of the master's live child processes (the workers), from /proc."""
        return child_pids(self.proc.pid)

    def stop(self, sig=signal.SIGTERM, expect_rc=0, timeout=20.0):
        """Signal the master and wait for it; assert its exit status and that
        no process of its group (a worker) outlives it."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"server did not exit within {timeout * SCALE:.0f}s of "
                                 f"{signal.Signals(sig).name}\n{self.tail()}")
        pgid = self.proc.pid
        left = []
        try:
            wait_until(lambda: not _group_alive(pgid), 5, what="workers to exit")
        except AssertionError:
            left = [pgid]
            self.kill()
        self._close_files()
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError(f"server exit status {rc}, expected {expect_rc}\n{self.tail()}")
        self.assert_no_sanitizer_reports()
        if left:
            raise AssertionError(f"workers of process group {pgid} outlived the master\n"
                                 + self.tail())
        return rc

    SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: "
                              r"|WARNING: ThreadSanitizer")

    def assert_no_sanitizer_reports(self):
        """A report from any process of the server (a worker too, which the
        master would just restart) fails the test that ran it (S10)."""
        err = self.stderr()
        m = self.SANITIZER_RE.search(err)
        if m:
            start = max(0, m.start() - 200)
            raise AssertionError("sanitizer report on the server's stderr:\n"
                                 + err[start:start + 4000])

    def kill(self):
        """Last resort: SIGKILL the process group this Server started."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._close_files()

    def _close_files(self):
        for f in (self._out, self._err):
            if f:
                f.close()
        self._out = self._err = None

    def cleanup(self):
        if self.alive():
            self.kill()
        if os.environ.get("TANOMU_KEEP_TMP"):
            sys.stderr.write(f"[harness] kept {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- output -------------------------------------------------------------

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, n=40):
        out = self.stdout().splitlines()[-n:]
        err = self.stderr().splitlines()[-n:]
        return ("--- server stdout (tail) ---\n" + "\n".join(out)
                + "\n--- server stderr (tail) ---\n" + "\n".join(err) + "\n")

    def log_lines(self):
        """Every complete stdout line parsed as JSON (non-JSON lines become
        {"_raw": line} so a test can still see and reject them)."""
        out = []
        text = self.stdout()
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # the last line is still being written
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(obj if isinstance(obj, dict) else {"_raw": line})
            except ValueError:
                out.append({"_raw": line})
        return out

    def access_lines(self):
        return [l for l in self.log_lines()
                if "request_id" in l and "status" in l and "method" in l]

    def access_line(self, request_id, timeout=5.0):
        return wait_until(
            lambda: next((l for l in self.access_lines() if l.get("request_id") == request_id),
                         None), timeout, what=f"access log line for request {request_id}")

    def wait_log(self, pred, timeout=5.0, what="log line"):
        return wait_until(lambda: next((l for l in self.log_lines() if pred(l)), None),
                          timeout, what=what)

    # -- requests -----------------------------------------------------------

    def request(self, method, path, host="t1.test", headers=None, body=None, timeout=10.0,
                port=None):
        return http_request(port or self.port, method, path, host, headers, body, timeout)

    def get(self, path, host="t1.test", **kw):
        return self.request("GET", path, host, **kw)

    def admin_get(self, path, timeout=10.0):
        return http_request(self.admin_port, "GET", path, f"127.0.0.1:{self.admin_port}",
                            timeout=timeout)

    def raw(self, timeout=10.0):
        return RawConn(self.port, timeout=timeout)

    def metrics(self):
        r = self.admin_get("/metrics")
        if r.status != 200:
            raise AssertionError(f"/metrics answered {r.status}")
        return Metrics(r.body.decode("utf-8"))

    def wait_metric(self, name, pred, timeout=5.0, **labels):
        """Poll /metrics until pred(sum of name{labels}) holds; return the sum."""
        holder = {}

        def check():
            holder["v"] = self.metrics().sum(name, **labels)
            return pred(holder["v"])
        try:
            wait_until(check, timeout, what=f"metric {name}{labels}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last value {holder.get('v')}") from None
        return holder["v"]

    # -- CLI ----------------------------------------------------------------

    def cli(self, command, *args, conf=True, timeout=30.0):
        """`tanomu COMMAND -c CONF ARGS...`, the order the usage text gives."""
        cmd = [tanomu_bin(), command] + (["-c", self.conf_path] if conf else []) + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * SCALE,
                              stdin=subprocess.DEVNULL)

    def pid_from_file(self):
        with open(self.pid_file) as f:
            return int(f.read().strip())


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def run_cli(*args, timeout=30.0):
    return subprocess.run([tanomu_bin()] + list(args), capture_output=True, text=True,
                          timeout=timeout * SCALE, stdin=subprocess.DEVNULL)


def make_cert(directory):
    """A self-signed certificate for localhost/127.0.0.1, made with the
    openssl CLI (the host reads PEM files, like it would in production)."""
    crt = os.path.join(directory, "server.crt")
    key = os.path.join(directory, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


# --------------------------------------------------------------------------
# test case base

class ServerTestCase(unittest.TestCase):
    """Dumps the logs of the servers a test used when that test fails, and
    cleans them up.  Class-wide servers: set cls.server in setUpClass via
    cls.start_class_server(...)."""

    servers_for_dump = ()

    @classmethod
    def start_class_server(cls, **kw):
        srv = Server(**kw)
        cls.addClassCleanup(srv.cleanup)
        srv.start()
        return srv

    def new_server(self, start=True, **kw):
        """A server for this test only; cleaned up (killed if need be) after
        it, with its logs printed first when the test failed."""
        srv = Server(**kw)
        self.addCleanup(srv.cleanup)
        self.addCleanup(self._dump_if_failed, srv)   # cleanups run LIFO: first
        if start:
            srv.start()
        return srv

    def _failed(self):
        """True once this test has a failure or error on record; works from a
        cleanup (where unittest's own success flag is reset)."""
        result = getattr(self, "_result_for_dump", None)
        return result is not None and (
            len(result.failures) + len(result.errors) > self._fails_before)

    @staticmethod
    def _dump(srv):
        try:
            sys.stderr.write(f"\n[harness] logs of {srv.tmp}:\n{srv.tail()}")
        except OSError:
            pass

    def _dump_if_failed(self, srv):
        if self._failed():
            self._dump(srv)

    def run(self, result=None):
        # Class-wide servers live until tearDownClass: dump theirs here.
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        self._result_for_dump, self._fails_before = result, before
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for srv in vars(type(self)).values():
                if isinstance(srv, Server):
                    self._dump(srv)
        return out

    # -- common assertions ----------------------------------------------------

    def assertJsonError(self, resp, status):
        """Errors have {"error": {"code": str, "message": str}} and JSON type."""
        self.assertEqual(resp.status, status, resp)
        ct = resp.get("Content-Type", "")
        self.assertTrue(ct.startswith("application/json"), f"Content-Type {ct!r}")
        doc = resp.json()
        self.assertIsInstance(doc.get("error"), dict, resp)
        self.assertIsInstance(doc["error"].get("code"), str, resp)
        self.assertIsInstance(doc["error"].get("message"), str, resp)
        return doc["error"]

    def assertStandardHeaders(self, resp, tls=False, csp=SECURITY_CSP,
                              referrer=SECURITY_REFERRER):
        """S5/S9: charset, Date, X-Request-Id and the protective headers."""
        ct = resp.get("Content-Type")
        self.assertIsNotNone(ct, f"no Content-Type: {resp}")
        self.assertIn("charset=", ct.lower(), f"Content-Type without charset: {resp}")
        date = resp.get("Date")
        self.assertIsNotNone(date, f"no Date: {resp}")
        self.assertRegex(date, IMF_DATE_RE)
        skew = abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time())
        self.assertLess(skew, 120, f"Date {date!r} is off by {skew:.0f}s")
        self.assertIsNotNone(resp.get("X-Request-Id"), f"no X-Request-Id: {resp}")
        if csp is ANY_CSP:
            self.assertIn("frame-ancestors 'none'", resp.get("Content-Security-Policy") or "",
                          resp)
        else:
            self.assertEqual(resp.get("Content-Security-Policy"), csp, resp)
        self.assertEqual(resp.get("X-Content-Type-Options"), "nosniff", resp)
        self.assertEqual(resp.get("Referrer-Policy"), referrer, resp)
        if tls:
            self.assertIsNotNone(resp.get("Strict-Transport-Security"), f"no HSTS on TLS: {resp}")
        else:
            self.assertIsNone(resp.get("Strict-Transport-Security"),
                              f"HSTS on plain HTTP: {resp}")
        for name in ("Content-Type", "Date", "X-Request-Id", "Content-Security-Policy",
                     "X-Content-Type-Options", "Referrer-Policy"):
            self.assertEqual(len(resp.get_all(name)), 1, f"{name} not exactly once: {resp}")


def in_thread(fn, *args, **kw):
    """Run fn in a thread; returns (thread, box) where box['result'] or
    box['error'] is set when it finishes."""
    box = {}

    def run():
        try:
            box["result"] = fn(*args, **kw)
        except BaseException as e:  # reported by the test that joins
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box
