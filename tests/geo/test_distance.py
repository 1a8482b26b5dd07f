"""Great-circle distances and their wording."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2o.errors import ValidationError
from o2o.geo.distance import (
    EARTH_RADIUS_M,
    format_distance_en,
    format_distance_zh,
    haversine_m,
    haversine_m_array,
)


def test_known_distances() -> None:
    assert haversine_m(0, 0, 0, 0) == 0.0
    assert haversine_m(0, 0, 90, 0) == pytest.approx(math.pi / 2 * EARTH_RADIUS_M, rel=1e-12)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M, rel=1e-12)
    assert haversine_m(89.5, 0, 89.5, 180) == pytest.approx(math.radians(1) * EARTH_RADIUS_M)
    # One degree of longitude on the equator; across the antimeridian it is still one degree.
    assert haversine_m(0, 179.5, 0, -179.5) == pytest.approx(111195.08, abs=0.01)
    # Beijing Tiananmen to Shanghai People's Square, checked with an independent formula.
    got = haversine_m(39.9087, 116.3975, 31.2304, 121.4737)
    assert got == pytest.approx(vincenty_sphere(39.9087, 116.3975, 31.2304, 121.4737), abs=1e-6)
    assert 1_060_000 < got < 1_075_000


def vincenty_sphere(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The atan2 form of the great-circle distance (well conditioned everywhere)."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lng2 - lng1)
    y = math.hypot(math.cos(p2) * math.sin(dl),
                   math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl))
    x = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return EARTH_RADIUS_M * math.atan2(y, x)


@given(
    st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180)
)
def test_array_form_matches_scalar_and_is_symmetric(a: float, b: float, c: float, d: float) -> None:
    scalar = haversine_m(a, b, c, d)
    vector = haversine_m_array(np.array([a]), np.array([b]), np.array([c]), np.array([d]))
    assert vector[0] == pytest.approx(scalar, abs=1e-6)
    assert haversine_m(c, d, a, b) == pytest.approx(scalar, abs=1e-6)
    assert 0.0 <= scalar <= math.pi * EARTH_RADIUS_M + 1e-6


def test_array_form_broadcasts_one_point_against_many() -> None:
    got = haversine_m_array(0.0, 0.0, np.array([0.0, 0.0, 90.0]), np.array([0.0, 1.0, 0.0]))
    assert got.tolist() == pytest.approx([0.0, 111195.08, math.pi / 2 * EARTH_RADIUS_M], abs=0.01)


@pytest.mark.parametrize(
    ("metres", "zh", "en"),
    [(0, "0 米", "0 m"), (7.4, "7 米", "7 m"), (99.6, "100 米", "100 m"), (352, "350 米", "350 m"),
     (995, "1 公里", "1 km"), (1049, "1 公里", "1 km"), (1234, "1.2 公里", "1.2 km"),
     (12_345, "12.3 公里", "12.3 km"), (99_960, "100 公里", "100 km"),
     (168_400, "168 公里", "168 km"), (2_345_678, "2346 公里", "2346 km")],
)  # fmt: skip
def test_formatting(metres: float, zh: str, en: str) -> None:
    assert format_distance_zh(metres) == zh
    assert format_distance_en(metres) == en


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_formatting_rejects_nonsense(bad: float) -> None:
    with pytest.raises(ValidationError):
        format_distance_zh(bad)
