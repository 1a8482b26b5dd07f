"""The customer loop's costs: rendering the H5 nearby page, following a tracked link,
claiming and redeeming a coupon, and a thousand tills redeeming one code at once.

    .venv/bin/python -m benchmarks.bench_loop [--outlets 5000] [--repeat 200]

In-process through the real app (TestClient), on a temporary SQLite file and, when
reachable, a temporary PostGIS database.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from benchmarks._results import table, write_section
from benchmarks._scratch_db import scratch_database as database
from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet, Promotion
from o2o.config import Settings
from o2o.coupons.service import claim, redeem
from o2o.customers.identity import customer_hash
from o2o.customers.links import coupon_page_url, nearby_page_url, tracked_url
from o2o.db.engine import make_engine, make_sessionmaker, transaction
from o2o.errors import O2OError
from o2o.migrate import upgrade
from o2o.services import build_services
from o2o.staff.models import Role, Staff
from o2o.staff.tokens import principal_for

ALWAYS = {d: [["07:00", "22:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _seed(url: str, n: int) -> tuple[int, int]:
    """n outlets around Shanghai, one chain-wide coupon offer, one admin; (promo, staff)."""
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(7)
    with transaction(make_sessionmaker(engine)) as s:
        for i in range(n):
            o = Outlet(code=f"B{i:06d}", name=f"门店 {i}", address=f"测试路 {i} 号",
                       phone="021-60000000", hours=ALWAYS, city="上海")
            o.set_position(31.23 + rng.uniform(-0.3, 0.3), 121.47 + rng.uniform(-0.3, 0.3))
            s.add(o)
        promo = Promotion(code="BENCH", title="第二杯半价", status="published", scope="all",
                          coupon_enabled=True, coupon_total=None, coupon_per_customer=1_000_000)
        staff = Staff(name="bench", role=Role.ADMIN, active=True)
        s.add_all([promo, staff])
        s.flush()
        record_change(s, "promotion", promo.id)
        ids = promo.id, staff.id
    engine.dispose()
    return ids


def _ms(samples: list[float]) -> tuple[str, str]:
    q = statistics.quantiles(samples, n=100)
    return f"{statistics.median(samples) * 1e3:.2f}", f"{q[94] * 1e3:.2f}"


def _timed(repeat: int, fn: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def run(kind: str, url: str, outlets: int, repeat: int) -> list[list[object]]:
    promo_id, staff_id = _seed(url, outlets)
    settings = Settings(database_url=url, signing_key="bench-key-0123456789",
                        customer_hash_key="bench", public_base_url="http://testserver",
                        load_demo_data=False, auto_migrate=False)
    services = build_services(settings, migrate=False, load_demo=False, sync=False)
    who = customer_hash("oBENCH", "bench")
    rows: list[list[object]] = []
    with TestClient(create_app(settings, services=services)) as client:
        def page(i: int) -> None:
            r = client.get(nearby_page_url(settings, query_id=f"q{i}", customer_hash=who,
                                           lat=31.23, lng=121.47))
            assert r.status_code == 200

        rows.append([kind, "H5 nearby page (10 outlets, impressions written)",
                     *_ms(_timed(repeat, page))])

        def click(i: int) -> None:
            r = client.get(tracked_url(settings, target="outlet", query_id=f"c{i}",
                                       customer_hash=who, outlet_id=1 + i % outlets),
                           follow_redirects=False)
            assert r.status_code == 302

        rows.append([kind, "tracked click → 302", *_ms(_timed(repeat, click))])

        def claim_page(i: int) -> None:
            r = client.post(coupon_page_url(settings, query_id=None, customer_hash=who,
                                            promotion_id=promo_id), follow_redirects=False)
            assert r.status_code == 303

        rows.append([kind, "claim on the H5 page → 303", *_ms(_timed(repeat, claim_page))])

    with services.sessions() as s:
        principal = principal_for(s.get(Staff, staff_id))
    now = datetime.now(UTC)
    codes = []
    for i in range(repeat):
        with transaction(services.sessions) as s:
            codes.append(claim(s, promotion_id=promo_id, customer_hash=f"{i:064d}",
                               outlet_id=None, query_id=None, now=now).code)

    def redeem_one(i: int) -> None:
        with transaction(services.sessions) as s:
            redeem(s, code=codes[i], outlet_id=1, principal=principal, now=now)

    rows.append([kind, "redeem (service, one till)", *_ms(_timed(repeat, redeem_one))])
    services.close()
    rows.append([kind, "1,000 tills redeem one code at once (total)", *_race(url, promo_id,
                                                                              principal, now)])
    return rows


def _race(url: str, promo_id: int, principal, now: datetime) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    engine = make_engine(url, pool_size=20, max_overflow=0, pool_timeout=120)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        code = claim(s, promotion_id=promo_id, customer_hash="r" * 64, outlet_id=None,
                     query_id=None, now=now).code
    gate, won, lock = threading.Barrier(1000), [], threading.Lock()

    def one() -> None:
        gate.wait()
        try:
            with transaction(sessions) as s:
                redeem(s, code=code, outlet_id=1, principal=principal, now=now)
            with lock:
                won.append(1)
        except O2OError:
            pass

    threads = [threading.Thread(target=one) for _ in range(1000)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    engine.dispose()
    assert len(won) == 1, f"{len(won)} redemptions succeeded"
    return f"{elapsed * 1e3:.0f}", f"{len(won)} success"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for kind in ("sqlite", "postgis"):
        try:
            with database(kind) as url:
                rows += run(kind, url, args.outlets, args.repeat)
        except sa.exc.OperationalError as exc:
            print(f"skipping {kind}: {str(exc).splitlines()[0]}")
    body = table(["database", "step", "median ms", "p95 ms"], rows)
    body += (f"\n\n{args.outlets:,} outlets, {args.repeat} repetitions per step, in-process "
             "(TestClient, no network). Each step is a full request or transaction including "
             "its event write. The race row: wall time for 1,000 threads (pool of 20 "
             "connections) to get their answer, and how many succeeded. Load average during "
             f"the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a shared machine: "
             "read the numbers as upper bounds).")
    write_section("bench_loop", "Customer loop: H5 pages, clicks, claims, redemptions", body)


if __name__ == "__main__":
    main()
