"""The load runs of the WeChat benchmark: one row (a server and its kind of push), its
closed-loop sweep with wrk, and open-loop runs at a set rate alternating with the floor."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

from benchmarks._wechat_paced import PacedResult, run_paced
from benchmarks._wechat_requests import Pushes, raw_http, write_wrk_file
from benchmarks._wechat_servers import Server
from benchmarks._wechat_wrk import WrkResult, run_wrk

NEWS = "<MsgType><![CDATA[news]]></MsgType>"
ENCRYPTED = "<Encrypt>"


class Variant:
    """One row: a server, the kind of push, and the marker every reply must carry."""

    def __init__(self, label: str, server: Server, *, aes: bool = False, marker: str = NEWS,
                 unique: bool = True) -> None:
        self.label, self.server, self.aes, self.marker = label, server, aes, marker
        self.unique = unique  # each request a new MsgId (False: WeChat's retries)
        self.runs: list[WrkResult] = []
        self.paced: PacedResult | None = None  # at the set rate, and the floor's beside it
        self.floor_paced: PacedResult | None = None
        #: Server CPU µs per request during those paced runs (this row's, the floor's).
        self.paced_cpu_us: tuple[float, float] | None = None

    def copy(self) -> Variant:
        """Its results so far, apart (the floor's row is reused by the next chain size)."""
        kept = Variant(self.label, self.server, aes=self.aes, marker=self.marker,
                       unique=self.unique)
        kept.runs, kept.paced, kept.floor_paced = list(self.runs), self.paced, self.floor_paced
        kept.paced_cpu_us = self.paced_cpu_us
        return kept

    @property
    def peak(self) -> WrkResult:
        return max(self.runs, key=lambda r: r.rate)

    def best_at(self, connections: int) -> WrkResult:
        return max((r for r in self.runs if r.connections == connections),
                   key=lambda r: r.rate)


def postgres_cpu() -> dict[int, int]:
    """Clock ticks used so far by each PostgreSQL process on this machine."""
    ticks = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            head, _, tail = Path(entry.path, "stat").read_text().rpartition(")")
        except OSError:
            continue
        if head.partition("(")[2].startswith("postgres"):
            fields = tail.split()
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def postgres_cpu_s(before: dict[int, int]) -> float:
    """CPU seconds PostgreSQL used since `before`, over the processes alive at both ends (a
    connection that closed takes its ticks with it). The server may be shared with other
    work on this machine: an upper bound of what the row under test cost it."""
    now = postgres_cpu()
    return sum(now[p] - t for p, t in before.items() if p in now) / os.sysconf("SC_CLK_TCK")


def closed_loop(v: Variant, pushes: Pushes, work: Path, script: Path, concurrency: list[int],
                duration: float) -> None:
    """wrk at each concurrency; a run that ran out of distinct requests is repeated."""
    estimate = probe_rate(v, pushes)
    for conns in concurrency:
        want = math.ceil(max(estimate, 50) * 1.6 * duration) + 200
        while True:
            if v.unique:
                reqs = pushes.build(want, aes=v.aes)
            else:  # first deliveries answered before the run: wrk sends only retries
                reqs = pushes.repeat(want, aes=v.aes)
                probe_rate(v, pushes, reqs[:100])
            path = write_wrk_file(reqs, work / "requests.txt")
            cpu, db = v.server.cpu_s(), postgres_cpu()
            result = run_wrk(v.server.url + "/wechat", script=script, requests_file=path,
                             marker=v.marker, connections=conns, duration_s=duration)
            n = max(1, result.requests)
            result = dataclasses.replace(result, server_cpu_us=(v.server.cpu_s() - cpu) / n * 1e6,
                                         db_cpu_us=postgres_cpu_s(db) / n * 1e6)
            if not v.unique or result.wrapped == 0:
                break
            want *= 2
        estimate = max(estimate, result.rate)
        v.runs.append(result)
        print(f"  {v.label:<24} c={conns:<3} {result.rate:8.0f} req/s  p50 {result.p50_ms:6.2f}"
              f" ms  p99 {result.p99_ms:6.2f} ms  server CPU {result.server_cpu_us:5.0f} µs/req  "
              f"PostgreSQL {result.db_cpu_us:5.0f}  bad {result.bad}  errors {result.errors}",
              flush=True)


def probe_rate(v: Variant, pushes: Pushes,
               reqs: list[tuple[str, bytes]] | None = None) -> float:
    """Requests per second one at a time (also the warm-up), to size the request files."""
    import httpx

    reqs = reqs or pushes.build(200, aes=v.aes)
    with httpx.Client(base_url=v.server.url, timeout=10) as client:
        started = time.perf_counter()
        for target, body in reqs:
            response = client.post(target, content=body)
            if response.status_code != 200 or v.marker not in response.text:
                raise RuntimeError(f"{v.label}: unexpected reply {response.status_code} "
                                   f"{response.text[:300]}")
    return len(reqs) / (time.perf_counter() - started)


def open_loop(v: Variant, pushes: Pushes, rate: float,
              duration: float) -> tuple[PacedResult, float]:
    """A constant-rate run: its result and the share of one core the server used."""
    reqs = pushes.build(max(500, round(rate * duration)), aes=v.aes)
    host = v.server.url.removeprefix("http://")
    raws = raw_http(reqs, host)
    cpu, started = v.server.cpu_s(), time.perf_counter()
    p = run_paced("127.0.0.1", v.server.port, raws, rate=rate, marker=v.marker.encode(),
                  keep_samples=5)
    busy = (v.server.cpu_s() - cpu) / (time.perf_counter() - started)
    print(f"  {v.label:<24} {rate:7.0f} req/s open loop: p50 {p.percentile(50):6.2f} ms  "
          f"p99 {p.percentile(99):6.2f} ms  max {max(p.latencies_ms, default=0):6.1f} ms  "
          f"bad {p.bad}  sender p99 lag {p.late_ms:.2f} ms  server busy {busy:.0%}",
          flush=True)
    return p, busy


def merged(runs: list[PacedResult]) -> PacedResult:
    return PacedResult(rate=runs[0].rate, sent=sum(r.sent for r in runs),
                       latencies_ms=[x for r in runs for x in r.latencies_ms],
                       bad=sum(r.bad for r in runs), late_ms=max(r.late_ms for r in runs),
                       max_in_flight=max(r.max_in_flight for r in runs),
                       samples=[s for r in runs for s in r.samples])


def alternate(v: Variant, floor: Variant, pushes: Pushes, rate: float, duration: float,
              turns: int = 2) -> None:
    """`v` and the floor at the same rate, in turns (floor, v, floor, v, ...), so that both
    tails are measured minutes apart at most on this drifting machine."""
    mine, floors, busy, floor_busy = [], [], 0.0, 0.0
    for _ in range(turns):
        result, used = open_loop(floor, pushes, rate, duration / turns)
        floors.append(result)
        floor_busy += used / turns
        result, used = open_loop(v, pushes, rate, duration / turns)
        mine.append(result)
        busy += used / turns
    v.paced, v.floor_paced = merged(mine), merged(floors)
    v.paced_cpu_us = (busy / rate * 1e6, floor_busy / rate * 1e6)


def check_samples(v: Variant, pushes: Pushes) -> str:
    """Decode the sampled replies as WeChat would; return one as the customer sees it."""
    assert v.paced is not None
    shown = ""
    for body in v.paced.samples:
        reply = pushes.decode(body, aes=v.aes)
        if reply.kind != "news" or len(reply.articles) != 1 or not reply.articles[0]["title"]:
            raise RuntimeError(f"{v.label}: not a one-card news reply: {reply!r}")
        shown = str(reply)
    return shown
