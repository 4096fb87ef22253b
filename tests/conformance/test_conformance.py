"""Conformance: the SDK testkit behaves as the real host does.

The same plugin (conform.c) answers the same requests (scenarios.json)
twice: through the testkit (run_testkit, a fake host compiled into a test
binary) and through the real `tanomu serve` over HTTP, the Host header
selecting the tenant.  For every scenario the status, the body (as parsed
JSON when both sides are JSON, else byte for byte) and a fixed set of
headers must be equal; the test fails listing every difference.

Compared headers: Content-Type, Allow, Retry-After, Location, Set-Cookie,
Cache-Control and every X-Conform-* header (all their values, in order).
Not compared: what only the host's connection adds (Date, X-Request-Id,
Connection, Content-Length, Transfer-Encoding) and the host's own security
headers (CSP, X-Content-Type-Options, Referrer-Policy, HSTS).

Scenarios run in order on one worker (workers = 1), so a scenario may read
what an earlier one left (the event subscriber's record, hook run counts).

A difference that cannot be fixed yet stays in scenarios.json and is listed
in KNOWN_DIFFERENCES with its reason; such a scenario must still differ
(else the entry is stale and the test fails too).  A scenario that runs
into a host bug (HOST_BUGS, with the bug) is not sent to the host until the
bug is fixed.

    python3 tests/conformance/test_conformance.py --build-dir build \
        --runner build/tests/conformance/conform_run_testkit
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402  (imported by path, as the integration tests are)
from harness import ServerTestCase  # noqa: E402

SCENARIOS = os.path.join(HERE, "scenarios.json")
RUNNER = None  # --runner, or BUILD/tests/conformance/conform_run_testkit

COMPARED_HEADERS = ("content-type", "allow", "retry-after", "location", "set-cookie",
                    "cache-control")
COMPARED_PREFIX = "x-conform-"

# Scenario name -> why the testkit answers differently on purpose (its
# documented strictness, docs/sdk.md "Where the testkit is stricter").
KNOWN_DIFFERENCES = {
    "nothing": "the testkit answers 500 when a request ends with no response "
               "(the host sends an empty 200): a plugin bug it makes visible",
    "json-bad": "the testkit refuses text that is not JSON in resp_json (the host "
                "sends it as given)",
    "publish-not-json": "the testkit refuses a payload that is not JSON in "
                        "event_publish (the host delivers it as given)",
    "events-after-not-json": "follows from publish-not-json: the host's subscriber "
                             "received the event whose payload is not JSON",
    "early-suspend-done": "an EARLY hook resumes with TN_DONE without answering: the "
                          "testkit answers 500 for no response (as in 'nothing'), the "
                          "host an empty 200",
}

# Scenario name -> a host bug it runs into, reported, not fixed here.  Such
# a scenario is not sent to the host (only the testkit runs it) until the
# bug is fixed; delete the entry to check the fix.
HOST_BUGS = {}


def load_scenarios():
    with open(SCENARIOS, encoding="utf-8") as f:
        return json.load(f)


def tenant_host(tenant):
    return f"{tenant}.test"


def host_value(v):
    """A header value as bytes were sent (http.client decodes latin-1)."""
    raw = v.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": raw.hex()}


def body_value(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": raw.hex()}


def compared(headers):
    """{lower-case name: [values in order]} of the headers the test compares."""
    out = {}
    for name, value in headers:
        n = name.lower()
        if n in COMPARED_HEADERS or n.startswith(COMPARED_PREFIX):
            out.setdefault(n, []).append(value)
    return out


def as_json(body):
    if not isinstance(body, str):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def differences(host, kit):
    """A list of text lines, empty when the two answers are the same."""
    out = []
    if "error" in kit:
        return [f"testkit: {kit['error']}"]
    if not kit.get("finished"):
        out.append("testkit: the request never finished (no resume, or a stream not ended)")
    if host["status"] != kit["status"]:
        out.append(f"status: host {host['status']}, testkit {kit['status']}")
    hh, kh = compared(host["headers"]), compared(kit["headers"])
    for name in sorted(set(hh) | set(kh)):
        if hh.get(name) != kh.get(name):
            out.append(f"header {name}: host {hh.get(name)!r}, testkit {kh.get(name)!r}")
    hb, kb = host["body"], kit["body"]
    hj, kj = as_json(hb), as_json(kb)
    same = hj == kj if hj is not None and kj is not None else hb == kb
    if not same:
        out.append(f"body: host {hb!r:.600}, testkit {kb!r:.600}")
    return out


class ConformanceTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.doc = load_scenarios()
        tenants = {}
        for tid, t in cls.doc["tenants"].items():
            tenants[tid] = {"id": tid, "hosts": t["hosts"],
                            "features": {"conform": t["conform"]}}
        # One worker: in-process events and the plugin's records stay in the
        # process that answers the follow-up request.
        cls.server = cls.start_class_server(name="conformance", plugins=("conform",),
                                            tenants=tenants, workers=1)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def host_answers(self):
        out = []
        for sc in self.doc["scenarios"]:
            if sc["name"] in HOST_BUGS:
                out.append(None)
                continue
            body = sc.get("body")
            if _dup_names(sc):
                r = self.raw_request(sc)
            else:
                r = self.server.request(sc["method"], sc["target"],
                                        host=tenant_host(sc["tenant"]),
                                        headers=dict(sc.get("headers") or []),
                                        body=body.encode("utf-8") if body is not None else None,
                                        timeout=20.0)
            out.append({"name": sc["name"], "status": r.status,
                        "headers": [(k, host_value(v)) for k, v in r.headers],
                        "body": body_value(r.body)})
        return out

    def raw_request(self, sc):
        """Requests with a header name twice (two Cookie headers) go raw:
        http.client's dict of headers cannot hold both."""
        body = sc.get("body")
        with self.server.raw(timeout=20.0) as conn:
            return conn.request(sc["method"], sc["target"], tenant_host(sc["tenant"]),
                                headers=[tuple(h) for h in sc["headers"]] +
                                [("Connection", "close")],
                                body=body.encode("utf-8") if body is not None else None,
                                timeout=20.0)

    def kit_answers(self):
        p = subprocess.run([RUNNER, SCENARIOS], capture_output=True, timeout=60 * harness.SCALE,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, "run_testkit failed:\n" + p.stderr.decode(errors="replace"))
        return json.loads(p.stdout.decode("utf-8"))

    def test_testkit_answers_every_scenario_as_the_host_does(self):
        """The testkit and the host give the same status, headers and body
        for every scenario (S5, S7, S11, S21, P3 rules included)."""
        host = self.host_answers()
        kit = self.kit_answers()
        self.assertEqual([k.get("name") for k in kit],
                         [sc["name"] for sc in self.doc["scenarios"]],
                         "the runner did not answer every scenario in order")
        for name, why in HOST_BUGS.items():
            sys.stderr.write(f"[conformance] not sent to the host: {name}: {why}\n")
        report, stale = [], []
        for h, k in zip(host, kit):
            if h is None:
                continue
            diff = differences(h, k)
            if h["name"] in KNOWN_DIFFERENCES:
                if not diff:
                    stale.append(h["name"])
                continue
            if diff:
                report.append(f"- {h['name']}:\n    " + "\n    ".join(diff))
        unknown = sorted((set(KNOWN_DIFFERENCES) | set(HOST_BUGS))
                         - {sc["name"] for sc in self.doc["scenarios"]})
        msg = []
        if report:
            msg.append(f"{len(report)} scenario(s) differ between host and testkit:\n"
                       + "\n".join(report))
        if stale:
            msg.append("listed as known differences but now equal (remove them from "
                       "KNOWN_DIFFERENCES): " + ", ".join(stale))
        if unknown:
            msg.append("KNOWN_DIFFERENCES or HOST_BUGS names no scenario: " + ", ".join(unknown))
        if msg:
            self.fail("\n".join(msg))


def _dup_names(sc):
    names = [h[0].lower() for h in sc.get("headers") or []]
    return len(names) != len(set(names))


def _take_runner_arg():
    """--runner PATH is ours; the rest goes to harness.main()."""
    global RUNNER
    argv = sys.argv[1:]
    if "--runner" in argv:
        i = argv.index("--runner")
        RUNNER = argv[i + 1]
        del argv[i:i + 2]
    sys.argv[1:] = argv


if __name__ == "__main__":
    _take_runner_arg()
    if RUNNER is None:
        build = os.environ.get("TANOMU_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
        for i, a in enumerate(sys.argv):
            if a == "--build-dir" and i + 1 < len(sys.argv):
                build = sys.argv[i + 1]
        RUNNER = os.path.join(build, "tests", "conformance", "conform_run_testkit")
    RUNNER = os.path.abspath(RUNNER)
    harness.main()
