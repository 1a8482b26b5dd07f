"""Staff accounts over HTTP: scope per role, role-fitting assignments, ETags, deactivation
that bites at once, tokens shown once, login links; bad input writes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.staff.models import Role, Staff, StaffToken
from tests.factories import make_outlet, make_region
from tests.factories_staff import bearer, make_staff, make_token


@pytest.fixture
def chain(services):
    """EAST (outlets E1, E2; manager; clerk on E1) and WEST (outlet W1; clerk on W1)."""
    with services.sessions.begin() as s:
        east, west = make_region(s, code="EAST"), make_region(s, code="WEST")
        make_region(s, code="OLD", active=False)
        e1, _ = make_outlet(s, code="E1", region=east), make_outlet(s, code="E2", region=east)
        w1 = make_outlet(s, code="W1", region=west)
        ids = {"east_clerk": make_staff(s, Role.STAFF, outlets=[e1], name="东店员").id,
               "west_clerk": make_staff(s, Role.STAFF, outlets=[w1], name="西店员").id}
        tokens = {"admin": make_token(s, Role.ADMIN, name="老板"),
                  "manager": make_token(s, Role.MANAGER, regions=[east], name="东经理"),
                  "clerk": make_token(s, Role.STAFF, outlets=[e1])}
    return {**ids, **{k: bearer(v) for k, v in tokens.items()}}


def written(services) -> tuple[int, int, int]:
    with services.sessions() as s:
        return tuple(s.scalar(sa.select(sa.func.count()).select_from(m))  # type: ignore
                     for m in (Staff, AuditEntry, StaffToken))


def test_admin_creates_a_manager_and_the_manager_their_staff(client, services, chain):
    r = client.post("/api/v1/staff", headers=chain["admin"],
                    json={"name": " 西经理 ", "role": "manager", "regions": ["WEST"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["name"], body["regions"], body["outlets"], body["active"]) == \
        ("西经理", ["WEST"], [], True)
    assert r.headers["ETag"] == 'W/"1"' and r.headers["Location"] == f"/api/v1/staff/{body['id']}"
    r = client.post("/api/v1/staff", headers=chain["manager"],
                    json={"name": "新店员", "role": "staff", "outlets": ["E2", "E1"]})
    assert r.status_code == 201 and r.json()["outlets"] == ["E1", "E2"]
    with services.sessions() as s:
        entry = s.scalar(sa.select(AuditEntry).where(AuditEntry.entity_type == "staff",
                                                     AuditEntry.entity_id == r.json()["id"]))
    assert (entry.action, entry.staff_name) == ("create", "东经理")
    assert entry.after["outlets"] == ["E1", "E2"]
    audit = client.get("/api/v1/audit", headers=chain["manager"],
                       params={"entity_type": "staff"}).json()
    assert [i["entity_id"] for i in audit["items"]] == [r.json()["id"]]


@pytest.mark.parametrize(("who", "body", "status", "field"), [
    ("manager", {"name": "x", "role": "staff", "outlets": ["W1"]}, 422, "outlet"),
    ("manager", {"name": "x", "role": "manager", "regions": ["EAST"]}, 403, None),
    ("clerk", {"name": "x", "role": "staff", "outlets": ["E1"]}, 403, None),
    ("admin", {"name": "x", "role": "manager"}, 422, "region"),
    ("admin", {"name": "x", "role": "manager", "regions": ["OLD"]}, 422, "region"),
    ("admin", {"name": "x", "role": "manager", "regions": ["NOPE"]}, 422, "region"),
    ("admin", {"name": "x", "role": "staff", "outlets": ["E1"], "regions": ["EAST"]}, 422,
     "region"),
    ("admin", {"name": "", "role": "boss"}, 422, "name"),
])
def test_bad_accounts_are_refused_and_write_nothing(client, services, chain, who, body,
                                                    status, field):
    before = written(services)
    r = client.post("/api/v1/staff", headers=chain[who], json=body)
    assert r.status_code == status, r.text
    if field:
        assert field in {d["field"] for d in r.json()["error"]["details"]}
    assert written(services) == before


def test_managers_see_and_touch_only_their_store_staff(client, chain):
    listed = client.get("/api/v1/staff", headers=chain["manager"]).json()
    names = [i["name"] for i in listed["items"]]
    assert listed["total"] == 2 and "东店员" in names and "西店员" not in names  # + the clerk
    assert client.get("/api/v1/staff", headers=chain["admin"]).json()["total"] == 5
    west = f"/api/v1/staff/{chain['west_clerk']}"
    for method, url, body in (("GET", west, None), ("PATCH", west, {"name": "x"}),
                              ("GET", west + "/tokens", None), ("POST", west + "/tokens", {}),
                              ("POST", west + "/login-links", {})):
        r = client.request(method, url, json=body,
                           headers={**chain["manager"], "If-Match": 'W/"1"'})
        assert r.status_code == 404, (method, url, r.text)
    assert client.get("/api/v1/staff", headers=chain["clerk"]).status_code == 403


def test_edits_need_the_current_etag_and_fit_the_role(client, services, chain):
    url = f"/api/v1/staff/{chain['east_clerk']}"
    assert client.patch(url, headers=chain["manager"], json={"name": "x"}).status_code == 428
    r = client.patch(url, headers={**chain["manager"], "If-Match": 'W/"1"'},
                     json={"outlets": ["E1", "E2"]})
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"2"'  # scope alone: new version
    assert r.json()["outlets"] == ["E1", "E2"]
    before = written(services)
    stale = client.patch(url, headers={**chain["admin"], "If-Match": 'W/"1"'},
                         json={"name": "lost"})
    assert stale.status_code == 412
    for who, body, status in (("manager", {"outlets": ["W1"]}, 422),
                              ("manager", {"role": "manager"}, 403),
                              ("admin", {"role": "manager"}, 422),
                              ("admin", {"outlets": []}, 422),
                              ("admin", {"name": None}, 422)):
        r = client.patch(url, headers={**chain[who], "If-Match": 'W/"2"'}, json=body)
        assert r.status_code == status, (body, r.text)
    assert written(services) == before
    r = client.patch(url, headers={**chain["admin"], "If-Match": 'W/"2"'},
                     json={"role": "manager", "regions": ["EAST"], "outlets": []})
    assert r.status_code == 200 and (r.json()["role"], r.json()["regions"]) == ("manager",
                                                                                ["EAST"])


def test_tokens_are_shown_once_and_revocation_and_deactivation_bite(client, services, chain):
    base = f"/api/v1/staff/{chain['east_clerk']}"
    r = client.post(base + "/tokens", headers=chain["manager"], json={"expires_days": 7})
    assert r.status_code == 201, r.text
    issued = r.json()
    me = client.get("/api/v1/me", headers=bearer(issued["token"]))
    assert me.status_code == 200 and me.json()["name"] == "东店员"
    listed = client.get(base + "/tokens", headers=chain["manager"])
    assert issued["token"] not in listed.text
    assert [t["prefix"] for t in listed.json()] == [issued["prefix"]]
    other = f"/api/v1/staff/{chain['west_clerk']}/tokens/{issued['token_id']}"
    assert client.delete(other, headers=chain["admin"]).status_code == 404
    assert client.get("/api/v1/me", headers=bearer(issued["token"])).status_code == 200
    r = client.delete(f"{base}/tokens/{issued['token_id']}", headers=chain["manager"])
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(issued["token"])).status_code == 401
    second = client.post(base + "/tokens", headers=chain["admin"]).json()
    assert second["expires_at"] is not None
    r = client.patch(base, headers={**chain["manager"], "If-Match": 'W/"1"'},
                     json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/api/v1/me", headers=bearer(second["token"])).status_code == 401
    before = written(services)
    assert client.post(base + "/tokens", headers=chain["admin"]).status_code == 422
    assert client.post(base + "/login-links", headers=chain["admin"]).status_code == 422
    assert written(services) == before
    with services.sessions() as s:
        actions = s.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.entity_type == "staff", AuditEntry.entity_id == chain["east_clerk"])
            .order_by(AuditEntry.id)).all()
        logged = str(s.scalars(sa.select(AuditEntry.after)).all())
    assert actions == ["issue_token", "revoke_token", "issue_token", "deactivate"]
    assert issued["token"] not in logged and second["token"] not in logged


def test_login_links_open_the_console(client, chain):
    r = client.post(f"/api/v1/staff/{chain['east_clerk']}/login-links",
                    headers=chain["manager"], json={"ttl_min": 30})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("http://testserver/staff/login?t=o2l_")
    page = client.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200 and "东店员" in page.text


def test_the_last_admin_stays(client, services, chain):
    with services.sessions() as s:
        admin_id = s.scalar(sa.select(Staff.id).where(Staff.name == "老板"))
    url = f"/api/v1/staff/{admin_id}"
    r = client.patch(url, headers={**chain["admin"], "If-Match": 'W/"1"'},
                     json={"active": False})
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin"
    r = client.post("/api/v1/staff", headers=chain["admin"], json={"name": "二老板",
                                                                   "role": "admin"})
    assert r.status_code == 201
    r = client.patch(url, headers={**chain["admin"], "If-Match": 'W/"1"'},
                     json={"active": False})
    assert r.status_code == 200
    assert client.get("/api/v1/me", headers=chain["admin"]).status_code == 401


def test_everyone_sees_and_revokes_only_their_own_tokens(client, services, chain):
    mine = client.get("/api/v1/me/tokens", headers=chain["clerk"]).json()
    assert len(mine) == 1 and set(mine[0]) >= {"id", "prefix", "expires_at"}
    theirs = client.get("/api/v1/me/tokens", headers=chain["manager"]).json()
    assert client.delete(f"/api/v1/me/tokens/{theirs[0]['id']}",
                         headers=chain["clerk"]).status_code == 404
    assert client.get("/api/v1/me", headers=chain["manager"]).status_code == 200
    r = client.delete(f"/api/v1/me/tokens/{mine[0]['id']}", headers=chain["clerk"])
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=chain["clerk"]).status_code == 401
    with services.sessions() as s:
        entry = s.scalar(sa.select(AuditEntry).where(AuditEntry.action == "revoke_token"))
    assert entry.after == {"token_id": mine[0]["id"], "prefix": mine[0]["prefix"]}
