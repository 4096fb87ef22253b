#!/usr/bin/env python3
"""rule_hits.py - which CRS rules each corpus request trips, for tuning.

Sends the requests of waf_eval.py-style JSONL corpora one at a time to an
nginx + ModSecurity that writes a Serial audit log (SecAuditEngine On, part
H), reads what the audit log grew by after each request, and prints, per
request, the status and the rule IDs that matched (with the variable), then
a count of rule IDs over all requests.  Loopback targets only.

    bench/waf/rule_hits.py --base-url http://127.0.0.1:18481 \\
        --audit-log /tmp/x/audit.log --corpus benign.jsonl [--only-blocked]

bench/waf/run.sh --serve MODE starts a suitable nginx (see its --help).
It reuses build_request/send from ../shared/waf/waf_eval.py (--eval).
"""
import argparse
import collections
import importlib.util
import ipaddress
import json
import os
import re
import sys
import time
import urllib.parse

# One audit-log message per matched rule: its id, and the variable from
# "against variable `X'" (operators) or "found within X" (libinjection).
MSG = re.compile(r'ModSecurity: (?:Warning|Access denied)[^\n]*')
RID = re.compile(r'\[id "(\d+)"\]')
VAR = re.compile(r"against variable `([^']*)'|found within ([^:\]]+(?::[^:\s\]]+)?)")


def hits_of(text):
    out = []
    for m in MSG.finditer(text):
        rid = RID.search(m.group(0))
        if not rid:
            continue
        v = VAR.search(m.group(0))
        out.append((rid.group(1), (v.group(1) or v.group(2)) if v else "?"))
    return out


def load_eval(path):
    spec = importlib.util.spec_from_file_location("waf_eval", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_new(path, pos):
    """The audit log's bytes past pos, once it stops growing (bounded)."""
    data = b""
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            f.seek(pos)
            more = f.read()
        data += more
        pos += len(more)
        if data and not more:
            break
        time.sleep(0.02)
    return data.decode("utf-8", "replace"), pos


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--audit-log", required=True)
    ap.add_argument("--corpus", action="append", required=True)
    ap.add_argument("--host-header", default="waf.localhost")
    ap.add_argument("--eval", default=os.path.join(here, "..", "..", "..", "shared", "waf",
                                                   "waf_eval.py"))
    ap.add_argument("--only-blocked", action="store_true")
    ap.add_argument("--category", help="only records of this category")
    args = ap.parse_args()

    we = load_eval(os.environ.get("WAF_EVAL", args.eval))
    u = urllib.parse.urlparse(args.base_url)
    if not ipaddress.ip_address(u.hostname).is_loopback:
        sys.exit("rule_hits: loopback targets only")
    addr = (u.hostname, u.port or 80)
    recs = we.load(args.corpus)
    if args.category:
        recs = [r for r in recs if r["category"] == args.category]
    pos = os.path.getsize(args.audit_log)
    counts = collections.Counter()
    blocked_by = collections.Counter()
    for r in recs:
        status, err, _ = we.send(addr, we.build_request(r, args.host_header), 10)
        text, pos = read_new(args.audit_log, pos)
        hits = [(rid, var) for rid, var in hits_of(text)
                if not rid.startswith("949") and not rid.startswith("980")]
        ids = sorted({rid for rid, _ in hits})
        for rid in ids:
            counts[rid] += 1
            if status == 403:
                blocked_by[rid] += 1
        if args.only_blocked and status != 403:
            continue
        print("%-12s %-18s %s %s" % (r["id"], r["category"], status or err,
                                     " ".join("%s@%s" % h for h in hits)))
    print("\nrule        requests  of them blocked")
    for rid, n in counts.most_common():
        print("%-10s %9d %9d" % (rid, n, blocked_by[rid]))


if __name__ == "__main__":
    main()
