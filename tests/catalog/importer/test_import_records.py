"""Row validation: mapping, required fields, coordinates and datums, zones, hours, duplicates."""

from __future__ import annotations

from datetime import date

import pytest

from o2o.catalog.importer import (
    OutletRecord,
    RawRow,
    RowError,
    parse_mapping,
    parse_timezone,
    validate_row,
    validate_rows,
)
from o2o.errors import ValidationError
from o2o.geo.datum import gcj02_to_wgs84

GOOD = {"code": "SH-1", "name": "人民广场店", "lat": "31.2317", "lng": "121.4726"}


def check(values: dict, mapping: dict | None = None, crs: str = "wgs84",
          line: int = 7) -> OutletRecord | RowError:
    return validate_row(RawRow(line, values), mapping or {}, crs)


def error(values: dict, **kw: object) -> RowError:
    result = check(values, **kw)  # type: ignore[arg-type]
    assert isinstance(result, RowError), result
    return result


def test_minimal_row_gets_defaults() -> None:
    rec = check(GOOD)
    assert isinstance(rec, OutletRecord)
    assert (rec.code, rec.name, rec.lat, rec.lng) == ("SH-1", "人民广场店", 31.2317, 121.4726)
    assert (rec.timezone, rec.status, rec.region, rec.hours) == ("Asia/Shanghai", "open", None,
                                                                  None)
    assert rec.geofence_radius_m == 150 and rec.tags == frozenset() and rec.line == 7


def test_full_row() -> None:
    rec = check({**GOOD, "address": " 南京东路 1 号 ", "city": "上海", "district": "黄浦区",
                 "phone": "021-0123 4567", "timezone": "Asia/Shanghai", "region": "EC",
                 "status": "temporarily_closed", "reopen_on": "2027-01-15",
                 "tags": "外卖; 堂食;;24h", "hours": "Mo-Fr 07:00-22:00; Sa,Su 08:00-23:30",
                 "exceptions": '{"2026-10-01": []}', "image_url": "/static/demo/a.jpg",
                 "geofence_radius_m": "200"})
    assert isinstance(rec, OutletRecord)
    assert rec.address == "南京东路 1 号" and rec.region == "EC"
    assert rec.status == "temporarily_closed" and rec.reopen_on == date(2027, 1, 15)
    assert rec.tags == frozenset({"外卖", "堂食", "24h"})
    assert rec.hours is not None and rec.hours["sat"] == [["08:00", "23:30"]]
    assert rec.exceptions == {"2026-10-01": []} and rec.geofence_radius_m == 200


def test_gcj02_and_bd09_are_converted_to_wgs84() -> None:
    rec = check(GOOD, crs="gcj02")
    assert isinstance(rec, OutletRecord)
    assert (rec.lat, rec.lng) == gcj02_to_wgs84(31.2317, 121.4726)
    # In Shanghai GCJ-02 sits ~200 m south and ~430 m east of WGS-84.
    assert 0.001 < rec.lat - 31.2317 < 0.003 and 0.003 < 121.4726 - rec.lng < 0.006
    bd = check(GOOD, crs="bd09")
    assert isinstance(bd, OutletRecord) and bd.lat < rec.lat and bd.lng < rec.lng
    abroad = check({**GOOD, "lat": "48.8566", "lng": "2.3522"}, crs="gcj02")
    assert isinstance(abroad, OutletRecord) and (abroad.lat, abroad.lng) == (48.8566, 2.3522)
    with pytest.raises(ValidationError, match="unknown datum"):
        check(GOOD, crs="mars")


def test_mapping_reads_other_column_names() -> None:
    mapping = parse_mapping("code=Store Number, name=Store Name,lat=Latitude,lng=Longitude")
    assert mapping == {"code": "Store Number", "name": "Store Name", "lat": "Latitude",
                       "lng": "Longitude"}
    rec = check({"Store Number": "1-2", "Store Name": "A", "Latitude": "1.5",
                 "Longitude": "2.5", "city": "X"}, mapping)
    assert isinstance(rec, OutletRecord) and (rec.code, rec.lat, rec.city) == ("1-2", 1.5, "X")
    missing = error({"code": "A", "name": "B", "lat": "1", "lng": "2"},
                    mapping={"lat": "Latitude"})
    assert missing.field == "lat" and "no column 'Latitude'" in missing.message


@pytest.mark.parametrize(("text", "fragment"), [
    ("colour=Farbe", "unknown field 'colour'"), ("code", "not field=Source Column"),
    ("code=A,code=B", "mapped twice")])
