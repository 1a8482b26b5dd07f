"""One writer moving outlets between two places while readers search: what the index's
readers must never see half of."""

from __future__ import annotations

import threading
from collections.abc import Callable

from o2o.geo.index import IndexEntry, NearestIndex


def churn_while_reading(index: NearestIndex, n: int, check: Callable[[], str | None],
                        *, steps: int = 600) -> list[str]:
    """Move outlet `step % n` back and forth `steps` times while three readers run `check`
    (a failure message, or None) in a loop; the failures seen."""
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            failure = check()
            if failure is not None:
                failures.append(failure)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for step in range(steps):
        i = step % n
        index.upsert(IndexEntry(i, 0.5 if step // n % 2 == 0 else 0.0, i * 0.001))
    done.set()
    for thread in readers:
        thread.join()
    return failures
