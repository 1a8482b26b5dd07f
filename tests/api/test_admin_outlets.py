"""Outlet admin over HTTP: ETags refuse lost updates, 422s name fields, changes go live at once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.models import Outlet, Region
from o2o.geo.datum import Datum, from_wgs84
from o2o.staff.models import Role
from o2o.staff.tokens import issue_token
from tests.factories import ALWAYS_OPEN, make_outlet, make_region
from tests.factories_staff import bearer, make_staff, make_token

PEOPLE_SQ = (31.2304, 121.4737)  # WGS-84


@pytest.fixture
def shop(services):
    """Region EAST with outlet E1; tokens for an admin, its manager and E1's clerk."""
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST")
        e1 = make_outlet(s, code="E1", region=east, lat=31.30, lng=121.50)
        tokens = {"admin": make_token(s, Role.ADMIN),
                  "manager": make_token(s, Role.MANAGER, regions=[east]),
                  "clerk": make_token(s, Role.STAFF, outlets=[e1])}
        outlet_id = e1.id
    services.catalog.load()
    return {"id": outlet_id, "url": f"/api/v1/outlets/{outlet_id}",
            **{k: bearer(v) for k, v in tokens.items()}}


def count(services, model):
    with services.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model))


def test_lost_update_is_refused(client, shop):
    """Two people read version 1; the first change lands, the second is refused (412)."""
    first = client.get(shop["url"], headers=shop["manager"])
    second = client.get(shop["url"], headers=shop["clerk"])
    assert first.headers["ETag"] == second.headers["ETag"] == 'W/"1"'
    ok = client.patch(shop["url"], json={"phone": "021-1111"},
                      headers={**shop["manager"], "If-Match": first.headers["ETag"]})
    assert ok.status_code == 200 and ok.headers["ETag"] == 'W/"2"'
    assert ok.json()["version"] == 2
    lost = client.patch(shop["url"], json={"phone": "021-2222"},
                        headers={**shop["clerk"], "If-Match": second.headers["ETag"]})
    assert lost.status_code == 412
    assert lost.json()["error"]["code"] == "precondition_failed"
    assert lost.json()["error"]["details"] == {"current_version": 2}
    assert client.get(shop["url"], headers=shop["admin"]).json()["phone"] == "021-1111"


@pytest.mark.parametrize(("if_match", "status", "code"), [
    (None, 428, "precondition_required"),
    ("*", 428, "precondition_required"),
    ('W/"7"', 412, "precondition_failed"),
    ('"7"', 412, "precondition_failed"),
    ("garbage", 412, "precondition_failed"),
])
def test_preconditions(client, services, shop, if_match, status, code):
    headers = dict(shop["admin"])
    if if_match is not None:
        headers["If-Match"] = if_match
    audits = count(services, AuditEntry)
    for method, url, body in (("PATCH", shop["url"], {"phone": "1"}),
                              ("PUT", shop["url"] + "/status", {"status": "closed"}),
                              ("DELETE", shop["url"], None)):
        r = client.request(method, url, json=body, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), method
    assert count(services, AuditEntry) == audits
    assert client.get(shop["url"], headers=shop["admin"]).json()["version"] == 1


def test_strong_form_of_the_etag_is_accepted(client, shop):
    r = client.patch(shop["url"], json={"phone": "1"}, headers={**shop["admin"],
                                                               "If-Match": '"1"'})
    assert r.status_code == 200


def test_validation_is_422_per_field_and_writes_nothing(client, services, shop):
    before = count(services, Outlet), count(services, AuditEntry)
    r = client.post("/api/v1/outlets", headers=shop["admin"], json={
        "code": "bad code!", "name": "", "lat": 200, "lng": 121.4, "colour": "red",
        "image_url": "http://x.example.com/a.jpg"})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert {"code", "name", "lat", "crs", "colour", "image_url"} <= fields
    r = client.post("/api/v1/outlets", headers=shop["admin"], json={
        "code": "E2", "name": "东二", "lat": 31.2, "lng": 121.4, "crs": "wgs84",
        "region": "NOWHERE", "hours": {"mon": [["07:00", "25:00"]]}})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"region", "hours.mon"}
    r = client.patch(shop["url"], headers={**shop["admin"], "If-Match": 'W/"1"'},
                     json={"lat": 31.0})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "crs"
    assert (count(services, Outlet), count(services, AuditEntry)) == before


