"""NearestIndex behaviour: API, filters, live changes, versions, and concurrent readers."""

from __future__ import annotations

import numpy as np
import pytest

from o2o.errors import ValidationError
from o2o.geo.distance import haversine_m
from o2o.geo.index import Hit, IndexEntry, NearestIndex
from tests.geo.churn import churn_while_reading

PEOPLES_SQUARE = (31.2304, 121.4737)


def shanghai_index(**kwargs: int) -> NearestIndex:
    """Five outlets east of People's Square, 100 m apart, ids 1..5 in distance order."""
    index = NearestIndex(**kwargs)
    lat, lng = PEOPLES_SQUARE
    index.build(IndexEntry(i, lat, lng + i * 0.00105) for i in range(1, 6))
    return index


def test_nearest_returns_sorted_hits_with_true_distances() -> None:
    index = shanghai_index()
    hits = index.nearest(*PEOPLES_SQUARE, k=3)
    assert [h.id for h in hits] == [1, 2, 3]
    for hit in hits:
        entry = index.get(hit.id)
        assert entry is not None
        assert hit.distance_m == pytest.approx(haversine_m(*PEOPLES_SQUARE, entry.lat, entry.lng), abs=1e-6)
    assert 95 < hits[0].distance_m < 105
    assert isinstance(hits[0], Hit) and hits[0] == (1, hits[0].distance_m)


def test_k_larger_than_the_index_and_k_zero() -> None:
    index = shanghai_index()
    assert [h.id for h in index.nearest(*PEOPLES_SQUARE, k=50)] == [1, 2, 3, 4, 5]
    assert index.nearest(*PEOPLES_SQUARE, k=0) == []
    assert NearestIndex().nearest(0.0, 0.0) == []


def test_max_distance_cuts_exactly() -> None:
    index = shanghai_index()
    third = index.nearest(*PEOPLES_SQUARE, k=3)[2].distance_m
    assert [h.id for h in index.nearest(*PEOPLES_SQUARE, max_distance_m=third)] == [1, 2, 3]
    assert [h.id for h in index.nearest(*PEOPLES_SQUARE, max_distance_m=third - 0.01)] == [1, 2]
    assert index.nearest(*PEOPLES_SQUARE, max_distance_m=10) == []


def test_status_filter_defaults_to_open_and_searches_past_closed_outlets() -> None:
    index = shanghai_index()
    lat, lng = PEOPLES_SQUARE
    index.upsert(IndexEntry(1, lat, lng + 0.00105, status="closed"))
    index.upsert(IndexEntry(2, lat, lng + 0.0021, status="temporarily_closed"))
    assert [h.id for h in index.nearest(lat, lng, k=2)] == [3, 4]
    both = index.nearest(lat, lng, k=2, statuses={"open", "temporarily_closed"})
    assert [h.id for h in both] == [2, 3]
    assert [h.id for h in index.nearest(lat, lng, k=5, statuses=["closed"])] == [1]
    assert [h.id for h in index.nearest(lat, lng, k=5, statuses="closed")] == [1]
    with pytest.raises(ValidationError):
        index.nearest(lat, lng, statuses={"shut"})


def test_only_far_match_is_still_found() -> None:
    """Filters drop the 2,000 nearer candidates; the search keeps going until it has one."""
    rng = np.random.default_rng(7)
    n = 2000
    index = NearestIndex()
    index.build_arrays(np.arange(n), rng.uniform(30, 32, n), rng.uniform(120, 122, n),
                       status=["closed"] * n)  # fmt: skip
    index.upsert(IndexEntry(99_999, -33.87, 151.21, tags={"24h"}))  # Sydney
    hits = index.nearest(31.0, 121.0, k=5)
    assert [h.id for h in hits] == [99_999]
    assert hits[0].distance_m == pytest.approx(haversine_m(31.0, 121.0, -33.87, 151.21), abs=1e-6)
    assert [h.id for h in index.nearest(31.0, 121.0, tags={"24h"}, statuses={"open", "closed"})] == [99_999]


