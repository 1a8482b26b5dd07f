"""How fast an admin change reaches customers: write latency, and the time until other
workers (polling the change feed every 0.25 s) serve it. The target is under 1 s.

    .venv/bin/python -m benchmarks.bench_admin_propagation [--outlets 10000] [--edits 40]

Runs on a temporary SQLite file and, when reachable, a temporary PostGIS database.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import sqlalchemy as sa

from benchmarks._results import table, write_section
from benchmarks._scratch_db import scratch_database
from o2o.catalog.admin_outlets import update_outlet
from o2o.catalog.admin_promotions import create_promotion, set_promotion_status
from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet, Region
from o2o.catalog.runtime import Catalog
from o2o.catalog.schemas import OutletUpdate, PromotionCreate, PromotionStatusIn
from o2o.db.engine import make_engine, make_sessionmaker
from o2o.migrate import upgrade
from o2o.staff.models import Role, Staff
from o2o.staff.tokens import principal_for

POLL_S = 0.25
WORKERS = 3  # the writer's own catalog plus two others


def seed(sessions, outlets: int) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        region = Region(code="BENCH", name="Bench")
        s.add(region)
        s.add(Staff(name="bench admin", role=Role.ADMIN, active=True))
        s.flush()
        rows = []
        for i in range(outlets):
            o = Outlet(code=f"B{i:06d}", name=f"门店 {i}", region_id=region.id,
                       hours={"mon": [["00:00", "24:00"]]})
            o.set_position(20 + (i % 2000) * 0.01, 100 + (i // 2000) * 0.01)
            rows.append(o)
        s.add_all(rows)
        s.flush()
        record_change(s, "region", region.id)


def wait_for(check: Callable[[], bool], limit_s: float = 5.0) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > limit_s:
            return float("inf")
        time.sleep(0.001)
    return time.perf_counter() - started


def run(kind: str, outlets: int, edits: int) -> list[list[object]]:
    with scratch_database(kind) as url:
        engine = make_engine(url)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        seed(sessions, outlets)
        workers = [Catalog(sessions, poll_s=POLL_S) for _ in range(WORKERS)]
        for w in workers:
            w.load()
            w.start()
        writer, others = workers[0], workers[1:]
        with sessions() as s:
            admin = principal_for(s.scalar(sa.select(Staff)))
            ids = list(s.scalars(sa.select(Outlet.id).order_by(Outlet.id).limit(edits)))
        write_ms, seen_ms = [], []
        for n, oid in enumerate(ids):
            phone = f"021-{n:06d}"
            with sessions() as s:
                version = s.get(Outlet, oid).version
                t0 = time.perf_counter()
                update_outlet(s, principal=admin, outlet_id=oid, outlet_in=OutletUpdate(
                    phone=phone), expected_version=version, catalog=writer)
                write_ms.append((time.perf_counter() - t0) * 1e3)
            lag = max(wait_for(lambda w=w, oid=oid, phone=phone: w.outlet(oid).phone == phone)
                      for w in others)
            seen_ms.append((write_ms[-1] / 1e3 + lag) * 1e3)
        promo_ms = []
        for n in range(min(edits, 20)):
            with sessions() as s:
                t0 = time.perf_counter()
                row = create_promotion(s, principal=admin, promotion_in=PromotionCreate(
                    code=f"BP{n}", title="基准", scope="all"), catalog=writer)
                set_promotion_status(s, principal=admin, promotion_id=row.id,
                                     status_in=PromotionStatusIn(status="published"),
                                     expected_version=row.version, catalog=writer)
                pid = row.id
            lag = max(wait_for(lambda w=w, pid=pid: w.promotion(pid) is not None)
                      for w in others)
            promo_ms.append(float("inf") if lag == float("inf")
                            else (time.perf_counter() - t0) * 1e3)
        for w in workers:
            w.close()
        engine.dispose()
    return [
        [kind, "outlet PATCH: write + commit + own refresh", *_stats(write_ms)],
        [kind, "outlet PATCH: until every other worker serves it", *_stats(seen_ms)],
        [kind, "promotion create + publish: until every other worker serves it",
         *_stats(promo_ms)],
    ]


def _stats(ms: list[float]) -> list[str]:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return [f"{statistics.median(ordered):.1f}", f"{p95:.1f}", f"{ordered[-1]:.1f}",
            str(len(ordered))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=40)
    args = parser.parse_args()
    rows = run("sqlite", args.outlets, args.edits)
    try:
        rows += run("postgis", args.outlets, args.edits)
    except sa.exc.OperationalError as exc:
        print(f"PostGIS skipped: {str(exc.orig).strip()[:120]}")
    body = (f"{args.outlets:,} outlets, {WORKERS} workers in one process, each polling the "
            f"change feed every {POLL_S} s; milliseconds. \"Until served\" is measured from the "
            "start of the write to the moment the slowest other worker's catalog returns the "
            "new value.\n\n" + table(["backend", "change", "p50 ms", "p95 ms", "max ms", "n"],
                                     rows))
    write_section("bench_admin_propagation", "Admin changes reaching every worker", body)


if __name__ == "__main__":
    main()
