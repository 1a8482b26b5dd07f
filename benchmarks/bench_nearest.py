"""k=5 nearest outlets, one query at a time: NearestIndex against brute force, other in-process
trees, PostGIS geography KNN and Redis GEOSEARCH, on 1k/100k/1M synthetic outlets.

Outlets are 70% clustered around Chinese cities and 30% spread over the whole sphere (poles
and antimeridian included); queries are 90% near those cities. "exact" is the share of
queries whose top-5 distances equal a brute-force haversine ranking (ties aside).

    .venv/bin/python benchmarks/bench_nearest.py                       # 1k, 100k, 1M
    .venv/bin/python benchmarks/bench_nearest.py --sizes 1000,100000   # quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import table, write_section
from o2o.geo import IndexEntry, NearestIndex, haversine_m_array

CITIES = np.array([
    (31.23, 121.47), (39.90, 116.40), (23.13, 113.26), (22.54, 114.06), (30.57, 104.07),
    (29.56, 106.55), (30.59, 114.30), (34.34, 108.94), (32.06, 118.80), (30.27, 120.15),
    (36.07, 120.38), (38.04, 114.51), (41.80, 123.43), (45.80, 126.53), (25.04, 102.71),
    (26.65, 106.63), (28.23, 112.94), (24.48, 118.09), (26.07, 119.30), (43.83, 87.62),
    (36.06, 103.83), (22.82, 108.32), (20.04, 110.34), (31.82, 117.23), (34.75, 113.63),
])  # fmt: skip
PG_URL = os.environ.get("O2O_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("O2O_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_MAX_LAT = 85.05112878  # GEOADD refuses anything nearer the poles
K = 5


def sphere(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)


def around_cities(rng: np.random.Generator, n: int, sd: float) -> tuple[np.ndarray, np.ndarray]:
    pick = CITIES[rng.integers(0, len(CITIES), n)]
    return pick[:, 0] + rng.normal(0, sd, n), pick[:, 1] + rng.normal(0, sd * 1.2, n)


def outlets(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    local = int(n * 0.7)
    la, lo = around_cities(rng, local, 0.12)
    wa, wo = sphere(rng, n - local)
    return np.concatenate([la, wa]), np.concatenate([lo, wo])


def queries(rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    local = int(n * 0.9)
    la, lo = around_cities(rng, local, 0.2)
    wa, wo = sphere(rng, n - local)
    return list(zip(np.concatenate([la, wa]).tolist(), np.concatenate([lo, wo]).tolist(), strict=True))


def per_query_us(run: Callable[[float, float], object], qs: list[tuple[float, float]]) -> float:
    for lat, lng in qs[:20]:  # warm-up: JIT, caches, prepared statements
        run(lat, lng)
    start = time.perf_counter()
    for lat, lng in qs:
        run(lat, lng)
    return (time.perf_counter() - start) / len(qs) * 1e6


class Exactness:
    """Compares an engine's top-5 ids with the brute-force top-5 by haversine distance."""

    def __init__(self, lats: np.ndarray, lngs: np.ndarray, qs: list[tuple[float, float]]) -> None:
        self.lats, self.lngs, self.qs = lats, lngs, qs
        self.truth = [np.sort(haversine_m_array(a, b, lats, lngs))[:K] for a, b in qs]

    def share(self, top5: Callable[[float, float], list[int]]) -> str:
        ok = 0
        for (lat, lng), truth in zip(self.qs, self.truth, strict=True):
            rows = np.array(top5(lat, lng)[:K], dtype=np.int64)
            got = np.sort(haversine_m_array(lat, lng, self.lats[rows], self.lngs[rows]))
            ok += len(got) == len(truth) and bool(np.allclose(got, truth, rtol=0, atol=0.01))
        return f"{100 * ok / len(self.qs):.1f}%"


