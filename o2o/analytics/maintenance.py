"""The scheduled side of analytics inside the app: fold events often, purge daily.

A daemon thread per worker keeps the schedule; several workers are safe (the rollup
serialises on its state row, the purge is idempotent). The first run waits one interval, so
a short-lived process (tests, a CLI) never purges behind anyone's back. Cron users can run
`o2o analytics rollup` and `o2o purge` instead.

Each run happens in a child process of its own at a lower CPU priority, not in the worker:
folding five minutes of traffic is seconds of Python (reading the events, building the
cells), and in a thread of the worker it held the GIL against the event loop, which then
waited up to the switch interval at every I/O step. Measured on one pinned core at 380
pushes/s right after 40 s of full load: p99 1.6 s while it ran, against 4 to 9 ms in the
turns before and after. A child has its own interpreter; the kernel's scheduler, not the
GIL, shares the core, and `nice` gives the worker most of it. Only an in-memory SQLite
database, which no other process can open, is still folded in the thread.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.db.engine import sqlite_in_memory

log = logging.getLogger("o2o.analytics")

#: Defaults; the app takes O2O_ANALYTICS_ROLLUP_EVERY_S and O2O_ANALYTICS_PURGE_EVERY_S.
ROLLUP_EVERY_S = 300.0
PURGE_EVERY_S = 24 * 3600.0
#: The child's CPU priority (`nice`), set as it starts: well below the worker's.
NICENESS = 10
#: A run still going when the worker stops is given this long, then stopped (each batch
#: commits on its own: a stopped run loses only the batch it was folding).
STOP_WAIT_S = 10.0


class Maintenance:
    """Runs the rollup every `rollup_s` and the purge every `purge_s` until close()."""

    def __init__(self, sessions: sessionmaker[Session], *, retention_days: int,
                 rollup_s: float = ROLLUP_EVERY_S, purge_s: float = PURGE_EVERY_S) -> None:
        self._sessions = sessions
        self._retention_days = retention_days
        self._rollup_s, self._purge_s = rollup_s, purge_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        engine: sa.Engine = sessions.kw["bind"]
        #: Where a child connects; None: fold in the thread (a private in-memory database).
        self._url = None if sqlite_in_memory(engine) else engine.url.render_as_string(
            hide_password=False)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="analytics-maintenance",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        next_purge = time.monotonic() + self._purge_s
        while not self._stop.wait(self._rollup_s):
            job = "purge" if time.monotonic() >= next_purge else "rollup"
            try:
                ok = self._in_child(job) if self._url is not None else self._in_thread(job)
            except Exception:  # keep the worker serving; say why and try next interval
                log.exception("analytics maintenance failed; will retry")
                ok = False
            if ok and job == "purge":
                next_purge = time.monotonic() + self._purge_s

    def _in_thread(self, job: str) -> bool:
        with self._sessions() as session:
            run_job(session, job, self._retention_days)
        return True

    def _in_child(self, job: str) -> bool:
        # spawn, not fork: a forked copy of a worker would inherit its threads' locks.
        child = multiprocessing.get_context("spawn").Process(
            target=_child_main, args=(self._url, job, self._retention_days),
            name=f"o2o-analytics-{job}", daemon=True)
        child.start()
        # At once, not from the child's own code: the interpreter's start and the imports
        # before that (about a second of CPU) would otherwise compete with the worker on
        # equal terms, stalling its event loop for whole time slices (measured at 600
        # pushes/s with a fold every 8 s: p99 17-75 ms without this, 12-17 ms with it).
        lower_priority(child.pid)
        while child.is_alive() and not self._stop.is_set():
            child.join(0.5)
        if child.is_alive():  # the worker is stopping
            child.join(STOP_WAIT_S)
            if child.is_alive():
                child.terminate()
                child.join()
        if child.exitcode != 0:
            log.error("analytics %s exited with %s; will retry", job, child.exitcode)
            return False
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_S + 10)
            self._thread = None


def run_job(session: Session, job: str, retention_days: int) -> None:
    """One scheduled run: "rollup" folds new events, "purge" folds then erases old positions."""
    from o2o.analytics.retention import purge
    from o2o.analytics.rollup import roll_up

    if job == "purge":
        purge(session, retention_days=retention_days)
    else:
        roll_up(session)


def lower_priority(pid: int) -> None:
    """Run process `pid` (0: this one) at NICENESS, or lower if it already is."""
    with contextlib.suppress(OSError):  # it exited already, or this is not allowed here
        os.setpriority(os.PRIO_PROCESS, pid,
                       max(os.getpriority(os.PRIO_PROCESS, pid), NICENESS))


def _child_main(url: str, job: str, retention_days: int) -> None:
    """The child process: lower priority, its own engine, one run."""
    from o2o.db.engine import make_engine, make_sessionmaker

    lower_priority(0)  # in case the parent could not (it lowers it right after the start)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            run_job(session, job, retention_days)
    finally:
        engine.dispose()

