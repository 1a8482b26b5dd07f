"""Promotion admin over HTTP: what is published is what customers get, on the very next query."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.models import Promotion
from o2o.staff.models import Role
from tests.factories import make_outlet, make_region
from tests.factories_staff import bearer, make_token

HERE = {"lat": 31.2310, "lng": 121.4740, "crs": "wgs84", "k": 1}


@pytest.fixture
def shop(services):
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST")
        a = make_outlet(s, code="A", name="人民广场店", region=east, lat=31.2310, lng=121.4740)
        tokens = {"admin": make_token(s, Role.ADMIN),
                  "manager": make_token(s, Role.MANAGER, regions=[east]),
                  "clerk": make_token(s, Role.STAFF, outlets=[a])}
    services.catalog.load()
    return {k: bearer(v) for k, v in tokens.items()}


def offers_here(client) -> list[str]:
    (first,) = client.get("/api/v1/nearby", params=HERE).json()["results"]
    return [p["title"] for p in first["promotions"]]


def other_weekdays() -> list[int]:
    """Every weekday but today and tomorrow in Shanghai (safe across a midnight mid-test)."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).isoweekday()
    tomorrow = today % 7 + 1
    return [d for d in range(1, 8) if d not in (today, tomorrow)]


def test_published_offer_is_live_until_archived_or_out_of_its_window(client, shop):
    clerk = shop["clerk"]
    r = client.post("/api/v1/promotions", headers=clerk, json={
        "code": "LATTE2", "title": "拿铁第二杯半价", "scope": "outlets", "outlets": ["A"],
        "image_url": "https://img.example.com/latte.png", "timezone": "Asia/Shanghai"})
    assert r.status_code == 201, r.text
    url, tag = r.headers["Location"], r.headers["ETag"]
    assert offers_here(client) == []  # a draft shows nowhere
    r = client.put(url + "/status", headers={**clerk, "If-Match": tag},
                   json={"status": "published"})
    assert r.status_code == 200 and offers_here(client) == ["拿铁第二杯半价"]
    r = client.patch(url, headers={**clerk, "If-Match": r.headers["ETag"]},
                     json={"weekdays": other_weekdays()})
    assert r.status_code == 200 and offers_here(client) == []  # outside its weekly window
    r = client.patch(url, headers={**clerk, "If-Match": r.headers["ETag"]},
                     json={"weekdays": []})
    assert offers_here(client) == ["拿铁第二杯半价"]
    r = client.put(url + "/status", headers={**clerk, "If-Match": r.headers["ETag"]},
                   json={"status": "archived"})
    assert r.status_code == 200 and offers_here(client) == []


def test_validity_window_and_priority(client, shop):
    admin = shop["admin"]
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    for code, title, priority, start in (("LOW", "低", 1, now - timedelta(days=1)),
                                         ("HIGH", "高", 9, now - timedelta(days=1)),
                                         ("LATER", "以后", 50, now + timedelta(days=3))):
        r = client.post("/api/v1/promotions", headers=admin, json={
            "code": code, "title": title, "scope": "all", "priority": priority,
            "valid_from": start.isoformat()})
        client.put(r.headers["Location"] + "/status",
                   headers={**admin, "If-Match": r.headers["ETag"]}, json={"status": "published"})
    assert offers_here(client) == ["高", "低"]  # LATER has not started


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"title": "拿" * 43}, "title", "128 bytes"),
    ({"description": "优" * 171}, "description", "512 bytes"),
    ({"image_url": "https://img.example.com/a.webp"}, "image_url", "JPG or PNG"),
    ({"image_url": "http://img.example.com/a.jpg"}, "image_url", "https"),
    ({"valid_from": "2026-05-01T10:00:00"}, "valid_from", "timezone"),
    ({"weekdays": [9]}, "weekdays.0", "7"),
    ({"scope": "everywhere"}, "scope", "all"),
    ({"valid_from": "2026-05-02T00:00:00+08:00", "valid_until": "2026-05-01T00:00:00+08:00"},
     "valid_until", "after valid_from"),
    ({"outlets": ["A", "ELSEWHERE"]}, "outlets", "unknown outlet code 'ELSEWHERE'"),
])
def test_422_names_the_field_and_writes_nothing(client, services, shop, body, field, fragment):
    data = {"code": "X1", "title": "好", "scope": "outlets", "outlets": ["A"], **body}
    r = client.post("/api/v1/promotions", headers=shop["admin"], json=data)
    assert r.status_code == 422, r.text
    details = {d["field"]: d["message"] for d in r.json()["error"]["details"]}
    assert field in details and fragment in details[field], details
    with services.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Promotion)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_conflicts(client, shop):
    admin = shop["admin"]
    body = {"code": "DUP", "title": "好", "scope": "all"}
    r = client.post("/api/v1/promotions", headers=admin, json=body)
    assert client.post("/api/v1/promotions", headers=admin, json=body).status_code == 409
    url, tag = r.headers["Location"], r.headers["ETag"]
    r = client.put(url + "/status", headers={**admin, "If-Match": tag},
                   json={"status": "archived"})
    r2 = client.put(url + "/status", headers={**admin, "If-Match": r.headers["ETag"]},
                    json={"status": "published"})
    assert r2.status_code == 409 and r2.json()["error"]["code"] == "invalid_transition"
    stale = client.patch(url, headers={**admin, "If-Match": tag}, json={"priority": 2})
    assert stale.status_code == 412
    r = client.put(url + "/status", headers={**admin, "If-Match": r.headers["ETag"]},
                   json={"status": "draft"})
    gone = client.delete(url, headers={**admin, "If-Match": r.headers["ETag"]})
    assert gone.status_code == 204  # never published: a draft's mistake can go
    r = client.post("/api/v1/promotions", headers=admin, json={**body, "code": "LIVE"})
    r = client.put(r.headers["Location"] + "/status",
                   headers={**admin, "If-Match": r.headers["ETag"]}, json={"status": "published"})
    refused = client.delete(f"/api/v1/promotions/{r.json()['id']}",
                            headers={**admin, "If-Match": r.headers["ETag"]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "archive_instead"


def test_manager_reads_chain_offers_but_cannot_change_them(client, shop):
    r = client.post("/api/v1/promotions", headers=shop["admin"],
                    json={"code": "CHAIN", "title": "全场", "scope": "all"})
    url = r.headers["Location"]
    assert client.get(url, headers=shop["manager"]).status_code == 200
    r = client.patch(url, headers={**shop["manager"], "If-Match": 'W/"1"'}, json={"priority": 1})
    assert r.status_code == 403
    r = client.post("/api/v1/promotions", headers=shop["manager"],
                    json={"code": "MINE", "title": "区域", "scope": "all"})
    assert r.status_code == 403
