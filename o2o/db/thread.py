"""Commit the reply path's rows on the writer thread: together, or one by one when refused.

The writer thread commits what the event loop does not (`o2o.db.loop`): every batch on
PostgreSQL or an in-memory SQLite, and what the loop handed over. A batch is one Core
transaction; when the database refuses it, its writes are committed one by one and only
the bad ones are dropped (logged, counted in `o2o_writes_failed_total`). When the database
is unavailable instead, the batch goes to the journal (`o2o.db.outage`) or, without one,
waits and is tried again with a growing pause.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.db.engine import unavailable
from o2o.db.journal import Journal
from o2o.db.ops import Op, apply
from o2o.db.outage import FIRST_PAUSE_S, MAX_PAUSE_S, Outage
from o2o.metrics import WRITES_FAILED

log = logging.getLogger("o2o.writer")


class ThreadCommitter:
    """The writer thread's commits; used by that thread only."""

    def __init__(self, sessions: sessionmaker[Session], *, journal: Journal | None) -> None:
        self.sessions = sessions
        self.engine: sa.Engine = sessions.kw["bind"]
        #: The journal's side of the thread (None without a journal).
        self.outage = Outage(journal) if journal is not None else None
        #: PostgreSQL: one connection held by the thread, each batch pipelined on it.
        self._dedicated = Pipelined(sessions) if self.engine.dialect.name == "postgresql" \
            else None

    @property
    def down(self) -> bool:
        """Whether batches go to the journal (until a replay of it goes through)."""
        return self.outage is not None and self.outage.down

    def replay_due(self) -> bool:
        return self.outage is not None and self.outage.replay_due()

    def replay_wait(self) -> float | None:
        return None if self.outage is None else self.outage.replay_wait()

    def replay(self) -> None:
        assert self.outage is not None
        self.outage.replay(self.commit_or_drop)

    def write(self, ops: list[Op], *, closing: Callable[[], bool]) -> bool:
        """Commit `ops`, journal them, or wait for the database (until `closing()`); True
        when every one of them is committed or safe in the journal."""
        if self.outage is not None and self.outage.down:  # behind what is journaled already
            return self.outage.write_down(ops)
        pause = FIRST_PAUSE_S
        while True:
            try:
                self.commit(ops)
                return True
            except Exception as exc:
                # Unavailable (locked past the busy timeout, the server gone): nothing is
                # wrong with the rows. With a journal they are written down and the database
                # is tried again later; without, they wait, and what is queued meanwhile
                # waits behind them (bounded by max_queue). When closing, they are given up.
                if unavailable(exc) and self.outage is not None:
                    log.warning("database unavailable (%s); journaling", type(exc).__name__)
                    self.outage.went_down()
                    return self.outage.write_down(ops)
                if not unavailable(exc) or closing():
                    log.warning("a batch of %d writes failed; writing them one by one",
                                len(ops), exc_info=True)
                    break
                log.warning("database unavailable (%s); %d writes wait %.1f s and are tried "
                            "again", type(exc).__name__, len(ops), pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)
        return self.one_by_one(ops)

    def commit_or_drop(self, ops: list[Op]) -> None:
        """Commit `ops` together; raise if the database is unavailable; when it refuses
        them, write them one by one, dropping (logged, counted) only the bad ones."""
        try:
            self.commit(ops)
        except Exception as exc:
            if unavailable(exc):
                raise
            log.warning("a batch of %d writes failed; writing them one by one", len(ops),
                        exc_info=True)
            self.one_by_one(ops)

    def one_by_one(self, ops: list[Op]) -> bool:
        ok = True
        for op in ops:  # one bad write must not take the others with it
            try:
                self.commit([op])
            except Exception:
                ok = False
                WRITES_FAILED.labels(op[0]).inc()
                log.exception("write dropped (%s)", op[0])
        return ok

    def commit(self, ops: list[Op]) -> None:
        # A Core transaction: the ORM session's bookkeeping would cost more than the rows.
        if self._dedicated is None:
            with self.engine.begin() as conn:
                apply(conn, ops, self.sessions)
            return
        try:
            self._dedicated.commit(ops)
        except Exception as exc:
            if not unavailable(exc):
                raise
            # The held connection may simply have been dead (the server restarted since the
            # last batch); the failed commit dropped it, so this one opens a fresh one: what
            # the pool's pre-ping did per batch, done once per failure.
            self._dedicated.commit(ops)

    def close(self) -> None:
        """Let go of the held connection (after the writer thread stopped)."""
        if self._dedicated is not None:
            self._dedicated.drop()


class Pipelined:
    """A batch on PostgreSQL in two round trips: its statements pipelined, then COMMIT.

    Through the pool, a batch of one push cost a checkout with its pre-ping, BEGIN, a sync
    per statement and COMMIT: measured 908 µs and 421 µs of the worker's CPU per commit.
    Here the connection stays checked out (dropped on any failure, opened again on the next
    batch), and customer rows and events go out in one pipeline. Batches with ORM `work`
    run on the same connection, unpipelined (the ORM reads back what it inserts)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.engine: sa.Engine = sessions.kw["bind"]
        self._conn: sa.Connection | None = None

    def commit(self, ops: list[Op]) -> None:
        if self._conn is None or self._conn.invalidated:
            self._conn = self.engine.connect()
        conn = self._conn
        try:
            with conn.begin():
                if any(kind == "work" for kind, _ in ops):
                    apply(conn, ops, self.sessions)
                else:
                    with conn.connection.dbapi_connection.pipeline():  # type: ignore[union-attr]
                        apply(conn, ops, self.sessions)
        except Exception:
            self.drop()  # the next batch starts on a known-good connection
            raise

    def drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing a broken writer connection", exc_info=True)
