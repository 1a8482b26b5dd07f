"""Readers: CSV encodings and line numbers, GeoJSON points, XLSX sheets, progress."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from o2o.catalog.importer import read_rows
from o2o.catalog.importer.readers import detect_encoding
from o2o.errors import ValidationError

CSV_TEXT = (
    "code,name,address,lat,lng\n"
    "SH-1,人民广场店,\"南京东路 1 号\n2 楼\",31.2317,121.4726\n"
    "\n"
    "SH-2,徐家汇店,漕溪北路,31.195,121.4375\n"
)


def test_csv_physical_line_numbers_and_values(tmp_path: Path) -> None:
    path = tmp_path / "outlets.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    rows = list(read_rows(path))
    assert [r.line for r in rows] == [2, 5]  # the quoted address spans lines 2-3; 4 is blank
    assert rows[0].values["address"] == "南京东路 1 号\n2 楼"
    assert rows[1].values == {"code": "SH-2", "name": "徐家汇店", "address": "漕溪北路",
                              "lat": "31.195", "lng": "121.4375"}


@pytest.mark.parametrize(("encoding", "expected"), [
    ("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")])
def test_csv_encodings(tmp_path: Path, encoding: str, expected: str) -> None:
    path = tmp_path / "outlets.csv"
    path.write_bytes(CSV_TEXT.encode(encoding))
    assert detect_encoding(path) == expected
    rows = list(read_rows(path))
    assert list(rows[0].values)[0] == "code"  # no BOM glued to the first column
    assert rows[1].values["name"] == "徐家汇店"


def test_csv_semicolon_delimiter_empty_cells_and_extra_cells(tmp_path: Path) -> None:
    path = tmp_path / "outlets.csv"
    path.write_text("code;name;city\nA;甲;\nB;乙;北京;extra\nC;丙\n", encoding="utf-8")
    a, b, c = read_rows(path)
    assert a.values["city"] is None and a.problem is None
    assert b.problem is not None and "4 cells" in b.problem
    assert c.values == {"code": "C", "name": "丙", "city": None} and c.problem is None


@pytest.mark.parametrize(("content", "fragment"), [
    ("", "empty"), ("code,,name\n", "column 2 has no name"), ("code,code\n", "twice")])
def test_csv_bad_headers(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match=fragment):
        list(read_rows(path))


def test_geojson_points_become_lat_lng(tmp_path: Path) -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.4726, 31.2317]},
         "properties": {"code": "SH-1", "name": "人民广场店", "radius": 150.0,
                        "tags": ["外卖", "堂食"], "lat": 1}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
         "properties": {"code": "X"}},
        {"type": "Feature", "geometry": None, "properties": {"code": "Y"}},
    ]}
    path = tmp_path / "outlets.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    first, line, empty = read_rows(path)
    assert first.line == 1 and first.problem is None
    assert (first.values["lat"], first.values["lng"]) == ("31.2317", "121.4726")
    assert first.values["radius"] == "150"
    assert json.loads(first.values["tags"]) == ["外卖", "堂食"]
    assert line.line == 2 and "LineString" in line.problem
    assert empty.line == 3 and "none" in empty.problem


def test_geojson_invalid(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{\"type\": ", encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid JSON"):
        list(read_rows(path))
    path.write_text('{"type": "Polygon"}', encoding="utf-8")
    with pytest.raises(ValidationError, match="FeatureCollection"):
        list(read_rows(path))


def test_xlsx_first_sheet_row_numbers(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([None])  # an empty first row: the header is the first non-empty one
    sheet.append(["code", "name", "lat", "lng", "phone", "geofence_radius_m"])
    sheet.append(["SH-1", "人民广场店", 31.2317, 121.4726, 2163001234, 150])
    sheet.append([None, None, None, None])
    sheet.append(["SH-2", "徐家汇店", 31.195, 121.4375, None, 120.0])
    workbook.create_sheet("ignored").append(["code"])
    path = tmp_path / "outlets.xlsx"
    workbook.save(path)
    rows = list(read_rows(path))
    assert [r.line for r in rows] == [3, 5]
    assert rows[0].values == {"code": "SH-1", "name": "人民广场店", "lat": "31.2317",
                              "lng": "121.4726", "phone": "2163001234",
                              "geofence_radius_m": "150"}
    assert rows[1].values["phone"] is None and rows[1].values["geofence_radius_m"] == "120"


def test_progress_hook_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "outlets.csv"
    path.write_text("code\n" + "".join(f"C{i}\n" for i in range(25)), encoding="utf-8")
    seen: list[int] = []
    assert len(list(read_rows(path, progress=seen.append, every=10))) == 25
    assert seen == [10, 20, 25]
    with pytest.raises(ValidationError, match="unknown format"):
        list(read_rows(tmp_path / "outlets.dbf"))
    with pytest.raises(ValidationError, match="no such file"):
        list(read_rows(tmp_path / "missing.csv"))
