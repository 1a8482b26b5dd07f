"""How long the analytics fold holds SQLite's write lock (which every reply's commit waits
for) while it folds a backlog, written in pieces (at most o2o.analytics.rollup.WRITE_CELLS
cells per transaction) against one transaction per batch (what the fold did before on
SQLite, and still does on PostgreSQL, where its write holds up no reply).

A scratch SQLite chain of 100,000 outlets takes N pushes through the real reply path
(WeChatEndpoint and the group commit, the pushes bench_wechat sends), then copies of that
database are folded alternately both ways. Another process meanwhile writes one row at a
time (BEGIN IMMEDIATE, retried every 0.5 ms while locked, INSERT, COMMIT, then 2 ms asleep)
and times each: its slowest waits are what a reply's commit would have waited. Time inside
`_write_cells` is also reported.

    .venv/bin/python benchmarks/bench_fold_lock.py               # 150,000 pushes, 2 rounds
    .venv/bin/python benchmarks/bench_fold_lock.py --pushes 20000 --rounds 1 --no-write
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import o2o.analytics.rollup as rollup
from benchmarks._results import publish, table
from benchmarks._wechat_data import create_database
from benchmarks._wechat_requests import Keys, Pushes
from o2o.db import make_engine, make_sessionmaker
from o2o.services import build_services
from o2o.wechat.endpoint import WeChatEndpoint

PROBE = """
import signal, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint=0")  # as the reply path's connection: no checkpoints
db.execute("CREATE TABLE IF NOT EXISTS bench_probe (x)")
waits, running = [], [True]
signal.signal(signal.SIGTERM, lambda *_: running.clear())
print("ready", flush=True)
while running:
    started = time.perf_counter()
    while True:  # SQLite's own busy handler sleeps up to 100 ms at a time: poll instead
        try:
            db.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError:
            time.sleep(0.0005)
    db.execute("INSERT INTO bench_probe VALUES (1)")
    db.execute("COMMIT")
    waits.append(time.perf_counter() - started)
    time.sleep(0.002)
print(" ".join(f"{w:.6f}" for w in waits))
"""


def fill(path: Path, pushes: int, keys: Keys) -> float:
    """A 100k-outlet chain at `path` with `pushes` answered and committed; seconds taken."""
    url = f"sqlite:///{path}"
    create_database(url, 100_000)
    services = build_services(keys.settings(url, state_dir=path.parent), migrate=False,
                              load_demo=False, sync=False)
    started = time.perf_counter()
    try:
        endpoint, source = WeChatEndpoint(services), Pushes(keys)
        for done in range(0, pushes, 5_000):
            for target, body in source.build(min(5_000, pushes - done), aes=False):
                endpoint.answer(endpoint.accept(dict(parse_qsl(urlsplit(target).query)), body))
            services.writer.flush(120)
    finally:
        services.close()
    return time.perf_counter() - started


def fold(source: Path, work: Path, write_cells: int) -> dict[str, float]:
    """Fold a copy of `source` with about `write_cells` per transaction, probed from outside."""
    db = work / "fold.db"
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{db}{suffix}")
    writes: list[float] = []
    real_write = rollup._write_cells

    def timed(session, updates, inserts):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        updated = real_write(session, updates, inserts)
        writes.append(time.perf_counter() - started)
        return updated

    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(db)], stdout=subprocess.PIPE,
                             text=True)
    assert probe.stdout is not None and probe.stdout.readline().strip() == "ready"
    engine = make_engine(f"sqlite:///{db}")
    rollup._write_cells = timed  # type: ignore[assignment]
    try:
        with make_sessionmaker(engine)() as session:
            cpu, started = time.process_time(), time.perf_counter()
            report = rollup.roll_up(session, write_cells=write_cells)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        rollup._write_cells = real_write  # type: ignore[assignment]
        engine.dispose()
        probe.terminate()
    waits = sorted(float(w) for w in probe.communicate()[0].split())
    for leftover in work.glob("fold.db*"):
        leftover.unlink()
    return {"events": report.events, "cells": report.cells, "transactions": len(writes),
            "write_max": max(writes) * 1e3, "probe_p99": waits[int(len(waits) * 0.99)] * 1e3,
            "probe_max": waits[-1] * 1e3, "wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only, keep RESULTS.md")
    args = parser.parse_args()
    ways = {f"pieces of at most {rollup.WRITE_CELLS:,} cells (SQLite's default)":
            rollup.WRITE_CELLS,
            "one transaction per batch (PostgreSQL's default; SQLite's before)": 10**9}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="o2o-bench-fold-") as tmp:
        work = Path(tmp)
        filled = fill(work / "chain.db", args.pushes, Keys())
        print(f"{args.pushes:,} pushes answered and committed in {filled:.0f} s", flush=True)
        for _ in range(args.rounds):  # alternately: the machine is shared
            for name, cells in ways.items():
                results[name].append(fold(work / "chain.db", work, cells))
                print(name, results[name][-1], flush=True)
    rows = []
    for name, runs in results.items():
        worst = max(runs, key=lambda r: r["probe_max"])
        rows.append([name, f"{worst['events']:,.0f}", f"{worst['transactions']:,.0f}",
                     f"{worst['cells']:,.0f}", f"{max(r['write_max'] for r in runs):.0f}",
                     f"{max(r['probe_p99'] for r in runs):.0f}",
                     f"{max(r['probe_max'] for r in runs):.0f}",
                     f"{min(r['cpu'] for r in runs):.1f}"])
    body = (f"{args.pushes:,} pushes (one row each, two as the fold counts them) on 100,000 "
            f"outlets, folded at once, {args.rounds} rounds alternating; the worst of the "
            f"rounds for the waits, the best for CPU. Load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after (2 CPUs, shared).\n\n" + table(
                ["fold", "events", "write transactions", "cells written", "longest write ms",
                 "probe commit p99 ms", "probe commit max ms", "fold CPU s"], rows))
    publish("bench_fold_lock", "Analytics fold: SQLite's write lock during a backlog", body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
