"""A local SMTP submission peer for tests/integration_db/test_notify*.py,
run by Debian's /usr/bin/python3 (python3-aiosmtpd):

    smtp_auth_peer.py PORT OUTFILE CERT KEY USER PASSWORD

It offers STARTTLS and requires it before AUTH and MAIL (530 otherwise),
and requires AUTH (PLAIN or LOGIN) with USER/PASSWORD.  Each message is
appended to OUTFILE as one JSON line (from, to, data, tls, user).  Prints
"ready" when it listens; runs until killed.
"""
import json
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        user = session.auth_data.login.decode() if session.auth_data else None
        with open(self.out, "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.original_content.decode("utf-8", "replace"),
                                "tls": session.ssl is not None, "user": user}) + "\n")
        return "250 OK queued"


def main():
    port, out, cert, key, user, pw = sys.argv[1:7]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login == user.encode() and auth_data.password == pw.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    c = Controller(Handler(out), hostname="127.0.0.1", port=int(port), tls_context=ctx,
                   require_starttls=True, authenticator=authenticator, auth_required=True,
                   auth_require_tls=True)
    c.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


if __name__ == "__main__":
    main()
