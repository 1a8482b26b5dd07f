"""Read outlet lists from CSV, GeoJSON or XLSX into line-numbered rows of text cells.

Readers do no validation beyond the file's own structure; `validate_row` judges the cells.
Line numbers are what a person opening the file would count: the physical line for CSV
(header = line 1, a quoted cell spanning lines counts them all), the feature's position for
GeoJSON (counting from 1), the sheet row for XLSX.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from o2o.errors import ValidationError

__all__ = ["FORMATS", "Progress", "RawRow", "detect_encoding", "read_csv", "read_geojson",
           "read_rows", "read_xlsx"]

#: Called with the number of rows read so far (every `every` rows and once at the end).
Progress = Callable[[int], None]

FORMATS = {".csv": "csv", ".txt": "csv", ".geojson": "geojson", ".json": "geojson",
           ".xlsx": "xlsx", ".xlsm": "xlsx"}


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as read: column name → cell text (None when empty or missing).

    `problem` says what was structurally wrong with the row (too many cells, not a point);
    validation reports it as the row's error.
    """

    line: int
    values: dict[str, str | None]
    problem: str | None = field(default=None)


def _file_error(path: Path, message: str) -> ValidationError:
    return ValidationError(f"{path.name}: {message}", details=[{"field": "file",
                                                                  "message": message}])


def detect_encoding(path: Path, chunk_size: int = 1 << 20) -> str:
    """UTF-8 (BOM or not) if the whole file decodes as such, else GB18030 (Excel in China)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(chunk_size):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _header(cells: Iterable[Any], path: Path) -> list[str]:
    names = ["" if c is None else str(c).strip().lstrip("\ufeff") for c in cells]
    while names and not names[-1]:
        names.pop()  # trailing empty header cells (common in spreadsheets)
    seen: set[str] = set()
    for i, name in enumerate(names, 1):
        if not name:
            raise _file_error(path, f"header column {i} has no name")
        if name in seen:
            raise _file_error(path, f"header names column {name!r} twice")
        seen.add(name)
    if not names:
        raise _file_error(path, "no header row")
    return names


def _row(line: int, header: list[str], cells: list[str | None]) -> RawRow:
    width = len(header)
    values = {name: cell or None for name, cell in zip(header, cells, strict=False)}
    problem = None
    if len(cells) < width:
        values.update((name, None) for name in header[len(cells):])
    elif len(cells) > width:
        extra = sum(1 for c in cells[width:] if c)
        if extra:
            problem = f"{width + extra} cells but the header has {width} columns " \
                "(an unquoted comma?)"
    return RawRow(line=line, values=values, problem=problem)


def read_csv(path: Path) -> Iterator[RawRow]:
    """Rows of a CSV file; the delimiter (comma, semicolon, tab) is sniffed from the header."""
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as f:
        first = f.readline()
        f.seek(0)
        delimiter = max(",;\t", key=first.count) if first else ","
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = _header(next(reader), path)
        except StopIteration:
            raise _file_error(path, "the file is empty") from None
        line = reader.line_num + 1
        for cells in reader:
            stripped = [c.strip() for c in cells]
            if any(stripped):
                yield _row(line, header, stripped)
            line = reader.line_num + 1


def _cell_text(value: Any) -> str | None:
    """A JSON or spreadsheet value as cell text: floats keep full precision, 150.0 → "150"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value).strip()
    return text or None


def read_geojson(path: Path) -> Iterator[RawRow]:
    """Point features: properties become columns, the point becomes `lat` and `lng`."""
    try:
        doc = json.loads(path.read_text(encoding=detect_encoding(path)))
    except json.JSONDecodeError as exc:
        raise _file_error(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    else:
        features = doc
    if not isinstance(features, list):
        raise _file_error(path, "expected a GeoJSON FeatureCollection of Point features")
    for number, feature in enumerate(features, 1):
        yield _feature_row(number, feature)


def _feature_row(number: int, feature: Any) -> RawRow:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return RawRow(number, {}, "not a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return RawRow(number, {}, "properties must be an object")
    values = {str(k): _cell_text(v) for k, v in props.items()}
    geometry = feature.get("geometry") or {}
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if geometry.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2:
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        return RawRow(number, values, f"geometry must be a Point [lng, lat], got {kind or 'none'}")
    # GeoJSON order is [longitude, latitude]; the point wins over same-named properties.
    values["lng"], values["lat"] = _cell_text(coords[0]), _cell_text(coords[1])
    return RawRow(number, values)


def read_xlsx(path: Path) -> Iterator[RawRow]:
    """The first sheet of a workbook, header in the first non-empty row, read-only mode."""
    import openpyxl  # imported here: only XLSX imports pay for it

    with warnings.catch_warnings():
        # Files from other tools often lack a default style; that says nothing about the data.
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        header: list[str] | None = None
        for number, cells in enumerate(sheet.iter_rows(values_only=True), 1):
            texts = [_cell_text(c) for c in cells]
            if not any(texts):
                continue
            if header is None:
                header = _header(cells, path)
                continue
            yield _row(number, header, texts)
        if header is None:
            raise _file_error(path, "the first sheet is empty")
    finally:
        workbook.close()


_READERS = {"csv": read_csv, "geojson": read_geojson, "xlsx": read_xlsx}


def read_rows(path: str | Path, *, fmt: str | None = None, progress: Progress | None = None,
              every: int = 1000) -> Iterator[RawRow]:
    """Rows of a CSV, GeoJSON or XLSX file (format from the suffix unless `fmt` says)."""
    path = Path(path)
    kind = fmt or FORMATS.get(path.suffix.lower())
    if kind not in _READERS:
        raise _file_error(path, f"unknown format {path.suffix or fmt!r}; expected CSV "
                                "(.csv), GeoJSON (.geojson/.json) or XLSX (.xlsx)")
    if not path.is_file():
        raise _file_error(path, "no such file")
    done = 0
    for row in _READERS[kind](path):
        yield row
        done += 1
        if progress is not None and done % every == 0:
            progress(done)
    if progress is not None:
        progress(done)
