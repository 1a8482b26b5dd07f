"""Group commit: the small writes of many WeChat pushes share one transaction.

Every location push records the customer (first/last seen, coarse position), the query and
its impressions. One transaction per push costs milliseconds of database work, far more than
computing the reply from memory. Here a push queues its rows and gets the `Batch` they will
be committed in; everything queued since the last commit is committed in one transaction,
with one prepared statement per table. The busier the server the larger (and cheaper per
push) the batches. Who commits: on an embedded SQLite file, the event loop itself, between
requests (`o2o.db.loop` says why); on PostgreSQL, and whenever the loop cannot take the
write lock at once, one writer thread.

The reply waits for its batch (durable as before, and a customer's next push sees what the
last one stored), but never longer than the caller's budget: a stalled database costs the
customer nothing. With a journal, the rows of a batch the database refuses as unavailable
are written down locally until it answers again (`o2o.db.outage`), and a reply that waited
out its budget journals its own rows before it is sent (`secure`). Without a journal the
rows stay queued in memory and are tried again with a growing pause. Rows the database
rejects are logged and counted (`o2o_writes_failed_total`), as a failing write always was
(`o2o.db.thread`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.db.batch import Batch, running_loop
from o2o.db.journal import Journal
from o2o.db.loop import LoopCommitter, embedded_file
from o2o.db.ops import Op
from o2o.db.thread import ThreadCommitter
from o2o.metrics import WRITE_BATCH_SIZE, WRITES_FAILED

log = logging.getLogger("o2o.writer")

Work = Callable[[Session], object]

#: How soon the loop tries again to commit when the write lock was taken.
_BUSY_RETRY_S = 0.001


class BatchWriter:
    """Commits what the reply path queues, in batches: on the event loop for an embedded
    SQLite file (`o2o.db.loop`), on one writer thread otherwise and whenever the loop
    cannot. `submit` never touches the database; `close` writes what is left."""

    def __init__(self, sessions: sessionmaker[Session], *, delay_s: float = 0.002,
                 max_batch: int = 1000, max_queue: int = 100_000, on_loop: bool | None = None,
                 busy_patience_s: float = 0.05, name: str = "o2o-writer",
                 journal: Journal | None = None) -> None:
        self.sessions = sessions
        self.engine: sa.Engine = sessions.kw["bind"]
        #: How long the first write of a batch waits for company when the server is busy
        #: (PostgreSQL's commit_delay with commit_siblings). Without it every push would be
        #: a batch of one, each costing a whole transaction; when idle, a push is committed
        #: at once.
        self.delay_s = delay_s
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._cond = threading.Condition()
        self._ops: list[Op] = []
        self._batch = Batch()
        self._writing: Batch | None = None  # taken from the queue, being committed
        self._submits = 0  # pushes queued since the last batch was taken
        self._shared = False  # whether the last batch held more than one push
        self._closing = False
        if on_loop is None:
            on_loop = embedded_file(self.engine)
        #: Commits batches submitted on an event loop, on that loop (None: the thread does).
        self.committer = LoopCommitter(sessions) if on_loop else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ops: list[Op] = []
        self._loop_batch = Batch()
        self._loop_submits = 0
        self._loop_due = False  # a commit is scheduled on the loop
        self._loop_last = 0.0  # monotonic time of the last commit on the loop
        #: Whether waiting for company pays: False once a batch that waited stayed alone
        #: (one client sending back to back), True again when a batch is shared.
        self._loop_wait_pays = True
        self._loop_waited = False  # whether the scheduled commit waits
        #: How long rows wait on the loop for a write lock held elsewhere before the writer
        #: thread takes them over; None while the loop's commits go through.
        self.busy_patience_s = busy_patience_s
        self._loop_busy_since: float | None = None
        self.journal = journal
        #: Commits on the writer thread (and journals, while the database is away).
        self.thread_committer = ThreadCommitter(sessions, journal=journal)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the reply path -------------------------------------------------------------------

    def submit(self, *, customer: dict[str, Any] | None = None,
               events: list[dict[str, Any]] | None = None, work: Work | None = None) -> Batch:
        """Queue a customer upsert (`customers.service.query_values`), event rows
        (`analytics.events.event_row`) and/or any other small unit of work, in this order."""
        ops: list[Op] = []
        if customer is not None:
            ops.append(("customer", customer))
        if events:
            ops.append(("events", events))
        if work is not None:
            ops.append(("work", work))
        loop = running_loop() if self.committer is not None and work is None else None
        with self._cond:
            if self._closing:
                raise RuntimeError("the writer is closed")
            if len(self._ops) + len(self._loop_ops) >= self.max_queue:
                WRITES_FAILED.labels("queue_full").inc(len(ops))
                log.error("write queue full (%d): a push's rows are dropped", self.max_queue)
                return Batch.finished(False)
            if loop is not None:
                return self._queue_on_loop(loop, ops)
            return self._queue(ops)

    def secure(self, ops: list[Op]) -> bool:
        """A reply that waited out its budget: journal its own rows before it is sent (they
        may also be committed meanwhile; the replay skips what is stored). False without a
        journal or when some of them (`work`) cannot be journaled."""
        if self.journal is None:
            return False
        try:
            written = self.journal.append(ops)
        except OSError:
            log.exception("cannot journal a reply's rows; they are held in memory only")
            return False
        with self._cond:
            self._cond.notify()  # the thread replays the journal after its next commit
        return written == len(ops)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything queued so far is committed (tests, shutdown)."""
        with self._cond:
            self._move_loop_ops()
            batch = self._batch if self._ops else self._writing
        return True if batch is None else batch.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        with self._cond:
            self._move_loop_ops()  # the loop may never run its scheduled commit now
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("writer did not finish within %.0f s; unwritten rows are lost", timeout_s)
        else:
            self.thread_committer.close()
        if self.committer is not None:
            self.committer.close()
        if self.journal is not None:
            self.journal.close()  # unlocked: the next start (or another worker) replays it

    # -- on the event loop (under self._cond unless said) ---------------------------------

    def _queue_on_loop(self, loop: asyncio.AbstractEventLoop,
                       ops: list[Op]) -> Batch:
        if loop is not self._loop:  # a new loop (tests): what the old one left goes on
            self._move_loop_ops()
            self._loop, self._loop_due = loop, False
        self._loop_ops.extend(ops)
        self._loop_submits += 1
        if not self._loop_due:
            self._loop_due = True
            # Busy (the last commit was just now): wait a little for company, unless
            # waiting has not been paying.
            self._loop_waited = self._loop_wait_pays and \
                time.monotonic() - self._loop_last < self.delay_s
            if self._loop_waited:
                loop.call_later(self.delay_s, self._commit_on_loop, loop)
            else:
                loop.call_soon(self._commit_on_loop, loop)
        return self._loop_batch

    def _commit_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The scheduled commit (not under the lock). Rows that find the write lock held
        elsewhere are tried again shortly (`_retry_on_loop`); rows that fail, or wait out
        their patience, go to the writer thread (which retries a failing batch one write
        at a time)."""
        assert self.committer is not None
        with self._cond:
            if loop is not self._loop:
                return  # superseded: its rows were moved to the thread
            ops, batch = self._loop_ops, self._loop_batch
            self._loop_ops, self._loop_batch, self._loop_due = [], Batch(), False
            if self._loop_submits > 1:
                self._loop_wait_pays = True
            elif self._loop_waited:
                self._loop_wait_pays = False
            self._loop_submits = 0
        if not ops:
            return
        failed = False
        try:
            committed = self.committer.commit(ops)
        except Exception:
            log.warning("a batch of %d writes failed on the loop; the writer thread retries "
                        "them", len(ops), exc_info=True)
            committed, failed = False, True
        now = self._loop_last = time.monotonic()
        if committed:
            self._loop_busy_since = None
            WRITE_BATCH_SIZE.observe(len(ops))
            batch._finish(True)
            return
        if not failed and self._retry_on_loop(loop, ops, batch, now):
            return
        with self._cond:
            if self._closing:
                batch._finish(False)
                log.error("writer closed: %d writes are lost", len(ops))
                return
            batch.follow(self._queue(ops, submits=0))

    def _retry_on_loop(self, loop: asyncio.AbstractEventLoop, ops: list[Op],
                       batch: Batch, now: float) -> bool:
        """The write lock is held elsewhere (a checkpoint's last step, an admin change):
        keep the rows on the loop and try again shortly, for up to `busy_patience_s`, rather
        than hand them to the thread. False once out of patience (they go to the thread)."""
        if self._loop_busy_since is None:
            self._loop_busy_since = now
        if now - self._loop_busy_since >= self.busy_patience_s:
            return False
        with self._cond:
            if self._closing or loop is not self._loop:
                return False
            self._loop_ops[:0] = ops  # ahead of what was queued since
            batch.follow(self._loop_batch)
            if not self._loop_due:
                self._loop_due, self._loop_waited = True, False
                loop.call_later(_BUSY_RETRY_S, self._commit_on_loop, loop)
        return True

    def _move_loop_ops(self) -> None:
        if self._loop_ops:
            self._loop_batch.follow(self._queue(self._loop_ops, submits=0))
            self._loop_ops, self._loop_batch, self._loop_submits = [], Batch(), 0

    # -- the writer thread's queue (under self._cond) -------------------------------------

    def _queue(self, ops: list[Op], *, submits: int = 1) -> Batch:
        self._ops.extend(ops)
        self._submits += submits
        if len(self._ops) == len(ops) or len(self._ops) >= self.max_batch:
            self._cond.notify()
        return self._batch

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ops and not self._closing and not self._replay_due():
                    self._cond.wait(self.thread_committer.replay_wait())
                if not self._ops and self._closing:
                    break
                # Wait for company only under load (the last batch was shared): a lone push
                # is committed at once. Journaling does not wait.
                deadline = time.monotonic() + (self.delay_s if self._shared else 0.0)
                while self._ops and len(self._ops) < self.max_batch and not self._closing \
                        and not self.thread_committer.down:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                ops, batch = self._ops, self._batch
                if ops:
                    self._ops, self._batch, self._writing = [], Batch(), batch
                    self._shared = self._submits > 1
                    self._submits = 0
            if self._replay_due():
                self.thread_committer.replay()
            if ops:
                WRITE_BATCH_SIZE.observe(len(ops))
                batch._finish(self.thread_committer.write(ops, closing=lambda: self._closing))
        if self.journal is not None and self.journal.dirty and not self.thread_committer.down:
            # rows replies secured while the database was merely slow
            self.thread_committer.replay()

    def _replay_due(self) -> bool:
        return not self._closing and self.thread_committer.replay_due()
