"""Announcements and the weekly maintenance window of the ordering plugin
(plugins/orders/announcements.c, issue 9, A1, A11), through the real host
with the auth plugin's sessions:

- a buyer sees the announcements shown now for 'all' and 'buyers', staff
  those for 'all' and 'staff'; past and future ones are hidden, and only
  staff may ask for them all (?all=1);
- staff and tenant admins create, update (If-Match: 428, 412) and delete;
  a buyer is refused (403); every write is audited and a creation publishes
  announcement.published;
- validation answers 422 with a reason per field and writes nothing;
- another tenant sees, changes and deletes nothing of them (S21: 404);
- the answer carries the weekly window from the tenant's settings with its
  next start in Japan time, across a week boundary too.
"""

import datetime as dt
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ordersharness import OrdersCase, main  # noqa: E402

API = "/api/v1/announcements"
JST = dt.timezone(dt.timedelta(hours=9))


def ts(delta_hours):
    """RFC 3339 in Japan time, delta_hours from now."""
    t = dt.datetime.now(JST) + dt.timedelta(hours=delta_hours)
    return t.replace(microsecond=0).isoformat()


def ann(title, audience="all", start=-1, end=24, kind="notice", **kw):
    a = {"kind": kind, "audience": audience, "title": title, "body": "本文: " + title,
         "display_from": ts(start), "display_until": ts(end)}
    a.update(kw)
    return a


def expected_next(now, weekday, start, minutes):
    """The start of the weekly window in progress at now, or the next:
    weekday 0 Sunday..6 Saturday, start "HH:MM", Japan time."""
    local = now.astimezone(JST)
    h, m = map(int, start.split(":"))
    for d in range(-1, 9):
        day = local.date() + dt.timedelta(days=d)
        if (day.weekday() + 1) % 7 != weekday:
            continue
        s = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=JST)
        if s + dt.timedelta(minutes=minutes) > now:
            return s.isoformat()
    raise AssertionError("no window found")


