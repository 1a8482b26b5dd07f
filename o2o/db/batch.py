"""The batch a push's writes commit in: what the reply waits for, on its loop or a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable


class Batch:
    """The writes that commit together; every submitter of one batch waits on the same one."""

    __slots__ = ("_done", "_followers", "_futures", "_lock", "ok")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._futures: list[asyncio.Future[bool]] = []
        self._followers: list[Batch] = []
        self._lock = threading.Lock()
        #: Whether every write of the batch is committed (False: some were dropped).
        self.ok = False

    @classmethod
    def finished(cls, ok: bool) -> Batch:
        batch = cls()
        batch._finish(ok)
        return batch

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None) -> bool:
        """Block until committed (True) or failed or out of time (False)."""
        return self._done.wait(timeout_s) and self.ok

    async def wait_async(self, timeout_s: float) -> bool:
        """Like `wait` without blocking the event loop: no thread is parked per waiter."""
        if self._done.is_set():
            return self.ok
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                return self.ok
            self._futures.append(future)
        timer = loop.call_later(timeout_s, _settle, (future,), False)
        try:
            return await future
        finally:
            timer.cancel()

    def follow(self, other: Batch) -> None:
        """Finish this batch as `other` finishes (rows moved from one queue to another)."""
        with other._lock:
            if not other._done.is_set():
                other._followers.append(self)
                return
        self._finish(other.ok)

    def _finish(self, ok: bool) -> None:
        with self._lock:
            self.ok = ok
            self._done.set()
            futures, self._futures = self._futures, []
            followers, self._followers = self._followers, []
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[bool]]] = {}
        for future in futures:
            by_loop.setdefault(future.get_loop(), []).append(future)
        running = running_loop()
        for loop, waiting in by_loop.items():
            if loop is running:  # finished on the waiters' own loop: no wake-up needed
                _settle(waiting, ok)
                continue
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, waiting, ok)
        for follower in followers:
            follower._finish(ok)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(futures: Iterable[asyncio.Future[bool]], ok: bool) -> None:
    for future in futures:
        if not future.done():
            future.set_result(ok)
