"""POST /api/v1/outlets/import: upload, same validation report as the CLI, live at once."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from o2o.catalog.models import Outlet
from o2o.staff.models import Role
from tests.factories import make_region
from tests.factories_staff import bearer, make_token


@pytest.fixture
def admin(services):
    with services.sessions.begin() as s:
        make_region(s, code="EAST")
        token = make_token(s, Role.ADMIN)
    services.catalog.load()
    return bearer(token)


def upload(client, headers, name, content, **form):
    form.setdefault("crs", "wgs84")
    return client.post("/api/v1/outlets/import", headers=headers,
                       files={"file": (name, content)}, data=form)


def outlets(services):
    with services.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Outlet))


def test_csv_import_and_report(client, services, admin):
    body = "店号,name,lat,lng,region\nA1,一号店,31.2304,121.4737,EAST\nA2,二号店,31.3,121.5,\n"
    r = upload(client, admin, "stores.csv", body.encode("gb18030"), columns="code=店号",
               dry_run="true")
    assert r.status_code == 200 and r.json()["created"] == 2 and r.json()["dry_run"]
    assert outlets(services) == 0
    r = upload(client, admin, "stores.csv", body.encode("gb18030"), columns="code=店号")
    assert r.json() == {"dry_run": False, "created": 2, "updated": 0, "unchanged": 0,
                        "rejected": 0, "errors": []}
    near = client.get("/api/v1/nearby", params={"lat": 31.2304, "lng": 121.4737,
                                                "crs": "wgs84", "k": 1}).json()
    assert near["results"][0]["code"] == "A1"  # live on this worker at once


def test_geojson_import(client, services, admin):
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [121.47, 31.23]},
        "properties": {"code": "G1", "name": "几何店"}}]}
    r = upload(client, admin, "stores.geojson", json.dumps(doc).encode(), crs="gcj02")
    assert r.status_code == 200 and r.json()["created"] == 1


def test_bad_rows_are_422_with_lines_and_write_nothing(client, services, admin):
    body = b"code,name,lat,lng\nA1,ok,31.2,121.4\nA2,bad,x,121.4\nA1,dup,31.2,121.4\n"
    r = upload(client, admin, "stores.csv", body)
    assert r.status_code == 422
    assert [(d["line"], d["field"]) for d in r.json()["error"]["details"]] == \
        [(3, "lat"), (4, "code")]
    assert outlets(services) == 0
    r = upload(client, admin, "stores.csv", body, partial="true")
    assert (r.json()["created"], r.json()["rejected"]) == (1, 2)


@pytest.mark.parametrize(("name", "content", "form", "field"), [
    ("stores.csv", b"code,name,lat,lng\n", {"crs": "mercator"}, "crs"),
    ("stores.csv", b"code,name,lat,lng\n", {"columns": "nonsense"}, "columns"),
    ("stores.csv", b"name,lat,lng\nx,1,2\n", {}, "code"),
    ("stores.json", b"{not json", {}, "file"),
])
def test_unreadable_input_is_a_clear_422(client, services, admin, name, content, form, field):
    r = upload(client, admin, name, content, **form)
    assert r.status_code == 422, r.text
    assert field in {d.get("field") for d in r.json()["error"]["details"]}
    assert outlets(services) == 0
