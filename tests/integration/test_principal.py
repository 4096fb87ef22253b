"""Authentication details and route options (SDK 1.2, issue 8 "The
principal, and what the host enforces") through the real host, with the
test plugin tests/plugins/authprobe.c, whose authenticate hook takes the
principal and how it authenticated from request headers.

- S6/S9: a route demanding authentication within 300 s answers 401
  reauth_required to an older authentication, to one without details and
  to one dated far in the future (fail closed), and serves a fresh one;
  an anonymous request is 401 unauthenticated as for any route.
- S13: a route demanding MFA answers 401 mfa_required without it; the
  role check comes first (403); with both options, MFA is named first.
- req_auth() gives back what the hook set (copied), buyer_id included.
- Options on a public route are refused at registration, and logged.

Errors are the host's JSON error body; time is the machine's clock
(the auth times sent are minutes away from the limits, never near them).
"""

import time

import harness
from harness import ServerTestCase

HOST = "t1.test"
TENANTS = {"t1": {"id": "t1", "hosts": [HOST], "features": {"authprobe": {"enabled": True}}}}


def who(user="u-1", roles=None, method="password", age=None, mfa=False, session=None,
        buyer=None):
    """Headers for the authprobe hook; age in seconds before now."""
    h = {}
    if user:
        h["X-Auth-User"] = user
    if roles:
        h["X-Auth-Roles"] = roles
    if user and method:
        h["X-Auth-Method"] = method
        if age is not None:
            h["X-Auth-Time"] = str(int(time.time()) - age)
    if mfa:
        h["X-Auth-Mfa"] = "1"
    if session:
        h["X-Auth-Session"] = session
    if buyer:
        h["X-Auth-Buyer"] = buyer
    return h


class PrincipalTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(plugins=("authprobe",), tenants=TENANTS,
                                         name="principal")

    def call(self, method, path, headers):
        return self.srv.request(method, path, HOST, headers=headers, body=b"" if method == "POST"
                                else None)

    def refused(self, resp, code):
        err = self.assertJsonError(resp, 401)
        self.assertEqual(err["code"], code, resp)
        self.assertNotIn("route", resp.json())  # the handler never ran

    def test_s6_auth_details_read_back(self):
        """req_auth() in a later phase gives what the hook set."""
        r = self.call("GET", "/authprobe/me",
                      who(age=42, mfa=True, session="9f86d081884c7d65", buyer="b-17"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.get("X-Authprobe-Set"), "0")
        auth = r.json()["auth"]
        self.assertEqual(auth["method"], "password")
        self.assertTrue(abs(int(time.time()) - 42 - auth["auth_time"]) <= 5, auth)
        self.assertTrue(auth["mfa_passed"])
        self.assertEqual(auth["session_hash"], "9f86d081884c7d65")
        self.assertEqual(auth["buyer_id"], "b-17")
        # No details: NULL, and the principal alone still reaches a route
        # without options.
        r = self.call("GET", "/authprobe/me", who(method=None))
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json()["auth"])

    def test_s6_invalid_details_refused(self):
        r = self.call("GET", "/authprobe/me", who(method="Pass Word", age=1))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.get("X-Authprobe-Set"), "-1")  # TN_EINVAL
        self.assertIsNone(r.json()["auth"])
        r = self.call("GET", "/authprobe/me", who(age=1, session="not-hex"))
        self.assertEqual(r.get("X-Authprobe-Set"), "-1")

    def test_s9_reauth_required_when_auth_too_old(self):
        """S6/S9: re-authentication within 300 s before an important operation."""
        r = self.call("POST", "/authprobe/email", who(age=10))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["route"], "email")
        self.refused(self.call("POST", "/authprobe/email", who(age=3600)), "reauth_required")

    def test_s9_reauth_fails_closed(self):
        self.refused(self.call("POST", "/authprobe/email", who(method=None)), "reauth_required")
        self.refused(self.call("POST", "/authprobe/email", who(age=-3600)), "reauth_required")
        self.refused(self.call("POST", "/authprobe/email", who(age=None)), "reauth_required")
        self.refused(self.call("POST", "/authprobe/email", who(user=None)), "unauthenticated")

    def test_s13_mfa_required(self):
        admin = dict(roles="tenant_admin", age=10)
        self.refused(self.call("GET", "/authprobe/admin", who(**admin)), "mfa_required")
        r = self.call("GET", "/authprobe/admin", who(mfa=True, **admin))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["route"], "admin")
        # Roles first: another role is 403 whatever the MFA state.
        err = self.assertJsonError(
            self.call("GET", "/authprobe/admin", who(roles="buyer", age=10, mfa=True)), 403)
        self.assertEqual(err["code"], "forbidden")

    def test_s6_s13_both_options(self):
        r = self.call("POST", "/authprobe/payment", who(roles="tenant_admin", age=60, mfa=True))
        self.assertEqual(r.status, 200, r)
        self.refused(self.call("POST", "/authprobe/payment",
                               who(roles="tenant_admin", age=3600, mfa=True)), "reauth_required")
        self.refused(self.call("POST", "/authprobe/payment",
                               who(roles="tenant_admin", age=60)), "mfa_required")
        self.refused(self.call("POST", "/authprobe/payment",
                               who(roles="tenant_admin", age=3600)), "mfa_required")

    def test_options_on_public_route_refused(self):
        """The plugin checks it got TN_EINVAL (else init fails); the host logs why."""
        self.srv.wait_log(lambda l: "/authprobe/public refused" in l.get("msg", l.get("_raw", "")),
                          what="the refused public route in the log")
        r = self.srv.get("/authprobe/public", host=HOST)
        self.assertEqual(r.status, 404, r)


if __name__ == "__main__":
    harness.main()
