"""Rolling up never changes a number: cells + tail equal raw events, however the runs fall."""

from __future__ import annotations

import gc
import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

import o2o.analytics.rollup
from o2o.analytics.aggregate import EventRow
from o2o.analytics.funnel import GROUPS, funnel
from o2o.analytics.promotions import promotion_report
from o2o.analytics.rollup import _cut, rebuild, roll_up, rolled_up_to
from o2o.analytics.rollup_models import FunnelCell
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_events import FROM, TO, event, known_catalog, known_events, utc


def same_everywhere(session, scope, date_from=FROM, date_to=TO, outlet_id=None) -> None:  # type: ignore[no-untyped-def]
    """Every grouping of the funnel and the promotions view: stored path == raw path."""
    for group_by in GROUPS:
        if outlet_id is not None and group_by == "region":
            continue
        kw = dict(scope=scope, date_from=date_from, date_to=date_to, group_by=group_by,
                  outlet_id=outlet_id)
        fast, raw = funnel(session, **kw), funnel(session, raw=True, **kw)  # type: ignore[arg-type]
        session.rollback()
        assert fast.as_dict() == raw.as_dict(), group_by
    kw = dict(scope=scope, date_from=date_from, date_to=date_to)
    assert promotion_report(session, **kw).as_dict() == \
        promotion_report(session, raw=True, **kw).as_dict()  # type: ignore[arg-type]
    session.rollback()


def test_rollup_after_every_event_keeps_every_number(session) -> None:
    h = known_catalog(session)
    session.commit()
    expected = None
    for n in range(1, 19):
        known_events(session, h, start=n, upto=n)
        if n % 3 == 0 or n in (6, 7):  # a redemption rolled up, its same-day visit in the tail
            roll_up(session, batch_ids=2)
        if n == 18:
            expected = funnel(session, scope=frozenset({h.r1.id}), date_from=FROM,
                              date_to=TO, raw=True).total.counts
    assert rolled_up_to(session) == 18
    same_everywhere(session, None)
    same_everywhere(session, frozenset({h.r1.id}))
    same_everywhere(session, None, outlet_id=h.a.id)
    total = funnel(session, scope=frozenset({h.r1.id}), date_from=FROM, date_to=TO).total
    assert total.counts == expected
    assert total.counts["visit"] == 3


def test_late_event_counts_once_before_and_after_its_rollup(session) -> None:
    h = known_catalog(session)
    session.commit()
    known_events(session, h)
    roll_up(session)
    scope = frozenset({h.r1.id})
    before = funnel(session, scope=scope, date_from=FROM, date_to=TO).total.counts["click"]
    event(session, "click", utc("03-03 02:00"), customer="c2", outlet=h.a)  # arrives late
    session.commit()
    in_tail = funnel(session, scope=scope, date_from=FROM, date_to=TO).total.counts["click"]
    roll_up(session)
    folded = funnel(session, scope=scope, date_from=FROM, date_to=TO).total.counts["click"]
    assert (before, in_tail, folded) == (1, 2, 2)
    assert roll_up(session).events == 0  # nothing left to fold: it is not counted twice


def test_rebuild_gives_the_same_cells(session) -> None:
    h = known_catalog(session)
    session.commit()
    known_events(session, h)
    roll_up(session, batch_ids=5)
    cols = (FunnelCell.grain, FunnelCell.day, FunnelCell.hour, FunnelCell.type,
            FunnelCell.region_id, FunnelCell.outlet_id, FunnelCell.promotion_id,
            FunnelCell.count, FunnelCell.customers)
    first = sorted(session.execute(sa.select(*cols)).all())
    session.rollback()
    report = rebuild(session)
    assert report.events == 18
    assert sorted(session.execute(sa.select(*cols)).all()) == first
    assert len(first) > 10


def random_history(session, seed: int, *, fold: bool = True) -> tuple[list, date, date]:  # type: ignore[no-untyped-def]
    """A few hundred random events around a DST change (New York, 2025-03-09) and Shanghai,
    folded now and then (`fold`) in random batches and pieces."""
    rnd = random.Random(seed)
    ny = make_region(session, name="纽约", timezone="America/New_York")
    sh = make_region(session, name="上海", timezone="Asia/Shanghai")
    outlets = [make_outlet(session, region=ny, timezone="America/New_York", lat=40.7, lng=-74.0),
               make_outlet(session, region=ny, timezone="America/New_York", lat=40.8, lng=-73.9),
               make_outlet(session, region=sh), make_outlet(session, region=sh, lat=31.3)]
    promos = [make_promotion(session), make_promotion(session)]
    session.commit()
    start = datetime(2025, 3, 7, tzinfo=UTC)
    for _ in range(400):
        at = start + timedelta(minutes=rnd.randrange(4 * 24 * 60))
        outlet = rnd.choice(outlets)
        kind = rnd.choice(["query", "impression", "impression", "click", "claim", "redemption",
                           "visit", "visit", "subscribe"])
        who = rnd.choice(["u1", "u2", "u3", "u4", "u5", None])
        if kind in ("query", "subscribe"):
            event(session, kind, at, customer=who,
                  region=rnd.choice([ny, sh, None]) if kind == "query" else None)
        else:
            event(session, kind, at, customer=who, outlet=outlet,
                  promotion=rnd.choice([None, *promos]))
        if fold and rnd.random() < 0.05:
            session.commit()
            roll_up(session, batch_ids=rnd.randrange(1, 60), write_cells=rnd.randrange(1, 40))
    session.commit()
    return [ny, sh], date(2025, 3, 7), date(2025, 3, 10)


