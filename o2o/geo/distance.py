"""Great-circle distances on the mean Earth sphere, and how to say them to a customer."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from o2o.errors import ValidationError

EARTH_RADIUS_M = 6371008.8  # IUGG mean radius; the index and every distance here share it


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two (lat, lng) points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_m_array(
    lat1: npt.ArrayLike, lng1: npt.ArrayLike, lat2: npt.ArrayLike, lng2: npt.ArrayLike
) -> np.ndarray:
    """`haversine_m` over numpy arrays (broadcasting), e.g. one point against many."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lng2, dtype=float) - np.asarray(lng1, dtype=float))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def _rounded(metres: float) -> tuple[float, str]:
    """Round for display and pick the unit: ("m", whole metres) or ("km", kilometres)."""
    if not (metres >= 0.0 and math.isfinite(metres)):
        raise ValidationError(f"a distance must be a non-negative number, not {metres!r}")
    if metres < 100:
        shown = float(round(metres))
    elif metres < 1000:
        shown = float(round(metres, -1))  # GPS and datum noise make single metres a fiction
    else:
        shown = metres
    if shown < 1000:
        return shown, "m"
    km = shown / 1000.0
    return (round(km, 1) if km < 99.95 else float(round(km))), "km"


def _number(value: float) -> str:
    """1.0 -> "1", 1.25 -> "1.2" (values arrive already rounded)."""
    return f"{value:.1f}".removesuffix(".0")


def format_distance_zh(metres: float) -> str:
    """A distance for Chinese replies: "350 米", "1.2 公里", "168 公里"."""
    value, unit = _rounded(metres)
    return f"{_number(value)} {'米' if unit == 'm' else '公里'}"


def format_distance_en(metres: float) -> str:
    """A distance for English replies: "350 m", "1.2 km", "168 km"."""
    value, unit = _rounded(metres)
    return f"{_number(value)} {unit}"
