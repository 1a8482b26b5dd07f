"""End to end: signed location messages → news reply over HTTP, side by side in one run:
the floor (the same stack returning a constant reply), the conventional implementation
(wechatpy, one PostGIS KNN query, one promotion query, one event insert per push), o2o on
SQLite and o2o on PostGIS, each chain size in turn on the same outlets.

Per server: peak (the best closed-loop `wrk` throughput over a few concurrencies, in
interleaved rounds), server CPU per request (and PostgreSQL's), p99 open loop at a quarter of
its own peak in turns with the floor at the same rate, launch → ready and RSS. For o2o also
cold and warm starts, and `o2o serve` memory with one and four workers (RSS and PSS) against
the demo chain. A small size first (CPU baseline: closed loop only) for "CPU per reply does
not grow with the chain". Issue 16's targets are printed ✓/✗. Every reply is checked.

    apt-get install -y wrk                                       # the load generator
    .venv/bin/python benchmarks/bench_wechat.py       # 10k baseline + 100k + 1M, ≤ ~25 min
    .venv/bin/python benchmarks/bench_wechat.py --outlets 20000 --duration 1 --rounds 1 \\
        --no-write                                        # a quick check, ~4 min

Each size prints how long its phases took ("this size took ..."), to plan longer runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import publish, table
from benchmarks._wechat_breakdown import breakdowns
from benchmarks._wechat_memory import Memory
from benchmarks._wechat_report import describe, memory_table, size_table, sweep_table, targets
from benchmarks._wechat_requests import Keys, Pushes
from benchmarks._wechat_runs import Variant
from benchmarks._wechat_servers import Server, pin_load_generator
from benchmarks._wechat_sizes import SizeResult, demo_memory, measure_size
from benchmarks._wechat_wrk import write_script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="outlet counts, comma separated, each measured in full")
    parser.add_argument("--outlets", type=int, help="one size (the same as --sizes N)")
    parser.add_argument("--baseline", type=int, default=10_000,
                        help="outlets of the CPU-per-reply baseline (closed loop only; 0: none)")
    parser.add_argument("--workers", default="1,4", help="o2o serve memory runs")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds per closed-loop run; each open-loop pair takes twice that")
    parser.add_argument("--concurrency", default="4,16,64",
                        help="wrk connections (c=1 never peaks here; add it for the sweep)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="closed-loop sweeps, interleaved; each row keeps its best")
    parser.add_argument("--no-postgis", action="store_true",
                        help="skip the in-process breakdown on a scratch PostGIS database")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--breakdown-only", action="store_true",
                        help="only the in-process breakdown (µs per push); print its table")
    args = parser.parse_args()
    args.sizes = [args.outlets] if args.outlets else [int(s) for s in args.sizes.split(",")]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.workers = [int(w) for w in args.workers.split(",") if w]
    return args


def main() -> None:
    args = parse_args()
    if args.breakdown_only:
        print(stage_table(breakdowns(Keys(), postgis=not args.no_postgis)))
        return
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    pinned = pin_load_generator()
    keys = Keys()
    pushes = Pushes(keys)
    with tempfile.TemporaryDirectory(prefix="o2o-bench-wechat-") as tmp:
        work = Path(tmp)
        script = write_script(work)
        demo = demo_memory(keys, work, args.workers)
        bare = Server("bare", "benchmarks._wechat_bare:create_bare_app")
        bare.start(work)
        try:
            bare.wait_ready()
            floor = Variant("floor (constant reply)", bare, unique=False)
            common = dict(floor=floor, keys=keys, pushes=pushes, work=work, script=script,
                          concurrency=args.concurrency, duration=args.duration,
                          workers=args.workers)
            baseline = None
            if args.baseline:
                baseline = measure_size(args.baseline, rounds=1, full=False, **common)
            sizes = [measure_size(n, rounds=args.rounds, full=True, **common)
                     for n in args.sizes]
        finally:
            bare.stop()
    stages = breakdowns(keys, postgis=not args.no_postgis)  # in process, both cores free
    report(args, sizes, baseline, demo, stages, pinned=pinned,
           load=(load_before, os.getloadavg()[0]), total_s=time.perf_counter() - began)


def stage_table(stages: dict[str, dict[str, float]]) -> str:
    names = {"verify": "verify signature (+ decrypt), parse XML",
             "reply": "nearest, offers, links, render (+ encrypt), reply cache",
             "writes": "customer row + query/impression events (group commit)",
             "total": "total",
             "warm": "verify + reply without writes, push by push, back to back",
             "idle": "the same, each push after 1.6 ms idle (a quarter of peak)"}
    return table(["stage µs", *stages],
                 [[label, *[f"{s[key]:,.0f}" for s in stages.values()]]
                  for key, label in names.items()])


def report(args: argparse.Namespace, sizes: list[SizeResult], baseline: SizeResult | None,
           demo: dict[int, Memory], stages: dict[str, dict[str, float]], *, pinned: bool,
           load: tuple[float, float], total_s: float) -> None:
    per_size = "\n\n".join(
        f"### {r.outlets:,} outlets\n\n{describe(r)}.\n\n{size_table(r)}\n\n"
        + "\n".join(f"- {line}" for line in targets(r, demo, baseline))
        + f"\n\nClosed-loop sweep:\n\n{sweep_table(r)}" for r in sizes)
    base = "" if baseline is None else (
        f"### CPU baseline: {baseline.outlets:,} outlets (closed loop only)\n\n"
        f"{describe(baseline)}.\n\n{size_table(baseline)}\n\n")
    body = f"""
