"""Fold raw events into funnel cells, incrementally and exactly once.

Progress is an event id: every event with id <= `max_event_id` is in the cells, everything
above is the *tail* that queries aggregate on the fly. On PostgreSQL ids can commit out of
order, so the id to stop at is read under a brief SHARE lock on `events`, which waits for
in-flight inserts to finish: no event below it can appear later. On SQLite every write
transaction is already serialised (BEGIN IMMEDIATE) and numbers its rows past the largest
committed id, so a read-only snapshot's largest id is just as stable. One runner at a time
holds the state row.

A batch is read and folded, and merged with the stored cells, in a transaction that only
reads (on SQLite it takes no write lock: the reply path keeps committing meanwhile); only
the writing of the merged cells and of the new state holds the state row (and SQLite's
write lock), and only if the state has not moved since the batch was read: otherwise
another runner (or a rebuild) got there first, and the batch is read again from there.

That write is kept short whatever the batch: a batch whose cells are many is folded and
written in pieces of at most `write_cells` cells (cut between event ids), each in its own
transaction with the state moved to its last id, so every commit is still exactly once and
a query never sees a piece half written. One transaction for a whole batch held SQLite's
lock (and with it every reply's commit) for as long as its cells took to write: 150k pushes
folded at once, 0.4-0.8 s per 100k-id batch (`benchmarks/bench_fold_lock.py`). The price
falls on such backlogs alone, in the background child: a cell hit in several pieces is
merged and written in each (about 3× the fold's CPU there; each piece merges into the
cells earlier pieces wrote from memory, not from the database). On PostgreSQL the write
holds up no reply (they insert events; the fold writes cells and its state row), so a
batch is written in one transaction there unless told otherwise.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.aggregate import CellBuilder, EventRow, event_select, rows_of
from o2o.analytics.cells import Cell, CellKey, decode_keys, encode_keys, union
from o2o.analytics.models import Event
from o2o.analytics.rollup_models import (
    OUTLET_DAY,
    OUTLET_HOUR,
    REGION_HOUR,
    FunnelCell,
    RollupState,
)
from o2o.analytics.zones import ZoneBook
from o2o.db.engine import READ_ONLY
from o2o.db.prepared import prepared

log = logging.getLogger("o2o.analytics")

STATE = "funnel"
GRAINS = (REGION_HOUR, OUTLET_DAY, OUTLET_HOUR)
BATCH_IDS = 100_000
#: The most cells written in one transaction (SQLite's write lock is held meanwhile),
#: unless one event alone adds more; a batch whose cells are fewer is written at once.
#: Small, because the fold runs at nice 10: on a busy core its write of 3,000 cells (~15 ms
#: of CPU) stretched to 100+ ms while replies waited. Pieces are filled up to it (cut by
#: rows they averaged about half of a 1,000 bound): 700 keeps the longest write where
#: that had it (bench_fold_lock).
WRITE_CELLS = 700
LOCK_TIMEOUT = "1s"


@dataclass(frozen=True, slots=True)
class RollupReport:
    """What one run did: the id it reached, events folded, cells written."""

    from_id: int
    to_id: int
    events: int
    cells: int
    busy: bool = False


def rolled_up_to(session: Session) -> int:
    """The id up to which cells are complete (0 when nothing was rolled up)."""
    value = session.scalar(sa.select(RollupState.max_event_id).where(RollupState.name == STATE))
    return int(value or 0)


def stable_max_event_id(session: Session) -> int | None:
    """The largest event id below which nothing can still commit; None when busy. Commits."""
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            session.execute(sa.text("LOCK TABLE events IN SHARE MODE"))
        elif not session.in_transaction():
            # SQLite's writers are serialised and number new rows past the largest id, so
            # no commit can come below what a snapshot sees: no write lock needed to read it.
            session.connection(execution_options={READ_ONLY: True})
        top = int(session.scalar(sa.select(sa.func.max(Event.id))) or 0)
        session.commit()
        return top
    except sa.exc.OperationalError:
        session.rollback()
        log.warning("rollup skipped: events table busy for more than %s", LOCK_TIMEOUT)
        return None


def roll_up(session: Session, *, batch_ids: int = BATCH_IDS, max_batches: int | None = None,
            write_cells: int | None = None) -> RollupReport:
    """Fold every committed event not yet in the cells; commits after each piece. Pieces
    hold at most `write_cells` cells: by default WRITE_CELLS on SQLite, whose write lock
    every reply's commit waits for, and a whole batch on PostgreSQL."""
    if write_cells is None:
        sqlite = session.get_bind().dialect.name == "sqlite"
        write_cells = WRITE_CELLS if sqlite else sys.maxsize
    top = stable_max_event_id(session)
    if top is None:
        start = rolled_up_to(session)
        session.rollback()
        return RollupReport(start, start, 0, 0, busy=True)
    start = done = _lock_state(session).max_event_id
    session.rollback()
    events = cells = batches = 0
    while done < top and (max_batches is None or batches < max_batches):
        # Read the batch in a transaction that only reads: on SQLite it takes no write
        # lock, so the seconds this takes never hold up the reply path's commits.
        session.connection(execution_options={READ_ONLY: True})
        lo = rolled_up_to(session)
        if lo >= top:  # another runner got here first
            session.rollback()
            break
        hi = min(lo + batch_ids, top)
        stmt = event_select().where(Event.id > lo, Event.id <= hi).order_by(Event.id)
        rows = rows_of(session.connection().execute(stmt))
        zones = ZoneBook.load(session)
        session.rollback()
        folded = _fold_batch(session, rows, lo, hi, zones, write_cells)
        events, cells, batches = events + folded.events, cells + folded.cells, batches + 1
        done = max(done, folded.to_id)
    if events:
        log.info("rolled up %d events into %d cells (ids %d..%d)", events, cells, start, done)
    return RollupReport(start, done, events, cells)


