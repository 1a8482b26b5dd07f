"""My outlets in the console: every change through the admin services, customers see it,
nothing written for a forged, stale, out-of-scope or invalid form."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.models import Outlet
from o2o.staff.models import Role
from tests.factories import make_outlet, make_region
from tests.factories_console import csrf_of, sign_in
from tests.factories_staff import make_staff

NEAR = {"lat": 31.2304, "lng": 121.4737, "crs": "wgs84", "k": 5}


@pytest.fixture
def shop(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST")
        mine = make_outlet(s, code="MINE", region=east, hours={"mon": [["07:00", "22:00"]]},
                           phone="021-1")
        theirs = make_outlet(s, code="THEIRS", region=east, lat=31.24)
        clerk = make_staff(s, Role.STAFF, outlets=[mine])
        manager = make_staff(s, Role.MANAGER, regions=[east])
        ids = {"mine": mine.id, "theirs": theirs.id, "clerk": clerk.id, "manager": manager.id}
    services.catalog.load()
    return ids


def _row(services, outlet_id):  # type: ignore[no-untyped-def]
    with services.sessions() as s:
        row = s.get(Outlet, outlet_id)
        s.expunge(row)
        return row


def _audits(services) -> int:  # type: ignore[no-untyped-def]
    with services.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


def test_the_list_shows_only_my_outlets(client, services, shop) -> None:
    sign_in(client, services, shop["clerk"])
    page = client.get("/staff/outlets")
    assert page.status_code == 200 and "MINE" in page.text and "THEIRS" not in page.text


def test_editing_hours_goes_through_the_service_and_is_audited_as_console(
        client, services, shop) -> None:
    sign_in(client, services, shop["clerk"])
    page = client.get(f"/staff/outlets/{shop['mine']}")
    assert page.status_code == 200 and "Mo 07:00-22:00" in page.text
    r = client.post(f"/staff/outlets/{shop['mine']}/details", data={
        "csrf": csrf_of(page.text), "version": "1", "hours": "Mo-Fr 08:00-20:00; Sa,Su off",
        "phone": "021-2", "image_url": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?saved=1")
    row = _row(services, shop["mine"])
    assert row.hours["fri"] == [["08:00", "20:00"]] and row.phone == "021-2"
    assert row.version == 2
    with services.sessions() as s:
        entry = s.scalar(sa.select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert (entry.action, entry.via, entry.staff_id) == ("update", "console", shop["clerk"])
        assert set(entry.after) == {"hours", "phone", "version"}


def test_a_bad_value_shows_the_api_message_and_writes_nothing(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    before = _audits(services)
    r = client.post(f"/staff/outlets/{shop['mine']}/details", data={
        "csrf": csrf, "version": "1", "hours": "Mo 07:00-25:00", "phone": "021-1",
        "image_url": "http://x.example.com/a.gif"})
    assert r.status_code == 422 and "没有保存" in r.text
    assert "cannot read" in r.text or "25:00" in r.text
    r = client.post(f"/staff/outlets/{shop['mine']}/details", data={
        "csrf": csrf, "version": "1", "hours": "Mo 07:00-22:00", "phone": "021-1",
        "image_url": "http://x.example.com/a.gif"})
    assert r.status_code == 422 and "must be an https:// URL" in r.text
    assert _row(services, shop["mine"]).version == 1 and _audits(services) == before


def test_a_stale_form_shows_both_versions_and_writes_nothing(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    with services.sessions.begin() as s:  # someone else changes the phone meanwhile
        s.get(Outlet, shop["mine"]).phone = "021-OTHER"
    r = client.post(f"/staff/outlets/{shop['mine']}/details", data={
        "csrf": csrf, "version": "1", "hours": "Mo 07:00-22:00", "phone": "021-MINE",
        "image_url": ""})
    assert r.status_code == 409 and "在您编辑期间已被修改" in r.text
    assert "021-MINE" in r.text and "021-OTHER" in r.text
    assert _row(services, shop["mine"]).phone == "021-OTHER"
    # Overwriting is an explicit second step, carrying the version the user has now seen.
    again = client.post(f"/staff/outlets/{shop['mine']}/details", data={
        "csrf": csrf_of(r.text), "version": "2", "hours": "Mo 07:00-22:00",
        "phone": "021-MINE", "image_url": ""}, follow_redirects=False)
    assert again.status_code == 303 and _row(services, shop["mine"]).phone == "021-MINE"


def test_another_stores_outlet_is_not_found_and_nothing_is_written(client, services,
                                                                   shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    before = _audits(services)
    assert client.get(f"/staff/outlets/{shop['theirs']}").status_code == 404
    for path, data in (("details", {"hours": "24/7", "phone": "x", "image_url": ""}),
                       ("status", {"status": "temporarily_closed", "reopen_on": "2099-01-01"}),
                       ("close-early", {"close_at": "10:00"})):
        r = client.post(f"/staff/outlets/{shop['theirs']}/{path}",
                        data={"csrf": csrf, "version": "1", **data})
        assert r.status_code == 404 and "找不到" in r.text
    row = _row(services, shop["theirs"])
    assert (row.version, row.status, row.phone) == (1, "open", "")
    assert _audits(services) == before


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(client, services,
                                                                     shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    for token in (None, "forged", csrf[:-1] + "0"):
        data = {"version": "1", "phone": "021-X", "hours": "24/7", "image_url": ""}
        if token:
            data["csrf"] = token
        r = client.post(f"/staff/outlets/{shop['mine']}/details", data=data)
        assert r.status_code == 403 and "页面已失效" in r.text
    assert _row(services, shop["mine"]).version == 1


def test_an_expired_session_cannot_post(client, services, shop) -> None:
    from o2o.staff.models import StaffSession

    csrf = sign_in(client, services, shop["clerk"])
    with services.sessions.begin() as s:
        s.execute(sa.update(StaffSession).values(expires_at=datetime.now(ZoneInfo("UTC"))))
    r = client.post(f"/staff/outlets/{shop['mine']}/details", data={
        "csrf": csrf, "version": "1", "phone": "x", "hours": "24/7", "image_url": ""},
        follow_redirects=False)
    assert r.status_code == 303 and "/staff/signin" in r.headers["location"]
    assert _row(services, shop["mine"]).version == 1


def test_closing_temporarily_hides_the_outlet_from_customers_at_once(client, services,
                                                                     shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    codes = [o["code"] for o in client.get("/api/v1/nearby", params=NEAR).json()["results"]]
    assert "MINE" in codes
    reopen = (date.today() + timedelta(days=3)).isoformat()
    r = client.post(f"/staff/outlets/{shop['mine']}/status", data={
        "csrf": csrf, "version": "1", "status": "temporarily_closed", "reopen_on": reopen},
        follow_redirects=False)
    assert r.status_code == 303
    services.catalog.refresh()
    codes = [o["code"] for o in client.get("/api/v1/nearby", params=NEAR).json()["results"]]
    assert "MINE" not in codes and "THEIRS" in codes
    page = client.get(f"/staff/outlets/{shop['mine']}")
    assert "暂停营业" in page.text and reopen in page.text


def test_staff_may_not_close_for_good(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    page = client.get(f"/staff/outlets/{shop['mine']}")
    assert 'value="closed"' not in page.text
    r = client.post(f"/staff/outlets/{shop['mine']}/status", data={
        "csrf": csrf, "version": "1", "status": "closed"})
    assert r.status_code == 403 and _row(services, shop["mine"]).status == "open"


def test_close_early_today_and_special_hours_show_in_nearby(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["manager"])
    with services.sessions.begin() as s:
        s.get(Outlet, shop["mine"]).hours = {d: [["07:00", "22:00"]] for d in
                                              ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    r = client.post(f"/staff/outlets/{shop['mine']}/close-early", data={
        "csrf": csrf, "version": "2", "close_at": "21:30"}, follow_redirects=False)
    assert r.status_code == 303
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert _row(services, shop["mine"]).exceptions == {today: [["07:00", "21:30"]]}
    services.catalog.refresh()
    mine = next(o for o in client.get("/api/v1/nearby", params=NEAR).json()["results"]
                if o["code"] == "MINE")
    assert "21:30" in mine["today_hours"]
    later = (date.fromisoformat(today) + timedelta(days=2)).isoformat()
    r = client.post(f"/staff/outlets/{shop['mine']}/special", data={
        "csrf": csrf, "version": "3", "day": later, "special_hours": "休息"},
        follow_redirects=False)
    assert r.status_code == 303
    assert _row(services, shop["mine"]).exceptions[later] == []
    r = client.post(f"/staff/outlets/{shop['mine']}/exceptions/remove", data={
        "csrf": csrf, "version": "4", "day": later}, follow_redirects=False)
    assert r.status_code == 303 and later not in _row(services, shop["mine"]).exceptions


def test_a_form_without_its_version_is_refused(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    r = client.post(f"/staff/outlets/{shop['mine']}/details", data={
        "csrf": csrf, "hours": "24/7", "phone": "021-X", "image_url": ""})
    assert r.status_code == 422 and "reload the page" in r.text
    assert _row(services, shop["mine"]).version == 1
