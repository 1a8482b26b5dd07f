"""The analytics API over HTTP: numbers, scope on every route and export, and clear 4xx."""

from __future__ import annotations

import csv
import io
import threading

import pytest
import sqlalchemy as sa

import api.routes.analytics as routes
from o2o.catalog.models import Region
from o2o.staff.models import Role
from tests.factories_events import FROM, TO, known_history
from tests.factories_staff import bearer, make_token

RANGE = {"from": FROM.isoformat(), "to": TO.isoformat()}
JSON_ROUTES = ["funnel", "promotions", "demand", "open-next"]
ROUTES = JSON_ROUTES + [f"{r}.csv" for r in JSON_ROUTES]


@pytest.fixture
def world(session, services):  # type: ignore[no-untyped-def]
    h = known_history(session)
    tokens = {
        "admin": make_token(session, Role.ADMIN),
        "r1": make_token(session, Role.MANAGER, regions=[h.r1]),
        "r2": make_token(session, Role.MANAGER, regions=[h.r2]),
        "none": make_token(session, Role.MANAGER),
        "staff": make_token(session, Role.STAFF, outlets=[h.a]),
    }
    session.commit()
    services.catalog.refresh()
    return h, tokens


def get(client, token: str, route: str, **params):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/analytics/{route}", params=RANGE | params, headers=bearer(token))


def test_funnel_numbers_over_http(client, world) -> None:
    h, tokens = world
    body = get(client, tokens["r1"], "funnel", group_by="weekday_hour").json()
    assert body["total"]["counts"] == {"query": 3, "impression": 3, "click": 1, "claim": 1,
                                       "redemption": 1, "visit": 3}
    assert body["total"]["uniques"]["visit"] == 2
    assert body["region_ids"] == [h.r1.id]
    heat = {tuple(r["key"]): r["counts"]["query"] for r in body["rows"] if r["counts"]["query"]}
    assert heat == {(1, 9): 1, (2, 0): 1, (3, 12): 1}
    admin = get(client, tokens["admin"], "funnel", group_by="region").json()
    assert admin["region_ids"] is None
    assert {r["label"]: r["counts"]["query"] for r in admin["rows"]} == {
        "华东": 3, "华南": 1, "（无门店区域）": 1}


def test_scope_lists_only_own_regions_and_outlets(client, world) -> None:
    h, tokens = world
    body = client.get("/api/v1/analytics/scope", headers=bearer(tokens["r2"])).json()
    assert [r["name"] for r in body["regions"]] == ["华南"]
    assert [o["code"] for o in body["outlets"]] == ["C1"]
    assert body["role"] == "manager"


@pytest.mark.parametrize("route", ROUTES)
def test_another_regions_numbers_are_out_of_reach(client, world, route: str) -> None:
    h, tokens = world
    r2 = tokens["r2"]
    assert get(client, r2, route, region_id=h.r1.id).status_code == 404
    if not route.startswith(("demand", "open-next")):
        assert get(client, r2, route, outlet_id=h.a.id).status_code == 404
    params = {"group_by": "outlet"} if route.startswith("funnel") else {"min_queries": 1}
    own = get(client, r2, route, **params)
    assert own.status_code == 200
    for secret in ("人民广场店", "西部店", "华东", "买一送一", "A1", "B1"):
        assert secret not in own.text
    assert get(client, tokens["none"], route).status_code == 403
    assert get(client, tokens["staff"], route).status_code == 403
    assert client.get(f"/api/v1/analytics/{route}").status_code == 401


def test_region_grouping_and_demand_for_another_manager(client, world) -> None:
    h, tokens = world
    rows = get(client, tokens["r2"], "funnel", group_by="region").json()["rows"]
    assert [(r["key"], r["counts"]["query"]) for r in rows] == [(h.r2.id, 1)]
    cells = get(client, tokens["r2"], "demand").json()["cells"]
    assert [(c["queries"], c["nearest_outlet"]) for c in cells] == [(1, "天河店 (C1)")]


def test_csv_exports_open_in_excel(client, world) -> None:
    h, tokens = world
    resp = get(client, tokens["r1"], "funnel.csv", group_by="outlet")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert 'filename="funnel_outlet_2025-03-03_2025-03-09.csv"' in \
        resp.headers["content-disposition"]
    assert resp.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == ["人民广场店 (A1)", "西部店 (B1)", "合计"]
    promos = get(client, tokens["r1"], "promotions.csv").content.decode("utf-8-sig")
    assert "买一送一" in promos
    nxt = get(client, tokens["r1"], "open-next.csv", min_queries=1, radius_km=10)
    assert len(list(csv.reader(io.StringIO(nxt.content.decode("utf-8-sig"))))) == 2


@pytest.mark.parametrize("params", [
    {"group_by": "month"}, {"from": "2025-03-10", "to": "2025-03-01"}, {"from": "yesterday"},
    {"from": "2020-01-01", "to": "2025-01-01"}, {"region_id": "0"}, {"outlet_id": "x"},
])
def test_bad_parameters_get_a_clear_422(client, world, params) -> None:
    _, tokens = world
    resp = get(client, tokens["admin"], "funnel", **params)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "validation_error"
    assert resp.json()["error"]["message"]


@pytest.mark.parametrize(("route", "params"), [
    ("demand", {"res": 9}), ("demand", {"limit": 0}), ("open-next", {"radius_km": 0}),
    ("open-next", {"min_queries": 0}), ("promotions", {"to": "2025-13-01"}),
])
def test_bad_demand_parameters(client, world, route, params) -> None:
    _, tokens = world
    assert get(client, tokens["admin"], route, **params).status_code == 422


def test_unknown_region_is_404_even_for_admin(client, world) -> None:
    _, tokens = world
    resp = get(client, tokens["admin"], "funnel", region_id=999)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_a_report_in_progress_does_not_hold_up_writers(client, world, services,
                                                      monkeypatch) -> None:
    h, tokens = world
    reading, release = threading.Event(), threading.Event()
    real = routes.funnel

    def slow_funnel(session, **kwargs):
        session.execute(sa.text("SELECT 1"))  # the report's transaction is open
        reading.set()
        assert release.wait(10)
        return real(session, **kwargs)

    monkeypatch.setattr(routes, "funnel", slow_funnel)
    replies = []
    report = threading.Thread(target=lambda: replies.append(get(client, tokens["admin"],
                                                                "funnel")))
    report.start()
    try:
        assert reading.wait(10)
        with services.engine.connect() as writer:
            if services.engine.dialect.name == "sqlite":
                # A report holding the write lock holds it until released (10 s): fail well
                # before that, but wait out a moment's lock by another writer (the token
                # check's last-used note is committed by the writer thread meanwhile).
                writer.connection.dbapi_connection.execute("PRAGMA busy_timeout=2000")
            with writer.begin():
                writer.execute(sa.update(Region).where(Region.id == h.r1.id)
                               .values(name="华东一区"))
    finally:
        release.set()
        report.join(10)
    assert replies and replies[0].status_code == 200
