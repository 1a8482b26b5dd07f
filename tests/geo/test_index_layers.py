"""Status layers: another status per outlet over the same tree, exact under changes and
compactions, ended by a new base (then answering as of their end)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2o.geo._layers import LayerData
from o2o.geo.distance import haversine_m
from o2o.geo.index import IndexEntry, Layer, NearestIndex, StaleBase
from tests.geo.churn import churn_while_reading

OPEN, CLOSED = 0, 2


def brute(model: dict[int, IndexEntry], codes: dict[int, int], lat: float, lng: float, k: int,
          tags: frozenset[str] = frozenset()) -> list[tuple[float, int]]:  # fmt: skip
    ranked = sorted((haversine_m(lat, lng, e.lat, e.lng), e.id) for e in model.values()
                    if codes[e.id] == OPEN and tags <= e.tags)
    return ranked[:k]


def same(hits: list, expected: list[tuple[float, int]], ok: set[int] | None = None) -> None:
    """Same distances; ids equal, or (ties) among those passing the filter (`ok`)."""
    assert [h.distance_m for h in hits] == pytest.approx([d for d, _ in expected], abs=1e-4)
    if ok is None:
        assert [h.id for h in hits] == [i for _, i in expected]
    else:
        assert len({h.id for h in hits}) == len(hits) and {h.id for h in hits} <= ok


def layer_status(index: NearestIndex, codes: dict[int, int]) -> np.ndarray:
    return np.array([codes.get(i, CLOSED) for i in index.base_ids().tolist()], np.int8)


points = st.tuples(st.floats(-90, 90), st.floats(-180, 180))
rows = st.lists(st.tuples(points, st.booleans(), st.booleans(), st.booleans()), max_size=60)
steps = st.lists(st.one_of(
    st.tuples(st.just("upsert"), st.integers(0, 70), points, st.booleans(), st.booleans()),
    st.tuples(st.just("recode"), st.integers(0, 70), st.booleans()),  # only the layer changes
    st.tuples(st.just("remove"), st.integers(0, 70)),
    st.tuples(st.just("query"), points, st.integers(1, 6), st.booleans()),
), max_size=50)  # fmt: skip


@settings(max_examples=120, deadline=None)
@given(start=rows, ops=steps, capacity=st.sampled_from([1, 3, 1024]))
def test_layer_search_is_exact_through_changes_and_compactions(start, ops, capacity) -> None:
    index = NearestIndex(pending_capacity=capacity)
    model = {i: IndexEntry(i, p[0], p[1], "open" if own else "closed",
                           frozenset({"wifi"}) if tagged else frozenset())
             for i, (p, own, _, tagged) in enumerate(start)}  # fmt: skip
    codes = {i: OPEN if layer_open else CLOSED for i, (_, _, layer_open, _) in enumerate(start)}
    index.build(model.values())
    layer = index.add_layer(layer_status(index, codes), lambda e: codes[e.id])
    for op in ops:
        if op[0] == "upsert":
            _, i, p, layer_open, tagged = op
            codes[i] = OPEN if layer_open else CLOSED
            model[i] = IndexEntry(i, p[0], p[1], tags=frozenset({"wifi"}) if tagged else ())
            index.upsert(model[i])
        elif op[0] == "recode" and op[1] in model:
            codes[op[1]] = OPEN if op[2] else CLOSED
            index.upsert(model[op[1]])  # same entry: only its layer status differs
        elif op[0] == "remove":
            assert index.remove(op[1]) == (model.pop(op[1], None) is not None)
        elif op[0] == "query":
            (lat, lng), k, tagged = op[1:]
            tags = frozenset({"wifi"}) if tagged else frozenset()
            for by in (codes, {i: OPEN if e.status == "open" else CLOSED
                               for i, e in model.items()}):  # the layer's, then their own
                ok = {i for i, e in model.items() if by[i] == OPEN and tags <= e.tags}
                same(index.nearest(lat, lng, k, tags=tags or None,
                                   layer=layer if by is codes else None),
                     brute(model, by, lat, lng, k, tags), ok)
    assert layer.live


def test_layer_made_with_rows_pending_asks_for_them() -> None:
    index = NearestIndex()
    index.build([IndexEntry(i, 0.0, i * 0.01) for i in range(50)])
    index.upsert(IndexEntry(7, 0.0, 5.0))  # moved: its live row is pending now
    index.upsert(IndexEntry(100, 0.0, 0.001))
    asked = []

    def code_for(entry: IndexEntry) -> int:
        asked.append(entry.id)
        return OPEN if entry.id in (7, 100) else CLOSED

    layer = index.add_layer(np.full(50, CLOSED, np.int8), code_for)
    assert sorted(asked) == [7, 100]
    assert [h.id for h in index.nearest(0.0, 0.0, 5, layer=layer)] == [100, 7]


def test_new_base_ends_layers_and_stale_columns_are_refused() -> None:
    index = NearestIndex()
    index.build([IndexEntry(i, 0.0, i * 0.01) for i in range(10)])
    old_base = index.base
    layer = index.add_layer(np.zeros(10, np.int8), lambda e: OPEN)
    index.upsert(IndexEntry(3, 0.0, -0.001))
    index.build([IndexEntry(i, 1.0, i * 0.01) for i in range(12)])
    assert not layer.live  # a request in flight still gets the answer as of the layer's end
    assert [h.id for h in index.nearest(0.0, 0.0, 3, layer=layer)] == [0, 3, 1]
    assert index.nearest(1.0, 0.0, 1)[0].distance_m == 0.0
    with pytest.raises(StaleBase):
        index.add_layer(np.zeros(12, np.int8), lambda e: OPEN, base=old_base)
    with pytest.raises(ValueError, match="one status per base row"):
        index.add_layer(np.zeros(10, np.int8), lambda e: OPEN)
    kept = index.add_layer(np.zeros(12, np.int8), lambda e: 1 // 0)
    index.drop_layer(kept)
    assert not kept.live
    index.upsert(IndexEntry(99, 0.0, 0.0))  # a dropped layer is no longer asked
    index.remove(0)
    assert [h.id for h in index.nearest(1.0, 0.0, 2, layer=kept)] == [0, 1]  # as it ended


def test_layer_costs_a_byte_a_row_and_node_masks() -> None:
    n = 20_000
    rng = np.random.default_rng(1)
    index = NearestIndex()
    index.build_arrays(np.arange(n), rng.uniform(-80, 80, n), rng.uniform(-180, 180, n))
    layer = index.add_layer(np.zeros(n, np.int8), lambda e: OPEN)
    assert layer.nbytes() < 1.2 * n + 2 * 1024
    assert index.memory_bytes() / n < 100


def test_layer_readers_never_see_half_a_change() -> None:
    """One writer moves outlets (compacting on the way); readers searching the layer always
    see exactly the outlets it says are open, each once."""
    index = NearestIndex(pending_capacity=64)
    n = 200
    index.build(IndexEntry(i, 0.0, i * 0.001) for i in range(n))
    layer = index.add_layer(layer_status(index, {i: i % 2 * 2 for i in range(n)}),
                            lambda e: e.id % 2 * 2)  # even ids open

    def check() -> str | None:
        ids = [h.id for h in index.nearest(0.0, 0.1, k=n + 10, layer=layer)]
        if sorted(ids) != list(range(0, n, 2)):
            return f"{len(ids)} hits, {len(set(ids))} distinct"
        return None

    failures = churn_while_reading(index, n, check)
    assert failures == [] and layer.live


def test_a_reader_whose_snapshot_is_older_than_the_layer_takes_the_newer_snapshot() -> None:
    """The race made deterministic: a compaction lands after a reader took the snapshot and
    before it reads the layer, so the layer's arrays are for the next base."""
    index = NearestIndex(pending_capacity=1)
    index.build(IndexEntry(i, 0.0, i * 0.001) for i in range(100))
    index.upsert(IndexEntry(0, 0.0, 0.5))  # the buffer is full: the next upsert compacts
    layer = index.add_layer(np.zeros(100, np.int8), lambda e: OPEN)
    slot = Layer.data  # the slot's own descriptor
    armed = [True]

    class Racing(Layer):
        __slots__ = ()

        @property  # type: ignore[override]
        def data(self) -> LayerData:
            if armed[0]:
                armed[0] = False
                index.upsert(IndexEntry(1, 0.0, 0.6))  # compaction: a new base and buffer
            return slot.__get__(self)

        @data.setter
        def data(self, value: LayerData) -> None:
            slot.__set__(self, value)

    layer.__class__ = Racing
    hits = index.nearest(0.0, 0.0, 3, layer=layer)
    assert not armed[0]
    assert [h.id for h in hits] == [2, 3, 4]  # 0 and 1 moved away, as the newer base says