def test_staff_may_not_move_their_outlet(client, shop):
    r = client.patch(shop["url"], headers={**shop["clerk"], "If-Match": 'W/"1"'},
                     json={"lat": 31.0, "lng": 121.0, "crs": "wgs84", "phone": "1"})
    assert r.status_code == 403 and "ask a manager" in r.json()["error"]["message"]
    r = client.patch(shop["url"], headers={**shop["clerk"], "If-Match": 'W/"1"'},
                     json={"hours": {"mon": [["08:00", "20:00"]]}, "phone": "1"})
    assert r.status_code == 200


def test_changes_reach_the_customer_index_at_once(client, services, shop):
    glat, glng = from_wgs84(*PEOPLE_SQ, Datum.GCJ02)
    near = {"lat": glat, "lng": glng, "crs": "gcj02", "k": 1}
    r = client.post("/api/v1/outlets", headers=shop["manager"], json={
        "code": "SQ1", "name": "人民广场店", "lat": glat, "lng": glng, "crs": "gcj02",
        "region": "EAST", "hours": ALWAYS_OPEN})
    assert r.status_code == 201 and r.headers["Location"] == f"/api/v1/outlets/{r.json()['id']}"
    created = r.json()
    assert created["lat"] == pytest.approx(PEOPLE_SQ[0], abs=1e-5)  # stored as WGS-84
    found = client.get("/api/v1/nearby", params=near).json()["results"]
    assert found[0]["code"] == "SQ1" and found[0]["distance_m"] < 1
    url = f"/api/v1/outlets/{created['id']}"
    reopen = str(date.today() + timedelta(days=20))
    r = client.put(url + "/status", headers={**shop["manager"], "If-Match": r.headers["ETag"]},
                   json={"status": "temporarily_closed", "reopen_on": reopen})
    assert r.status_code == 200 and r.json()["reopen_on"] == reopen
    assert client.get("/api/v1/nearby", params=near).json()["results"][0]["code"] == "E1"
    r = client.put(url + "/status", headers={**shop["manager"], "If-Match": r.headers["ETag"]},
                   json={"status": "open"})
    assert client.get("/api/v1/nearby", params=near).json()["results"][0]["code"] == "SQ1"
    r = client.delete(url, headers={**shop["manager"], "If-Match": r.headers["ETag"]})
    assert r.status_code == 204
    assert client.get("/api/v1/nearby", params=near).json()["results"][0]["code"] == "E1"
    assert client.get(url, headers=shop["admin"]).status_code == 404


def test_other_workers_follow_the_change_feed(client, services, shop):
    """A second worker's catalog picks the change up on its next poll (every 0.25 s)."""
    from o2o.catalog.runtime import Catalog

    other = Catalog(services.sessions)
    other.load()
    client.patch(shop["url"], headers={**shop["admin"], "If-Match": 'W/"1"'},
                 json={"name": "东一旗舰店"})
    assert other.outlet(shop["id"]).name != "东一旗舰店"
    assert other.refresh() >= 1
    assert other.outlet(shop["id"]).name == "东一旗舰店"


def test_audit_records_who_what_and_the_request(client, services, shop):
    rid = "req-0123456789abcdef"
    changed = client.patch(shop["url"], headers={**shop["manager"], "If-Match": 'W/"1"',
                                                 "X-Request-ID": rid}, json={"phone": "021-5555"})
    r = client.get("/api/v1/audit", headers=shop["manager"],
                   params={"entity_type": "outlet", "entity_id": shop["id"]})
    (entry,) = r.json()["items"]
    # The server's own id, as answered; never the one the caller chose.
    assert entry["request_id"] == changed.headers["X-Request-ID"] != rid
    assert entry["action"] == "update"
    assert entry["before"] == {"phone": "", "version": 1}
    assert entry["after"] == {"phone": "021-5555", "version": 2}
    url = f"/api/v1/audit/{entry['id']}"
    assert client.get(url, headers=shop["admin"]).json() == entry
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert client.request(method, url, headers=shop["admin"], json={}).status_code == 405
    assert client.post("/api/v1/audit", headers=shop["admin"], json={}).status_code == 405


def test_list_filters_and_paging(client, services, shop):
    with services.sessions.begin() as s:
        east = s.scalar(sa.select(Region).where(Region.code == "EAST"))
        for i in range(4):
            make_outlet(s, code=f"E9{i}", region=east, city="苏州")
    r = client.get("/api/v1/outlets", headers=shop["manager"],
                   params={"city": "苏州", "limit": 3, "offset": 0})
    body = r.json()
    assert (body["total"], body["limit"], len(body["items"])) == (4, 3, 3)
    r = client.get("/api/v1/outlets", headers=shop["clerk"], params={"city": "苏州"})
    assert r.json()["total"] == 0
    assert client.get("/api/v1/outlets", headers=shop["admin"],
                      params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/outlets", headers=shop["admin"],
                      params={"status": "bogus"}).status_code == 422