def _fold_batch(session: Session, rows: list[EventRow], lo: int, hi: int, zones: ZoneBook,
                write_cells: int) -> RollupReport:
    """Fold a batch's `rows` (ids lo..hi, in id order) in pieces of at most `write_cells`
    cells (or one event's), each written with the state in one transaction: a piece takes events while its
    cells stay within the bound (all of a batch whose cells are few: one write).

    The cells a piece wrote are remembered with their keys for the pieces after it, which
    merge into them without reading and decoding them again: only this runner writes cells
    while the state stays where its last piece left it (checked under the lock by every
    write, which also counts the cells it updated)."""
    first, events, cells, begin = lo, 0, 0, 0
    written: dict[CellKey, tuple[int, int, np.ndarray]] = {}
    while True:
        builder = CellBuilder(zones, GRAINS)
        end = builder.take(rows, begin, write_cells)
        upto = hi if end >= len(rows) else rows[end - 1].id
        session.connection(execution_options={READ_ONLY: True})  # fold and merge: reads
        built = builder.cells(session, rows[begin:end])
        updates, inserts, merged = _merged(session, built, written)
        session.rollback()
        if not _write(session, updates, inserts, lo, upto):  # another runner moved the state
            moved = rolled_up_to(session)
            session.rollback()
            return RollupReport(first, moved, events, cells)
        written.update(merged)
        events, cells = events + end - begin, cells + len(updates) + len(inserts)
        if end >= len(rows):
            return RollupReport(first, upto, events, cells)
        begin, lo = end, upto


def _write(session: Session, updates: list[dict[str, Any]], inserts: list[dict[str, Any]],
           lo: int, hi: int) -> bool:
    """Write merged cells and move the state from `lo` to `hi`, in one transaction; False
    (nothing written, the transaction left open) if the state is no longer at `lo`, or
    rolled back if a cell to update is gone (a rebuild meanwhile)."""
    # A full collection of a batch's objects took 130-180 ms: never with the lock held.
    with _no_collection():
        state = _lock_state(session)
        if state.max_event_id != lo:
            return False
        if _write_cells(session, updates, inserts) != len(updates):
            session.rollback()
            log.warning("rollup piece undone: a cell it updates is gone (a rebuild?)")
            return False
        state.max_event_id = hi
        session.commit()
    return True


@contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic GC held off (only if it was on) for a short write under the lock."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def rebuild(session: Session, *, batch_ids: int = BATCH_IDS) -> RollupReport:
    """Drop every cell and fold the whole log again (after a backfill or a zone change)."""
    state = _lock_state(session)
    session.execute(sa.delete(FunnelCell))
    state.max_event_id = 0
    session.commit()
    return roll_up(session, batch_ids=batch_ids)


