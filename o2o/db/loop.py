"""Commit the reply path's rows on the event loop itself, for an embedded SQLite database.

On SQLite a group commit is a few hundred microseconds of CPU and no network wait (WAL with
synchronous=NORMAL does not fsync on commit). Handing it to a thread cost more than the
commit: a cross-thread wake-up per batch, a cross-thread wake-up of the loop per reply, and
a GIL hand-off per row, because sqlite3 releases the GIL around every step and a busy loop
keeps it for up to the switch interval (5 ms) before giving it back. Under load those
hand-offs, and the automatic checkpoints run inside commits, stretched the slowest batches
to tens of milliseconds (p99 23 ms). Committed on the loop a batch takes only its CPU time
(p99 1.3 ms, measured at 700 pushes/s).

Two rules keep the loop from ever waiting on a lock or on the disk:

- The connection's busy timeout is zero. If another transaction holds the write lock (a
  checkpoint's last step, an admin change), BEGIN fails at once; the loop tries again a
  millisecond later, and after `BatchWriter.busy_patience_s` (an import, a stalled
  writer) hands the batch to the writer thread, which may wait.
- Its automatic checkpoint is off. A checkpoint copies the WAL back into the database file
  and fsyncs it: milliseconds, sometimes tens. The `Checkpointer` thread runs it instead
  after every `checkpoint_every` commits, without blocking the loop's commits; only when
  the WAL has grown past `Checkpointer.restart_pages` does it hold writers off for the
  moment it takes to start the WAL over (see there).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.db.engine import sqlite_in_memory, sqlite_locked
from o2o.db.ops import apply

log = logging.getLogger("o2o.writer")


def embedded_file(engine: sa.Engine) -> bool:
    """Whether `engine` is SQLite on a file (WAL applies; in-memory databases are left to
    the writer thread)."""
    return engine.dialect.name == "sqlite" and not sqlite_in_memory(engine)


class LoopCommitter:
    """A dedicated connection, used by the event loop's thread only."""

    def __init__(self, sessions: sessionmaker[Session], *, checkpoint_every: int = 256) -> None:
        self.sessions = sessions
        self.engine: sa.Engine = sessions.kw["bind"]
        self.checkpointer = Checkpointer(self.engine, every=checkpoint_every)
        self._conn: sa.Connection | None = None

    def commit(self, ops: list[tuple[str, Any]]) -> bool:
        """Commit `ops` in one transaction: True when committed, False when the write lock
        is held elsewhere (nothing was written). Any other failure is raised, rolled back."""
        if any(kind == "work" for kind, _ in ops):  # BatchWriter.submit never queues it here
            raise ValueError("ORM work is committed by the writer thread, not on the loop")
        conn = self._connection()
        # Customer and event rows are written on the DB-API cursor (o2o.db.prepared), so the
        # transaction can be too: SQLAlchemy's begin and commit (an execution context for
        # the BEGIN, events, bookkeeping) cost more than SQLite's own. Counted with
        # cachegrind, a lone push's writes on the loop went from 933k to 826k instructions.
        raw = conn.connection.dbapi_connection
        assert raw is not None
        try:
            raw.execute("BEGIN IMMEDIATE")  # failing at once when locked (busy timeout 0)
        except sqlite3.OperationalError as exc:
            if sqlite_locked(exc):
                return False
            raise
        try:
            apply(conn, ops, self.sessions)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        self.checkpointer.note_commit()
        return True

    def close(self) -> None:
        self.checkpointer.close()
        if self._conn is not None:
            # Closed, not returned: the pool must not hand out its zero busy timeout.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None

    def _connection(self) -> sa.Connection:
        if self._conn is None or self._conn.invalidated:
            conn = self.engine.connect()
            raw = conn.connection.dbapi_connection
            assert raw is not None
            # On the DB-API connection: through SQLAlchemy a PRAGMA would begin a transaction.
            raw.execute("PRAGMA busy_timeout=0")
            raw.execute("PRAGMA wal_autocheckpoint=0")
            # The events' indexes outgrow the default 2 MB cache within minutes of traffic;
            # a page not cached is read back before it can be written.
            raw.execute("PRAGMA cache_size=-32768")
            self._conn = conn
        return self._conn


#: How long a checkpoint's RESTART waits for readers and writers (holding new writers off).
RESTART_PATIENCE_MS = 20
#: WAL pages (4 KiB) past which a checkpoint also starts the WAL over: 128 MiB.
RESTART_PAGES = 32_768


class Checkpointer:
    """Copies the WAL back into the database off the commit path, every `every` commits.

    A PASSIVE checkpoint copies while the loop keeps committing; it never holds writers off.
    But under steady traffic it never catches the WAL still, so the WAL is never started
    over and would grow for ever: a RESTART does that, holding new writers off while it
    copies the last frames and fsyncs the database (16 to 38 ms measured on this machine's
    disk; every reply waiting on a commit meanwhile waits that long). It runs only once the
    WAL holds `restart_pages`: at 350 pushes/s (about 13 WAL pages each, a push's event row
    touches seven indexes) once every ten seconds or so instead of every second, so the
    pause falls on a few replies in ten thousand, not on one in a hundred (the p99).
    """

    def __init__(self, engine: sa.Engine, *, every: int,
                 restart_pages: int = RESTART_PAGES) -> None:
        self.engine = engine
        self.every = every
        self.restart_pages = restart_pages
        self.runs = 0  # checkpoints run (tests, diagnostics)
        self.restarts = 0  # of which the WAL was started over
        self._since = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def note_commit(self) -> None:
        self._since += 1
        if self._since < self.every:
            return
        self._since = 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="o2o-checkpoint",
                                            daemon=True)
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)

    def _connect(self) -> sqlite3.Connection:
        """A connection of its own, outside the pool: its short busy timeout bounds how
        long RESTART may hold writers off while it waits for readers (a long export, say);
        a RESTART that runs out of time gives up and is tried again at the next wake."""
        raw = sqlite3.connect(self.engine.url.database or "", isolation_level=None,
                              check_same_thread=False)
        raw.execute(f"PRAGMA busy_timeout={RESTART_PATIENCE_MS}")
        return raw

    def _run(self) -> None:
        raw: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    if raw is None:
                        raw = self._connect()
                    # Each is one step, run with the GIL released. PASSIVE copies the bulk
                    # while the loop keeps committing; once the WAL is long, RESTART then
                    # copies what those commits added, holding new writers off for that
                    # moment (the loop tries again a millisecond later), so that the next
                    # commit starts the WAL from its beginning. Without it the WAL only
                    # ever grows: a commit restarts it only if nothing was appended since
                    # the last complete checkpoint.
                    cursor = raw.cursor()
                    _busy, wal_pages, _copied = cursor.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if wal_pages >= self.restart_pages:
                        cursor.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                        self.restarts += 1
                    cursor.close()
                    self.runs += 1
                except Exception:  # tried again at the next wake, on a fresh connection
                    log.warning("WAL checkpoint failed", exc_info=True)
                    if raw is not None:
                        with contextlib.suppress(Exception):
                            raw.close()
                    raw = None
        finally:
            if raw is not None:
                raw.close()