def test_tags_all_must_match_and_unknown_tags_match_nothing() -> None:
    index = NearestIndex()
    lat, lng = PEOPLES_SQUARE
    index.build([
        IndexEntry(1, lat, lng + 0.001, tags=frozenset({"wifi"})),
        IndexEntry(2, lat, lng + 0.002, tags=frozenset({"wifi", "24h"})),
        IndexEntry(3, lat, lng + 0.003, tags=frozenset({"24h"})),
    ])  # fmt: skip
    assert [h.id for h in index.nearest(lat, lng, tags={"wifi"})] == [1, 2]
    assert [h.id for h in index.nearest(lat, lng, tags={"wifi", "24h"})] == [2]
    assert [h.id for h in index.nearest(lat, lng, tags="24h")] == [2, 3]
    assert [h.id for h in index.nearest(lat, lng, tags=set())] == [1, 2, 3]
    assert index.nearest(lat, lng, tags={"drive-thru"}) == []


def test_predicate_widens_until_k_pass() -> None:
    index = NearestIndex()
    index.build_arrays(np.arange(1000), np.full(1000, 10.0), np.linspace(100, 101, 1000))
    hits = index.nearest(10.0, 100.0, k=3, predicate=lambda i: i % 97 == 0)
    assert [h.id for h in hits] == [0, 97, 194]
    assert index.nearest(10.0, 100.0, predicate=lambda i: False) == []


def test_upsert_moves_and_remove_hides() -> None:
    index = shanghai_index()
    lat, lng = PEOPLES_SQUARE
    index.upsert(IndexEntry(5, lat, lng + 0.0001))  # moved next to the square
    assert index.nearest(lat, lng, k=1)[0].id == 5
    assert len(index) == 5
    index.upsert(IndexEntry(6, lat, lng - 0.0002))
    assert [h.id for h in index.nearest(lat, lng, k=2)] == [5, 6]
    assert len(index) == 6
    assert index.remove(5) is True
    assert index.remove(5) is False
    assert index.get(5) is None and 5 not in index
    assert [h.id for h in index.nearest(lat, lng, k=2)] == [6, 1]
    assert len(index) == 5


def test_version_bumps_on_every_change_only() -> None:
    index = NearestIndex()
    assert index.version == 0
    index.build([IndexEntry(1, 0.0, 0.0)])
    assert index.version == 1
    index.upsert(IndexEntry(2, 1.0, 1.0))
    index.upsert(IndexEntry(2, 1.0, 1.0))  # same content: not a change
    assert index.version == 2
    index.upsert(IndexEntry(2, 1.0, 1.0, status="closed"))
    index.remove(1)
    index.remove(1)  # nothing to remove: not a change
    assert index.version == 4


def test_entry_tags_accept_any_collection() -> None:
    assert IndexEntry(1, 0.0, 0.0, tags={"a", "b"}).tags == frozenset({"a", "b"})  # type: ignore[arg-type]
    assert IndexEntry(1, 0.0, 0.0, tags="wifi").tags == frozenset({"wifi"})  # type: ignore[arg-type]


def test_get_returns_what_was_written() -> None:
    index = shanghai_index()
    entry = IndexEntry(9, 22.5, 114.0, status="temporarily_closed", tags=frozenset({"a", "b"}))
    index.upsert(entry)
    assert index.get(9) == entry
    assert index.get(3) == IndexEntry(3, PEOPLES_SQUARE[0], PEOPLES_SQUARE[1] + 3 * 0.00105)
    assert index.get(404) is None