def test_random_histories_across_dst_agree_with_raw(session) -> None:
    regions, lo, hi = random_history(session, seed=7)
    same_everywhere(session, None, lo, hi)
    same_everywhere(session, frozenset({regions[0].id}), lo, hi)
    same_everywhere(session, None, date(2025, 3, 9), date(2025, 3, 9))
    roll_up(session)
    same_everywhere(session, None, lo, hi)
    assert funnel(session, scope=None, date_from=lo, date_to=hi).total.counts["query"] > 20


def test_concurrent_rollups_fold_each_event_once(session, sessions) -> None:
    regions, lo, hi = random_history(session, seed=11)
    raw = funnel(session, scope=None, date_from=lo, date_to=hi, group_by="day", raw=True)
    session.rollback()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with sessions() as own:
                roll_up(own, batch_ids=7)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    fast = funnel(session, scope=None, date_from=lo, date_to=hi, group_by="day")
    assert fast.as_dict() == raw.as_dict()
    assert rolled_up_to(session) == session.scalar(sa.text("SELECT max(id) FROM events"))


def test_folding_a_batch_takes_no_write_lock_until_it_merges(session, db_url) -> None:
    """The reply path commits while a batch is read and folded (seconds at busy hours): on
    SQLite only the short merge holds the write lock. Checked from inside the rollup: as
    it reads the largest event id and then the batch's events, another connection must be
    able to write at once."""
    if not db_url.startswith("sqlite"):
        return  # PostgreSQL's inserts never wait on the rollup's row lock
    import sqlite3

    from sqlalchemy import event as sa_event

    known_events(session, known_catalog(session), start=1, upto=18)
    session.commit()
    engine = session.get_bind()
    writes: list[str] = []

    def while_reading(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "FROM events" not in statement:
            return
        other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once if the write lock is held
            other.execute("UPDATE funnel_rollup_state SET name = name")
            other.execute("ROLLBACK")
            writes.append("ok")
        except sqlite3.OperationalError as exc:
            writes.append(str(exc))
        finally:
            other.close()

    sa_event.listen(engine, "before_cursor_execute", while_reading)
    try:
        report = roll_up(session)
    finally:
        sa_event.remove(engine, "before_cursor_execute", while_reading)
    assert report.events == 18
    assert len(writes) >= 2 and set(writes) == {"ok"}, writes


def test_pieces_end_between_events() -> None:
    at = datetime(2026, 3, 3, tzinfo=UTC)
    # Event 12 is a query that stands for two rows (query + its impression): never split.
    rows = [EventRow(i, at, t, "h", 1, None, 1)
            for i, t in ((11, "click"), (12, "query"), (12, "impression"), (14, "click"))]
    assert [_cut(rows, 0, n) for n in (1, 2, 3, 4, 9)] == [1, 3, 3, 4, 4]
    assert [_cut(rows, 1, n) for n in (1, 2, 3)] == [3, 3, 4]
    assert _cut(rows, 0, 0) == 1  # a piece has at least one event


def test_a_batch_is_written_piece_by_piece_each_exactly_once(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each piece moves the state with its cells in one commit; a failure in the middle of
    a batch leaves the pieces before it folded and nothing of its own, and the next run
    takes over from there: every number still equals the raw events'."""
    regions, lo, hi = random_history(session, seed=5, fold=False)
    top = session.scalar(sa.text("SELECT max(id) FROM events"))
    session.rollback()
    real_write = o2o.analytics.rollup._write_cells
    states: list[int] = []

    def failing_third(s, updates, inserts):  # type: ignore[no-untyped-def]
        states.append(rolled_up_to(s))
        assert not gc.isenabled()  # no full collection while the write lock is held
        if len(states) == 3:
            raise RuntimeError("disk full")
        real_write(s, updates, inserts)

    monkeypatch.setattr(o2o.analytics.rollup, "_write_cells", failing_third)
    with pytest.raises(RuntimeError, match="disk full"):
        roll_up(session, write_cells=30)
    session.rollback()
    assert gc.isenabled()
    assert states[0] == 0 < states[1] < states[2] < top  # two pieces committed, in order
    assert rolled_up_to(session) == states[2]
    same_everywhere(session, None, lo, hi)  # half a batch folded: cells + tail still exact
    monkeypatch.setattr(o2o.analytics.rollup, "_write_cells", real_write)
    report = roll_up(session, write_cells=30)
    assert (report.from_id, report.to_id) == (states[2], top)
    same_everywhere(session, None, lo, hi)
    same_everywhere(session, frozenset({regions[1].id}), lo, hi)


def test_the_collector_stays_off_if_it_was_off(session) -> None:
    known_events(session, known_catalog(session))
    session.commit()
    gc.disable()
    try:
        assert roll_up(session, write_cells=3).events == 18
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_batch_with_few_cells_is_written_at_once(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    known_events(session, known_catalog(session))
    session.commit()
    real_write = o2o.analytics.rollup._write_cells
    sizes: list[int] = []

    def counted(s, updates, inserts):  # type: ignore[no-untyped-def]
        sizes.append(len(updates) + len(inserts))
        real_write(s, updates, inserts)

    monkeypatch.setattr(o2o.analytics.rollup, "_write_cells", counted)
    assert roll_up(session).events == 18
    assert len(sizes) == 1 and sizes[0] > 10  # one transaction: no cell merged twice
    session.execute(sa.delete(FunnelCell))
    session.execute(sa.text("UPDATE funnel_rollup_state SET max_event_id = 0"))
    session.commit()
    sizes.clear()
    assert roll_up(session, write_cells=4).events == 18
    assert len(sizes) > 3 and max(sizes) <= 6  # 4 cells, or one event's (up to 6)
    same_everywhere(session, None)
