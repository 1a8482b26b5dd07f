"""The nearest index alone: how long NearestIndex.build_arrays takes on the scratch outlets,
to set beside the server's full catalog load (rows → views → index)."""

from __future__ import annotations

import json
import sqlite3
import time

import numpy as np

from o2o.geo import NearestIndex


def index_build_s(url: str) -> float:
    """Seconds to build the index from the outlets' columns (reading them is not counted)."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, lat, lng, status, tags FROM outlets "
                            "WHERE deleted_at IS NULL").fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    lats = np.array([r[1] for r in rows], dtype=np.float64)
    lngs = np.array([r[2] for r in rows], dtype=np.float64)
    status = [r[3] for r in rows]
    tags = [tuple(json.loads(r[4])) for r in rows]
    del rows
    warm = NearestIndex()
    warm.build_arrays(ids[:10], lats[:10], lngs[:10])  # compile the kernels outside the timing
    warm.nearest(0.0, 0.0)
    index = NearestIndex()
    started = time.perf_counter()
    index.build_arrays(ids, lats, lngs, status=status, tags=tags)
    return time.perf_counter() - started
