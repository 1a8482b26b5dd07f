"""Reading and validating outlet files (CSV, GeoJSON, XLSX) for `o2o import` and the demo."""

from __future__ import annotations

from o2o.catalog.importer.readers import FORMATS, Progress, RawRow, read_rows
from o2o.catalog.importer.records import (
    FIELDS,
    OutletRecord,
    RowError,
    parse_mapping,
    parse_timezone,
    validate_row,
    validate_rows,
)

__all__ = ["FIELDS", "FORMATS", "OutletRecord", "Progress", "RawRow", "RowError",
           "parse_mapping", "parse_timezone", "read_rows", "validate_row", "validate_rows"]
