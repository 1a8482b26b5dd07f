"""Find outlets by what customers type: a city, a district or part of an outlet's name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from o2o.catalog.columns import OPEN
from o2o.catalog.runtime import Catalog
from o2o.catalog.views import OutletView

_SUFFIX = re.compile(r"(市|区|县|店|门店)$")


def _norm(text: str) -> str:
    return _SUFFIX.sub("", text.strip().lower())


@dataclass(frozen=True, slots=True)
class Found:
    """How many outlets matched, and the first `limit` of them in order."""

    total: int = 0
    first: list[OutletView] = field(default_factory=list)


def _rank(key: str, city: str, district: str, name: str, address: str) -> int | None:
    if _norm(city) == key:
        return 0
    if _norm(district) == key:
        return 1
    if key in name.lower():
        return 2
    if key in address.lower():
        return 3
    return None


def search_outlets(catalog: Catalog, text: str, limit: int = 10) -> Found:
    """Outlets open for business matching `text`: city, then district, then name, then
    address; by code within each. Single Latin letters match nothing (too broad).

    Only rows whose strings contain the words are looked at (one scan of the shared string
    table, at C speed), and only the `limit` shown become views."""
    key = _norm(text)
    if not key or (len(key) < 2 and key.isascii()):
        return Found()
    live = catalog.live
    cols = live.cols
    ranked: list[tuple[int, str, int]] = []  # (rank, code, outlet id)
    for row in cols.text_matches(key).tolist():
        oid = int(cols.ids[row])
        if oid in live.overlay or cols.status[row] != OPEN:
            continue
        code, name, address, city, district, *_ = cols.fields(row)
        rank = _rank(key, city, district, name, address)
        if rank is not None:
            ranked.append((rank, code, oid))
    for view in live.overlay.values():
        if view is not None and view.status == "open":
            rank = _rank(key, view.city, view.district, view.name, view.address)
            if rank is not None:
                ranked.append((rank, view.code, view.id))
    ranked.sort()
    views = [live.outlet(oid) for _, _, oid in ranked[:limit]]
    return Found(len(ranked), [v for v in views if v is not None])