def bench_index(lats, lngs, qs, exact) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ids = np.arange(len(lats))
    index = NearestIndex()
    index.build_arrays(ids[:10], lats[:10], lngs[:10])  # compile the kernels outside the timing
    index.nearest(0.0, 0.0)
    start = time.perf_counter()
    index.build_arrays(ids, lats, lngs, tags=[("wifi",) if i % 10 == 0 else () for i in range(len(ids))])
    build = time.perf_counter() - start
    row = {
        "build_s": f"{build:.2f}", "mem_mb": f"{index.memory_bytes() / 2**20:.0f}",
        "us": f"{per_query_us(lambda a, b: index.nearest(a, b), qs):.1f}",
        "exact": exact.share(lambda a, b: [h.id for h in index.nearest(a, b)]),
        "us_tag": f"{per_query_us(lambda a, b: index.nearest(a, b, tags={'wifi'}), qs):.1f}",
    }  # fmt: skip
    rng = np.random.default_rng(1)
    for i in rng.choice(len(ids), 1000, replace=False).tolist():  # a full pending buffer
        index.upsert(IndexEntry(i, float(lats[i]) + 1e-4, float(lngs[i])))  # moved ~11 m
    row["us_pending"] = f"{per_query_us(lambda a, b: index.nearest(a, b), qs):.1f}"
    start = time.perf_counter()
    changes = 2000
    for j in range(changes):  # crosses a compaction at least once
        i = j % len(ids)
        index.upsert(IndexEntry(i, float(lats[i]), float(lngs[i]), status=("open", "closed")[j % 2]))
    row["upsert_us"] = f"{(time.perf_counter() - start) / changes * 1e6:.0f}"
    return row


def bench_brute(lats, lngs, qs) -> str:  # type: ignore[no-untyped-def]
    def run(lat: float, lng: float) -> np.ndarray:
        d = haversine_m_array(lat, lng, lats, lngs)
        top = np.argpartition(d, K)[:K]
        return top[np.argsort(d[top])]

    return f"{per_query_us(run, qs[: max(20, min(len(qs), 20_000_000 // len(lats)))]):.0f}"


def unit(lats: np.ndarray, lngs: np.ndarray) -> np.ndarray:
    rl, rg = np.radians(lats), np.radians(lngs)
    return np.column_stack([np.cos(rl) * np.cos(rg), np.cos(rl) * np.sin(rg), np.sin(rl)])


def bench_ckdtree(lats, lngs, qs, exact) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    from scipy.spatial import cKDTree

    start = time.perf_counter()
    tree = cKDTree(unit(lats, lngs), leafsize=16)
    build = time.perf_counter() - start
    qx = {q: unit(np.array([q[0]]), np.array([q[1]]))[0] for q in qs + exact.qs}
    us = per_query_us(lambda a, b: tree.query(qx[(a, b)], k=K), qs)
    return f"{us:.1f}", f"{build:.2f}", exact.share(lambda a, b: tree.query(qx[(a, b)], k=K)[1].tolist())


def bench_rtree(lats, lngs, qs, exact) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    from rtree import index as rindex

    xyz = unit(lats, lngs)
    props = rindex.Property(dimension=3)
    start = time.perf_counter()
    tree = rindex.Index(((i, (*p, *p), None) for i, p in enumerate(xyz.tolist())), properties=props)
    build = time.perf_counter() - start
    qx = {q: unit(np.array([q[0]]), np.array([q[1]]))[0].tolist() for q in qs + exact.qs}
    us = per_query_us(lambda a, b: list(tree.nearest(qx[(a, b)] * 2, K)), qs)
    return f"{us:.1f}", f"{build:.1f}", exact.share(lambda a, b: list(tree.nearest(qx[(a, b)] * 2, K)))


def bench_postgis(lats, lngs, qs, exact) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    import psycopg

    scratch = f"o2o_bench_{os.getpid()}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {scratch}")
    try:
        url = PG_URL.rsplit("/", 1)[0] + "/" + scratch
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
            conn.execute("CREATE TABLE outlets (id bigint PRIMARY KEY, geog geography(Point, 4326))")
            start = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY outlets (id, geog) FROM STDIN") as copy:
                for i, (lat, lng) in enumerate(zip(lats.tolist(), lngs.tolist(), strict=True)):
                    copy.write_row((i, f"SRID=4326;POINT({lng!r} {lat!r})"))
            conn.execute("CREATE INDEX ON outlets USING gist (geog)")
            conn.execute("ANALYZE outlets")
            build = time.perf_counter() - start
            sql = ("SELECT id FROM outlets ORDER BY geog <-> "
                   "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography LIMIT 5")  # fmt: skip
            cur = conn.cursor()

            def top5(lat: float, lng: float) -> list[int]:
                cur.execute(sql, (lng, lat), prepare=True)
                return [row[0] for row in cur.fetchall()]

            return f"{per_query_us(top5, qs):.0f}", f"{build:.0f}", exact.share(top5)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")


