"""The bulk loaders (COPY + one upsert on PostGIS, executemany on SQLite) keep the ORM's
semantics: version and updated_at on change, location in step, JSON compared as values,
exact text, all or nothing, a dry run that counts what the real run does."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.catalog.importer import OutletRecord, load_postgres
from o2o.catalog.importer.load import import_records
from o2o.catalog.models import CatalogChange, Outlet
from o2o.db.engine import transaction
from tests.factories import make_outlet, make_region


def rec(n: int, **kw: object) -> OutletRecord:
    """A valid record as validation would produce it (WGS-84, normalised hours)."""
    kw.setdefault("hours", {d: [["08:00", "20:00"]] for d in
                            ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    kw.setdefault("name", f"门店 {n}")
    return OutletRecord(line=n + 1, code=f"B-{n:05d}",
                        lat=kw.pop("lat", 30 + n * 1e-4), lng=kw.pop("lng", 120 + n * 1e-4),
                        **kw)  # type: ignore[arg-type]


def stored_point(session: Session, code: str) -> tuple[float, float]:
    """(lat, lng) as the spatial column holds them, on either backend."""
    if session.get_bind().dialect.name == "postgresql":
        return tuple(session.execute(sa.text(
            "SELECT ST_Y(location::geometry), ST_X(location::geometry) FROM outlets "
            "WHERE code = :c"), {"c": code}).one())  # type: ignore[return-value]
    ewkt = session.execute(sa.text("SELECT location FROM outlets WHERE code = :c"),
                           {"c": code}).scalar_one()
    lng, lat = re.fullmatch(r"SRID=4326;POINT\((\S+) (\S+)\)", ewkt).groups()  # type: ignore[union-attr]
    return float(lat), float(lng)


def feed(session: Session) -> list[int]:
    return list(session.scalars(sa.select(CatalogChange.entity_id)
                                .where(CatalogChange.entity == "outlet")
                                .order_by(CatalogChange.seq)))


def state(session: Session) -> list[tuple[object, ...]]:
    """Everything an import may touch, for before/after comparisons."""
    rows = session.execute(sa.select(Outlet.code, Outlet.name, Outlet.lat, Outlet.version,
                                     Outlet.deleted_at).order_by(Outlet.code)).all()
    return [tuple(r) for r in rows] + [("feed", *feed(session))]


def test_position_only_change_moves_location_and_bumps_version(session: Session) -> None:
    first = [rec(1), rec(2)]
    import_records(session, first)
    row = session.scalar(sa.select(Outlet).where(Outlet.code == "B-00001"))
    assert row is not None and row.version == 1
    assert stored_point(session, "B-00001") == (first[0].lat, first[0].lng)
    before = (row.updated_at, feed(session))
    moved = [dataclasses.replace(first[0], lat=31.5, lng=121.25), first[1]]
    summary = import_records(session, moved)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
    assert (row.lat, row.lng, row.version) == (31.5, 121.25, 2)  # the session sees it too
    assert row.updated_at > before[0]
    assert stored_point(session, "B-00001") == (31.5, 121.25)
    assert feed(session) == [*before[1], row.id]


def test_failure_midway_leaves_nothing_written(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        import_records(s, [rec(n) for n in range(20)])
    with sessions() as s:
        before = state(s)
    # Renames first (updates run before inserts on SQLite), then 1,200 new outlets of which
    # the last breaks a database rule that validation would have caught.
    records = [dataclasses.replace(rec(n), name="改名") for n in range(20)]
    records += [rec(n) for n in range(20, 1220)]
    records[-1] = dataclasses.replace(records[-1], geofence_radius_m=0)
    with pytest.raises(sa.exc.IntegrityError), transaction(sessions) as s:
        import_records(s, records)
    with sessions() as s:
        assert state(s) == before


def test_dry_run_counts_what_the_real_run_does(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        import_records(s, [rec(n) for n in range(6)])
        s.execute(sa.update(Outlet).where(Outlet.code == "B-00004")
                  .values(deleted_at=sa.func.now()))
    records = [rec(0), dataclasses.replace(rec(1), phone="021-1"),
               dataclasses.replace(rec(2), lat=35.0), dataclasses.replace(rec(3), hours=None),
               rec(4), rec(5), rec(6), rec(7)]
    with transaction(sessions) as s:
        before = state(s)
        dry = import_records(s, records, dry_run=True)
        assert state(s) == before
    with transaction(sessions) as s:
        real = import_records(s, records)
    assert (dry.created, dry.updated, dry.unchanged) == (2, 4, 2)
    assert (real.created, real.updated, real.unchanged, real.dry_run) == (2, 4, 2, False)
    with sessions() as s:
        versions = dict(s.execute(sa.select(Outlet.code, Outlet.version)).all())
        assert versions == {"B-00000": 1, "B-00001": 2, "B-00002": 2, "B-00003": 2,
                            "B-00004": 2, "B-00005": 1, "B-00006": 1, "B-00007": 1}
        assert s.scalar(sa.select(Outlet.deleted_at).where(Outlet.code == "B-00004")) is None
        ids = dict(s.execute(sa.select(Outlet.code, Outlet.id)).all())
        written = ["B-00001", "B-00002", "B-00003", "B-00004", "B-00006", "B-00007"]
        assert sorted(feed(s)[6:]) == sorted(ids[c] for c in written)


def test_json_is_compared_as_values_not_text(session: Session) -> None:
    region = make_region(session, code="EC")
    weekly = rec(0).hours
    assert weekly is not None
    make_outlet(session, code="B-00000", name="门店 0", lat=30.0, lng=120.0, region=region,
                timezone="Asia/Shanghai", city="", hours=dict(reversed(list(weekly.items()))),
                tags=["外卖", "堂食"], exceptions={})  # not in sorted order
    bare = rec(1, hours=None)
    make_outlet(session, code="B-00001", name="门店 1", lat=bare.lat, lng=bare.lng,
                timezone="Asia/Shanghai", city="", hours=None, tags=[])
    same = [rec(0, region="EC", tags=frozenset({"外卖", "堂食"})), bare]
    summary = import_records(session, same)
    assert (summary.updated, summary.unchanged) == (0, 2)
    other = [rec(0, region="EC", tags=frozenset({"外卖"})), bare]
    assert import_records(session, other).updated == 1


def test_text_is_stored_exactly(session: Session) -> None:
    odd = rec(0, address="第一行\n第二行\r\n\tC:\\门店\\N", city="\\N", phone="a\tb",
              tags=frozenset({"a\\b", "制表\t符"}), reopen_on=date(2027, 1, 2),
              exceptions={"2027-01-01": []})
    assert import_records(session, [odd]).created == 1
    row = session.scalar(sa.select(Outlet))
    assert row is not None
    assert (row.address, row.city, row.phone) == (odd.address, odd.city, odd.phone)
    assert sorted(row.tags) == sorted(odd.tags) and row.reopen_on == date(2027, 1, 2)
    assert (row.hours, row.exceptions) == (odd.hours, odd.exceptions)
    assert import_records(session, [odd]).unchanged == 1


def test_imported_rows_read_like_orm_rows(session: Session) -> None:
    make_outlet(session, code="ORM")
    import_records(session, [rec(0)])
    raw = dict(session.execute(sa.text("SELECT code, created_at FROM outlets")).all())
    if isinstance(raw["ORM"], str):  # SQLite stores text: same format, or comparisons break
        pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"
        assert re.fullmatch(pattern, raw["ORM"]) and re.fullmatch(pattern, raw["B-00000"])
    row = session.scalar(sa.select(Outlet).where(Outlet.code == "B-00000"))
    assert row is not None and row.created_at.utcoffset() is not None
    assert row.created_at == row.updated_at and row.deleted_at is None


def test_orm_writes_after_an_import_keep_their_version_check(session: Session) -> None:
    import_records(session, [rec(0)])
    row = session.scalar(sa.select(Outlet))
    assert row is not None and row.version == 1
    import_records(session, [rec(0, name="新名字")])
    assert (row.name, row.version) == ("新名字", 2)
    row.phone = "021-0000"
    session.flush()  # would raise StaleDataError if the session still believed version 1
    assert row.version == 3


def test_many_rows_in_several_chunks(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_postgres, "_COPY_CHUNK", 2000)  # many COPY writes
    records = [rec(n, tags=frozenset({f"t{n % 3}"})) for n in range(1234)]
    first = import_records(session, records)
    assert (first.created, len(feed(session))) == (1234, 1234)
    again = import_records(session, records)
    assert (again.unchanged, len(feed(session))) == (1234, 1234)
    names = session.scalars(sa.select(Outlet.name).order_by(Outlet.id)).all()
    assert names == [r.name for r in records]  # ids follow the file
    assert stored_point(session, "B-01233") == (records[-1].lat, records[-1].lng)


def test_staging_never_touches_a_real_table_of_that_name(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the COPY staging table exists on PostgreSQL only")
    session.execute(sa.text("CREATE TABLE public.o2o_import_stage (note text)"))
    session.execute(sa.text("INSERT INTO public.o2o_import_stage VALUES ('mine')"))
    import_records(session, [rec(0)])
    import_records(session, [rec(0, name="再来")], dry_run=True)
    assert session.scalar(sa.text("SELECT note FROM public.o2o_import_stage")) == "mine"
    session.rollback()
