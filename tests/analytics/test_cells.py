"""Customer key sets: the merge the rollup uses agrees with sorting everything again."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from o2o.analytics.cells import EMPTY, distinct, union

keys = st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=60)


@given(old=keys, new=keys)
def test_union_is_the_sorted_distinct_keys_of_both(old: list[int], new: list[int]) -> None:
    a, b = distinct(np.array(old, dtype=np.int64)), distinct(np.array(new, dtype=np.int64))
    united = union(a, b)
    assert united.dtype == np.int64
    assert united.tolist() == sorted(set(old) | set(new))


def test_union_keeps_the_stored_array_when_nothing_is_new() -> None:
    old = np.array([-5, 3, 9], dtype=np.int64)
    assert union(old, np.array([3, 9], dtype=np.int64)) is old
    assert union(old, EMPTY) is old
    new = np.array([4], dtype=np.int64)
    assert union(EMPTY, new) is new
    assert union(old, new).tolist() == [-5, 3, 4, 9]