Outlets: 70% around 25 Chinese cities, 30% worldwide, the same rows (one seed) in a SQLite
(WAL) scratch file and a scratch PostGIS database created by o2o's migrations (GiST index on
`location`), bulk loaded, then analyzed; 6 published promotions. Every location is near a
city, so every reply is a one-card news reply (checked on every reply, decoded on samples).
Servers: the floor (same FastAPI stack and middleware, POST /wechat returns a constant news
reply), the conventional implementation (`benchmarks/_wechat_conventional.py`: wechatpy
signature check and parse, one KNN query `ORDER BY location <-> point LIMIT 1`, one query
for the best applicable published promotion, one event insert, wechatpy `ArticlesReply`;
SQLAlchemy pool, FastAPI thread pool), o2o on SQLite and o2o on PostGIS, all plain-text
pushes under uvicorn `--workers 1 --loop uvloop --http httptools --no-access-log`,
{"pinned to core 0; the load generators on core 1" if pinned else "unpinned (one core only)"};
PostgreSQL is not pinned (its CPU per request is shown apart, read from /proc for every
`postgres` process: the server is shared with other work, so it is an upper bound).

Peak: `wrk -t1` closed loop, the best of c = {", ".join(map(str, args.concurrency))}
({args.duration:g} s each, {args.rounds} interleaved rounds: at each c every server one after
the other); every request a new MsgId from one of 2,000 customers (the floor replays 100).
Paced: open loop at a quarter of each server's own peak, {2 * args.duration:g} s in two turns
alternating with the floor at the same rate; latency from each request's due dispatch (no
coordinated omission), and the server's CPU per request at that rate (a push that arrives
alone is committed alone, on a core whose caches went cold while it idled). Launch → ready: until `/healthz` answers (for o2o: catalog loaded);
o2o cold = a fresh `O2O_STATE_DIR` (no catalog snapshot on the host), warm = restarted with
the same one. Memory: `o2o serve --workers N` on the SQLite chain (warm state directory) and
on an empty database that loads the demo chain, ready when every worker is idle; RSS and PSS
(`/proc/PID/smaps_rollup`) summed over the supervisor and its workers.

{base}{per_size}

### o2o serve memory

{memory_table(sizes, demo)}

### Where a reply's time goes, in process

CPU µs per push of the whole process (the writer thread included), no HTTP, best of three
batches of 200 (20,000 outlets on SQLite, 5,000 on a scratch PostGIS database whose own CPU
is not counted; "writes" = answering a batch and flushing the group commit, minus the same
with `HandlerContext.record` made a no-op):

{stage_table(stages)}

Load average {load[0]:.1f} before and {load[1]:.1f} after (the machine is shared); whole run
{total_s / 60:.1f} min.

A decoded reply (o2o, PostGIS), as the customer sees it:

```
{sizes[-1].sample}
```
"""
    publish("bench_wechat", "WeChat end to end: o2o against the conventional design", body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
