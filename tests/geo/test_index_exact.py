"""Exactness: NearestIndex answers equal a brute-force haversine ranking (ties aside).

Random and clustered points, the antimeridian and both poles, every filter, and interleaved
upserts and removes (with a tiny pending buffer so compaction happens along the way).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2o.geo.distance import haversine_m, haversine_m_array
from o2o.geo.index import STATUSES, Hit, IndexEntry, NearestIndex

TAGS = ("wifi", "24h", "drive")
CENTRES = [(0.0, 179.999), (0.0, -179.999), (89.999, 0.0), (90.0, 0.0), (-89.99, 45.0),
           (-90.0, 0.0), (31.23, 121.47), (52.0, -179.9)]  # fmt: skip


def _near(centre: tuple[float, float], dlat: float, dlng: float) -> tuple[float, float]:
    lat = min(90.0, max(-90.0, centre[0] + dlat))
    lng = (centre[1] + dlng + 180.0) % 360.0 - 180.0
    return lat, lng


points = st.one_of(
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    st.builds(_near, st.sampled_from(CENTRES), st.floats(-0.05, 0.05), st.floats(-3, 3)),
    st.builds(_near, st.sampled_from(CENTRES), st.floats(-1e-5, 1e-5), st.floats(-1e-5, 1e-5)),
)
statuses = st.sampled_from(STATUSES)
tag_sets = st.frozensets(st.sampled_from(TAGS), max_size=2)
entries = st.lists(st.tuples(points, statuses, tag_sets), max_size=80).map(
    lambda rows: [IndexEntry(i, p[0], p[1], s, t) for i, (p, s, t) in enumerate(rows)]
)
queries = st.fixed_dictionaries(
    {"point": points, "k": st.integers(1, 8)},
    optional={
        "statuses": st.frozensets(st.sampled_from(STATUSES), min_size=1),
        "tags": st.frozensets(st.sampled_from(TAGS), max_size=2),
        "max_distance_m": st.floats(0, 2.1e7),
        "every": st.integers(2, 4),  # predicate: id % every != 0
    },
)


def tolerance(metres: float) -> float:
    """Both formulas are exact to ~1e-9 m except near the antipode (asin near 1): ~0.1 m."""
    return 1e-4 if metres < 1.9e7 else 0.5


def run(index: NearestIndex, model: dict[int, IndexEntry], q: dict) -> None:
    """Query the index and a brute-force ranking the same way and compare."""
    lat, lng = q["point"]
    wanted = q.get("statuses", frozenset({"open"}))
    tags = q.get("tags", frozenset())
    every = q.get("every")
    predicate: Callable[[int], bool] | None = (lambda i: i % every != 0) if every else None
    limit = q.get("max_distance_m")
    expected = sorted(
        (haversine_m(lat, lng, e.lat, e.lng), e.id)
        for e in model.values()
        if e.status in wanted and tags <= e.tags and (predicate is None or predicate(e.id))
    )
    if limit is not None:
        expected = [row for row in expected if row[0] <= limit - tolerance(limit)] + [
            row for row in expected if abs(row[0] - limit) < tolerance(limit)
        ]
    hits = index.nearest(lat, lng, q["k"], statuses=wanted, tags=q.get("tags"),
                         max_distance_m=limit, predicate=predicate)  # fmt: skip
    check(hits, sorted(expected)[: q["k"]], model, lat, lng, limit)


def check(hits: list[Hit], expected: list[tuple[float, int]], model: dict[int, IndexEntry],
          lat: float, lng: float, limit: float | None = None) -> None:  # fmt: skip
    near_limit = limit is not None and any(abs(d - limit) < tolerance(limit) for d, _ in expected)
    if not near_limit:  # a point exactly on the radius may fall either way by a rounding
        assert len(hits) == len(expected)
    assert len({h.id for h in hits}) == len(hits)
    for hit, (distance, _) in zip(hits, expected, strict=False):
        assert hit.distance_m == pytest.approx(distance, abs=tolerance(distance))
        entry = model[hit.id]
        own = haversine_m(lat, lng, entry.lat, entry.lng)
        assert hit.distance_m == pytest.approx(own, abs=tolerance(own))
    assert [h.distance_m for h in hits] == sorted(h.distance_m for h in hits)


@settings(max_examples=150, deadline=None)
@given(rows=entries, qs=st.lists(queries, min_size=1, max_size=6))
def test_built_index_is_exact(rows: list[IndexEntry], qs: list[dict]) -> None:
    index = NearestIndex()
    index.build(rows)
    model = {e.id: e for e in rows}
    for q in qs:
        run(index, model, q)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.integers(0, 40), points, statuses, tag_sets),
        st.tuples(st.just("remove"), st.integers(0, 40)),
        st.tuples(st.just("query"), queries),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(rows=entries, steps=ops, capacity=st.sampled_from([1, 3, 1024]))
def test_exact_after_interleaved_upserts_and_removes(
    rows: list[IndexEntry], steps: list[tuple], capacity: int
) -> None:
    index = NearestIndex(pending_capacity=capacity)
    index.build(rows)
    model = {e.id: e for e in rows}
    for step in steps:
        if step[0] == "upsert":
            _, id_, (lat, lng), status, tags = step
            model[id_] = IndexEntry(id_, lat, lng, status, tags)
            index.upsert(model[id_])
        elif step[0] == "remove":
            assert index.remove(step[1]) == (model.pop(step[1], None) is not None)
        else:
            run(index, model, step[1])
        assert len(index) == len(model)
    for id_, entry in model.items():
        assert index.get(id_) == entry


def test_deep_tree_matches_numpy_brute_force() -> None:
    """50k points (cities, poles, antimeridian), 300 queries: deep trees, many leaves."""
    rng = np.random.default_rng(20240601)
    n = 50_000
    centres = np.array(CENTRES + [(39.9, 116.4), (22.54, 114.06), (-33.87, 151.21)])
    pick = rng.integers(0, len(centres), n)
    lats = np.clip(centres[pick, 0] + rng.normal(0, 0.3, n), -90, 90)
    lngs = (centres[pick, 1] + rng.normal(0, 0.5, n) + 180) % 360 - 180
    spread = rng.random(n) < 0.3
    lats[spread] = np.degrees(np.arcsin(rng.uniform(-1, 1, spread.sum())))
    lngs[spread] = rng.uniform(-180, 180, spread.sum())
    status = rng.choice(3, n, p=[0.8, 0.1, 0.1])
    tags = [("wifi",) if r < 0.05 else () for r in rng.random(n)]
    ids = rng.permutation(10 * n)[:n]
    index = NearestIndex()
    index.build_arrays(ids, lats, lngs, status=status, tags=tags)
    has_wifi = np.array([bool(t) for t in tags])
    q_pick = rng.integers(0, len(centres), 300)
    q_lats = np.clip(centres[q_pick, 0] + rng.normal(0, 0.5, 300), -90, 90)
    q_lngs = (centres[q_pick, 1] + rng.normal(0, 1.0, 300) + 180) % 360 - 180
    for i, (lat, lng) in enumerate(zip(q_lats.tolist(), q_lngs.tolist(), strict=True)):
        d = haversine_m_array(lat, lng, lats, lngs)
        ok = status == 0 if i % 3 else (status == 0) & has_wifi
        order = np.flatnonzero(ok)[np.argsort(d[ok], kind="stable")][:10]
        hits = index.nearest(lat, lng, k=10, tags={"wifi"} if i % 3 == 0 else None)
        assert [h.distance_m for h in hits] == pytest.approx(d[order].tolist(), abs=1e-4)
        assert len({h.id for h in hits}) == 10
        by_id = dict(zip(ids.tolist(), d.tolist(), strict=True))
        assert [by_id[h.id] for h in hits] == pytest.approx(d[order].tolist(), abs=1e-4)


def test_500_distinct_tags_filter_exactly_in_base_and_pending() -> None:
    """No ceiling on distinct tags: 500 across 20k outlets, some added after the build (in the
    pending buffer and through compactions), every filtered answer equals brute force."""
    rng = np.random.default_rng(19)
    n, names = 20_000, [f"t{i}" for i in range(500)]
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lngs = rng.uniform(-180, 180, n)
    tags = [frozenset(rng.choice(names[:400], rng.integers(0, 4), replace=False).tolist())
            for _ in range(n)]
    index = NearestIndex(pending_capacity=64)
    index.build_arrays(np.arange(n), lats, lngs, tags=tags)
    for j, i in enumerate(rng.choice(n, 300, replace=False).tolist()):  # 100 new tags later
        tags[i] = frozenset([names[400 + j % 100], *rng.choice(names, 2).tolist()])
        index.upsert(IndexEntry(i, float(lats[i]), float(lngs[i]), tags=tags[i]))
    assert len({t for row in tags for t in row}) == 500
    for q in range(200):
        lat, lng = float(np.degrees(np.arcsin(rng.uniform(-1, 1)))), float(rng.uniform(-180, 180))
        want = frozenset(rng.choice(names, 1 + q % 2, replace=False).tolist())
        d = haversine_m_array(lat, lng, lats, lngs)
        ok = np.flatnonzero([want <= row for row in tags])
        expected = ok[np.argsort(d[ok], kind="stable")][:5]
        hits = index.nearest(lat, lng, k=5, tags=want)
        assert [h.distance_m for h in hits] == pytest.approx(d[expected].tolist(), abs=1e-4)
        assert all(want <= tags[h.id] for h in hits)
