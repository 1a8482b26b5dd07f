"""Where a reply's time goes, in process (no HTTP): verifying and parsing the push, computing
the reply from memory, and the handler's database writes through the group commit.

Figures are CPU µs per push (all threads of the process: the writer thread's commits count),
the best of three batches (the machine may be shared). The writes are measured by
difference: the same pushes with HandlerContext.record made a no-op (a benchmark-only patch,
undone afterwards); with them, a batch is answered without waiting and then flushed, so
the writer commits in groups as it does under load. The reply without writes is also timed
push by push on this thread's clock, back to back and with each push after IDLE_GAP_S
asleep, as at a quarter of peak. Costs barely depend on the number of
outlets (the index query is ~10 µs), so a small scratch chain is used, on SQLite and (when
a server answers) on a scratch PostGIS database.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from benchmarks._scratch_db import scratch_postgis
from benchmarks._wechat_data import create_database
from benchmarks._wechat_requests import Keys, Pushes
from o2o.services import build_services
from o2o.wechat.context import HandlerContext
from o2o.wechat.endpoint import WeChatEndpoint
from o2o.wechat.parsing import parse_message
from o2o.wechat.security import unwrap_request


def _per_request_us(batches: list[list[tuple[dict[str, str], bytes]]],
                    call: Callable[[dict[str, str], bytes], object],
                    after: Callable[[], object] = lambda: None) -> float:
    best = float("inf")
    for reqs in batches:
        started = time.process_time()
        for query, body in reqs:
            call(query, body)
        after()
        best = min(best, (time.process_time() - started) / len(reqs) * 1e6)
    return best


#: The idle time before each push at about a quarter of o2o's peak (~600 pushes a second).
IDLE_GAP_S = 0.0016


def _thread_us(reqs: list[tuple[dict[str, str], bytes]],
               call: Callable[[dict[str, str], bytes], object], *, gap_s: float) -> float:
    """Mean CPU µs of this thread per call, each call after `gap_s` asleep: what the same
    work costs on a core that idled in between (caches gone cold) against back to back."""
    spent = 0.0
    for query, body in reqs:
        if gap_s:
            time.sleep(gap_s)
        started = time.thread_time()
        call(query, body)
        spent += time.thread_time() - started
    return spent / len(reqs) * 1e6


def breakdowns(keys: Keys, *, postgis: bool = True) -> dict[str, dict[str, float]]:
    """µs per stage for "plain, SQLite", "AES, SQLite" and, when reachable, on PostGIS."""
    with tempfile.TemporaryDirectory(prefix="o2o-bench-wechat-breakdown-") as tmp:
        out = breakdown(keys, f"sqlite:///{Path(tmp) / 'breakdown.db'}", outlets=20_000)
    if postgis:
        with scratch_postgis("o2o_bench_wechat", optional=True) as pg:
            if pg is not None:
                out.update(breakdown(keys, pg, outlets=5_000, n=200, label="PostGIS"))
    return out


def breakdown(keys: Keys, url: str, *, outlets: int, n: int = 200,
              label: str = "SQLite") -> dict[str, dict[str, float]]:
    """µs per request for each stage, plain and AES, on the empty database at `url`."""
    out: dict[str, dict[str, float]] = {}
    create_database(url, outlets)
    services = build_services(keys.settings(url), migrate=False, load_demo=False, sync=False)
    try:
        endpoint = WeChatEndpoint(services)
        pushes = Pushes(keys)

        def batch(aes: bool) -> list[list[tuple[dict[str, str], bytes]]]:
            return [[(dict(parse_qsl(urlsplit(target).query)), body)
                     for target, body in pushes.build(n, aes=aes)] for _ in range(3)]

        def unwrap(query: dict[str, str], body: bytes) -> object:
            return parse_message(unwrap_request(
                body, query, token=keys.token, crypto=endpoint.crypto).xml)

        def answer(query: dict[str, str], body: bytes) -> object:
            return endpoint.answer(endpoint.accept(query, body))

        def flush() -> None:
            services.writer.flush(60)

        for aes in (False, True):
            _per_request_us(batch(aes), answer, flush)  # warm-up
            full = _per_request_us(batch(aes), answer, flush)
            real_record = HandlerContext.record
            HandlerContext.record = lambda self, **rows: None  # type: ignore[method-assign]
            try:
                no_write = _per_request_us(batch(aes), answer)
                runs = batch(aes) + batch(aes)  # alternately back to back and after idling
                warm = min(_thread_us(r, answer, gap_s=0.0) for r in runs[0::2])
                idle = min(_thread_us(r, answer, gap_s=IDLE_GAP_S) for r in runs[1::2])
            finally:
                HandlerContext.record = real_record  # type: ignore[method-assign]
            verify = _per_request_us(batch(aes), unwrap)
            out[f"{'AES' if aes else 'plain'}, {label}"] = {
                "verify": verify, "reply": no_write - verify, "writes": full - no_write,
                "total": full, "warm": warm, "idle": idle}
    finally:
        services.close()
    return out
