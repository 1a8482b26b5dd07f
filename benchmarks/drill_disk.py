"""The drill's disk-full phase, on the embedded default (SQLite).

`o2o serve --workers 2` with its SQLite database on a small tmpfs of its own and its state
dir (the write journal) on the roomy filesystem of the drill's temporary directory: the
layout the README recommends. WeChat clients push steadily; a filler file then takes the
small filesystem's last byte (SQLite answers "database or disk is full"), the load goes on,
the filler is deleted, and every push a client was answered must end up stored once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.drill_lib import Ledger, Server, WeChat, lost_and_doubled, server_env

#: The database's filesystem: room for the demo chain and some minutes of pushes.
DISK_MB = 24
CLIENTS, PACE_S = 2, 0.1
PHASES = ("disk ok", "disk full", "disk freed")


@contextlib.contextmanager
def small_disk(size_mb: int = DISK_MB) -> Iterator[Path]:
    """A tmpfs of `size_mb` on a fresh directory under /tmp (root only); unmounted after."""
    where = Path(tempfile.mkdtemp(prefix="o2o-drill-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs",
                    str(where)], check=True, capture_output=True, timeout=30)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True,
                       timeout=30)
        with contextlib.suppress(OSError):
            where.rmdir()


def fill(path: Path, *, max_mb: int = 4 * DISK_MB) -> int:
    """Write `path` until the filesystem says ENOSPC (1 MiB, then 4 KiB, then 1 byte
    chunks); the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as out:
        for chunk in (1 << 20, 4096, 1):
            for _ in range((max_mb << 20) // chunk if chunk > 1 else 8192):  # bounded
                try:
                    written += out.write(b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


def run(root: Path, *, dwell_s: float) -> list[dict[str, object]]:
    """The phase's rows: one per stage (disk ok, full, freed), ledger and recovery."""
    from o2o.catalog.demo import load_demo_if_empty
    from o2o.db.engine import make_engine, make_sessionmaker
    from o2o.migrate import upgrade

    with small_disk() as disk:
        url = f"sqlite:///{disk / 'o2o.db'}"
        engine = make_engine(url)
        upgrade(engine)
        load_demo_if_empty(make_sessionmaker(engine))
        engine.dispose()
        server = Server(server_env(url, root / "state"), log=root / "serve-disk.log")
        ledger, stop, stage = Ledger(), threading.Event(), {"now": PHASES[0]}
        budget = 3 * dwell_s + 120

        def client(who: int) -> None:
            wechat = WeChat(server.base, ledger, who=50 + who)
            end = time.monotonic() + budget
            try:
                for n in range(100_000):  # bounded by count and by time
                    if stop.is_set() or time.monotonic() > end:
                        return
                    wechat.push((50 + who) * 1_000_000 + n, stage["now"])
                    time.sleep(PACE_S)
            finally:
                wechat.close()

        threads = [threading.Thread(target=client, args=(who,)) for who in range(CLIENTS)]
        filler = disk / "filler"
        try:
            server.wait_healthy(120)
            for thread in threads:
                thread.start()
            time.sleep(dwell_s)
            stage["now"] = PHASES[1]
            filled = fill(filler)
            time.sleep(dwell_s)
            refusals = server.log.read_text(errors="replace").count("database or disk is full")
            stage["now"] = PHASES[2]
            freed = time.monotonic()
            filler.unlink()
            recovery = _stored_within(url, ledger.answered.get(PHASES[1], set()), 60)
            recovery_s = time.monotonic() - freed if recovery else None
            time.sleep(dwell_s)
            stop.set()
            for thread in threads:
                thread.join(30)
            _stored_within(url, ledger.all_answered(), 30)
            rows = _rows(url, ledger, recovery_s, filled, refusals)
        finally:
            stop.set()
            server.terminate()
            with contextlib.suppress(OSError):
                filler.unlink()
    return rows


def _stored_within(url: str, answered: set[str], timeout_s: float) -> bool:
    """Wait until every answered push is stored (the journal replayed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lost_and_doubled(url, answered)[0] == 0:
            return True
        time.sleep(0.5)
    return False


def _rows(url: str, ledger: Ledger, recovery_s: float | None, filled: int,
          refusals: int) -> list[dict[str, object]]:
    rows = []
    for stage in PHASES:
        answered = ledger.answered.get(stage, set())
        lost, doubled = lost_and_doubled(url, answered)
        rows.append({"stage": stage, "pushes": ledger.sent[stage], "answered": len(answered),
                     "5xx": ledger.errors_5xx[stage], "timeouts": ledger.timeouts[stage],
                     "given up": ledger.given_up[stage], "lost": lost, "doubled": doubled,
                     "recovery s": recovery_s if stage == PHASES[2] else "",
                     "filler MB": round(filled / (1 << 20), 1) if stage == PHASES[1] else "",
                     "disk full errors logged": refusals if stage == PHASES[1] else ""})
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="o2o-drill-") as tmp:
        for row in run(Path(tmp), dwell_s=5):
            print(row)


if __name__ == "__main__":
    os.umask(0o022)
    main()
