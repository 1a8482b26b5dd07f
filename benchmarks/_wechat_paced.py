"""Open-loop, constant-rate load (what wrk2's -R does; Debian's wrk has no -R).

Request i is due at t0 + i/rate whatever happened before it. When the generator wakes it
dispatches every request that is due: each goes out on an idle keep-alive connection or
waits for the first one to free up. Latency runs from that dispatch, not from the actual
write, so a stalled server cannot hide its queue behind busy connections (no coordinated
omission). How late the generator itself dispatched (timer granularity, being descheduled
on a shared machine) is reported apart as `late_ms` instead of being billed to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

import httptools

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is installed with uvicorn[standard]
    uvloop = None


@dataclass
class PacedResult:
    rate: float  # asked for
    sent: int
    latencies_ms: list[float]
    bad: int  # non-200 or a reply without the marker
    late_ms: float  # p99 of (dispatched - due): the generator's own lag
    max_in_flight: int
    samples: list[bytes] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.dispatched = 0.0
        self.body: list[bytes] = []
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ready.set_result(None)

    def send(self, raw: bytes, dispatched: float) -> None:
        self.dispatched = dispatched
        self.body = []
        assert self.transport is not None
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.run.completed(self, self.parser.get_status_code(), b"".join(self.body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.lost(self)


class _Run:
    def __init__(self, marker: bytes, keep_samples: int) -> None:
        self.marker = marker
        self.keep_samples = keep_samples
        self.idle: deque[_Connection] = deque()
        self.backlog: deque[tuple[bytes, float]] = deque()
        self.latencies: list[float] = []
        self.late: list[float] = []
        self.samples: list[bytes] = []
        self.bad = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.done = asyncio.Event()
        self.expected = 0

    def dispatch(self, raw: bytes, due: float) -> None:
        now = time.perf_counter()
        self.late.append(now - due)
        if self.idle:
            self._send(self.idle.popleft(), raw, now)
        else:
            self.backlog.append((raw, now))

    def _send(self, conn: _Connection, raw: bytes, dispatched: float) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        conn.send(raw, dispatched)

    def completed(self, conn: _Connection, status: int, body: bytes) -> None:
        self.latencies.append((time.perf_counter() - conn.dispatched) * 1e3)
        self.in_flight -= 1
        if status != 200 or self.marker not in body:
            self.bad += 1
        if len(self.samples) < self.keep_samples:
            self.samples.append(body)
        if self.backlog:
            self._send(conn, *self.backlog.popleft())
        else:
            self.idle.append(conn)
        if len(self.latencies) >= self.expected:
            self.done.set()

    def lost(self, conn: _Connection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)


async def _paced(host: str, port: int, raws: list[bytes], rate: float, connections: int,
                 marker: bytes, keep_samples: int, timeout_s: float) -> PacedResult:
    loop = asyncio.get_running_loop()
    run = _Run(marker, keep_samples)
    run.expected = len(raws)
    conns = [(await loop.create_connection(lambda: _Connection(run), host, port))[1]
             for _ in range(connections)]
    run.idle.extend(conns)  # type: ignore[arg-type]
    interval = 1.0 / rate
    t0 = time.perf_counter() + 0.05
    for i, raw in enumerate(raws):
        due = t0 + i * interval
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        run.dispatch(raw, due)
    with contextlib.suppress(TimeoutError):  # the unanswered count as bad below
        await asyncio.wait_for(run.done.wait(), timeout_s)
    for conn in conns:
        if conn.transport is not None:  # type: ignore[attr-defined]
            conn.transport.close()  # type: ignore[attr-defined]
    late = sorted(run.late)
    return PacedResult(
        rate=rate, sent=len(raws), latencies_ms=run.latencies,
        bad=run.bad + (len(raws) - len(run.latencies)),
        late_ms=late[min(len(late) - 1, int(0.99 * len(late)))] * 1e3 if late else 0.0,
        max_in_flight=run.max_in_flight, samples=run.samples)


def run_paced(host: str, port: int, raws: list[bytes], *, rate: float, connections: int = 64,
              marker: bytes, keep_samples: int = 3, timeout_s: float = 30.0) -> PacedResult:
    """Send `raws` at `rate` per second, open loop; unanswered requests count as bad."""
    coro = _paced(host, port, raws, rate, connections, marker, keep_samples, timeout_s)
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)