def test_parse_mapping_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        parse_mapping(text)
    assert parse_mapping("") == parse_mapping(None) == {}


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"code": " "}, "code", "required"),
    ({"name": None}, "name", "required"),
    ({"lat": "north"}, "lat", "not a number"),
    ({"lat": "nan"}, "lat", "not a finite number"),
    ({"lng": "inf"}, "lng", "not a finite number"),
    ({"lat": "121.4726", "lng": "31.2317"}, "lat", "look swapped"),
    ({"lat": "-95", "lng": "200"}, "lat", "outside -90..90"),
    ({"lng": "181"}, "lng", "outside -180..180"),
    ({"lat": "0", "lng": "0.0"}, "lat", "null island"),
    ({"timezone": "GMT+05:30 Mars/Base"}, "timezone", "no IANA time zone"),
    ({"status": "open-ish"}, "status", "not one of"),
    ({"reopen_on": "soon"}, "reopen_on", "not a date"),
    ({"hours": "Mo-Fr 9-5"}, "hours", "cannot read"),
    ({"exceptions": "{\"2026-13-01\": []}"}, "exceptions", "not a date"),
    ({"geofence_radius_m": "0"}, "geofence_radius_m", "1 to 5000"),
    ({"geofence_radius_m": "99.5"}, "geofence_radius_m", "whole metres"),
    ({"image_url": "javascript:alert(1)"}, "image_url", "not an http(s) URL"),
    ({"code": "X" * 65}, "code", "longer than 64"),
])
def test_bad_fields(change: dict, field: str, fragment: str) -> None:
    err = error({**GOOD, **change})
    assert (err.line, err.field) == (7, field)
    assert fragment in err.message
    assert str(err).startswith(f"line 7: {field}: ")


def test_structural_problem_is_the_rows_error() -> None:
    err = validate_row(RawRow(4, GOOD, problem="6 cells but the header has 4 columns"), {},
                       "wgs84")
    assert err == RowError(4, "row", "6 cells but the header has 4 columns")


@pytest.mark.parametrize(("text", "zone"), [
    ("Asia/Shanghai", "Asia/Shanghai"),
    ("GMT+1:00 Europe/Andorra", "Europe/Andorra"),
    ("GMT+08:00 Asia/Beijing", "Asia/Shanghai"),
    ("GMT-03:00 America/Argentina/Bu", "America/Argentina/Buenos_Aires"),
    ("GMT+09:00", "Etc/GMT-9"),
    ("UTC", "UTC"),
])
def test_timezones_from_real_exports(text: str, zone: str) -> None:
    assert parse_timezone(text) == zone
    rec = check({**GOOD, "timezone": text})
    assert isinstance(rec, OutletRecord) and rec.timezone == zone


def test_status_accepts_chinese_and_case() -> None:
    for text, status in (("OPEN", "open"), ("暂停营业", "temporarily_closed"), ("已停业", "closed")):
        rec = check({**GOOD, "status": text})
        assert isinstance(rec, OutletRecord) and rec.status == status


def test_duplicate_codes_name_both_lines() -> None:
    rows = [RawRow(2, GOOD), RawRow(3, {**GOOD, "code": "SH-2"}), RawRow(9, GOOD)]
    results = list(validate_rows(rows, {}, "wgs84"))
    assert [type(r).__name__ for r in results] == ["OutletRecord", "OutletRecord", "RowError"]
    dup = results[2]
    assert isinstance(dup, RowError) and dup.line == 9 and dup.field == "code"
    assert "line 2" in dup.message and "line 9" in dup.message


def test_nul_in_a_cell_is_refused_with_its_field() -> None:
    err = error({**GOOD, "address": "南京东路\x001 号"})
    assert (err.field, err.line) == ("address", 7) and "NUL" in err.message
    assert error({**GOOD, "tags": "外卖;\x00"}).field == "tags"


def test_repeated_hours_cells_parse_once_and_stay_apart() -> None:
    week = "Mo-Fr 07:00-22:00"
    rows = [RawRow(2, {**GOOD, "code": "A", "hours": week}),
            RawRow(3, {**GOOD, "code": "B", "hours": week}),
            RawRow(4, {**GOOD, "code": "C", "hours": week, "exceptions": '{"2026-10-01": []}'}),
            RawRow(5, {**GOOD, "code": "D", "hours": "Mo-Fr 07:00-2200"})]
    a, b, c, d = validate_rows(rows, {}, "wgs84")
    assert isinstance(a, OutletRecord) and isinstance(b, OutletRecord)
    assert isinstance(c, OutletRecord) and isinstance(d, RowError)
    assert a.hours is b.hours and a.exceptions == {} and c.exceptions == {"2026-10-01": []}
    assert c.hours == a.hours and d.field == "hours"
