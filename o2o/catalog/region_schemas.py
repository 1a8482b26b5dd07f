"""Admin shapes for regions: RegionCreate/RegionUpdate/RegionRead, and the assignment result.

The boundary is taken as WKT (EWKT with SRID=4326 too) or GeoJSON (a geometry, a Feature, or
its JSON text); o2o.catalog.boundary judges it in the service and names the problem.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator

from o2o.catalog.boundary import as_geojson, from_column
from o2o.catalog.models import Region
from o2o.catalog.schemas import Strict, TimeZoneName

RegionCode = Annotated[str, StringConstraints(strip_whitespace=True,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")]
RegionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=100)]
Boundary = Annotated[str | dict[str, Any], Field(
    description="WGS-84 Polygon or MultiPolygon as WKT ('POLYGON((lng lat, ...))') or GeoJSON")]


class RegionCreate(Strict):
    code: RegionCode
    name: RegionName
    timezone: TimeZoneName = "Asia/Shanghai"
    boundary: Boundary | None = None


#: Region fields that may be set to null in an update (clearing the boundary).
REGION_NULLABLE = frozenset({"boundary"})


class RegionUpdate(Strict):
    """A partial update; `active: false` deactivates (no new outlets, staff or imports)."""

    code: RegionCode | None = None
    name: RegionName | None = None
    timezone: TimeZoneName | None = None
    boundary: Boundary | None = None
    active: bool | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name not in REGION_NULLABLE:
            raise ValueError("may be omitted but not null")
        return value

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}


class RegionRead(BaseModel):
    id: int
    code: str
    name: str
    timezone: str
    active: bool
    boundary: dict[str, Any] | None = Field(description="GeoJSON geometry (WGS-84)")
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Region) -> RegionRead:
        return cls(id=row.id, code=row.code, name=row.name, timezone=row.timezone,
                   active=row.active, boundary=as_geojson(from_column(row.boundary)),
                   version=row.version, created_at=row.created_at, updated_at=row.updated_at)


class AssignOutletsIn(Strict):
    only_unassigned: bool = Field(False, description="Leave outlets of other regions alone")
    dry_run: bool = Field(False, description="Count, change nothing")


class AssignOutletsResult(BaseModel):
    """Live outlets inside the boundary, and what became of them."""

    region: str
    inside: int
    assigned: int = Field(description="Outlets now in this region that were not before")
    already: int = Field(description="Inside and already in this region")
    skipped: int = Field(description="Inside but left in another region (only_unassigned)")
    dry_run: bool
