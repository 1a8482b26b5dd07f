"""Find outlets by what customers type: a city, a district or part of an outlet's name."""

from __future__ import annotations

import re

from o2o.catalog.runtime import Catalog
from o2o.catalog.views import OutletView

_SUFFIX = re.compile(r"(市|区|县|店|门店)$")


def _norm(text: str) -> str:
    return _SUFFIX.sub("", text.strip().lower())


def search_outlets(catalog: Catalog, text: str) -> list[OutletView]:
    """Outlets open for business matching `text`: city, then district, then name, then
    address; by code within each. Single Latin letters match nothing (too broad)."""
    key = _norm(text)
    if not key or (len(key) < 2 and key.isascii()):
        return []
    ranked: list[tuple[int, str, OutletView]] = []
    for view in catalog.outlets():
        if view.status != "open":
            continue
        if _norm(view.city) == key:
            rank = 0
        elif _norm(view.district) == key:
            rank = 1
        elif key in view.name.lower():
            rank = 2
        elif key in view.address.lower():
            rank = 3
        else:
            continue
        ranked.append((rank, view.code, view))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [view for _, _, view in ranked]
