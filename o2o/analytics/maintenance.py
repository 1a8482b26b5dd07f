"""The scheduled side of analytics inside the app: fold events often, purge daily.

A daemon thread per worker; several workers are safe (the rollup serialises on its state
row, the purge is idempotent). The first run waits one interval, so a short-lived process
(tests, a CLI) never purges behind anyone's back. Cron users can run `o2o analytics rollup`
and `o2o purge` instead.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from o2o.analytics.retention import purge
from o2o.analytics.rollup import roll_up

log = logging.getLogger("o2o.analytics")

#: Defaults; the app takes O2O_ANALYTICS_ROLLUP_EVERY_S and O2O_ANALYTICS_PURGE_EVERY_S.
ROLLUP_EVERY_S = 300.0
PURGE_EVERY_S = 24 * 3600.0


class Maintenance:
    """Runs the rollup every `rollup_s` and the purge every `purge_s` until close()."""

    def __init__(self, sessions: sessionmaker[Session], *, retention_days: int,
                 rollup_s: float = ROLLUP_EVERY_S, purge_s: float = PURGE_EVERY_S) -> None:
        self._sessions = sessions
        self._retention_days = retention_days
        self._rollup_s, self._purge_s = rollup_s, purge_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="analytics-maintenance",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        next_purge = time.monotonic() + self._purge_s
        while not self._stop.wait(self._rollup_s):
            try:
                with self._sessions() as session:
                    if time.monotonic() >= next_purge:
                        purge(session, retention_days=self._retention_days)
                        next_purge = time.monotonic() + self._purge_s
                    else:
                        roll_up(session)
            except Exception:  # keep the worker serving; say why and try next interval
                log.exception("analytics maintenance failed; will retry")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
