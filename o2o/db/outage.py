"""The writer thread while the database is away: batches go to the journal, and back.

A batch the database refuses as unavailable (`engine.unavailable`: SQLite locked past its
busy timeout or its disk full, PostgreSQL unreachable) is written down in the journal
(`o2o.db.journal`) and counts as done, as do the batches that follow, until a replay of the
journal goes through; the replay is tried with a growing pause. `work` the journal cannot
hold (a callable) waits in memory and is committed after the replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from o2o.db.engine import unavailable
from o2o.db.journal import Journal
from o2o.db.ops import Op

log = logging.getLogger("o2o.writer")

#: How long the writer thread waits before trying an unavailable database again (doubling).
FIRST_PAUSE_S, MAX_PAUSE_S = 0.05, 5.0


class Outage:
    """Whether the database is away, when to try it again, and what waits for it; used by
    the writer thread only."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        #: The database refused a batch as unavailable: batches go to the journal until a
        #: replay of it goes through (at `_replay_at`, then after a growing pause).
        self.down = journal.pending()  # leftovers: replay first
        self._replay_at = 0.0
        self._replay_pause = FIRST_PAUSE_S
        self._held: list[Op] = []  # `work` the journal cannot hold

    def replay_due(self) -> bool:
        return (self.down or self.journal.dirty) and time.monotonic() >= self._replay_at

    def replay_wait(self) -> float | None:
        """How long the writer thread may sleep before a replay is due (None: no replay)."""
        if not (self.down or self.journal.dirty):
            return None
        return max(0.0, self._replay_at - time.monotonic())

    def went_down(self) -> None:
        """A batch was refused as unavailable: journal from now on, replay after a pause."""
        self.down = True
        self._replay_at = time.monotonic() + self._replay_pause

    def replay(self, commit_or_drop: Callable[[list[Op]], None]) -> None:
        """Replay every journal file nobody holds (this process's first), then the `work`
        held in memory; still unavailable: try again after a growing pause."""
        try:
            self.journal.replay(commit_or_drop)
            held, self._held = self._held, []
            if held:
                commit_or_drop(held)
        except Exception as exc:
            if not unavailable(exc):
                log.exception("journal replay failed; tried again later")
            self.down = True
            self._replay_at = time.monotonic() + self._replay_pause
            self._replay_pause = min(self._replay_pause * 2, MAX_PAUSE_S)
            return
        if self.down:
            log.warning("database available again; journal replayed")
        self.down = False
        self._replay_pause = FIRST_PAUSE_S

    def write_down(self, ops: list[Op]) -> bool:
        """Write `ops` down (one fsync); True when all of them are safe on disk."""
        try:
            written = self.journal.append(ops)
        except OSError:
            log.exception("cannot journal %d writes; they are held in memory", len(ops))
            self._held.extend(ops)
            return False
        if written < len(ops):
            self._held.extend(op for op in ops if op[0] == "work")
        return written == len(ops)
