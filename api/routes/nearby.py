"""The public JSON face of the nearest index (H5 pages, mini-programs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CatalogDep
from api.responses import PUBLIC
from o2o.catalog.nearby import MAX_K, find_nearby, result_json

router = APIRouter(prefix="/api/v1", tags=["public"], responses=PUBLIC)


@router.get("/nearby", summary="Nearest outlets open for business, with distances and offers")
def nearby(
    catalog: CatalogDep,
    lat: Annotated[float, Query(description="Latitude in the given datum", allow_inf_nan=False)],
    lng: Annotated[float, Query(description="Longitude in the given datum", allow_inf_nan=False)],
    crs: Annotated[str, Query(description="wgs84, gcj02 (WeChat, Chinese maps) or bd09")] = "gcj02",
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    radius_m: Annotated[float | None, Query(gt=0, le=20_037_600)] = None,
    open_now: bool = False,
    tags: Annotated[str | None, Query(description="Comma-separated; all must match")] = None,
) -> dict[str, Any]:
    wanted = frozenset(t.strip() for t in tags.split(",") if t.strip()) if tags else None
    result = find_nearby(catalog, lat=lat, lng=lng, crs=crs, k=k, radius_m=radius_m,
                         open_now=open_now, tags=wanted)
    return result_json(result, crs.lower())
