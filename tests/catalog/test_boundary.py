"""Region boundaries: what parses, what is refused and why, how it is stored and read back,
and point-in-boundary with the edge counted as inside."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import MultiPolygon

from o2o.catalog.boundary import (
    MAX_POINTS,
    as_geojson,
    covered,
    from_column,
    parse_boundary,
    to_column,
)
from o2o.errors import ValidationError

SQUARE = [[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]]]
WKT = "POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))"


@pytest.mark.parametrize("value", [
    WKT, "SRID=4326;" + WKT, " " + WKT.lower() + "\n",
    {"type": "Polygon", "coordinates": SQUARE},
    {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": SQUARE}},
    json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": SQUARE}}]}),
    "POLYGON Z((0 0 5, 2 0 5, 2 2 5, 0 2 5, 0 0 5))",
])
def test_one_square_however_it_is_written(value):
    shape = parse_boundary(value)
    assert isinstance(shape, MultiPolygon) and shape.bounds == (0, 0, 2, 2)
    assert not shape.has_z
    assert as_geojson(from_column(to_column(shape))) == {
        "type": "Polygon", "coordinates": (((0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0),
                                            (0.0, 0.0)),)}


def test_several_pieces_stay_a_multipolygon_and_full_precision_survives():
    value = ("MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((121.123456789 31.1, 121.2 31.1, "
             "121.2 31.2, 121.123456789 31.1)))")
    shape = from_column(to_column(parse_boundary(value)))
    assert len(shape.geoms) == 2 and as_geojson(shape)["type"] == "MultiPolygon"
    assert shape.geoms[1].exterior.coords[0] == (121.123456789, 31.1)


@pytest.mark.parametrize(("value", "says"), [
    ("POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))", "not a valid polygon: Self-intersection"),
    ("POLYGON((0 0, 1 0, 0 0))", "not a valid polygon"),
    ("LINESTRING(0 0, 1 1)", "got LineString"),
    ("GEOMETRYCOLLECTION(POLYGON((0 0, 1 0, 1 1, 0 0)))", "got GeometryCollection"),
    ("MULTIPOLYGON EMPTY", "is empty"),
    ("POLYGON((0 0, 1 0", "neither WKT nor GeoJSON"),
    ("POLYGON((0 95, 1 95, 1 96, 0 95))", "latitude -90..90"),
    ("POLYGON((-181 0, -180 0, -180 1, -181 0))", "longitude -180..180"),
    ('{"type": "Polygon"', "not valid JSON"),
    ([1, 2], "must be an object"),
    ({"type": "Feature", "geometry": None}, "has no geometry"),
    ({"type": "FeatureCollection", "features": []}, "exactly one feature"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1]]]}, "malformed"),
    ("SRID=3857;" + WKT, "not WGS-84"),
])
def test_refusals_name_the_problem(value, says):
    with pytest.raises(ValidationError) as err:
        parse_boundary(value)  # type: ignore[arg-type]
    assert says in err.value.message
    assert err.value.details == [{"field": "boundary",
                                  "message": err.value.message.removeprefix("boundary: ")}]


def test_too_many_vertices():
    ring = ", ".join(f"{i / MAX_POINTS} 0" for i in range(MAX_POINTS)) + ", 0.5 1, 0 0"
    with pytest.raises(ValidationError, match="simplify it"):
        parse_boundary(f"POLYGON(({ring}))")


def test_points_on_the_edge_and_in_a_hole():
    shape = parse_boundary("POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 3 1, 3 3, 1 3, 1 1))")
    lngs, lats = [0.5, 4.0, 2.0, 1.0, 5.0, 0.0], [0.5, 2.0, 2.0, 2.0, 5.0, 0.0]
    assert covered(shape, lngs, lats).tolist() == [True, True, False, True, False, True]
