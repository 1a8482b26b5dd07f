"""Accounts and regions in the console: the API's services behind forms; a manager makes store
staff of their own outlets and hands them a one-time link by QR; bad, stale, forged or
out-of-scope forms write nothing."""

from __future__ import annotations

import re
from base64 import b64decode
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.models import Outlet, Region
from o2o.staff.models import Role, Staff, StaffLoginLink
from tests.factories import make_outlet, make_region
from tests.factories_console import csrf_of, sign_in
from tests.factories_staff import make_staff

SQUARE = "POLYGON((121.4 31.1, 121.6 31.1, 121.6 31.3, 121.4 31.3, 121.4 31.1))"


@pytest.fixture
def chain(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        east, west = make_region(s, code="EAST", name="华东"), make_region(s, code="WEST")
        e1 = make_outlet(s, code="E1", name="东一店", region=east)
        make_outlet(s, code="W1", name="西一店", region=west)
        make_outlet(s, code="LOOSE", lat=31.2, lng=121.5)
        ids = {"admin": make_staff(s, Role.ADMIN, name="老板").id,
               "manager": make_staff(s, Role.MANAGER, regions=[east], name="东经理").id,
               "clerk": make_staff(s, Role.STAFF, outlets=[e1], name="东店员").id,
               "east": east.id}
    services.catalog.load()
    return ids


def count(services, model) -> int:  # type: ignore[no-untyped-def]
    with services.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_manager_creates_a_clerk_and_hands_over_a_login_link(client, services, chain):
    sign_in(client, services, chain["manager"])
    page = client.get("/staff/accounts")
    assert page.status_code == 200
    assert "东店员" in page.text and "老板" not in page.text
    assert 'value="E1"' in page.text and 'value="W1"' not in page.text  # only their outlets
    assert 'name="role" value="manager"' not in page.text
    r = client.post("/staff/accounts", data={"csrf": csrf_of(page.text), "name": "新店员",
                                             "role": "staff", "outlets": ["E1"]},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    account = client.get(r.headers["location"])
    assert "账号已建好" in account.text and "东一店" in account.text
    links = count(services, StaffLoginLink)
    shown = client.post(account.url.path + "/login-link",
                        data={"csrf": csrf_of(account.text)})
    assert shown.status_code == 200 and count(services, StaffLoginLink) == links + 1
    url = re.search(r'id="url" value="([^"]+)"', shown.text).group(1)
    assert url.startswith("http://testserver/staff/login?t=o2l_")
    qr = re.search(r'class="qr" src="data:image/svg\+xml([^"]+)"', shown.text).group(1)
    svg = b64decode(qr.split(",", 1)[1]) if ";base64" in qr else unquote(qr.split(",", 1)[1])
    assert b"<svg" in (svg if isinstance(svg, bytes) else svg.encode())
    with services.sessions() as s:
        entry = s.scalar(sa.select(AuditEntry).where(AuditEntry.action == "issue_login_link"))
    assert (entry.via, entry.staff_name) == ("console", "东经理")
    # The new colleague opens the link on their phone: the confirm page greets them.
    client.cookies.clear()
    assert "新店员" in client.get(url.removeprefix("http://testserver")).text


def test_bad_forms_write_nothing(client, services, chain):
    csrf = sign_in(client, services, chain["manager"])
    before = count(services, Staff), count(services, AuditEntry)
    for data in ({"name": "x", "role": "staff", "outlets": ["W1"]},  # another region's
                 {"name": "x", "role": "staff", "outlet_codes": "E1, NOPE"},
                 {"name": "", "role": "staff", "outlets": ["E1"]}):
        r = client.post("/staff/accounts", data={"csrf": csrf, **data})
        assert r.status_code == 422 and "没有保存" in r.text, data
    r = client.post("/staff/accounts", data={"csrf": csrf, "name": "x", "role": "manager",
                                             "regions": ["EAST"]})
    assert r.status_code == 403
    r = client.post("/staff/accounts", data={"name": "x", "role": "staff", "outlets": ["E1"]})
    assert r.status_code == 403  # no CSRF token
    assert (count(services, Staff), count(services, AuditEntry)) == before


def test_switching_an_account_off_and_a_stale_form(client, services, chain):
    csrf = sign_in(client, services, chain["manager"])
    url = f"/staff/accounts/{chain['clerk']}"
    r = client.post(url + "/active", data={"csrf": csrf, "version": "1", "active": "0"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(url)
    assert "已停用" in page.text and "生成一次性登录链接" not in page.text
    stale = client.post(url + "/active", data={"csrf": csrf, "version": "1", "active": "1"})
    assert stale.status_code == 409 and "没有保存" in stale.text
    with services.sessions() as s:
        assert s.get(Staff, chain["clerk"]).active is False
    r = client.post(url + "/login-link", data={"csrf": csrf})
    assert r.status_code == 422 and "deactivated" in r.text


def test_the_clerk_sees_no_accounts_and_no_menu_entry(client, services, chain):
    sign_in(client, services, chain["clerk"])
    assert "/staff/accounts" not in client.get("/staff/").text
    assert client.get("/staff/accounts").status_code == 403
    assert client.get("/staff/regions").status_code == 403


def test_admin_creates_a_region_and_assigns_the_outlets_inside(client, services, chain):
    csrf = sign_in(client, services, chain["admin"])
    assert "/staff/regions" in client.get("/staff/").text
    before = count(services, Region), count(services, AuditEntry)
    r = client.post("/staff/regions", data={
        "csrf": csrf, "code": "SQ", "name": "方块",
        "boundary": "POLYGON((121.4 31.1, 121.6 31.3, 121.6 31.1, 121.4 31.3, 121.4 31.1))"})
    assert r.status_code == 422 and "Self-intersection" in r.text
    assert (count(services, Region), count(services, AuditEntry)) == before
    r = client.post("/staff/regions", data={"csrf": csrf, "code": "SQ", "name": "方块",
                                            "boundary": SQUARE}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/staff/regions")
    with services.sessions() as s:
        sq = s.scalar(sa.select(Region).where(Region.code == "SQ"))
    assert 'id="region-SQ"' in page.text and "有边界" in page.text
    r = client.post(f"/staff/regions/{sq.id}/assign-outlets", data={"csrf": csrf})
    assert r.status_code == 200 and "3 家门店" in r.text  # E1, W1, LOOSE are all inside
    with services.sessions() as s:
        assert set(s.scalars(sa.select(Outlet.code).where(Outlet.region_id == sq.id))) == \
            {"E1", "W1", "LOOSE"}
    r = client.post(f"/staff/regions/{chain['east']}/active",
                    data={"csrf": csrf, "version": "1", "active": "0"})
    assert r.status_code == 200 and "已停用" in r.text


def test_managers_read_their_regions_only(client, services, chain):
    csrf = sign_in(client, services, chain["manager"])
    page = client.get("/staff/regions")
    assert 'id="region-EAST"' in page.text and 'id="region-WEST"' not in page.text
    assert "新建区域" not in page.text
    r = client.post("/staff/regions", data={"csrf": csrf, "code": "M", "name": "M"})
    assert r.status_code == 403 and count(services, Region) == 2
