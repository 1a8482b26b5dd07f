"""Console sign-in by one-time link, the session cookie, its expiry and revocation, CSRF."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from o2o.db.schema import utcnow
from o2o.staff.models import Role, StaffLoginLink, StaffSession
from o2o.staff.sessions import revoke_sessions
from tests.factories import make_outlet
from tests.factories_console import csrf_of, login_link, sign_in
from tests.factories_staff import make_staff


def _staff(services, role=Role.STAFF):  # type: ignore[no-untyped-def]
    with services.sessions() as session:
        outlet = make_outlet(session)
        staff = make_staff(session, role, outlets=[outlet] if role is Role.STAFF else [])
        session.commit()
        return staff.id


def test_sign_in_by_link_sets_a_strict_cookie_and_shows_the_console(client, services) -> None:
    staff_id = _staff(services)
    token = login_link(services, staff_id)
    form = client.get("/staff/login", params={"t": token})
    assert form.status_code == 200 and "确认登录" in form.text
    assert "default-src 'self'" in form.headers["content-security-policy"]
    done = client.post("/staff/login", data={"t": token, "csrf": csrf_of(form.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/staff/"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("o2o_staff="))
    assert "HttpOnly" in cookie and "Path=/staff" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # development; production sets it (test_cookie_secure...)
    home = client.get("/staff/")
    assert home.status_code == 200 and "我的门店" in home.text
    with services.sessions() as session:
        row = session.scalar(sa.select(StaffSession))
        assert row.staff_id == staff_id and row.session_hash not in cookie  # only a hash kept
        link = session.scalar(sa.select(StaffLoginLink))
        assert link.used_at is not None and token not in link.token_hash


def test_a_used_link_is_refused_with_a_clear_page(client, services) -> None:
    staff_id = _staff(services)
    token = login_link(services, staff_id)
    form = client.get("/staff/login", params={"t": token})
    csrf = csrf_of(form.text)
    assert client.post("/staff/login", data={"t": token, "csrf": csrf},
                       follow_redirects=False).status_code == 303
    client.cookies.clear()
    again = client.get("/staff/login", params={"t": token})
    assert again.status_code == 410 and "登录链接已使用" in again.text
    assert again.headers["content-type"].startswith("text/html")
    client.cookies.set("o2o_staff_pre", "x", path="/staff")
    replay = client.post("/staff/login", data={"t": token, "csrf": csrf},
                         follow_redirects=False)
    assert replay.status_code in (403, 410)
    with services.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 1


def test_an_expired_link_is_refused_and_starts_no_session(client, services) -> None:
    staff_id = _staff(services)
    token = login_link(services, staff_id)
    form = client.get("/staff/login", params={"t": token})
    with services.sessions() as session:
        session.execute(sa.update(StaffLoginLink).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    done = client.post("/staff/login", data={"t": token, "csrf": csrf_of(form.text)},
                       follow_redirects=False)
    assert done.status_code == 410 and "登录链接已过期" in done.text
    assert "o2o_staff=" not in done.headers.get("set-cookie", "")
    with services.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 0
        assert session.scalar(sa.select(StaffLoginLink.used_at)) is None


def test_a_made_up_link_gets_the_invalid_page(client) -> None:
    page = client.get("/staff/login", params={"t": "o2l_nothing"})
    assert page.status_code == 401 and "登录链接无效" in page.text


def test_without_a_session_pages_send_to_sign_in(client) -> None:
    page = client.get("/staff/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/staff/signin")
    assert "请用登录链接登录" in client.get("/staff/").text


def test_an_idle_session_has_ended(client, services) -> None:
    sign_in(client, services, _staff(services))
    with services.sessions() as session:
        session.execute(sa.update(StaffSession).values(
            last_seen_at=utcnow() - timedelta(hours=12, seconds=1)))
        session.commit()
    assert client.get("/staff/", follow_redirects=False).status_code == 303


def test_a_session_past_its_cap_has_ended_however_busy(client, services) -> None:
    sign_in(client, services, _staff(services))
    with services.sessions() as session:
        session.execute(sa.update(StaffSession).values(expires_at=utcnow()))
        session.commit()
    assert client.get("/staff/", follow_redirects=False).status_code == 303


def test_a_revoked_session_has_ended(client, services) -> None:
    staff_id = _staff(services)
    sign_in(client, services, staff_id)
    with services.sessions() as session:
        assert revoke_sessions(session, staff_id=staff_id) == 1
        session.commit()
    assert client.get("/staff/", follow_redirects=False).status_code == 303


def test_sign_in_rotates_the_session_id(client, services) -> None:
    staff_id = _staff(services)
    sign_in(client, services, staff_id)
    first = client.cookies.get("o2o_staff")
    sign_in(client, services, staff_id)
    assert client.cookies.get("o2o_staff") != first
    with services.sessions() as session:
        rows = session.scalars(sa.select(StaffSession).order_by(StaffSession.id)).all()
        assert [r.revoked_at is not None for r in rows] == [True, False]


def test_logout_needs_the_csrf_token_and_ends_the_session(client, services) -> None:
    csrf = sign_in(client, services, _staff(services))
    refused = client.post("/staff/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "页面已失效" in refused.text
    assert client.get("/staff/").status_code == 200
    out = client.post("/staff/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    with services.sessions() as session:
        assert session.scalar(sa.select(StaffSession.revoked_at)) is not None


def test_sign_in_attempts_are_rate_limited_per_link(client, services) -> None:
    limit = services.settings.console_login_per_link
    for _ in range(limit):
        assert client.get("/staff/login", params={"t": "o2l_guess"}).status_code == 401
    page = client.get("/staff/login", params={"t": "o2l_guess"})
    assert page.status_code == 429 and "尝试太频繁" in page.text


def test_the_cookie_is_secure_outside_development(client, services, monkeypatch) -> None:
    from o2o.config import Environment

    monkeypatch.setattr(services, "settings", services.settings.model_copy(
        update={"env": Environment.PRODUCTION}))
    client.base_url = "https://testserver"  # a Secure cookie travels over https only
    token = login_link(services, _staff(services))
    form = client.get("/staff/login", params={"t": token})
    done = client.post("/staff/login", data={"t": token, "csrf": csrf_of(form.text)},
                       follow_redirects=False)
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("o2o_staff="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_console_changes_are_audited_as_console_and_api_ones_as_api(client, services) -> None:
    from o2o.audit.models import AuditEntry
    from o2o.staff.tokens import issue_token
    from tests.factories_staff import bearer

    with services.sessions.begin() as s:
        outlet = make_outlet(s)
        staff = make_staff(s, Role.ADMIN)
        token = issue_token(s, staff=staff).token
        ids = outlet.id, staff.id
    r = client.patch(f"/api/v1/outlets/{ids[0]}", json={"phone": "1"},
                     headers={**bearer(token), "If-Match": 'W/"1"'})
    assert r.status_code == 200
    csrf = sign_in(client, services, ids[1])
    r = client.post(f"/staff/outlets/{ids[0]}/details", data={
        "csrf": csrf, "version": "2", "hours": "24/7", "phone": "2", "image_url": ""},
        follow_redirects=False)
    assert r.status_code == 303
    with services.sessions() as s:
        assert s.scalars(sa.select(AuditEntry.via).order_by(AuditEntry.id)).all() == [
            "api", "console"]
    listed = client.get("/api/v1/audit", headers=bearer(token)).json()["items"]
    assert [e["via"] for e in listed] == ["console", "api"]