def _write_cells(session: Session, updates: list[dict[str, Any]],
                 inserts: list[dict[str, Any]]) -> int:
    """Store a batch's merged cells, straight on the DB-API cursor (`o2o.db.prepared`): this
    runs under the write lock, which on SQLite the reply path's commits wait for, and the
    ORM's bulk statements spent most of that time in Python. Returns how many stored cells
    were updated."""
    conn = session.connection()
    updated = 0
    if updates:
        updated = prepared(conn, "funnel_cells.update", _update_cells_stmt,
                           ("cell_id", "count", "customers")).executemany(conn, updates)
    if inserts:
        prepared(conn, "funnel_cells.insert", lambda: sa.insert(FunnelCell.__table__),
                 _INSERT_COLUMNS).executemany(conn, inserts)
    return updated


_INSERT_COLUMNS = ("grain", "day", "hour", "type", "region_id", "outlet_id", "promotion_id",
                   "count", "customers")


def _update_cells_stmt() -> sa.Update:
    table = FunnelCell.__table__
    return sa.update(table).where(table.c.id == sa.bindparam("cell_id")).values(
        count=sa.bindparam("count"), customers=sa.bindparam("customers"))


def _lock_state(session: Session) -> RollupState:
    # populate_existing: the row may sit in this session from an earlier batch, and another
    # runner may have moved it since; the locked read must win over the cached copy.
    stmt = sa.select(RollupState).where(RollupState.name == STATE).with_for_update() \
        .execution_options(populate_existing=True)
    state = session.scalar(stmt)
    if state is None:
        try:
            with session.begin_nested():
                session.add(RollupState(name=STATE, max_event_id=0))
        except sa.exc.IntegrityError:
            pass  # a concurrent first run created it
        state = session.scalar(stmt)
    assert state is not None
    return state


def _merged(session: Session, built: dict[CellKey, Cell],
            written: dict[CellKey, tuple[int, int, np.ndarray]]
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                       dict[CellKey, tuple[int, int, np.ndarray]]]:
    """The batch's cells added to the stored ones (counts add, customer sets unite), as
    (updates of stored cells, inserts of new ones, the updated cells as (id, count, keys));
    a cell in `written` (stored by an earlier piece of this batch) is taken from there."""
    if not built:
        return [], [], {}
    stored: dict[CellKey, tuple[int, int, np.ndarray]] = {}
    unread = {key for key in built if key not in written}
    cols = (FunnelCell.id, FunnelCell.grain, FunnelCell.day, FunnelCell.hour, FunnelCell.type,
            FunnelCell.region_id, FunnelCell.outlet_id, FunnelCell.promotion_id,
            FunnelCell.count, FunnelCell.customers)
    conn = session.connection()
    for where in _stored_cells_of(unread):
        for row in conn.execute(sa.select(*cols).where(*where)):
            key = CellKey(row[1], row[2], row[3], row[4], row[5], row[6], row[7])
            if key in unread:
                stored[key] = (row[0], row[8], decode_keys(row[9]))
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    merged: dict[CellKey, tuple[int, int, np.ndarray]] = {}
    for key, cell in built.items():
        keys = cell.keys()
        before = written.get(key) or stored.get(key)
        if before is not None:
            cid, count, old = before
            count, united = count + cell.count, union(old, keys)
            merged[key] = (cid, count, united)
            updates.append({"cell_id": cid, "count": count, "customers": encode_keys(united)})
        else:
            inserts.append({"grain": key.grain, "day": key.day, "hour": key.hour,
                            "type": key.type, "region_id": key.region_id,
                            "outlet_id": key.outlet_id, "promotion_id": key.promotion_id,
                            "count": cell.count, "customers": encode_keys(keys)})
    return updates, inserts, merged


def _stored_cells_of(keys: Iterable[CellKey]) -> Iterator[tuple[sa.ColumnElement[bool], ...]]:
    """Conditions that together select (a few more than) the stored cells of `keys`, on the
    (grain, region|outlet, day) indexes: a piece's cells, not every cell of its days."""
    groups: dict[tuple[str, Any], set[int]] = {}
    for key in keys:
        owner = key.region_id if key.grain == REGION_HOUR else key.outlet_id
        groups.setdefault((key.grain, key.day), set()).add(owner)
    for (grain, day), owners in groups.items():
        column = FunnelCell.region_id if grain == REGION_HOUR else FunnelCell.outlet_id
        ordered = sorted(owners)
        for start in range(0, len(ordered), 500):
            yield (FunnelCell.grain == grain, FunnelCell.day == day,
                   column.in_(ordered[start:start + 500]))
