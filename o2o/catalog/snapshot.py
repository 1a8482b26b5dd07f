"""The catalog's columns in one file per database on this host, mapped read-only by every
worker, so four workers hold one copy of a million outlets (the kernel shares the pages).

Layout: an 8-byte magic, an 8-byte little-endian header length, a JSON header (format,
array names, dtypes, shapes and offsets, plus the caller's `meta`), then each array at a
64-byte aligned offset. Written by one worker under the host lock (`host_lock`) under a
temporary name, flushed and renamed into place, so a reader never sees half a file and a
worker that still maps the previous file keeps reading it until it moves on.

It is a cache of what the database said, written and read only by this host's own workers
in its own state directory: never an input from anyone else.
"""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("o2o.catalog")

MAGIC = b"O2OCAT02"
#: Bumped when the columns change meaning: an older file is then ignored, not misread.
FORMAT = 3
#: Its name in the host's state directory (`Settings.state_path`).
NAME = "catalog.columns"
_ALIGN = 64


@dataclass(frozen=True)
class Mapped:
    """A mapped snapshot: read-only arrays over the file's pages, and its header's meta."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    identity: tuple[int, int]  # (device, inode) of the file mapped


def write_snapshot(path: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write the arrays and meta atomically (temporary file, fsync, rename)."""
    entries, offset = {}, 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        offset = -(-offset // _ALIGN) * _ALIGN
        entries[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        offset += array.nbytes
    header = json.dumps({"format": FORMAT, "arrays": entries, "meta": dict(meta)},
                        ensure_ascii=False, separators=(",", ":")).encode()
    start = -(-(16 + len(header)) // _ALIGN) * _ALIGN
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with tmp.open("wb") as out:
            out.write(MAGIC + len(header).to_bytes(8, "little") + header)
            for name, array in arrays.items():
                out.seek(start + entries[name]["offset"])
                if array.size:
                    np.ascontiguousarray(array).tofile(out)
            out.truncate(start + offset)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _header(src: Any) -> tuple[dict[str, Any], int] | None:
    head = src.read(16)
    if len(head) < 16 or head[:8] != MAGIC:
        return None
    size = int.from_bytes(head[8:16], "little")
    header = json.loads(src.read(size))
    if header.get("format") != FORMAT:
        return None
    return header, -(-(16 + size) // _ALIGN) * _ALIGN


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path` now: a cheap test for a newer snapshot."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def peek(path: Path) -> tuple[dict[str, Any], tuple[int, int]] | None:
    """The meta of the snapshot at `path` and its file identity, without mapping it; None
    when there is none (or it is of another format, or unreadable)."""
    try:
        with path.open("rb") as src:
            found = _header(src)
            st = os.fstat(src.fileno())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("unreadable catalog snapshot %s ignored", path, exc_info=True)
        return None
    return None if found is None else (found[0]["meta"], (st.st_dev, st.st_ino))


def map_snapshot(path: Path) -> Mapped | None:
    """Map the snapshot read-only; None when there is no usable one (logged)."""
    try:
        with path.open("rb") as src:
            found = _header(src)
            if found is None:
                log.warning("catalog snapshot %s is of another format; ignored", path)
                return None
            header, start = found
            st = os.fstat(src.fileno())
            view = mmap.mmap(src.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("unreadable catalog snapshot %s ignored", path, exc_info=True)
        return None
    arrays = {}
    for name, entry in header["arrays"].items():
        dtype = np.dtype(entry["dtype"])
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if start + entry["offset"] + count * dtype.itemsize > len(view):
            log.warning("catalog snapshot %s is truncated; ignored", path)
            return None
        arrays[name] = np.frombuffer(view, dtype, count, start + entry["offset"]).reshape(
            entry["shape"])
    return Mapped(arrays, header["meta"], (st.st_dev, st.st_ino))


@contextmanager
def host_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """This host's lock for building or folding the snapshot at `path`: yields True when
    held (always, when `wait`), False when another worker holds it and `wait` is False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as handle:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