def test_compaction_keeps_content_and_answers() -> None:
    index = shanghai_index(pending_capacity=2)
    lat, lng = PEOPLES_SQUARE
    for i in range(10, 20):
        index.upsert(IndexEntry(i, lat + 0.01 * (i - 9), lng))
    index.remove(1)
    assert len(index) == 14
    assert index.version == 12
    assert [h.id for h in index.nearest(lat, lng, k=3)] == [2, 3, 4]
    assert [h.id for h in index.nearest(lat + 0.1, lng, k=1)] == [19]


def test_no_ceiling_on_distinct_tags() -> None:
    """Issue 19: a 65th distinct tag once failed the write's refresh and every later start."""
    index = NearestIndex(pending_capacity=8)
    index.build([IndexEntry(1, 0.0, 0.0, tags=frozenset({"keep"}))])
    for i in range(100):  # each tag lives on one outlet, which is then re-tagged
        index.upsert(IndexEntry(2, 0.0, 1.0, tags=frozenset({f"t{i}"})))
    assert index.get(2) == IndexEntry(2, 0.0, 1.0, tags=frozenset({"t99"}))
    assert [h.id for h in index.nearest(0.0, 0.0, tags={"keep"})] == [1]
    assert [h.id for h in index.nearest(0.0, 0.0, tags={"t99"})] == [2]
    assert index.nearest(0.0, 0.0, tags={"t98"}) == []  # the old tag went with the re-tag
    many = frozenset(f"x{i}" for i in range(5000))  # more than a pending buffer's tag room
    index.upsert(IndexEntry(3, 0.0, 2.0, tags=many))
    assert index.get(3) == IndexEntry(3, 0.0, 2.0, tags=many)
    assert [h.id for h in index.nearest(0.0, 0.0, tags={"x0", "x4999"})] == [3]
    index.build([IndexEntry(i, 0.0, i / 100, tags=frozenset({f"own{i}"})) for i in range(300)])
    assert [h.id for h in index.nearest(0.0, 0.0, tags="own250")] == [250]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValidationError):
        IndexEntry(1, 91.0, 0.0)
    with pytest.raises(ValidationError):
        IndexEntry(1, 0.0, 0.0, status="gone")
    index = NearestIndex()
    with pytest.raises(ValidationError):
        index.build([IndexEntry(1, 0.0, 0.0), IndexEntry(1, 1.0, 1.0)])
    with pytest.raises(ValidationError):
        index.build_arrays([1, 2], [0.0, 95.0], [0.0, 0.0])
    with pytest.raises(ValidationError):
        index.build_arrays([1.5], [0.0], [0.0])
    with pytest.raises(ValidationError):
        index.nearest(0.0, 200.0)
    with pytest.raises(ValidationError):
        index.nearest(0.0, 0.0, max_distance_m=-1)
    with pytest.raises(ValidationError):
        index.nearest(0.0, 0.0, k=2.5)  # type: ignore[arg-type]
    assert index.version == 0  # failed builds change nothing


def test_memory_is_reported_and_scales() -> None:
    small, large = NearestIndex(), NearestIndex()
    small.build_arrays(np.arange(100), np.zeros(100), np.zeros(100))
    large.build_arrays(np.arange(10_000), np.zeros(10_000), np.linspace(0, 1, 10_000))
    assert 0 < small.memory_bytes() < large.memory_bytes()
    assert large.memory_bytes() > 10_000 * 80  # at least the per-point columns


def test_readers_never_see_half_a_change() -> None:
    """One writer moves outlets between two places; readers always see each exactly once."""
    index = NearestIndex(pending_capacity=64)
    n = 200
    index.build(IndexEntry(i, 0.0, i * 0.001) for i in range(n))

    def check() -> str | None:
        version = index.version
        ids = [h.id for h in index.nearest(0.0, 0.1, k=n + 10)]
        if sorted(ids) != list(range(n)):
            return f"version {version}: {len(ids)} hits, {len(set(ids))} distinct"
        return None

    failures = churn_while_reading(index, n, check)
    assert failures == []
    assert index.version == 601
