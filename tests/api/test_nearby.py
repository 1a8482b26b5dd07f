"""GET /api/v1/nearby: exact order, right datum, helpful when empty, clear when wrong."""

from __future__ import annotations

import math

import pytest

from o2o.geo.datum import Datum, from_wgs84
from o2o.geo.distance import haversine_m
from tests.factories import make_outlet, make_promotion, make_region

# Around People's Square, Shanghai (WGS-84).
PEOPLE_SQ = (31.2304, 121.4737)


@pytest.fixture
def shanghai(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST", name="华东")
        a = make_outlet(s, lat=31.2310, lng=121.4740, code="A", region=east, tags=["堂食"])
        make_outlet(s, lat=31.2400, lng=121.4800, code="B", region=east, tags=["堂食", "外卖"])
        make_outlet(s, lat=31.2250, lng=121.4600, code="C", region=east,
                    hours={"mon": [["09:00", "10:00"]]})
        make_outlet(s, lat=31.2305, lng=121.4738, code="SHUT", status="temporarily_closed")
        make_outlet(s, lat=30.2741, lng=120.1551, code="HZ", city="杭州")
        make_promotion(s, outlets=[a], title="第二杯半价")
    services.catalog.load()
    return services


def test_results_in_great_circle_order_with_distances(client, shanghai) -> None:
    r = client.get("/api/v1/nearby", params={"lat": PEOPLE_SQ[0], "lng": PEOPLE_SQ[1],
                                             "crs": "wgs84", "k": 10})
    assert r.status_code == 200
    results = r.json()["results"]
    codes = [o["code"] for o in results]
    assert codes == ["A", "B", "C", "HZ"]  # SHUT is temporarily closed: not offered
    for o in results:
        assert o["crs"] == "wgs84"
        expected = haversine_m(PEOPLE_SQ[0], PEOPLE_SQ[1], o["lat"], o["lng"])
        assert o["distance_m"] == pytest.approx(expected, abs=0.2)
    first = results[0]
    assert first["promotions"][0]["title"] == "第二杯半价"
    assert first["open_now"] is True and first["today_hours"]
    assert set(first["map_links"]) == {"tencent", "amap"}


def test_gcj02_query_and_output_round_trip(client, shanghai) -> None:
    glat, glng = from_wgs84(*PEOPLE_SQ, Datum.GCJ02)
    r = client.get("/api/v1/nearby", params={"lat": glat, "lng": glng, "crs": "gcj02", "k": 1})
    (first,) = r.json()["results"]
    assert first["code"] == "A"
    # A is ~70 m from the point; ignoring the datum would have put it ~500 m off.
    assert 50 < first["distance_m"] < 90
    olat, olng = from_wgs84(31.2310, 121.4740, Datum.GCJ02)
    assert (first["lat"], first["lng"]) == (pytest.approx(olat, abs=1e-6),
                                            pytest.approx(olng, abs=1e-6))
    assert f"{olat:.6f},{olng:.6f}" in first["map_links"]["tencent"]


def test_empty_radius_says_where_the_nearest_is(client, shanghai) -> None:
    # West Lake area, Hangzhou, with a 100 m radius around a point ~2 km from HZ.
    r = client.get("/api/v1/nearby", params={"lat": 30.2590, "lng": 120.1380, "crs": "wgs84",
                                             "radius_m": 100})
    body = r.json()
    assert body["results"] == []
    assert body["nearest_outside_radius"]["code"] == "HZ"
    assert "杭州" in body["message"] and "公里" in body["message"]


def test_filters_open_now_and_tags(client, shanghai) -> None:
    params = {"lat": PEOPLE_SQ[0], "lng": PEOPLE_SQ[1], "crs": "wgs84", "k": 10}
    tagged = client.get("/api/v1/nearby", params={**params, "tags": "堂食,外卖"}).json()
    assert [o["code"] for o in tagged["results"]] == ["B"]
    open_now = client.get("/api/v1/nearby", params={**params, "open_now": "true"}).json()
    codes = [o["code"] for o in open_now["results"]]
    # C opens 09:00-10:00 on Mondays only; whatever today is, it is closed at most times.
    assert "A" in codes and "B" in codes
    assert all(o["open_now"] for o in open_now["results"])


@pytest.mark.parametrize(("params", "field"), [
    ({"lat": 91, "lng": 121}, "lat"),
    ({"lat": "nan", "lng": 121}, "lat"),
    ({"lat": 31, "lng": -181}, "lng"),
    ({"lat": 31, "lng": 121, "k": 0}, "k"),
    ({"lat": 31, "lng": 121, "k": 51}, "k"),
    ({"lat": 31, "lng": 121, "crs": "mars"}, "crs"),
    ({"lat": 31, "lng": 121, "radius_m": -5}, "radius_m"),
    ({"lng": 121}, "lat"),
])
def test_invalid_input_is_a_clear_422(client, shanghai, params, field) -> None:
    r = client.get("/api/v1/nearby", params=params)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert any(d["field"].endswith(field) for d in error["details"]), error
    assert field in error["message"]


def test_distances_are_great_circle_not_degrees(client, services) -> None:
    """At 60°N a degree of longitude is half a degree of latitude: Euclidean ranking on
    degrees would pick the wrong outlet."""
    with services.sessions.begin() as s:
        make_outlet(s, lat=60.0, lng=30.9, code="EAST")   # 0.9° lng ≈ 50 km
        make_outlet(s, lat=60.6, lng=30.0, code="NORTH")  # 0.6° lat ≈ 67 km
    services.catalog.load()
    r = client.get("/api/v1/nearby", params={"lat": 60.0, "lng": 30.0, "crs": "wgs84", "k": 2})
    codes = [o["code"] for o in r.json()["results"]]
    assert codes == ["EAST", "NORTH"]
    assert math.hypot(0.9, 0) > math.hypot(0, 0.6)  # degrees would have said NORTH first
