"""Datum conversion between WGS-84, GCJ-02 (China's "Mars" offset) and BD-09 (Baidu).

GCJ-02 is WGS-84 plus a published, deliberately irregular offset of 100–700 m, applied only in
mainland China (`o2o.geo.region` states the rule: not Hong Kong, Macau or Taiwan). BD-09 is a
further small rotation-and-shift of GCJ-02 that Baidu applies wherever it has data, so outside
mainland China BD-09 is that shift applied to plain WGS-84 (as in gcoord and coordtransform).

Forward conversions are the closed formulas. The inverses have no closed form: they are solved
by fixed-point iteration to 1e-10° (~0.01 mm), not by the common one-step approximation, which
is off by up to a few metres. Whether a point is in mainland China is decided on the point as
given; within about a kilometre of that border a round trip may therefore not close.
"""

from __future__ import annotations

import math
from enum import StrEnum

from o2o.errors import ValidationError
from o2o.geo.region import in_mainland_china

_KRASOVSKY_A = 6378245.0  # semi-major axis used by the GCJ-02 formula
_KRASOVSKY_EE = 0.00669342162296594323  # its first eccentricity squared
_BD_FACTOR = math.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30


class Datum(StrEnum):
    """The coordinate systems a store list or a phone may speak."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"

    @classmethod
    def parse(cls, value: Datum | str) -> Datum:
        """Accept "wgs84", "WGS-84", "gcj_02", ...; anything else is a ValidationError."""
        if isinstance(value, Datum):
            return value
        key = str(value).strip().lower().replace("-", "").replace("_", "")
        try:
            return cls(key)
        except ValueError:
            allowed = [d.value for d in cls]
            raise ValidationError(
                f"unknown datum {value!r}; expected one of {allowed}",
                details=[{"field": "crs", "allowed": allowed}],
            ) from None


def _gcj_offset(lat: float, lng: float) -> tuple[float, float]:
    """The GCJ-02 offset (dlat, dlng) in degrees at a WGS-84 point (no region check)."""
    x, y = lng - 105.0, lat - 35.0
    wave = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + wave
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + wave
    dlng += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlng += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = math.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = dlat * 180.0 / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    dlng = dlng * 180.0 / (_KRASOVSKY_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlat, dlng


def _gcj_forward(lat: float, lng: float) -> tuple[float, float]:
    dlat, dlng = _gcj_offset(lat, lng)
    return lat + dlat, lng + dlng


def _bd_forward(lat: float, lng: float) -> tuple[float, float]:
    z = math.hypot(lng, lat) + 0.00002 * math.sin(lat * _BD_FACTOR)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _BD_FACTOR)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def _bd_first_guess(lat: float, lng: float) -> tuple[float, float]:
    """The usual one-step BD-09 -> GCJ-02 formula: a starting point, not the answer."""
    x, y = lng - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _BD_FACTOR)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_FACTOR)
    return z * math.sin(theta), z * math.cos(theta)


def _invert(forward, lat: float, lng: float, guess: tuple[float, float]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Solve forward(p) == (lat, lng) by fixed-point iteration (the maps are near-identity)."""
    p_lat, p_lng = guess
    for _ in range(_MAX_ITERATIONS):
        f_lat, f_lng = forward(p_lat, p_lng)
        e_lat, e_lng = f_lat - lat, f_lng - lng
        p_lat, p_lng = p_lat - e_lat, p_lng - e_lng
        if abs(e_lat) < _TOLERANCE_DEG and abs(e_lng) < _TOLERANCE_DEG:
            break
    return p_lat, p_lng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """WGS-84 -> GCJ-02; unchanged outside mainland China."""
    if not in_mainland_china(lat, lng):
        return lat, lng
    return _gcj_forward(lat, lng)


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """GCJ-02 -> WGS-84 by iteration (error < 0.01 m); unchanged outside mainland China."""
    if not in_mainland_china(lat, lng):
        return lat, lng
    dlat, dlng = _gcj_offset(lat, lng)
    return _invert(_gcj_forward, lat, lng, (lat - dlat, lng - dlng))


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    """GCJ-02 -> BD-09 (Baidu's shift applies everywhere)."""
    return _bd_forward(lat, lng)


def bd09_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """BD-09 -> GCJ-02 by iteration (error < 0.01 m)."""
    return _invert(_bd_forward, lat, lng, _bd_first_guess(lat, lng))


def wgs84_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    """WGS-84 -> BD-09, through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lng))


def bd09_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """BD-09 -> WGS-84, through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lng))


_TO_WGS84 = {Datum.WGS84: lambda lat, lng: (lat, lng), Datum.GCJ02: gcj02_to_wgs84, Datum.BD09: bd09_to_wgs84}
_FROM_WGS84 = {Datum.WGS84: lambda lat, lng: (lat, lng), Datum.GCJ02: wgs84_to_gcj02, Datum.BD09: wgs84_to_bd09}


def _check(lat: float, lng: float) -> tuple[float, float]:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise ValidationError(
            f"position ({lat}, {lng}) is not valid degrees",
            details=[{"field": "lat/lng", "value": [lat, lng]}],
        )
    return float(lat), float(lng)


def to_wgs84(lat: float, lng: float, crs: Datum | str) -> tuple[float, float]:
    """A point in `crs` as WGS-84 (lat, lng), the datum the database and the index use."""
    return _TO_WGS84[Datum.parse(crs)](*_check(lat, lng))


def from_wgs84(lat: float, lng: float, crs: Datum | str) -> tuple[float, float]:
    """A WGS-84 point in `crs`, e.g. GCJ-02 for a link into a Chinese map app."""
    return _FROM_WGS84[Datum.parse(crs)](*_check(lat, lng))
