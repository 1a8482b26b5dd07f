"""Today at my outlet: the analytics funnel for today beside the same weekday last week."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from o2o.staff.models import Role
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_console import sign_in
from tests.factories_events import event
from tests.factories_staff import make_staff

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _cells(html: str) -> dict[str, tuple[int, int]]:
    """{label: (today, last week)} from the page's table."""
    rows = re.findall(r"<tr><th>(\S+)</th><td class=\"now\">(\d+)</td><td>(\d+)", html)
    return {label: (int(now), int(then)) for label, now, then in rows}


def test_today_beside_the_same_weekday_last_week(client, services) -> None:
    now = datetime.now(SHANGHAI)
    week_ago = now - timedelta(days=7)
    with services.sessions.begin() as s:
        east = make_region(s)
        mine = make_outlet(s, region=east)
        other = make_outlet(s, region=east)
        promo = make_promotion(s, outlets=[mine])
        clerk = make_staff(s, Role.STAFF, outlets=[mine])
        for who in ("a", "b", "c"):
            event(s, "claim", now, customer=who, outlet=mine, promotion=promo)
        event(s, "redemption", now, customer="a", outlet=mine, promotion=promo)
        event(s, "visit", now, customer="a", outlet=mine)
        event(s, "claim", week_ago, customer="d", outlet=mine, promotion=promo)
        event(s, "redemption", week_ago, customer="d", outlet=mine, promotion=promo)
        event(s, "redemption", week_ago + timedelta(hours=-30), customer="e", outlet=mine,
              promotion=promo)  # another day: not counted
        event(s, "claim", now, customer="x", outlet=other, promotion=promo)  # not my outlet
        clerk_id, other_id = clerk.id, other.id
    sign_in(client, services, clerk_id)
    page = client.get("/staff/today")
    assert page.status_code == 200
    cells = _cells(page.text)
    assert cells["核销"] == (1, 1) and cells["领券"] == (3, 1) and cells["到店"] == (1, 1)
    # (a redeemed coupon proves a visit: last week's redemption is last week's visit)
    assert client.get("/staff/today", params={"outlet": other_id}).status_code == 404
