"""The reply path's local journal: rows the database could not take, kept on disk.

While the database is unavailable a WeChat reply cannot wait for its rows to commit; before
it is sent they are appended here (one JSON line per write, the file fsync'd per batch), so
a worker killed before the database returns loses nothing. Once the database answers again
(or at the next start) every journal file in the directory is replayed into it and removed.

Replaying twice is harmless: every row the reply path writes carries a dedup key (events,
ON CONFLICT DO NOTHING) or is an upsert that keeps the latest `last_seen_at` (customers),
so a file replayed again after a crash between its commit and its removal adds nothing.

One file per process, held under an exclusive `flock` while the process may append to it:
another process replays a file only when it can take that lock, that is when its writer has
closed it or died (the kernel drops a dead process's locks, kill -9 included). The normal
path pays nothing: no file is opened until a write fails or waits out its budget.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from o2o.db.ops import Op
from o2o.metrics import JOURNAL_REPLAYED, JOURNALED

log = logging.getLogger("o2o.journal")

#: Which writes can be journaled: plain rows. A `work` callable cannot be written down.
KINDS = frozenset({"customer", "events"})
SUFFIX = ".jsonl"


class Journal:
    """This process's journal file in `directory`, opened on the first append."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        #: Whether rows were appended since the last replay (they may not be in the
        #: database yet).
        self.dirty = False

    def append(self, ops: Iterable[Op]) -> int:
        """Write the journalable `ops` down and fsync; returns how many were written."""
        lines = [_encode(kind, payload) for kind, payload in ops if kind in KINDS]
        if not lines:
            return 0
        data = b"".join(lines)
        with self._lock:
            out = self._open()
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            self.dirty = True
        JOURNALED.inc(len(lines))
        return len(lines)

    def pending(self) -> bool:
        """Whether any journal file (this process's or a dead one's) waits in the directory."""
        return self.dirty or any(self._files())

    def replay(self, commit: Callable[[list[Op]], None]) -> int:
        """Commit the rows of every journal file nobody else holds, oldest first, removing
        each file once its rows are committed; returns the rows replayed. `commit` raising
        (the database still away) stops the replay with that file and the rest kept."""
        with self._lock:  # what is appended from now on goes to a new file
            if self._file is not None:
                self._close()
            self.dirty = False
        done = 0
        for path in sorted(self._files(), key=_mtime):
            try:
                done += self._replay_file(path, commit)
            except BaseException:
                self.dirty = True  # this file, or the next ones, still wait
                raise
        return done

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._close()

    # -- files ----------------------------------------------------------------------------

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"journal-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
            out = path.open("ab")
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            _fsync_dir(self.directory)  # the file's name survives a crash too
            self._file, self._path = out, path
            log.warning("database unavailable: journaling reply rows to %s", path)
        return self._file

    def _close(self) -> None:
        assert self._file is not None
        self._file.close()  # releases the lock: a replayer may take the file now
        self._file = self._path = None

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.glob(f"journal-*{SUFFIX}") if p != self._path]

    def _replay_file(self, path: Path, commit: Callable[[list[Op]], None]) -> int:
        try:
            held = path.open("rb")
        except FileNotFoundError:  # replayed meanwhile by another process
            return 0
        with held:
            try:
                fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its writer is alive and may still append
                return 0
            try:
                if os.stat(path).st_ino != os.fstat(held.fileno()).st_ino:
                    return 0
            except FileNotFoundError:  # replayed and removed while we waited for the lock
                return 0
            ops = list(_decode_all(held.read(), path))
            if ops:
                commit(ops)
            path.unlink()
            _fsync_dir(self.directory)
        JOURNAL_REPLAYED.inc(len(ops))
        log.warning("replayed %d journaled rows from %s", len(ops), path.name)
        return len(ops)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- encoding: JSON lines, datetimes tagged ------------------------------------------------

def _encode(kind: str, payload: Any) -> bytes:
    return json.dumps({"kind": kind, "rows": payload}, default=_tag, ensure_ascii=False,
                      separators=(",", ":")).encode() + b"\n"


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot journal a {type(value).__name__}")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dt" in obj:
        return datetime.fromisoformat(obj["$dt"])
    return obj


def _decode_all(data: bytes, path: Path) -> Iterable[Op]:
    """Every complete line's write. A last line without its newline was torn by a crash
    mid-append: it was never fsync'd whole, so no reply waited on it, and it is skipped."""
    lines = data.split(b"\n")
    if lines[-1]:
        log.warning("%s: skipping a torn last line (%d bytes)", path.name, len(lines[-1]))
    for number, line in enumerate(lines[:-1], 1):
        try:
            entry = json.loads(line, object_hook=_untag)
            kind, rows = entry["kind"], entry["rows"]
        except (ValueError, KeyError, TypeError):
            log.error("%s:%d: unreadable journal line skipped", path.name, number)
            continue
        if kind == "events":
            yield kind, [_event(row) for row in rows]
        elif kind == "customer":
            yield kind, rows


def _event(row: dict[str, Any]) -> dict[str, Any]:
    from o2o.analytics.models import EventType

    return {**row, "type": EventType(row["type"])}
