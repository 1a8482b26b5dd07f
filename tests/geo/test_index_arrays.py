"""A base is its arrays: saved with np.save, mapped back read-only and adopted without a copy,
it answers exactly as the index it came from, and the index keeps working on top of it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from o2o.geo.distance import haversine_m
from o2o.geo.index import STATUSES, Base, IndexEntry, NearestIndex

TAGS = ("wifi", "24h", "drive", "halal")


def random_entries(n: int, seed: int) -> list[IndexEntry]:
    rng = np.random.default_rng(seed)
    lats, lngs = rng.uniform(-60, 70, n), rng.uniform(-180, 180, n)
    return [IndexEntry(i * 3 + 1, float(lats[i]), float(lngs[i]),
                       STATUSES[int(rng.integers(0, 3))] if rng.random() < 0.3 else "open",
                       frozenset(t for t in TAGS if rng.random() < 0.2))
            for i in range(n)]  # fmt: skip


def save(arrays: dict[str, np.ndarray], folder: Path) -> None:
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr)


def mapped(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p, mmap_mode="r") for p in sorted(folder.glob("*.npy"))}


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.npy")):
        h.update(p.read_bytes())
    return h.hexdigest()


def brute(model: dict[int, IndexEntry], lat: float, lng: float, k: int,
          tags: frozenset[str] = frozenset(), statuses: frozenset[str] = frozenset({"open"}),
          ) -> list[int]:  # fmt: skip
    ranked = sorted((haversine_m(lat, lng, e.lat, e.lng), e.id) for e in model.values()
                    if e.status in statuses and tags <= e.tags)
    return [i for _, i in ranked[:k]]


QUERIES = [(float(a), float(b)) for a, b in
           np.random.default_rng(7).uniform((-60, -180), (70, 180), (40, 2))]  # fmt: skip
FILTERS = [(frozenset(), frozenset({"open"})), (frozenset({"wifi"}), frozenset({"open"})),
           (frozenset({"24h", "drive"}), frozenset(STATUSES)),
           (frozenset(), frozenset({"closed", "temporarily_closed"}))]  # fmt: skip


def test_adopted_read_only_base_answers_the_same_and_takes_changes(tmp_path: Path) -> None:
    rows = random_entries(3000, seed=1)
    built = NearestIndex()
    built.build(rows)
    save(built.base_arrays(), tmp_path)
    before = digest(tmp_path)
    arrays = mapped(tmp_path)
    base = Base.from_arrays(arrays)
    for name in Base.ARRAYS:  # adopted, not copied, and nobody may write them ...
        if name not in ("dead_at", "depth"):
            assert np.shares_memory(getattr(base, name), arrays[name]), name
            assert not getattr(base, name).flags.writeable, name
    assert base.dead_at.flags.writeable and not np.shares_memory(base.dead_at, arrays["dead_at"])
    index = NearestIndex.from_base(base, built.vocabulary_names(), pending_capacity=16)
    assert len(index) == len(rows) and index.get(rows[5].id) == rows[5]
    for lat, lng in QUERIES:
        for tags, statuses in FILTERS:
            assert index.nearest(lat, lng, 7, tags=tags, statuses=statuses) == \
                built.nearest(lat, lng, 7, tags=tags, statuses=statuses)
    # ... and the index still takes changes: moves, new tags, removals, compactions.
    model = {e.id: e for e in rows}
    rng = np.random.default_rng(2)
    for step in range(200):
        victim = rows[int(rng.integers(len(rows)))].id
        if step % 3 == 0:
            assert index.remove(victim) == (model.pop(victim, None) is not None)
        else:
            entry = IndexEntry(victim if step % 2 else 10**9 + step,
                               float(rng.uniform(-60, 70)), float(rng.uniform(-180, 180)),
                               tags=frozenset({"new"} if step % 5 == 0 else {"wifi"}))
            index.upsert(entry)
            model[entry.id] = entry
        if step % 20 == 0:
            for lat, lng in QUERIES[:10]:
                for tags in (frozenset(), frozenset({"wifi"}), frozenset({"new"})):
                    assert [h.id for h in index.nearest(lat, lng, 5, tags=tags)] == \
                        brute(model, lat, lng, 5, tags)
    assert len(index) == len(model)
    del base, index, arrays
    assert digest(tmp_path) == before  # the saved files were never written


def test_rows_dead_when_saved_stay_dead(tmp_path: Path) -> None:
    rows = random_entries(200, seed=3)
    built = NearestIndex()
    built.build(rows)
    built.remove(rows[0].id)
    built.upsert(IndexEntry(rows[1].id, 10.0, 10.0))  # the base row dies, the new one is pending
    save(built.base_arrays(), tmp_path)
    index = NearestIndex.from_base(Base.from_arrays(mapped(tmp_path)), built.vocabulary_names())
    assert rows[0].id not in index and rows[1].id not in index
    assert len(index) == len(rows) - 2
    index.upsert(rows[1])
    assert index.get(rows[1].id) == rows[1] and len(index) == len(rows) - 1


def test_status_and_dead_at_are_nine_bytes_a_row() -> None:
    index = NearestIndex()
    index.build(random_entries(100, seed=4))
    base = index.base
    assert base.status.dtype == np.int8 and base.status.shape == (100,)
    assert base.dead_at.dtype == np.int64 and base.dead_at.shape == (100,)
    assert base.masks.dtype == np.int8
    assert base.pos_by_id.dtype == base.tag_pos.dtype == base.row_tags.dtype == np.int32


def test_adoption_refuses_what_is_not_a_base() -> None:
    index = NearestIndex()
    index.build(random_entries(100, seed=5))
    arrays = index.base_arrays()
    with pytest.raises(ValueError, match="missing: pts"):
        Base.from_arrays({k: v for k, v in arrays.items() if k != "pts"})
    with pytest.raises(ValueError, match="shape"):
        Base.from_arrays(arrays | {"lats": arrays["lats"][:-1]})
    with pytest.raises(ValueError, match="tag arrays"):
        Base.from_arrays(arrays | {"tag_pos": arrays["tag_pos"][:-1]})
    with pytest.raises(ValueError, match="layout"):
        Base.from_arrays(arrays | {"status": arrays["status"].astype(np.int64)})
    with pytest.raises(ValueError, match="tags"):
        NearestIndex.from_base(Base.from_arrays(arrays), [])


def test_empty_base_round_trips(tmp_path: Path) -> None:
    index = NearestIndex()
    index.build([])
    save(index.base_arrays(), tmp_path)
    adopted = NearestIndex.from_base(Base.from_arrays(mapped(tmp_path)), [])
    assert len(adopted) == 0 and adopted.nearest(0.0, 0.0) == []
    adopted.upsert(IndexEntry(1, 1.0, 1.0))
    assert [h.id for h in adopted.nearest(0.0, 0.0)] == [1]
