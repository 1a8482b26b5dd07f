"""The shipped demo chain satisfies the file contracts the app and the importer rely on."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from o2o.catalog.hours import OpeningHours, format_compact, parse_weekly
from o2o.catalog.importer import OutletRecord, read_rows, validate_rows
from o2o.catalog.importer.load import import_records
from o2o.catalog.models import Outlet, Region
from o2o.catalog.schedule import parse_schedule
from o2o.geo.region import in_mainland_china
from stores_data import DATA_DIR, OUTLETS_CSV, PROMOTIONS_JSON, REGIONS_JSON
from stores_data.generate import HEADER, main

# Generous boxes around each city's urban area (GCJ-02), written independently of anchors.py.
CITY_BOXES = {
    "上海": (30.90, 31.45, 121.15, 121.75), "北京": (39.75, 40.10, 116.15, 116.75),
    "杭州": (30.10, 30.40, 119.95, 120.35), "广州": (22.85, 23.30, 113.15, 113.50),
    "深圳": (22.45, 22.80, 113.80, 114.35), "成都": (30.50, 30.75, 103.95, 104.20),
}
NOW = datetime(2026, 11, 23, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday morning


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with OUTLETS_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def regions() -> list[dict]:
    return json.loads(REGIONS_JSON.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def promotions() -> list[dict]:
    return json.loads(PROMOTIONS_JSON.read_text(encoding="utf-8"))


def test_paths_and_reproducible_generator(tmp_path: Path) -> None:
    assert DATA_DIR.is_absolute() and OUTLETS_CSV.parent == DATA_DIR
    assert main(["--check"]) == 0  # the files are exactly what the seeded generator writes
    (tmp_path / "outlets.csv").write_text("code\n", encoding="utf-8")
    assert main(["--check", "--out", str(tmp_path)]) == 1


def test_outlets_header_size_and_cities(rows: list[dict[str, str]]) -> None:
    assert OUTLETS_CSV.read_text(encoding="utf-8").splitlines()[0] == ",".join(HEADER)
    assert 190 <= len(rows) <= 220
    cities = Counter(r["city"] for r in rows)
    assert set(cities) == set(CITY_BOXES) and min(cities.values()) >= 20
    codes = [r["code"] for r in rows]
    assert len(set(codes)) == len(codes) and all(re.fullmatch(r"CX-[A-Z]{2}-\d{3}", c)
                                                 for c in codes)
    assert len({r["name"] for r in rows}) == len(rows)


def test_every_row_imports_cleanly(rows: list[dict[str, str]]) -> None:
    results = list(validate_rows(read_rows(OUTLETS_CSV), {}, "gcj02"))
    assert [r for r in results if not isinstance(r, OutletRecord)] == []
    assert len(results) == len(rows)


def test_coordinates_inside_the_claimed_city(rows: list[dict[str, str]]) -> None:
    for row in rows:
        lat, lng = float(row["lat"]), float(row["lng"])
        south, north, west, east = CITY_BOXES[row["city"]]
        assert south < lat < north and west < lng < east, row["code"]
        assert in_mainland_china(lat, lng), row["code"]
        assert row["address"].startswith(row["city"] + "市" + row["district"]), row["code"]


def test_hours_cells_parse_and_are_canonical(rows: list[dict[str, str]]) -> None:
    kinds = Counter()
    for row in rows:
        week = parse_weekly(row["hours"])
        assert parse_weekly(format_compact(week)) == week, row["code"]
        hours = OpeningHours.compile(week, row["exceptions"] or None, row["timezone"])
        kinds["24/7"] += row["hours"] == "24/7"
        kinds["overnight"] += any(e <= s and e != "24:00" for d in week.values() for s, e in d)
        kinds["exceptions"] += bool(hours.exceptions)
        assert ("24h" in row["tags"].split(";")) == (row["hours"] == "24/7"), row["code"]
    assert kinds["24/7"] >= 5 and kinds["overnight"] >= 5 and kinds["exceptions"] >= 20


def test_statuses(rows: list[dict[str, str]]) -> None:
    status = Counter(r["status"] for r in rows)
    assert status["closed"] >= 3 and status["temporarily_closed"] >= 3
    assert set(status) == {"open", "closed", "temporarily_closed"}
    for row in rows:
        assert bool(row["reopen_on"]) == (row["status"] == "temporarily_closed"), row["code"]
        assert row["timezone"] == "Asia/Shanghai" and row["image_url"] == ""


def test_regions(regions: list[dict], rows: list[dict[str, str]]) -> None:
    codes = [r["code"] for r in regions]
    assert len(codes) == len(set(codes)) >= 4
    assert {r["timezone"] for r in regions} == {"Asia/Shanghai"}
    assert {r["region"] for r in rows} <= set(codes)
    by_region = {r["code"]: set(r["cities"]) for r in regions}
    assert all(row["city"] in by_region[row["region"]] for row in rows)


def test_promotions(promotions: list[dict], regions: list[dict],
                    rows: list[dict[str, str]]) -> None:
    codes = [p["code"] for p in promotions]
    assert len(codes) == len(set(codes)) and all(re.fullmatch(r"[a-z0-9-]+", c) for c in codes)
    outlet_codes, region_codes = {r["code"] for r in rows}, {r["code"] for r in regions}
    for promo in promotions:
        assert promo["scope"] in ("all", "region", "outlets")
        assert (promo["region"] in region_codes) == (promo["scope"] == "region"), promo["code"]
        assert set(promo["outlets"]) <= outlet_codes
        assert bool(promo["outlets"]) == (promo["scope"] == "outlets"), promo["code"]
        assert promo["status"] in ("published", "draft")
        assert len(promo["title"].encode()) <= 64
        if promo["coupon_enabled"]:
            assert promo["coupon_total"] is None or promo["coupon_total"] > 0
            assert promo["coupon_per_customer"] >= 1 and promo["coupon_valid_days"] >= 1
        else:
            assert promo["coupon_total"] is None
    schedules = {p["code"]: parse_schedule(p) for p in promotions}
    live_now = {c for c, s in schedules.items() if s.is_active(NOW, "Asia/Shanghai")}
    assert live_now == {"weekday-breakfast", "new-customer", "east-osmanthus-oolong",
                        "flagship-pour-over"}
    assert not schedules["mid-autumn-2026"].is_active(NOW, "Asia/Shanghai")  # expired
    assert schedules["spring-festival-2027"].valid_from > NOW  # future
    assert [p["code"] for p in promotions if p["status"] == "draft"] == ["summer-cold-brew-draft"]
    assert schedules["weekend-afternoon-tea"].describe() == "周六、周日 14:00–17:00"
    assert schedules["southwest-night-owl"].describe() == "每天 22:00–次日02:00"


def test_demo_imports_into_a_database(session: sa.orm.Session, regions: list[dict],
                                      rows: list[dict[str, str]]) -> None:
    for region in regions:
        session.add(Region(code=region["code"], name=region["name"],
                           timezone=region["timezone"]))
    session.flush()
    records = list(validate_rows(read_rows(OUTLETS_CSV), {}, "gcj02"))
    summary = import_records(session, records)  # type: ignore[arg-type]
    assert (summary.created, summary.updated, summary.unchanged) == (len(records), 0, 0)
    stored = session.scalar(sa.select(Outlet).where(Outlet.code == "CX-SH-001"))
    assert stored is not None and stored.region.code == "EC"
    # WGS-84 in the database: Shanghai's GCJ-02 lies ~200 m south of it.
    assert 0.001 < stored.lat - float(rows[0]["lat"]) < 0.003 and rows[0]["code"] == "CX-SH-001"
