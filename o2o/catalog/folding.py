"""The catalog's side of the host snapshot: saving a base to it and serving it from there,
and folding the overlay into a new base in the background (`o2o.catalog.runtime` explains
when). A mixin of `Catalog`: it reads and swaps the catalog's state under its lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog import loading
from o2o.catalog import snapshot as snapshots
from o2o.catalog.columns import Tables
from o2o.catalog.columns_build import build, fold
from o2o.catalog.live import Live
from o2o.catalog.offers import Offers

log = logging.getLogger("o2o.catalog")

#: The overlay is folded into a new base when it holds this many outlets, or when its
#: oldest entry is this old.
FOLD_AT, FOLD_AFTER_S = 2048, 600.0
#: Builds of this many outlets hand their garbage back to the system at once (a full
#: collection costs ~0.1 s: not worth it for a small chain).
RELEASE_AFTER = 50_000


def release_memory() -> None:
    """Hand freed heap back to the system (glibc keeps it otherwise: a cold build of a
    million outlets would leave ~200 MB of garbage resident in the worker that built)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class HostSnapshot:
    """Saving, mapping and folding the base (see the module docstring)."""

    _lock: threading.Lock
    _sessions: Callable[[], Session]
    _folding: threading.Thread | None
    _overlay_rows: dict[int, Any]
    _overlay_since: float
    _gaps: dict[int, float]
    _offers: Offers
    live: Live
    seq: int
    snapshot: Path | None

    def _install(self, arrays: dict[str, Any], tables: Tables, seq: int, gaps: Iterable[int],
                 *, identity: tuple[int, int] | None = None) -> None:
        raise NotImplementedError

    def _skip_row(self, row: Any, exc: Exception) -> None:
        raise NotImplementedError

    def _write(self, arrays: dict[str, Any], tables: Tables, seq: int,
               position: dict[str, Any]) -> bool:
        """Save a base as the host's snapshot and serve it from there; False if it could
        not be written (then nothing changed)."""
        return self._save(arrays, tables, seq, sorted(self._gaps), position) and self._map(None)

    def _save(self, arrays: dict[str, Any], tables: Tables, seq: int, gaps: list[int],
              position: dict[str, Any]) -> bool:
        assert self.snapshot is not None
        meta = {"position": position, "seq": seq, "gaps": gaps, "tables": tables.to_json()}
        # The offers too, for a start while the database is away (this host's own file).
        offers = np.frombuffer(pickle.dumps(self._offers.all(), pickle.HIGHEST_PROTOCOL),
                               np.uint8)
        try:
            snapshots.write_snapshot(self.snapshot, {**arrays, "c_promotions": offers}, meta)
        except OSError:
            log.warning("could not save the catalog snapshot %s", self.snapshot, exc_info=True)
            return False
        return True

    def _map(self, identity: tuple[int, int] | None) -> bool:
        """Serve the host's snapshot (expected to be the file `identity`, when given)."""
        assert self.snapshot is not None
        mapped = snapshots.map_snapshot(self.snapshot)
        if mapped is None or (identity is not None and mapped.identity != identity):
            return False
        meta = mapped.meta
        self._install(mapped.arrays, Tables.from_json(meta["tables"]), meta["seq"],
                      meta["gaps"], identity=mapped.identity)
        return True

    # ---- folding the overlay into a new base ---------------------------------------------
    def fold(self, *, force: bool = False) -> bool:
        """Move to a newer host snapshot if another worker wrote one; else, when the overlay
        is big or old enough (or `force`), fold it into a new base. Whether the base moved.

        The new base is built without the catalog's lock (seconds at a million outlets), so
        the change feed keeps flowing meanwhile; changes that arrive during the fold stay
        in the overlay of the new base."""
        with self._lock:
            live = self.live
            if self._another_file(live) and self.snapshot is not None:
                found = snapshots.peek(self.snapshot)
                if found is not None and found[1] != live.identity \
                        and found[0].get("seq", 0) >= live.base_seq and self._map(found[1]):
                    return True
            if not live.overlay or not (force or self._fold_due(live)):
                return False
            rows = [r for r in self._overlay_rows.values() if r is not None]
            seq, gaps, tables = self.seq, sorted(self._gaps), live.cols.tables.copy()
        if self.snapshot is None:
            arrays = self._folded(live, rows, tables)
            with self._lock:
                self._install(arrays, tables, seq, gaps)
            return True
        with snapshots.host_lock(self.snapshot, wait=False) as held:
            if not held:  # another worker is folding: this one moves to its file after
                return False
            arrays = self._folded(live, rows, tables)
            with self._sessions() as session:
                position = loading.position(session, seq)
            if not self._save(arrays, tables, seq, gaps, position):
                return False
            with self._lock:
                moved = self._map(None)
        log.info("catalog overlay folded: %d outlets in a new base at seq %d", len(self), seq)
        return moved

    def _folded(self, live: Live, rows: list[Any], tables: Tables) -> dict[str, Any]:
        overlay = build(rows, tables, self._skip_row).parts()
        return fold(live.cols, list(live.overlay), overlay, tables)

    def _another_file(self, live: Live) -> bool:
        """Whether the host's snapshot is now another file than the one `live` maps."""
        return self.snapshot is not None and snapshots.identity(self.snapshot) != live.identity

    def _fold_due(self, live: Live) -> bool:
        """Whether the overlay is big or old enough to fold."""
        return len(live.overlay) >= FOLD_AT or bool(
            live.overlay and time.monotonic() - self._overlay_since > FOLD_AFTER_S)

    def _fold_soon(self) -> None:
        """Fold in a thread of its own when due (or move to another worker's new base); the
        sync thread asks every tick, so nothing is started while there is nothing to do."""
        live = self.live
        if not (self._another_file(live) or self._fold_due(live)):
            return
        if self._folding is not None and self._folding.is_alive():
            return
        self._folding = threading.Thread(target=self._fold_logged, name="catalog-fold",
                                         daemon=True)
        self._folding.start()

    def _fold_logged(self) -> None:
        try:
            self.fold()
        except sa.exc.OperationalError:
            log.debug("catalog fold: database unavailable; next tick")
        except Exception:
            log.exception("catalog fold failed; the overlay keeps serving")