def bench_redis(lats, lngs, qs, exact) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    key = f"o2o:bench:nearest:{os.getpid()}"
    try:
        start = time.perf_counter()
        ok = np.flatnonzero(np.abs(lats) < REDIS_MAX_LAT)
        for chunk in np.array_split(ok, max(1, len(ok) // 20_000)):
            flat: list[object] = []
            for i, lat, lng in zip(chunk.tolist(), lats[chunk].tolist(), lngs[chunk].tolist(), strict=True):
                flat += [lng, lat, i]
            client.execute_command("GEOADD", key, *flat)
        build = time.perf_counter() - start

        def top5(lat: float, lng: float) -> list[int]:
            radius = 1000.0
            while True:  # GEOSEARCH needs a radius: grow it until five are inside
                found = client.geosearch(key, longitude=lng, latitude=lat, radius=radius,
                                         unit="m", sort="ASC", count=K)  # fmt: skip
                if len(found) >= K or radius > 2.1e7:
                    return [int(m) for m in found]
                radius *= 4

        usable = [q for q in qs if abs(q[0]) < REDIS_MAX_LAT]
        return f"{per_query_us(top5, usable):.0f}", f"{build:.0f}", exact.share(top5)
    finally:
        client.delete(key)


ENGINES = {"ckdtree": bench_ckdtree, "rtree": bench_rtree, "postgis": bench_postgis,
           "redis": bench_redis}  # fmt: skip
SERVERS = {"postgis", "redis"}


def guarded(name: str, fn: Callable[..., tuple[str, str, str]], *args: object) -> tuple[str, str, str]:
    """Run one engine; a missing server or library becomes "n/a" in the table, not a crash."""
    try:
        return fn(*args)
    except Exception as err:
        print(f"{name}: unavailable ({type(err).__name__}: {err})", file=sys.stderr)
        return ("n/a", "n/a", "n/a")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--server-queries", type=int, default=500, help="for PostGIS and Redis")
    parser.add_argument("--skip", default="", help="comma list of: rtree,postgis,redis,ckdtree")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    main_rows, index_rows = [], []
    for n in (int(s) for s in args.sizes.split(",")):
        rng = np.random.default_rng(n)
        lats, lngs = outlets(rng, n)
        qs = queries(rng, args.queries)
        exact = Exactness(lats, lngs, qs[:200])
        print(f"-- {n:,} outlets", file=sys.stderr)
        idx = bench_index(lats, lngs, qs, exact)
        brute = bench_brute(lats, lngs, qs)
        kd, rt, pg, rd = (
            ("skipped",) * 3 if name in skip else guarded(
                name, fn, lats, lngs, qs[: args.server_queries] if name in SERVERS else qs, exact)
            for name, fn in ENGINES.items()
        )  # fmt: skip
        main_rows.append([f"{n:,}", idx["us"], brute, kd[0], rt[0], pg[0], rd[0]])
        main_rows.append(["  exact top-5", idx["exact"], "100%", kd[2], rt[2], pg[2], rd[2]])
        main_rows.append(["  build s", idx["build_s"], "-", kd[1], rt[1], pg[1], rd[1]])
        index_rows.append([f"{n:,}", idx["build_s"], idx["mem_mb"], idx["us"],
                           idx["us_tag"], idx["us_pending"], idx["upsert_us"]])  # fmt: skip
        print(table(["outlets", "NearestIndex", "brute numpy", "cKDTree 3-D", "rtree 3-D",
                     "PostGIS geog", "Redis"], main_rows[-3:]), file=sys.stderr)  # fmt: skip
    body = (
        "µs per k=5 query, one at a time, single thread (PostGIS and Redis include the local "
        f"round trip; {args.server_queries} queries for them, {args.queries} for the rest). "
        "Outlets: 70% around 25 Chinese cities, 30% uniform on the sphere; Redis cannot store "
        f"|lat| > {REDIS_MAX_LAT}, so those outlets and queries are left out for it.\n\n"
        + table(["outlets", "NearestIndex", "brute numpy", "cKDTree 3-D", "rtree 3-D",
                 "PostGIS geog KNN", "Redis GEOSEARCH"], main_rows)  # fmt: skip
        + "\n\nNearestIndex details: build from arrays; memory of its arrays "
        "(`memory_bytes()`); queries with a tag filter (10% of outlets carry it), with a full "
        "pending buffer (1,000 un-compacted changes), and the mean cost of an upsert "
        "including amortised compaction.\n\n"
        + table(["outlets", "build s", "memory MB", "µs/query", "µs tag filter",
                 "µs 1k pending", "µs/upsert"], index_rows)  # fmt: skip
    )
    write_section("bench_nearest", "Nearest outlets: k=5, one query at a time", body)


if __name__ == "__main__":
    main()
