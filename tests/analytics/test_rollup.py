"""Rolling up never changes a number: cells + tail equal raw events, however the runs fall."""

from __future__ import annotations

import gc
import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

import o2o.analytics.rollup
from o2o.analytics.aggregate import CellBuilder, EventRow
from o2o.analytics.funnel import GROUPS, funnel
from o2o.analytics.promotions import promotion_report
from o2o.analytics.rollup import GRAINS, rebuild, roll_up, rolled_up_to
from o2o.analytics.rollup_models import FunnelCell
from o2o.analytics.zones import ZoneBook
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


def test_pieces_end_between_events_and_within_their_cells() -> None:
    at = datetime(2026, 3, 3, tzinfo=UTC)
    # Event 12 is a query that stands for two rows (query + its impression): never split.
    # New cells per event: 11 (a click at outlet 1) 3: region hour, outlet day, outlet
    # hour; 12 4: the query's region hour and the impression's 3; 14 (a click at outlet 2)
    # 2, the region hour's click cell being 11's; 15, the same click again, none; 16 (a
    # redemption at outlet 3) 3, and the 3 of its visit reserved.
    rows = [EventRow(i, at, t, "h", outlet, None, 1)
            for i, t, outlet in ((11, "click", 1), (12, "query", None), (12, "impression", 1),
                                 (14, "click", 2), (15, "click", 2), (16, "redemption", 3))]

    def take(begin: int, limit: int) -> tuple[int, int]:
        builder = CellBuilder(ZoneBook(outlets={}, regions={}), GRAINS)
        return builder.take(rows, begin, limit), len(builder)

    assert take(0, 1) == (1, 3)  # at least one event, even past the limit
    assert take(0, 6) == (1, 3)  # 11 and 12 would make 7
    assert take(0, 7) == take(0, 8) == (3, 7)
    assert take(0, 9) == (5, 9)  # 15 adds nothing: it comes along
    assert take(1, 7) == (5, 7)  # 14's region hour click is new to this piece
    assert take(0, 14) == (5, 9)
    assert take(0, 15) == (6, 15)  # the whole batch: one piece
    assert take(3, 1) == (4, 3)  # past the limit with one event: it ends there


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
        return real_write(s, updates, inserts)

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


def test_later_pieces_merge_into_cells_without_reading_them_again(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A cell written by an earlier piece is merged from memory; the stored cells are read
    only for cells new to the batch, and the numbers still equal the raw events'."""
    regions, lo, hi = random_history(session, seed=3, fold=False)
    real_merged = o2o.analytics.rollup._merged
    remembered: list[int] = []

    def counted(s, built, written):  # type: ignore[no-untyped-def]
        remembered.append(sum(key in written for key in built))
        return real_merged(s, built, written)

    monkeypatch.setattr(o2o.analytics.rollup, "_merged", counted)
    roll_up(session, write_cells=25)
    assert len(remembered) > 5 and remembered[0] == 0 and sum(remembered) > 10
    same_everywhere(session, None, lo, hi)
    same_everywhere(session, frozenset({regions[0].id}), lo, hi)


def test_a_cell_gone_under_the_rollup_undoes_only_that_piece(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """If a cell a piece means to update is no longer stored (a rebuild that came back to
    the same state), that piece writes nothing and the run goes on from the stored cells."""
    regions, lo, hi = random_history(session, seed=5, fold=False)
    top = session.scalar(sa.text("SELECT max(id) FROM events"))
    session.rollback()
    real_write = o2o.analytics.rollup._write_cells
    states: list[int] = []
    lost: list[int] = []  # the call that lost its cell

    def losing_a_cell(s, updates, inserts):  # type: ignore[no-untyped-def]
        states.append(rolled_up_to(s))
        if len(states) > 1 and updates and not lost:
            s.execute(sa.delete(FunnelCell).where(FunnelCell.id == updates[0]["cell_id"]))
            lost.append(len(states) - 1)
        return real_write(s, updates, inserts)

    monkeypatch.setattr(o2o.analytics.rollup, "_write_cells", losing_a_cell)
    assert roll_up(session, write_cells=30).to_id == top == rolled_up_to(session)
    at = lost[0]
    assert 0 < states[at] == states[at + 1] < states[at + 2]  # undone, then done again
    same_everywhere(session, None, lo, hi)  # the deletion went with the undone piece
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


def recorded_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The cells each of the rollup's write transactions writes, from now on."""
    real_write = o2o.analytics.rollup._write_cells
    sizes: list[int] = []

    def counted(s, updates, inserts):  # type: ignore[no-untyped-def]
        sizes.append(len(updates) + len(inserts))
        return real_write(s, updates, inserts)

    monkeypatch.setattr(o2o.analytics.rollup, "_write_cells", counted)
    return sizes


def test_a_batch_with_few_cells_is_written_at_once(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    known_events(session, known_catalog(session))
    session.commit()
    sizes = recorded_writes(monkeypatch)
    assert roll_up(session).events == 18
    assert len(sizes) == 1 and sizes[0] > 10  # one transaction: no cell merged twice
    session.execute(sa.delete(FunnelCell))
    session.execute(sa.text("UPDATE funnel_rollup_state SET max_event_id = 0"))
    session.commit()
    sizes.clear()
    assert roll_up(session, write_cells=4).events == 18
    assert len(sizes) > 3 and max(sizes) <= 6  # 4 cells, or one event's (up to 6)
    same_everywhere(session, None)


def test_by_default_pieces_only_on_sqlite(session, db_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """SQLite's write lock holds up every reply's commit, so its folds write in pieces; on
    PostgreSQL the fold's write holds up no reply and a batch is one transaction."""
    known_events(session, known_catalog(session))
    session.commit()
    sizes = recorded_writes(monkeypatch)
    monkeypatch.setattr(o2o.analytics.rollup, "WRITE_CELLS", 4)
    assert roll_up(session).events == 18
    if db_url.startswith("sqlite"):
        assert len(sizes) > 3 and max(sizes) <= 6
    else:
        assert len(sizes) == 1 and sizes[0] > 10
    same_everywhere(session, None)
