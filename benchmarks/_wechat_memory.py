"""Memory of `o2o serve` as deployed: one or several workers, read from outside.

RSS counts every page a process has mapped, so a catalog snapshot mapped by four workers
would count four times; PSS (`/proc/PID/smaps_rollup`) splits each shared page between the
processes that map it, so the PSS summed over the server's processes is what the host pays.
Ready = `/healthz` answers and every worker has gone quiet (a worker still loading its
catalog burns CPU; a ready one polls the change feed and sleeps).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks._wechat_servers import ROOT, free_port

CLK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    """One `o2o serve` start: launch → ready, and memory when ready (MB)."""

    workers: int
    ready_s: float
    rss_mb: float  # summed over the supervisor and its workers
    pss_mb: float  # the same, each shared page counted once
    worker_rss_mb: float  # the largest single process


def children(pid: int) -> list[int]:
    """Direct children of `pid` (uvicorn's workers under its supervisor)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # it just exited
            todo += children(p)
    return out


def rss_pss_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process in MB, from /proc/PID/smaps_rollup."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) / 1024
    return values.get("Rss", 0.0), values.get("Pss", 0.0)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def serve_memory(env: dict[str, str], work: Path, *, workers: int, label: str,
                 timeout_s: float = 900.0) -> Memory:
    """Start `o2o serve --workers N` with `env`, wait until every worker is ready, read its
    memory, stop it. Not pinned: the workers load side by side as on a real host."""
    port = free_port()
    log = work / f"serve-{label}.log"
    cmd = [sys.executable, "-m", "o2o.cli", "serve", "--host", "127.0.0.1", "--port",
           str(port), "--workers", str(workers)]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=work, env=full_env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    try:
        ready_s = _wait_ready(proc, port, workers, started, timeout_s, log)
        pids = tree(proc.pid)
        mem = [rss_pss_mb(p) for p in pids]
        return Memory(workers=workers, ready_s=ready_s, rss_mb=sum(m[0] for m in mem),
                      pss_mb=sum(m[1] for m in mem), worker_rss_mb=max(m[0] for m in mem))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, workers: int, started: float,
                timeout_s: float, log: Path) -> float:
    """Seconds from launch until /healthz answers and the workers are all up and idle."""
    deadline = started + timeout_s
    healthy_at = 0.0
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"o2o serve exited; see {log}:\n{log.read_text()[-3000:]}")
        if not healthy_at:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    healthy_at = time.perf_counter()
            except httpx.HTTPError:
                pass
        if healthy_at:
            pids = tree(proc.pid) if workers > 1 else [proc.pid]
            if len(pids) >= (workers + 1 if workers > 1 else 1) and _quiet(pids):
                # The last worker finished loading when it went quiet: the window's start.
                return max(healthy_at, time.perf_counter() - QUIET_WINDOW_S) - started
        time.sleep(0.2)
    raise TimeoutError(f"o2o serve ({workers} workers) not ready after {timeout_s:.0f} s")


#: A worker using less than this share of a core over the window is idle (loaded).
QUIET_SHARE, QUIET_WINDOW_S = 0.10, 1.0


def _quiet(pids: list[int]) -> bool:
    try:
        before = [cpu_s(p) for p in pids]
        time.sleep(QUIET_WINDOW_S)
        after = [cpu_s(p) for p in pids]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return all(b - a < QUIET_SHARE * QUIET_WINDOW_S for a, b in zip(before, after, strict=True))
