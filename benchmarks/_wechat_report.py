"""The WeChat benchmark's tables and issue 16's targets, each marked ✓ or ✗."""

from __future__ import annotations

from benchmarks._results import table
from benchmarks._wechat_memory import Memory
from benchmarks._wechat_runs import Variant
from benchmarks._wechat_sizes import SizeResult

#: Issue 16's targets.
WARM_S, COLD_S = 5.0, 30.0
CATALOG_MB, FOUR_WORKER_SLACK = 150.0, 1.2
CPU_DRIFT = 0.15
PEAK_VS_CONVENTIONAL = {"o2o, SQLite": 5.0, "o2o, PostGIS": 4.0}
SHARE_OF_FLOOR, P99_VS_FLOOR = 0.40, 2.0


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _bad(v: Variant) -> int:
    return sum(r.bad + r.errors for r in v.runs) + (v.paced.bad if v.paced else 0)


def size_table(r: SizeResult) -> str:
    floor, conventional = r.variants[0].peak.rate, r.variants[1].peak.rate
    rows = []
    for v in r.variants:
        peak, paced, start = v.peak, v.paced, r.starts.get(v.label)
        cpu = "-" if v.paced_cpu_us is None else \
            f"{v.paced_cpu_us[0]:,.0f} ({v.paced_cpu_us[1]:,.0f})"
        tail = ["-", "-", "-", "-"] if paced is None or v.floor_paced is None else [
            f"{paced.rate:,.0f}", f"{paced.percentile(99):.2f}",
            f"{v.floor_paced.percentile(99):.2f}", cpu]
        rows.append([v.label, f"{peak.rate:,.0f}", peak.connections,
                     f"{peak.rate / conventional:.2f}×", f"{100 * peak.rate / floor:.0f}%",
                     f"{peak.server_cpu_us:,.0f}", f"{peak.db_cpu_us:,.0f}", *tail,
                     f"{start.ready_s:.1f}" if start else "-",
                     f"{start.rss_mb:,.0f}" if start else "-", _bad(v)])
    return table(["server", "peak req/s", "at c", "× conventional", "of floor",
                  "server CPU µs/req", "PostgreSQL CPU µs/req", "paced req/s", "p99 ms",
                  "floor p99 ms (same rate)", "paced CPU µs/req (floor)", "launch → ready s",
                  "RSS ready MB", "bad"], rows)


def sweep_table(r: SizeResult) -> str:
    conc = sorted({x.connections for x in r.variants[0].runs})
    return table(["req/s", *[f"c={c}" for c in conc]],
                 [[v.label, *[f"{v.best_at(c).rate:,.0f}" for c in conc]] for v in r.variants])


def memory_table(sizes: list[SizeResult], demo: dict[int, Memory]) -> str:
    rows = [[f"{label}", n, f"{m.ready_s:.1f}", f"{m.rss_mb:,.0f}", f"{m.pss_mb:,.0f}",
             f"{m.worker_rss_mb:,.0f}"]
            for label, runs in [("demo chain", demo),
                                *[(f"{r.outlets:,} outlets", r.memory) for r in sizes]]
            for n, m in sorted(runs.items())]
    return table(["chain", "workers", "launch → ready s", "RSS sum MB", "PSS sum MB",
                  "largest process RSS MB"], rows)


def targets(r: SizeResult, demo: dict[int, Memory], baseline: SizeResult | None) -> list[str]:
    """Issue 16's targets at this size, one line each."""
    out = []
    by = {v.label: v for v in r.variants}
    floor, conventional = by[r.variants[0].label], by["conventional, PostGIS"]
    for label in ("o2o, SQLite", "o2o, PostGIS"):
        v = by[label]
        cold, warm = r.starts.get(f"{label}, cold"), r.starts.get(label)
        if cold and warm:
            out.append(f"{mark(warm.ready_s <= WARM_S)} {label}: launch → ready warm "
                       f"{warm.ready_s:.1f} s (≤ {WARM_S:g}), {mark(cold.ready_s <= COLD_S)} "
                       f"cold {cold.ready_s:.1f} s (≤ {COLD_S:g})")
        ratio, want = v.peak.rate / conventional.peak.rate, PEAK_VS_CONVENTIONAL[label]
        share = v.peak.rate / floor.peak.rate
        out.append(f"{mark(ratio >= want)} {label}: peak {ratio:.2f}× the conventional "
                   f"implementation's (≥ {want:g}×); {mark(share >= SHARE_OF_FLOOR)} "
                   f"{share:.0%} of the floor's (≥ {SHARE_OF_FLOOR:.0%})")
        if v.paced and v.floor_paced:
            p99, fp99 = v.paced.percentile(99), v.floor_paced.percentile(99)
            out.append(f"{mark(p99 <= P99_VS_FLOOR * fp99)} {label}: p99 {p99:.2f} ms at "
                       f"{v.paced.rate:,.0f} req/s, the floor's {fp99:.2f} ms at the same rate "
                       f"(≤ {P99_VS_FLOOR:g}×)" + _paced_cpu(v))
        if baseline is not None:
            small = next(b for b in baseline.variants if b.label == label).peak.server_cpu_us
            drift = v.peak.server_cpu_us / small - 1
            out.append(f"{mark(drift <= CPU_DRIFT)} {label}: server CPU per reply "
                       f"{v.peak.server_cpu_us:,.0f} µs, {drift:+.0%} on "
                       f"{baseline.outlets:,} outlets' {small:,.0f} µs (≤ +{CPU_DRIFT:.0%})")
    if 1 in r.memory and 1 in demo:
        catalog = r.memory[1].rss_mb - demo[1].rss_mb
        out.append(f"{mark(catalog <= CATALOG_MB)} catalog memory (RSS of one worker minus "
                   f"the same with the demo chain): {catalog:,.0f} MB (≤ {CATALOG_MB:g})")
        if 4 in r.memory and 4 in demo:
            limit = demo[4].pss_mb + FOUR_WORKER_SLACK * catalog
            out.append(f"{mark(r.memory[4].pss_mb <= limit)} four workers, PSS summed: "
                       f"{r.memory[4].pss_mb:,.0f} MB (≤ demo chain's {demo[4].pss_mb:,.0f} + "
                       f"{FOUR_WORKER_SLACK:g} × {catalog:,.0f} = {limit:,.0f})")
    return out


def _paced_cpu(v: Variant) -> str:
    """What the server spent per request at that rate, against its own peak and the floor's."""
    if v.paced_cpu_us is None:
        return ""
    mine, floor = v.paced_cpu_us
    return (f"; at that rate it spent {mine:,.0f} µs of CPU per request ({floor:,.0f} the "
            f"floor), {mine / v.peak.server_cpu_us:.1f}× its {v.peak.server_cpu_us:,.0f} µs "
            f"at peak")


def describe(r: SizeResult) -> str:
    return (f"{r.outlets:,} outlets, bulk loaded in {r.load_s.get('SQLite', 0):.1f} s (SQLite) "
            f"and {r.load_s.get('PostGIS', 0):.1f} s (PostGIS, COPY then ANALYZE); this size "
            f"took {r.seconds / 60:.1f} min ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in r.phases.items()) + ")")
