"""A local SMTP peer for test_outbound.py, run by Debian's /usr/bin/python3
(aiosmtpd is the python3-aiosmtpd package).

    smtp_peer.py PORT OUTFILE [CERT KEY]

With CERT and KEY it offers STARTTLS and requires it before MAIL (530
otherwise), so a delivery proves the client switched to TLS.  Each message
received is appended to OUTFILE as one JSON line (from, to, data).  Prints
"ready" when it listens; runs until killed.
"""
import json
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        with open(self.out, "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.content.decode("utf-8", "replace"),
                                "tls": session.ssl is not None}) + "\n")
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    kw = {}
    if len(sys.argv) > 4:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        kw = {"tls_context": ctx, "require_starttls": True}
    c = Controller(Handler(out), hostname="127.0.0.1", port=port, **kw)
    c.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


if __name__ == "__main__":
    main()
