"""Upsert by code: created / updated / unchanged, change feed, dry runs, all or nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa

from o2o.catalog.importer import OutletRecord, read_rows, validate_rows
from o2o.catalog.importer.load import import_records
from o2o.catalog.models import CatalogChange, Outlet
from o2o.errors import ValidationError
from tests.factories import make_region

CSV = (
    "code,name,city,lat,lng,region,tags,hours\n"
    "SH-1,人民广场店,上海,31.2317,121.4726,EC,外卖;堂食,Mo-Su 07:00-22:00\n"
    "SH-2,徐家汇店,上海,31.1950,121.4375,,,24/7\n"
)


def records(tmp_path: Path, text: str = CSV) -> list[OutletRecord]:
    path = tmp_path / "outlets.csv"
    path.write_text(text, encoding="utf-8")
    out = list(validate_rows(read_rows(path), {}, "gcj02"))
    assert all(isinstance(r, OutletRecord) for r in out), out
    return out  # type: ignore[return-value]


def changes(session: sa.orm.Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(CatalogChange)) or 0


def test_create_then_unchanged_then_update(session: sa.orm.Session, tmp_path: Path) -> None:
    region = make_region(session, code="EC", name="华东")
    recs = records(tmp_path)
    first = import_records(session, recs)
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    row = session.scalar(sa.select(Outlet).where(Outlet.code == "SH-1"))
    assert row is not None and row.region_id == region.id and row.tags == ["堂食", "外卖"]
    assert row.lat == recs[0].lat and row.lat > 31.2317  # stored as WGS-84
    assert row.hours["mon"] == [["07:00", "22:00"]] and row.location is not None
    feed = changes(session)
    again = import_records(session, recs)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert changes(session) == feed  # nothing new for the workers
    moved = [dataclasses.replace(recs[0], lat=31.3, name="人民广场旗舰店"), recs[1]]
    third = import_records(session, moved)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    session.refresh(row)
    assert (row.name, row.lat, row.version) == ("人民广场旗舰店", 31.3, 2)
    assert changes(session) == feed + 1


def test_dry_run_counts_and_writes_nothing(session: sa.orm.Session, tmp_path: Path) -> None:
    make_region(session, code="EC", name="华东")
    recs = records(tmp_path)
    import_records(session, recs[:1])
    session.flush()
    before = changes(session)
    changed = [dataclasses.replace(recs[0], phone="021-0000 0000"), recs[1]]
    summary = import_records(session, changed, dry_run=True)
    assert (summary.created, summary.updated, summary.unchanged, summary.dry_run) == \
        (1, 1, 0, True)
    assert session.scalar(sa.select(sa.func.count()).select_from(Outlet)) == 1
    assert session.scalar(sa.select(Outlet.phone)) == ""
    assert changes(session) == before


def test_unknown_region_rejects_the_whole_file(session: sa.orm.Session,
                                               tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown region") as err:
        import_records(session, records(tmp_path))
    assert err.value.details[0]["line"] == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(Outlet)) == 0


def test_duplicate_codes_are_refused(session: sa.orm.Session, tmp_path: Path) -> None:
    make_region(session, code="EC", name="华东")
    recs = records(tmp_path)
    with pytest.raises(ValidationError, match="duplicate") as err:
        import_records(session, [recs[0], dataclasses.replace(recs[1], code="SH-1")])
    assert err.value.details[0] == {"field": "code", "line": 3,
                                    "message": "duplicate code 'SH-1': also on line 2"}
    assert session.scalar(sa.select(sa.func.count()).select_from(Outlet)) == 0


def test_soft_deleted_outlet_comes_back(session: sa.orm.Session, tmp_path: Path) -> None:
    make_region(session, code="EC", name="华东")
    recs = records(tmp_path)
    import_records(session, recs)
    row = session.scalar(sa.select(Outlet).where(Outlet.code == "SH-2"))
    row.deleted_at = sa.func.now()
    session.flush()
    summary = import_records(session, recs)
    assert (summary.updated, summary.unchanged) == (1, 1)
    session.refresh(row)
    assert row.deleted_at is None
