"""One chain size of the WeChat benchmark: the same outlets in a scratch SQLite file and a
scratch PostGIS database, the servers under test on them, and everything measured there.

Rows: the floor (a constant reply), the conventional implementation on PostGIS, o2o on
SQLite and o2o on PostGIS. Each o2o server is started cold (a fresh state directory: no
catalog snapshot on this host), stopped, and started again warm (the same directory); the
warm one is measured. `full=False` (the CPU baseline at a small size) skips the restarts,
the open-loop runs and the memory runs.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._scratch_db import scratch_postgis
from benchmarks._wechat_data import create_database
from benchmarks._wechat_memory import Memory, serve_memory
from benchmarks._wechat_requests import Keys, Pushes
from benchmarks._wechat_runs import Variant, alternate, check_samples, closed_loop
from benchmarks._wechat_servers import Server

CONVENTIONAL = "benchmarks._wechat_conventional:create_conventional_app"
#: The open-loop runs go at this share of each server's own peak.
PACED_SHARE = 0.25


@dataclass(frozen=True)
class Start:
    ready_s: float
    rss_mb: float


@dataclass
class SizeResult:
    outlets: int
    full: bool
    load_s: dict[str, float] = field(default_factory=dict)  # database → bulk load seconds
    variants: list[Variant] = field(default_factory=list)  # floor, conventional, o2o ×2
    starts: dict[str, Start] = field(default_factory=dict)  # "label" or "label, cold"
    memory: dict[int, Memory] = field(default_factory=dict)  # workers → o2o serve, SQLite
    sample: str = ""
    seconds: float = 0.0  # wall time of this size
    phases: dict[str, float] = field(default_factory=dict)  # its parts, for planning runs

    def lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now


def o2o_env(keys: Keys, url: str, state: Path, *, demo: bool = False) -> dict[str, str]:
    return {"O2O_DATABASE_URL": url, "O2O_STATE_DIR": str(state),
            "O2O_AUTO_MIGRATE": "true" if demo else "false",
            "O2O_LOAD_DEMO_DATA": "true" if demo else "false",
            "O2O_SIGNING_KEY": "bench-signing-key-" + "x" * 32,
            "O2O_CUSTOMER_HASH_KEY": "bench-hash-key-" + "y" * 32,
            "O2O_WECHAT_SECRET": "bench-secret", **keys.env()}


def start(server: Server, work: Path) -> Start:
    server.start(work)
    ready = server.wait_ready()
    return Start(ready, server.memory_mb()[0])


def measure_size(outlets: int, *, floor: Variant, keys: Keys, pushes: Pushes, work: Path,
                 script: Path, concurrency: list[int], rounds: int, duration: float,
                 full: bool, workers: list[int]) -> SizeResult:
    began = lap = time.perf_counter()
    result = SizeResult(outlets, full)
    sqlite_url = f"sqlite:///{work / f'bench-{outlets}.db'}"
    with scratch_postgis("o2o_bench_wechat") as pg_url:
        assert pg_url is not None
        for name, url in (("SQLite", sqlite_url), ("PostGIS", pg_url)):
            result.load_s[name] = create_database(url, outlets)["insert_s"]
            print(f"{outlets:,} outlets into {name} in {result.load_s[name]:.1f} s", flush=True)
        lap = result.lap("load", lap)
        servers = {
            "conventional, PostGIS": Server(f"conventional-{outlets}", CONVENTIONAL,
                                            {"O2O_DATABASE_URL": pg_url, **keys.env()}),
            "o2o, SQLite": Server(f"o2o-sqlite-{outlets}", "api.app:create_app", o2o_env(
                keys, sqlite_url, work / f"state-sqlite-{outlets}")),
            "o2o, PostGIS": Server(f"o2o-postgis-{outlets}", "api.app:create_app", o2o_env(
                keys, pg_url, work / f"state-postgis-{outlets}")),
        }
        try:
            for label, server in servers.items():  # one at a time: each start has the core
                if full and label.startswith("o2o"):
                    result.starts[f"{label}, cold"] = start(server, work)
                    server.stop()
                result.starts[label] = start(server, work)
                print(f"  {label}: ready in {result.starts[label].ready_s:.1f} s, RSS "
                      f"{result.starts[label].rss_mb:,.0f} MB", flush=True)
            lap = result.lap("start", lap)
            result.variants = [floor, *(Variant(label, s) for label, s in servers.items())]
            floor.runs, floor.paced, floor.floor_paced = [], None, None
            print(f"closed loop (wrk), {outlets:,} outlets:", flush=True)
            for _ in range(rounds):  # interleaved: shares compare runs seconds apart
                for conns in concurrency:
                    for v in result.variants:
                        closed_loop(v, pushes, work, script, [conns], duration)
            lap = result.lap("closed loop", lap)
            if full:
                print(f"open loop at {PACED_SHARE:g} of each server's peak, the floor at the "
                      "same rate in turns:", flush=True)
                for v in result.variants[1:]:
                    alternate(v, floor, pushes, v.peak.rate * PACED_SHARE, duration * 2)
                result.sample = check_samples(result.variants[3], pushes)
                for v in result.variants[1:3]:
                    check_samples(v, pushes)
                lap = result.lap("open loop", lap)
            result.variants[0] = floor.copy()
        finally:
            for server in servers.values():
                server.stop()
    lap = result.lap("stop", lap)
    if full:
        for n in workers:  # the warm state directory: what a restart of the host finds
            result.memory[n] = serve_memory(o2o_env(keys, sqlite_url,
                                                    work / f"state-sqlite-{outlets}"),
                                            work, workers=n, label=f"{outlets}-{n}")
            print(f"  o2o serve --workers {n}: {result.memory[n]}", flush=True)
        lap = result.lap("memory", lap)
    for leftover in work.glob(f"bench-{outlets}.db*"):  # at 1M, hundreds of MB each
        leftover.unlink()
    for state in work.glob(f"state-*-{outlets}"):
        shutil.rmtree(state)
    result.seconds = time.perf_counter() - began
    return result


def demo_memory(keys: Keys, work: Path, workers: list[int]) -> dict[int, Memory]:
    """The same `o2o serve` runs on an empty database that loads the demo chain."""
    url = f"sqlite:///{work / 'demo.db'}"
    out = {}
    for n in workers:
        out[n] = serve_memory(o2o_env(keys, url, work / "state-demo", demo=True), work,
                              workers=n, label=f"demo-{n}")
        print(f"  demo chain, o2o serve --workers {n}: {out[n]}", flush=True)
    return out