class AnnouncementsTest(OrdersCase):

    def rows_of(self):
        return int(self.pg.scalar("SELECT count(*) FROM orders_announcements;"))

    def create(self, srv, who, body, status=201):
        r = who.req(srv, "POST", API, body)
        self.assertEqual(r.status, status, f"{r}\n{srv.tail()}")
        return r

    def titles(self, srv, who, query="", tenant=None):
        r = who.req(srv, "GET", API + query, tenant=tenant)
        self.assertEqual(r.status, 200, r)
        return sorted(a["title"] for a in r.json()["announcements"])

    def test_audience_and_window_filtering_and_other_tenant_S21(self):
        """A1/A11: what each role sees after login; S21: tenant b sees none."""
        srv = self.orders_server()
        staff = self.caller("a", "staff")
        buyer = self.caller("a", "buyer", buyer="B001")
        made = {}
        for body in (ann("now-all"), ann("now-staff", "staff"), ann("now-buyers", "buyers"),
                     ann("past", start=-240, end=-120), ann("future", start=120, end=240),
                     ann("メンテナンス", kind="maintenance", start=-1, end=48,
                         maintenance_from=ts(24), maintenance_until=ts(24.25))):
            r = self.create(srv, staff, body)
            a = r.json()
            made[a["title"]] = a
            self.assertEqual(r.get("ETag"), '"v1"')
            self.assertEqual(r.get("Location"), f"{API}/{a['id']}")
            self.assertEqual((a["kind"], a["audience"], a["version"], a["created_by"]),
                             (body["kind"], body["audience"], 1, staff.user_id))
            # Stored and given back in Japan time, as sent.
            for k in ("display_from", "display_until", "maintenance_from", "maintenance_until"):
                self.assertEqual(a[k], body.get(k), k)

        self.assertEqual(self.titles(srv, buyer), ["now-all", "now-buyers", "メンテナンス"])
        self.assertEqual(self.titles(srv, staff), ["now-all", "now-staff", "メンテナンス"])
        self.assertEqual(self.titles(srv, staff, "?all=1"),
                         sorted(["now-all", "now-staff", "now-buyers", "past", "future",
                                 "メンテナンス"]))
        admin = self.caller("a", "tenant_admin")
        self.assertEqual(self.titles(srv, admin), ["now-all", "now-staff", "メンテナンス"])
        r = buyer.req(srv, "GET", API + "?all=1")
        self.assertEqual(r.status, 403, r)
        r = staff.req(srv, "GET", API + "?all=yes")
        self.assertEqual((r.status, r.json()["error"]["code"]), (400, "invalid_query"))

        # S21: tenant b's staff sees none of a's, and cannot reach them by id.
        other = self.caller("b", "staff")
        self.assertEqual(self.titles(srv, other, "?all=1"), [])
        aid = made["now-all"]["id"]
        self.assertEqual(other.req(srv, "GET", f"{API}/{aid}").status, 404)
        r = other.req(srv, "PATCH", f"{API}/{aid}", {"title": "hijack"},
                      headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 404, r)
        self.assertEqual(other.req(srv, "DELETE", f"{API}/{aid}").status, 404)
        # a's session means nothing at b.
        self.assertEqual(staff.req(srv, "GET", API, tenant="b").status, 401)
        self.assertEqual(self.titles(srv, staff, "?all=1").count("now-all"), 1)
        self.assertEqual(self.pg.scalar("SELECT title FROM orders_announcements WHERE id = :'i';",
                                        i=aid), "now-all")

        # Audited, and announced to the notifications plugin through the outbox.
        self.assertEqual(len(self.audit("announcement.create")), 6)
        self.assertTrue(all(a["tenant"] == "a" and a["user"] == staff.user_id
                            and a["result"] == "ok" for a in self.audit("announcement.create")))
        ev = self.events("announcement.published")
        self.assertEqual(sorted(e[2]["title"] for e in ev), sorted(made))
        self.assertTrue(all(e[1] == "a" for e in ev))

        # A11: the weekly window, default Wednesday 14:00-14:15 JST.
        before = dt.datetime.now(dt.timezone.utc)
        r = buyer.req(srv, "GET", API)
        after = dt.datetime.now(dt.timezone.utc)
        w = r.json()["weekly_maintenance"]
        self.assertEqual((w["weekday"], w["start"], w["minutes"], w["timezone"]),
                         (3, "14:00", 15, "Asia/Tokyo"))
        self.assertIn(w["next_start"], {expected_next(before, 3, "14:00", 15),
                                        expected_next(after, 3, "14:00", 15)})
        srv.stop()

    def test_roles_buyer_cannot_write(self):
        """S11/S19: a buyer may read but not create, change or delete (403);
        nobody signed in gets 401; a tenant admin may write."""
        srv = self.orders_server()
        buyer = self.caller("a", "buyer", buyer="B001")
        admin = self.caller("a", "tenant_admin")
        r = self.create(srv, buyer, ann("by buyer"), status=403)
        self.assertEqual(r.json()["error"]["code"], "forbidden")
        a = self.create(srv, admin, ann("by admin")).json()
        r = buyer.req(srv, "PATCH", f"{API}/{a['id']}", {"title": "x"},
                      headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(buyer.req(srv, "DELETE", f"{API}/{a['id']}").status, 403)
        self.assertEqual(buyer.req(srv, "GET", f"{API}/{a['id']}").status, 403)
        r = srv.req("a", "GET", API)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.rows_of(), 1)
        srv.stop()

    def test_validation_errors_write_nothing(self):
        """Field-level 422 for every kind of bad input; 400 for non-JSON."""
        srv = self.orders_server()
        staff = self.caller("a", "staff")
        cases = [
            ({}, {"title", "display_from", "display_until"}),
            (ann("x", kind="urgent"), {"kind"}),
            (ann("x", audience="everyone"), {"audience"}),
            (ann(""), {"title"}),
            (ann("長" * 201), {"title"}),
            (ann("x", body=5), {"body"}),
            (ann("x", start=2, end=1), {"display_until"}),
            (ann("x", display_from="2026-13-01T00:00:00+09:00"), {"display_from"}),
            (ann("x", display_from="2026-12-01 00:00:00"), {"display_from"}),
            (ann("x", kind="maintenance"), {"maintenance_from", "maintenance_until"}),
            (ann("x", kind="maintenance", maintenance_from=ts(5), maintenance_until=ts(4)),
             {"maintenance_until"}),
            (ann("x", maintenance_from=ts(5), maintenance_until=ts(6)),
             {"maintenance_from", "maintenance_until"}),
            (ann("x", colour="red"), {"colour"}),
        ]
        for body, fields in cases:
            r = self.create(srv, staff, body, status=422)
            err = r.json()["error"]
            self.assertEqual(err["code"], "validation_failed", body)
            self.assertEqual(set(err["fields"]), fields, body)
        r = staff.req(srv, "POST", API, "not json", headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.rows_of(), 0)
        self.assertEqual(self.events("announcement.published"), [])
        srv.stop()

    def test_patch_with_if_match_and_delete(self):
        """ETag/If-Match: 428 without, 412 when stale; the merged whole is
        validated; delete is audited and the row is gone."""
        srv = self.orders_server()
        staff = self.caller("a", "staff")
        a = self.create(srv, staff, ann("v1 title")).json()
        url = f"{API}/{a['id']}"
        r = staff.req(srv, "PATCH", url, {"title": "v2 title"})
        self.assertEqual(r.status, 428, r)
        r = staff.req(srv, "PATCH", url, {"title": "v2 title"}, headers={"If-Match": '"v7"'})
        self.assertEqual(r.status, 412, r)
        r = staff.req(srv, "PATCH", url, {"title": "v2 title", "audience": "buyers"},
                      headers={"If-Match": '"v1"'})
        self.assertEqual((r.status, r.get("ETag")), (200, '"v2"'), r)
        self.assertEqual((r.json()["title"], r.json()["audience"], r.json()["version"]),
                         ("v2 title", "buyers", 2))
        self.assertEqual(r.json()["display_from"], a["display_from"])
        # The old ETag is stale now: the second editor cannot overwrite silently.
        r = staff.req(srv, "PATCH", url, {"title": "lost"}, headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 412, r)
        # Turning it into a maintenance notice needs the window.
        r = staff.req(srv, "PATCH", url, {"kind": "maintenance"}, headers={"If-Match": '"v2"'})
        self.assertEqual(r.status, 422, r)
        self.assertEqual(set(r.json()["error"]["fields"]),
                         {"maintenance_from", "maintenance_until"})
        r = staff.req(srv, "PATCH", url, {"kind": "maintenance", "maintenance_from": ts(3),
                                          "maintenance_until": ts(4)},
                      headers={"If-Match": '"v2"'})
        self.assertEqual(r.status, 200, r)
        r = staff.req(srv, "PATCH", url, {"id": "x"}, headers={"If-Match": '"v3"'})
        self.assertEqual((r.status, set(r.json()["error"]["fields"])), (422, {"id"}))
        r = staff.req(srv, "GET", url)
        self.assertEqual((r.status, r.get("ETag"), r.json()["kind"]), (200, '"v3"', "maintenance"))
        self.assertEqual([x["target_id"] for x in self.audit("announcement.update")],
                         [a["id"], a["id"]])

        r = staff.req(srv, "DELETE", url)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(staff.req(srv, "GET", url).status, 404)
        self.assertEqual(staff.req(srv, "DELETE", url).status, 404)
        self.assertEqual(staff.req(srv, "DELETE", f"{API}/not-a-uuid").status, 404)
        self.assertEqual([x["target_id"] for x in self.audit("announcement.delete")], [a["id"]])
        self.assertEqual(self.events("announcement.published")[0][2]["id"], a["id"])
        srv.stop()

    def test_weekly_window_from_settings_across_week_boundary_A11(self):
        """A11: a window on yesterday's weekday has passed: the next one is
        six days on, in next week; minutes 0 means no window (null)."""
        now = dt.datetime.now(JST)
        yesterday = ((now.weekday() + 1) % 7 - 1) % 7  # 0 Sunday
        srv = self.orders_server(tenant_features={
            "a": {"maintenance_weekday": yesterday, "maintenance_start": "00:00",
                  "maintenance_minutes": 15},
            "b": {"maintenance_minutes": 0}})
        buyer = self.caller("a", "buyer", buyer="B001")
        before = dt.datetime.now(dt.timezone.utc)
        r = buyer.req(srv, "GET", API)
        after = dt.datetime.now(dt.timezone.utc)
        self.assertEqual(r.status, 200, r)
        w = r.json()["weekly_maintenance"]
        self.assertEqual((w["weekday"], w["start"], w["minutes"]), (yesterday, "00:00", 15))
        self.assertIn(w["next_start"], {expected_next(before, yesterday, "00:00", 15),
                                        expected_next(after, yesterday, "00:00", 15)})
        start = dt.datetime.fromisoformat(w["next_start"])
        self.assertGreater(start - before, dt.timedelta(days=5))
        self.assertEqual((start.weekday() + 1) % 7, yesterday)
        self.assertEqual(dt.datetime.fromisoformat(w["next_end"]) - start,
                         dt.timedelta(minutes=15))
        self.assertFalse(w["in_progress"])
        r = self.caller("b", "staff").req(srv, "GET", API)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json()["weekly_maintenance"])
        srv.stop()


if __name__ == "__main__":
    main()
