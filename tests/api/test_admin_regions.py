"""Region admin over HTTP: boundaries checked before anything is written, ETags, audit,
deactivation, and assigning the outlets inside a boundary in one call (same on both backends)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.boundary import parse_boundary, to_column
from o2o.catalog.models import Outlet, Region
from o2o.db.schema import utcnow
from o2o.staff.models import Role
from tests.factories import make_outlet, make_region
from tests.factories_staff import bearer, make_token

#: A square around central Shanghai, lng 121.40..121.60, lat 31.10..31.30 (WGS-84).
SQUARE = "POLYGON((121.4 31.1, 121.6 31.1, 121.6 31.3, 121.4 31.3, 121.4 31.1))"
SQUARE_JSON = {"type": "Polygon", "coordinates": [[[121.4, 31.1], [121.6, 31.1], [121.6, 31.3],
                                                   [121.4, 31.3], [121.4, 31.1]]]}


@pytest.fixture
def people(services):
    with services.sessions.begin() as s:
        west = make_region(s, code="WEST", name="西区")
        tokens = {"admin": make_token(s, Role.ADMIN),
                  "manager": make_token(s, Role.MANAGER, regions=[west]),
                  "clerk": make_token(s, Role.STAFF, outlets=[make_outlet(s, code="W1",
                                                                          region=west)])}
        west_id = west.id
    services.catalog.load()
    return {"west": west_id, **{k: bearer(v) for k, v in tokens.items()}}


def counts(services) -> tuple[int, int]:
    with services.sessions() as s:
        return (s.scalar(sa.select(sa.func.count()).select_from(Region)),
                s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)))


def test_create_read_and_list(client, services, people):
    r = client.post("/api/v1/regions", headers=people["admin"],
                    json={"code": "EC", "name": "华东", "boundary": SQUARE})
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["ETag"] == 'W/"1"' and r.headers["Location"] == f"/api/v1/regions/{body['id']}"
    assert (body["active"], body["timezone"]) == (True, "Asia/Shanghai")
    assert body["boundary"] == SQUARE_JSON
    multi = {"type": "MultiPolygon", "coordinates": [SQUARE_JSON["coordinates"], [[
        [122.0, 30.0], [122.1, 30.0], [122.1, 30.1], [122.0, 30.0]]]]}
    r = client.post("/api/v1/regions", headers=people["admin"],
                    json={"code": "ZS", "name": "舟山", "boundary": multi})
    assert r.status_code == 201 and r.json()["boundary"] == multi
    assert client.get(f"/api/v1/regions/{body['id']}",
                      headers=people["admin"]).json()["boundary"] == SQUARE_JSON
    codes = [i["code"] for i in client.get("/api/v1/regions", headers=people["admin"]).json()
             ["items"]]
    assert codes == ["EC", "WEST", "ZS"]
    mine = client.get("/api/v1/regions", headers=people["manager"]).json()
    assert [i["code"] for i in mine["items"]] == ["WEST"] and mine["total"] == 1
    assert client.get(f"/api/v1/regions/{body['id']}", headers=people["manager"]).status_code \
        == 404
    assert client.get("/api/v1/regions", headers=people["clerk"]).status_code == 403
    with services.sessions() as s:
        entry = s.scalar(sa.select(AuditEntry).where(AuditEntry.entity_type == "region",
                                                     AuditEntry.entity_code == "EC"))
    assert entry.action == "create" and entry.region_id == body["id"]
    assert entry.after["boundary"].startswith("MULTIPOLYGON (((121.4 31.1")


def test_ewkt_and_geojson_text_are_accepted(client, people):
    for code, boundary in (("A1", "SRID=4326;" + SQUARE), ("A2", '{"type": "Feature", '
                           '"geometry": ' + str(SQUARE_JSON).replace("'", '"') + "}")):
        r = client.post("/api/v1/regions", headers=people["admin"],
                        json={"code": code, "name": code, "boundary": boundary})
        assert r.status_code == 201, r.text
        assert r.json()["boundary"] == SQUARE_JSON


BOWTIE = "POLYGON((121.4 31.1, 121.6 31.3, 121.6 31.1, 121.4 31.3, 121.4 31.1))"


@pytest.mark.parametrize(("boundary", "says"), [
    ("POLYGON((121.4 31.1, 121.6", "neither WKT nor GeoJSON"),
    (BOWTIE, "Self-intersection"),
    ("POINT(121.4 31.1)", "got Point"),
    ({"type": "LineString", "coordinates": [[121.4, 31.1], [121.6, 31.3]]}, "got 'LineString'"),
    ("POLYGON((31.1 121.4, 31.1 121.6, 31.3 121.6, 31.1 121.4))", "lat and lng swapped"),
    ("POLYGON((200 31.1, 201 31.1, 201 32, 200 31.1))", "longitude -180..180"),
    ('{"type": "Polygon", "coordinates": [[', "not valid JSON"),
    ({"type": "Polygon", "coordinates": "nope"}, "malformed"),
    ("SRID=3857;" + SQUARE, "not WGS-84"),
    ("POLYGON EMPTY", "is empty"),
])
def test_bad_boundaries_are_422_and_write_nothing(client, services, people, boundary, says):
    before = counts(services)
    r = client.post("/api/v1/regions", headers=people["admin"],
                    json={"code": "BAD", "name": "坏", "boundary": boundary})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["details"][0]["field"] == "boundary" and says in error["message"]
    url = f"/api/v1/regions/{people['west']}"
    r = client.patch(url, headers={**people["admin"], "If-Match": 'W/"1"'},
                     json={"boundary": boundary, "name": "改名"})
    assert r.status_code == 422 and says in r.json()["error"]["message"]
    assert counts(services) == before
    assert client.get(url, headers=people["admin"]).json()["name"] == "西区"


def test_other_bad_input(client, services, people):
    before = counts(services)
    r = client.post("/api/v1/regions", headers=people["admin"],
                    json={"code": "WEST", "name": "again"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_code"
    r = client.post("/api/v1/regions", headers=people["admin"],
                    json={"code": "no spaces", "name": "", "timezone": "Mars/Base", "x": 1})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"code", "name", "timezone",
                                                                  "x"}
    assert client.post("/api/v1/regions", headers=people["manager"],
                       json={"code": "M", "name": "M"}).status_code == 403
    assert counts(services) == before


def test_edits_need_the_current_etag(client, services, people):
    url = f"/api/v1/regions/{people['west']}"
    etag = client.get(url, headers=people["admin"]).headers["ETag"]
    assert client.patch(url, headers=people["admin"], json={"name": "x"}).status_code == 428
    ok = client.patch(url, headers={**people["admin"], "If-Match": etag},
                      json={"name": "西部", "boundary": SQUARE})
    assert ok.status_code == 200 and ok.headers["ETag"] == 'W/"2"'
    before = counts(services)
    stale = client.patch(url, headers={**people["admin"], "If-Match": etag},
                         json={"name": "lost"})
    assert stale.status_code == 412 and stale.json()["error"]["details"] == {
        "current_version": 2}
    assert counts(services) == before
    assert client.get(url, headers=people["admin"]).json()["name"] == "西部"
    cleared = client.patch(url, headers={**people["admin"], "If-Match": 'W/"2"'},
                           json={"boundary": None})
    assert cleared.status_code == 200 and cleared.json()["boundary"] is None
    assert client.patch(url, headers={**people["admin"], "If-Match": 'W/"3"'},
                        json={"name": None}).status_code == 422
    assert client.patch(url, headers={**people["manager"], "If-Match": 'W/"3"'},
                        json={"name": "mine"}).status_code == 403


def test_a_renamed_region_reaches_the_customer_views(client, services, people):
    url = f"/api/v1/regions/{people['west']}"
    client.patch(url, headers={**people["admin"], "If-Match": 'W/"1"'}, json={"name": "西城"})
    with services.sessions() as s:
        outlet_id = s.scalar(sa.select(Outlet.id).where(Outlet.code == "W1"))
    assert services.catalog.outlet(outlet_id).region_name == "西城"


def test_deactivated_regions_take_no_new_outlets(client, services, people):
    url = f"/api/v1/regions/{people['west']}"
    r = client.patch(url, headers={**people["admin"], "If-Match": 'W/"1"'},
                     json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    r = client.post("/api/v1/outlets", headers=people["admin"], json={
        "code": "W2", "name": "西二", "lat": 31.2, "lng": 121.4, "crs": "wgs84",
        "region": "WEST"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "region"
    r = client.get("/api/v1/audit", headers=people["admin"],
                   params={"entity_type": "region", "entity_id": people["west"]})
    (entry,) = r.json()["items"]
    assert entry["action"] == "deactivate" and entry["after"] == {"active": False, "version": 2}
    assert client.get("/api/v1/outlets", headers=people["manager"]).json()["total"] == 1
    listed = client.get("/api/v1/regions", headers=people["admin"], params={"active": True})
    assert "WEST" not in [i["code"] for i in listed.json()["items"]]
    r = client.patch(url, headers={**people["admin"], "If-Match": 'W/"2"'}, json={"active": True})
    assert r.json()["active"] is True


@pytest.fixture
def scattered(services, people):
    """Outlets inside the square, on its edge, outside it, deleted, and one in WEST."""
    with services.sessions.begin() as s:
        ec = make_region(s, code="EC", boundary=to_column(parse_boundary(SQUARE)))
        west = s.get(Region, people["west"])
        make_outlet(s, code="IN1", lat=31.2, lng=121.5)
        make_outlet(s, code="EDGE", lat=31.1, lng=121.45)
        make_outlet(s, code="OUT", lat=31.31, lng=121.5)
        make_outlet(s, code="GONE", lat=31.2, lng=121.5).deleted_at = utcnow()
        make_outlet(s, code="IN-WEST", lat=31.25, lng=121.55, region=west)
        make_outlet(s, code="IN-EC", lat=31.15, lng=121.42, region=ec)
        ec_id = ec.id
    services.catalog.load()
    return ec_id


def region_of(services) -> dict[str, str | None]:
    with services.sessions() as s:
        rows = s.execute(sa.select(Outlet.code, Region.code).outerjoin(
            Region, Outlet.region_id == Region.id)).all()
    return dict(rows)


def test_assign_outlets_inside_the_boundary(client, services, people, scattered):
    url = f"/api/v1/regions/{scattered}/assign-outlets"
    before = region_of(services), counts(services)
    dry = client.post(url, headers=people["admin"], json={"dry_run": True})
    assert dry.status_code == 200, dry.text
    # W1 (WEST, from `people`) is inside the square too.
    assert dry.json() == {"region": "EC", "inside": 5, "assigned": 4, "already": 1,
                          "skipped": 0, "dry_run": True}
    assert (region_of(services), counts(services)) == before
    polite = client.post(url, headers=people["admin"], json={"only_unassigned": True})
    assert polite.json() == {"region": "EC", "inside": 5, "assigned": 2, "already": 1,
                             "skipped": 2, "dry_run": False}
    after = region_of(services)
    assert (after["IN1"], after["EDGE"], after["IN-WEST"], after["OUT"], after["GONE"]) == \
        ("EC", "EC", "WEST", None, None)
    r = client.post(url, headers=people["admin"])
    assert (r.json()["assigned"], r.json()["already"]) == (2, 3)
    assert region_of(services)["IN-WEST"] == "EC"
    with services.sessions() as s:
        in1 = s.scalar(sa.select(Outlet).where(Outlet.code == "IN1"))
        actions = s.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.entity_type == "region", AuditEntry.entity_id == scattered)).all()
    assert in1.version == 2 and actions == ["assign_outlets", "assign_outlets"]
    assert services.catalog.outlet(in1.id).region_code == "EC"
    assert client.post(url, headers=people["manager"]).status_code == 403


def test_assignment_matches_postgis_covers(client, services, people, scattered):
    """Where PostGIS is there, the planar shapely answer equals ST_Covers on geometry."""
    client.post(f"/api/v1/regions/{scattered}/assign-outlets", headers=people["admin"])
    with services.sessions() as s:
        if s.bind.dialect.name != "postgresql":
            pytest.skip("PostGIS only")
        ours = set(s.scalars(sa.select(Outlet.code).where(Outlet.region_id == scattered,
                                                          Outlet.deleted_at.is_(None))))
        theirs = set(s.scalars(sa.text(
            "SELECT o.code FROM outlets o JOIN regions r ON r.code = 'EC' WHERE "
            "o.deleted_at IS NULL AND ST_Covers(r.boundary::geometry, o.location::geometry)")))
    assert ours == theirs == {"IN1", "EDGE", "IN-WEST", "IN-EC", "W1"}


def test_assign_needs_a_boundary_and_an_active_region(client, services, people):
    url = f"/api/v1/regions/{people['west']}/assign-outlets"
    r = client.post(url, headers=people["admin"])
    assert r.status_code == 422 and "no boundary" in r.json()["error"]["message"]
    assert client.post("/api/v1/regions/999/assign-outlets",
                       headers=people["admin"]).status_code == 404
