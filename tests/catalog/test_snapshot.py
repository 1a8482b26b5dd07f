"""The host snapshot file: arrays and meta round-trip through a read-only mapping; a torn,
foreign or older file is ignored, never misread; the host lock serialises builders."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from o2o.catalog.snapshot import (
    FORMAT,
    MAGIC,
    host_lock,
    identity,
    map_snapshot,
    peek,
    write_snapshot,
)


def arrays() -> dict[str, np.ndarray]:
    return {"ids": np.arange(5, dtype=np.int64), "pts": np.random.default_rng(1).random((5, 3)),
            "empty": np.zeros(0, np.int32), "text": np.frombuffer("门店".encode(), np.uint8)}


def test_round_trip_is_read_only_and_shares_the_file(tmp_path) -> None:
    path = tmp_path / "catalog.columns"
    write_snapshot(path, arrays(), {"seq": 7, "name": "华东"})
    mapped = map_snapshot(path)
    assert mapped is not None and mapped.meta == {"seq": 7, "name": "华东"}
    for name, want in arrays().items():
        assert np.array_equal(mapped.arrays[name], want) and mapped.arrays[name].dtype == want.dtype
    with pytest.raises(ValueError, match="read-only"):
        mapped.arrays["ids"][0] = 9
    assert peek(path) == ({"seq": 7, "name": "华东"}, mapped.identity) and identity(path) == mapped.identity
    write_snapshot(path, arrays(), {"seq": 8})  # replaced: the old mapping still reads
    assert identity(path) != mapped.identity and mapped.arrays["ids"][4] == 4


@pytest.mark.parametrize("spoil", ["truncate", "magic", "format"])
def test_a_torn_or_foreign_file_is_ignored(tmp_path, spoil) -> None:
    path = tmp_path / "catalog.columns"
    write_snapshot(path, arrays(), {"seq": 1})
    data = path.read_bytes()
    if spoil == "truncate":
        path.write_bytes(data[: len(data) - 20])
    elif spoil == "magic":
        path.write_bytes(b"NOTOURS!" + data[8:])
    else:
        path.write_bytes(data.replace(f'"format":{FORMAT}'.encode(), f'"format":{FORMAT - 1}'.encode()))
    assert path.read_bytes()[:8] == (b"NOTOURS!" if spoil == "magic" else MAGIC)
    assert map_snapshot(path) is None
    assert (peek(path) is None) == (spoil != "truncate")  # the header of a torn file is whole


def test_no_file_is_no_snapshot(tmp_path) -> None:
    assert map_snapshot(tmp_path / "none") is None and peek(tmp_path / "none") is None


def test_the_host_lock_admits_one_builder(tmp_path) -> None:
    path = tmp_path / "catalog.columns"
    order: list[str] = []
    with host_lock(path):
        def other() -> None:
            with host_lock(path):
                order.append("second")
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.1)
        order.append("first")
        with host_lock(path, wait=False) as held:  # flock is per open file: not re-entrant
            assert held is False
    thread.join(5)
    assert order == ["first", "second"]