def test_expired_and_revoked_tokens_get_401(client, services, shop):
    from o2o.staff.tokens import revoke_token

    with services.sessions.begin() as s:
        staff = make_staff(s, Role.ADMIN)
        issued = issue_token(s, staff=staff)
    assert client.get("/api/v1/me", headers=bearer(issued.token)).status_code == 200
    with services.sessions.begin() as s:
        revoke_token(s, token_id=issued.token_id)
    r = client.get("/api/v1/me", headers=bearer(issued.token))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_me(client, shop):
    assert client.get("/api/v1/me", headers=shop["clerk"]).json()["outlets"] == ["E1"]
    me = client.get("/api/v1/me", headers=shop["manager"]).json()
    assert (me["role"], me["regions"], me["outlets"]) == ("manager", ["EAST"], [])


def test_openapi_documents_the_admin_api(client):
    doc = client.get("/openapi.json").json()
    assert {"/api/v1/outlets", "/api/v1/outlets/{outlet_id}", "/api/v1/promotions",
            "/api/v1/audit"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["StaffToken"]["scheme"] == "bearer"
    patch = doc["paths"]["/api/v1/outlets/{outlet_id}"]["patch"]
    assert any(p["name"] == "If-Match" for p in patch["parameters"])
    assert client.get("/docs").status_code == 200


def test_an_empty_patch_changes_nothing(client, services, shop):
    r = client.patch(shop["url"], headers={**shop["admin"], "If-Match": 'W/"1"'}, json={})
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"1"'
    assert count(services, AuditEntry) == 0
    r = client.patch(shop["url"], headers={**shop["admin"], "If-Match": 'W/"5"'}, json={})
    assert r.status_code == 412  # still the caller's view that is checked


def test_if_match_for_a_version_that_never_existed_says_so(client, shop):
    r = client.patch(shop["url"], json={"phone": "1"},
                     headers={**shop["admin"], "If-Match": 'W/"7"'})
    assert r.status_code == 412
    message = r.json()["error"]["message"]
    assert "never been at version 7" in message and "changed since" not in message
    r = client.patch(shop["url"], json={"phone": "1"},
                     headers={**shop["admin"], "If-Match": 'W/"0"'})
    assert "never been at version 0" in r.json()["error"]["message"]


def test_hours_accept_the_compact_text_and_the_object(client, services, shop):
    r = client.post("/api/v1/outlets", headers=shop["admin"], json={
        "code": "E2", "name": "东二", "lat": 31.2, "lng": 121.4, "crs": "wgs84",
        "hours": "Mo-Fr 07:00-22:00; Sa,Su 08:00-23:30"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["hours"]["mon"] == [["07:00", "22:00"]]
    assert created["hours"]["sun"] == [["08:00", "23:30"]]
    url = f"/api/v1/outlets/{created['id']}"
    r = client.patch(url, headers={**shop["admin"], "If-Match": r.headers["ETag"]},
                     json={"hours": "24/7"})
    assert r.status_code == 200 and r.json()["hours"]["wed"] == [["00:00", "24:00"]]
    r = client.patch(url, headers={**shop["admin"], "If-Match": r.headers["ETag"]},
                     json={"hours": {"mon": [["09:00", "17:00"]]}})
    assert r.status_code == 200 and r.json()["hours"]["mon"] == [["09:00", "17:00"]]
    assert services.catalog.outlet(created["id"]).hours is not None
    etag = r.headers["ETag"]
    for bad in (["Mo-Fr 07:00-22:00"], "Mo-Fr seven to ten"):
        r = client.patch(url, headers={**shop["admin"], "If-Match": etag}, json={"hours": bad})
        assert r.status_code == 422, bad
        message = r.json()["error"]["message"]
        assert "Mo-Fr 07:00-22:00; Sa,Su 08:00-23:30" in message, message
        assert '{"mon": [["07:00", "22:00"]]' in message, message
    assert client.get(url, headers=shop["admin"]).json()["version"] == 3


def test_if_match_is_required_exactly_on_changes_to_what_was_read(client):
    """What the README promises: PATCH, PUT and DELETE need If-Match; creating does not, nor
    revoking a token (unversioned, and revoking twice is revoking once)."""
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, op in operations.items():
            if_match = [p for p in op.get("parameters", []) if p["name"] == "If-Match"]
            versioned = not path.endswith("/tokens/{token_id}")
            assert bool(if_match) == (versioned and method in ("patch", "put", "delete")), \
                (method, path)
            assert all(p["required"] is False for p in if_match)  # 428 says it, not 422
