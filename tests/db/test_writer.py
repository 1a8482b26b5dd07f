"""Group commit: pushes share transactions, nothing queued is lost, one bad write stays alone,
and waiting for a batch never outlasts the caller's budget."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.analytics.events import event_row
from o2o.analytics.models import Event
from o2o.customers.models import Customer
from o2o.customers.service import query_values
from o2o.db.batch import Batch
from o2o.db.engine import make_engine, make_sessionmaker, unavailable
from o2o.db.writer import BatchWriter
from o2o.metrics import WRITES_FAILED
from tests.factories_loop import NOW, a_customer, stall


def _push(who: str, n: int, *, lat: float = 31.2304, lng: float = 121.4737,
          minutes: int = 0) -> dict[str, Any]:
    at = NOW + timedelta(minutes=minutes)
    return {"customer": query_values(customer_hash=who, now=at, lat=lat, lng=lng, ttl_s=3600),
            "events": [event_row(type="query", customer_hash=who, query_id=f"q{n}", lat=lat,
                                 lng=lng, at=at, dedup_key=f"query:q{n}")]}


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


@pytest.fixture
def writer(sessions: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    w = BatchWriter(sessions, delay_s=0.01)
    yield w
    w.close()


def test_pushes_from_many_threads_share_commits_and_all_land(
        writer: BatchWriter, sessions: sessionmaker[Session]) -> None:
    batches: list[Batch] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(25):
            batch = writer.submit(**_push(a_customer(t * 100 + i), t * 100 + i))
            with lock:
                batches.append(batch)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.flush(30)
    assert all(b.wait(0) for b in batches)
    assert _count(sessions, Customer) == 200 and _count(sessions, Event) == 200
    assert len({id(b) for b in batches}) < 100  # 200 pushes, far fewer transactions


def test_one_customer_twice_in_a_batch_is_one_row_with_the_latest_position(
        sessions: sessionmaker[Session]) -> None:
    # Pushes queued while the writer is busy share the next statement: PostgreSQL refuses
    # an upsert that touches a row twice, so the writer must merge them.
    writer = BatchWriter(sessions, delay_s=0.2)
    release = stall(writer)
    try:
        who = a_customer()
        first = writer.submit(**_push(who, 1, lat=31.0, lng=121.0))
        second = writer.submit(**_push(who, 2, lat=39.9, lng=116.4, minutes=5))
        release.set()
        assert first is second and second.wait(10)
    finally:
        release.set()
        writer.close()
    with sessions() as session:
        row = session.scalars(sa.select(Customer)).one()
    assert row.first_seen_at == NOW and row.last_seen_at == NOW + timedelta(minutes=5)
    assert round(row.last_lat, 1) == 39.9 and round(row.last_lng, 1) == 116.4


def test_an_older_push_written_late_does_not_move_last_seen_back(
        writer: BatchWriter, sessions: sessionmaker[Session]) -> None:
    who = a_customer()
    assert writer.submit(**_push(who, 1, minutes=10)).wait(10)
    assert writer.submit(**_push(who, 2, minutes=0)).wait(10)
    with sessions() as session:
        assert session.scalars(sa.select(Customer)).one().last_seen_at == \
            NOW + timedelta(minutes=10)


def test_a_bad_write_is_dropped_alone_and_counted(
        writer: BatchWriter, sessions: sessionmaker[Session]) -> None:
    def broken(session: Session) -> None:
        session.execute(sa.text("INSERT INTO no_such_table VALUES (1)"))

    before = WRITES_FAILED.labels("work")._value.get()
    release = stall(writer)  # the next three share a batch
    good = writer.submit(**_push(a_customer(1), 1))
    bad = writer.submit(work=broken)
    also_good = writer.submit(**_push(a_customer(2), 2))
    release.set()
    assert good is bad is also_good
    assert bad.wait(10) is False  # the batch says not everything was written
    assert WRITES_FAILED.labels("work")._value.get() == before + 1
    assert _count(sessions, Customer) == 2 and _count(sessions, Event) == 2


def test_retried_events_are_kept_once(writer: BatchWriter,
                                      sessions: sessionmaker[Session]) -> None:
    who = a_customer()
    assert writer.submit(**_push(who, 7)).wait(10)
    assert writer.submit(**_push(who, 7)).wait(10)  # the same dedup key again
    assert _count(sessions, Event) == 1


def test_close_writes_what_is_queued_then_refuses_more(sessions: sessionmaker[Session]) -> None:
    writer = BatchWriter(sessions, delay_s=5.0)  # under load, a batch waits 5 s for company
    release = stall(writer)
    writer.submit(**_push(a_customer(), 1))
    writer.submit(**_push(a_customer(), 2))  # the last batch was shared: the next waits
    release.set()
    assert writer.flush(10)
    batch = writer.submit(**_push(a_customer(), 3))
    started = time.monotonic()
    writer.close()
    assert time.monotonic() - started < 4.0
    assert batch.done and batch.ok and _count(sessions, Event) == 3
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(**_push(a_customer(), 4))


def test_async_waiters_wake_when_their_batch_commits(
        writer: BatchWriter, sessions: sessionmaker[Session]) -> None:
    async def main() -> list[bool]:
        batches = [writer.submit(**_push(a_customer(i), i)) for i in range(20)]
        return await asyncio.gather(*(b.wait_async(10) for b in batches))

    assert asyncio.run(main()) == [True] * 20
    assert _count(sessions, Event) == 20


def test_a_stalled_database_costs_the_waiter_only_its_budget(
        writer: BatchWriter, sessions: sessionmaker[Session]) -> None:
    release = stall(writer)  # the database hangs

    async def main() -> tuple[bool, float]:
        batch = writer.submit(**_push(a_customer(), 1))
        started = time.monotonic()
        ok = await batch.wait_async(0.1)
        return ok, time.monotonic() - started

    ok, waited = asyncio.run(main())
    assert ok is False and waited < 2.0
    release.set()
    assert writer.flush(10) and _count(sessions, Event) == 1  # written after the stall


def test_a_full_queue_drops_new_writes_with_a_finished_failed_batch(
        sessions: sessionmaker[Session]) -> None:
    writer = BatchWriter(sessions, delay_s=0, max_queue=2)
    release = stall(writer)
    try:
        writer.submit(**_push(a_customer(1), 1))  # two ops: the queue is now full
        before = WRITES_FAILED.labels("queue_full")._value.get()
        dropped = writer.submit(**_push(a_customer(2), 2))
        assert dropped.done and dropped.ok is False
        assert WRITES_FAILED.labels("queue_full")._value.get() == before + 2
    finally:
        release.set()
        writer.close()
    assert _count(sessions, Event) == 1


def test_only_an_unavailable_database_makes_rows_wait(sessions: sessionmaker[Session]) -> None:
    engine: sa.Engine = sessions.kw["bind"]
    # Bad rows (a missing table, a duplicate key) are tried one by one and dropped.
    with pytest.raises(sa.exc.SQLAlchemyError) as missing, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO no_such_table VALUES (1)"))
    assert not unavailable(missing.value)
    with pytest.raises(sa.exc.SQLAlchemyError) as duplicate, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO regions (id, code, name, timezone, created_at, "
                             "updated_at) VALUES (1, 'a', 'A', 'UTC', CURRENT_TIMESTAMP, "
                             "CURRENT_TIMESTAMP), (1, 'b', 'B', 'UTC', CURRENT_TIMESTAMP, "
                             "CURRENT_TIMESTAMP)"))
    assert not unavailable(duplicate.value)
    if engine.dialect.name == "postgresql":
        gone = make_engine("postgresql+psycopg://o2o@127.0.0.1:1/o2o",
                           connect_args={"connect_timeout": 2})
        with pytest.raises(sa.exc.OperationalError) as refused:
            gone.connect()
        gone.dispose()
    else:
        holder = engine.connect()
        holder.begin()
        try:
            with engine.connect() as conn:
                conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")
                with pytest.raises(sa.exc.OperationalError) as refused:
                    conn.begin()
        finally:
            holder.rollback()
            holder.close()
    assert unavailable(refused.value)


def test_a_full_disk_under_sqlite_is_unavailable_not_bad_rows(tmp_path: Any) -> None:
    """SQLite's "database or disk is full" (SQLITE_FULL) passes when space is freed: the rows
    must wait (journaled), not be dropped as if they were bad. The limit here is SQLite's own
    max_page_count, which raises the same error a full filesystem does."""
    engine = make_engine(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (v TEXT)"))
        with pytest.raises(sa.exc.OperationalError) as full, engine.begin() as conn:
            pages = conn.execute(sa.text("PRAGMA page_count")).scalar_one()
            conn.execute(sa.text(f"PRAGMA max_page_count = {pages}"))
            conn.execute(sa.text("INSERT INTO t VALUES (:v)"), {"v": "x" * 100_000})
        assert "full" in str(full.value)
        assert unavailable(full.value)
    finally:
        engine.dispose()


def test_errors_straight_from_the_driver_are_classified_too(
        sessions: sessionmaker[Session]) -> None:
    """The reply path's rows go through the DB-API cursor (o2o.db.prepared): a connection lost
    there raises the driver's own OperationalError, which must make the rows wait (journal),
    not be dropped as bad."""
    engine: sa.Engine = sessions.kw["bind"]
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        with pytest.raises(Exception) as missing:
            cursor.execute("INSERT INTO no_such_table VALUES (1)")
        cursor.close()
    assert not unavailable(missing.value)
    if engine.dialect.name == "postgresql":
        import psycopg

        with pytest.raises(psycopg.OperationalError) as lost:
            psycopg.connect("host=127.0.0.1 port=1 dbname=o2o user=o2o connect_timeout=2")
    else:
        import sqlite3

        holder = engine.connect()
        holder.begin()
        try:
            with engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                raw.execute("PRAGMA busy_timeout=0")
                with pytest.raises(sqlite3.OperationalError) as lost:
                    raw.execute("BEGIN IMMEDIATE")
        finally:
            holder.rollback()
            holder.close()
    assert unavailable(lost.value)


def test_a_writer_connection_killed_between_batches_loses_nothing(
        postgis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """On PostgreSQL the writer thread holds one connection. The server ending it (a restart,
    an idle timeout, an operator) must cost a reconnect: the next batch commits at once, no
    rows dropped, none left waiting for a database that is up."""
    engine = make_engine(postgis_url)
    sessions = make_sessionmaker(engine)
    writer = BatchWriter(sessions, delay_s=0.0)
    try:
        assert writer.submit(**_push(a_customer(1), 1)).wait(10)
        held = writer.thread_committer._dedicated
        assert held is not None and held._conn is not None
        pid = held._conn.connection.dbapi_connection.info.backend_pid
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                                {"pid": pid}).scalar_one()
        before = WRITES_FAILED.labels("customer")._value.get()
        with caplog.at_level(logging.WARNING, logger="o2o.writer"):
            assert writer.submit(**_push(a_customer(2), 2)).wait(10)
            assert writer.submit(**_push(a_customer(3), 3)).wait(10)
        assert WRITES_FAILED.labels("customer")._value.get() == before
        assert [r.getMessage() for r in caplog.records if r.name == "o2o.writer"] == []
        assert _count(sessions, Event) == 3
        assert _count(sessions, Customer) == 3
    finally:
        writer.close()
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE events, customers RESTART IDENTITY CASCADE"))
        engine.dispose()


def test_closing_the_writer_returns_its_connection(sessions: sessionmaker[Session]) -> None:
    engine: sa.Engine = sessions.kw["bind"]
    writer = BatchWriter(sessions, delay_s=0.0)
    assert writer.submit(**_push(a_customer(1), 1)).wait(10)
    writer.close()
    assert engine.pool.checkedout() == 0
