"""The live catalog of one worker: outlets as shared columns plus an overlay, promotions in
memory.

Outlets live in a *base* of columns (`o2o.catalog.columns`) in a snapshot file per database
on this host (`o2o.catalog.snapshot`), mapped read-only by every worker, so four workers
hold one copy. A start maps the host's snapshot when it still describes the database, or
catches it up, or (the first start, or another database) builds it from the rows, one
worker at a time under the host lock while the others wait and then map what it wrote
(`o2o.catalog.loading`). While the database cannot be reached, a worker starts from the
snapshot as it is.

Admin changes arrive through the change feed (catalog_changes), polled every `poll_s`
seconds: changed outlets go to a small overlay and the index's pending rows, so a change
reaches every worker within a second. When the overlay grows (or ages), one worker folds it
into a new base in the background and the others move to it at their next tick. Readers
never block and never see half a change: each change swaps a whole `Live`.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.catalog import loading
from o2o.catalog import snapshot as snapshots
from o2o.catalog.changes import changes_since, latest_seq
from o2o.catalog.columns import OutletColumns, Tables
from o2o.catalog.columns_build import BAD_ROW_ERRORS, RowBuilder, base, build
from o2o.catalog.folding import RELEASE_AFTER, HostSnapshot, release_memory
from o2o.catalog.live import Live
from o2o.catalog.models import CatalogChange, Outlet
from o2o.catalog.offers import PATCH_MAX, Offers, prune_cut, rank, read_promotions
from o2o.catalog.open_now import OpenMinute, OpenNow, minute_of
from o2o.catalog.views import OutletView, PromotionView
from o2o.db import read_only
from o2o.geo.index import NearestIndex
from o2o.metrics import CATALOG_ROWS_SKIPPED, INDEX_AGE, INDEX_SIZE, INDEX_VERSION

log = logging.getLogger("o2o.catalog")

GAP_TIMEOUT_S = 30.0
#: More outlet changes than this at once (a bulk import) make a new base, not an overlay.
BULK_CHANGES = 20_000
#: The sync thread takes ended promotions out of the offer lists at most this often.
PRUNE_EVERY_S = 60.0
T = TypeVar("T")
__all__ = ["BAD_ROW_ERRORS", "Catalog"]


class Catalog(HostSnapshot):
    """Outlets + promotions as this worker serves them."""

    def __init__(self, sessions: sessionmaker[Session], *, poll_s: float = 0.25,
                 snapshot: Path | None = None) -> None:
        # Loads and refreshes only read: on SQLite they must not hold the write lock.
        self._sessions = read_only(sessions)
        self._poll_s = poll_s
        self._lock = threading.Lock()  # one writer (load/refresh/fold) at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._folding: threading.Thread | None = None
        self.live = Live.on(RowBuilder(Tables()).base(), base_seq=0)
        self.open_now = OpenNow(lambda: self.live.index, view_of=self.outlet)
        self._overlay_rows: dict[int, Any] = {}  # the stored rows behind the overlay
        self._overlay_since = 0.0
        self._offers = Offers()
        self._pruned_at = 0.0
        self.seq = 0
        self._gaps: dict[int, float] = {}
        self._skipped: set[tuple[str, int, str]] = set()  # (entity, id, reason) logged once
        self.synced_at = 0.0
        #: This host's snapshot of the columns (None: built in memory, nothing written).
        self.snapshot = snapshot
        #: Serving a snapshot (or nothing): the next sync is a full load, not a refresh.
        self.stale = False

    # ---- reading -------------------------------------------------------------------------
    @property
    def index(self) -> NearestIndex:
        return self.live.index

    def outlet(self, outlet_id: int) -> OutletView | None:
        return self.live.outlet(outlet_id)

    def outlet_by_code(self, code: str) -> OutletView | None:
        return self.live.outlet_by_code(code)

    def outlets(self) -> Iterable[OutletView]:
        return self.live.outlets()

    def open_index(self, at: datetime) -> OpenMinute:
        """The outlets open at `at`, searched like an index (see o2o.catalog.open_now). Loads
        and the sync thread build the current and next minute's ahead; another minute (an
        explicit `at`, or no sync thread) is built here on first use."""
        minute = minute_of(at)
        found = self.open_now.get(minute)
        if found is None:
            with self._lock:
                found = self.open_now.get(minute) or self._build_open(minute)
        return found

    def _build_open(self, minute: int) -> OpenMinute:
        """A minute's layer from the columns: each timetable asked once."""
        live = self.live
        base = live.index.base
        if base.ids is not live.cols.ids:  # the index compacted on its own: not our rows
            return self.open_now.build(minute, live.outlets())
        tables = live.cols.tables
        timetables = [tables.hours(i) for i in range(len(tables.timetables))]
        return self.open_now.build(minute, base.status, live.cols.timetable, timetables,
                                   base=base)

    def promotions(self) -> tuple[PromotionView, ...]:
        return self._offers.all()

    def promotions_for(self, outlet: OutletView, at: datetime) -> list[PromotionView]:
        """Published promotions active at `at` in the outlet's zone, best first; costs what
        applies to the outlet (o2o.catalog.offers), not every promotion."""
        return self._offers.for_outlet(outlet, at)

    def promotion(self, promotion_id: int) -> PromotionView | None:
        return self._offers.get(promotion_id)

    @property
    def age_s(self) -> float:
        return time.monotonic() - self.synced_at if self.synced_at else float("inf")

    def __len__(self) -> int:
        return self.live.size

    # ---- loading -------------------------------------------------------------------------
    def load(self) -> None:
        """Full (re)build: the host's snapshot when it still describes the database (caught
        up if need be), else the rows."""
        with self._lock, self._sessions() as session:
            self._load(session)

    def _load(self, session: Session, *, catch_up: bool = True) -> None:
        seq = latest_seq(session)
        self._offers = Offers(self._load_promotions(session), cut=prune_cut())
        if self.snapshot is None:
            self._install_built(session, seq)
        else:
            with snapshots.host_lock(self.snapshot):
                found = snapshots.peek(self.snapshot)
                verdict = "rebuild" if found is None else loading.verdict(found[0], session, seq)
                if verdict == "catch up" and not catch_up:
                    verdict = "rebuild"
                if verdict == "rebuild" or not self._map(found[1] if found else None):
                    self._install_built(session, seq)
        self.stale = False
        if self.seq < seq:  # caught up from an older snapshot: the changes since, now
            self._refresh(session)
        self._synced()
        log.info("catalog loaded: %d outlets, %d promotions, seq %d",
                 len(self), len(self._offers.all()), self.seq)

    def _install_built(self, session: Session, seq: int) -> None:
        """A base from the rows: written to the host's snapshot and mapped from it when there
        is one (so its pages are shared), else kept in memory."""
        builder = loading.read_all(session, self._skip_row)
        tables, big = builder.tables, len(builder) >= RELEASE_AFTER
        arrays = base(builder.parts(), tables)
        del builder  # a million rows of Python objects
        if self.snapshot is None or not self._write(arrays, tables, seq,
                                                    loading.position(session, seq)):
            self._install(arrays, tables, seq, ())
        del arrays
        if big:
            release_memory()

    def _install(self, arrays: dict[str, Any], tables: Tables, seq: int, gaps: Iterable[int],
                 *, identity: tuple[int, int] | None = None) -> None:
        """A new base: the overlay entries it does not cover are carried over."""
        old = self.live
        new = Live.on(OutletColumns(arrays, tables), base_seq=seq, identity=identity)
        holes = frozenset(gaps)
        new = old.carried_to(new, holes=holes) if old.overlay else new
        self._overlay_rows = {oid: r for oid, r in self._overlay_rows.items()
                              if oid in new.overlay}
        now = time.monotonic()
        if seq > self.seq:
            self.seq = seq
        for hole in holes:
            self._gaps.setdefault(hole, now)
        self.live = new
        self.open_now.clear()
        self._prebuild_open()

    def load_snapshot(self) -> bool:
        """Serve the last base this host saved (the database is away); the sync thread
        replaces it with a full load as soon as the database answers."""
        self.stale = True
        with self._lock:
            if self.snapshot is None or not self._map(None):
                log.warning("no catalog snapshot at %s: serving no outlets until the database "
                            "answers", self.snapshot)
                return False
            saved = self.live.cols.arrays.get("c_promotions")
            if saved is not None:
                self._offers = Offers(pickle.loads(saved.tobytes()), cut=prune_cut())
        INDEX_SIZE.set(len(self))
        log.warning("catalog from the snapshot %s: %d outlets, seq %d", self.snapshot,
                    len(self), self.seq)
        return True

    def _skip_row(self, row: Any, exc: Exception) -> None:
        self._note_skipped("outlet", row[0], exc)

    def _note_skipped(self, entity: str, entity_id: int, exc: Exception) -> None:
        """A stored row that cannot be served (it got past validation somehow): logged once
        with its id and reason, counted, never fatal."""
        reason = f"{type(exc).__name__}: {exc}"
        if (entity, entity_id, reason) not in self._skipped:
            self._skipped.add((entity, entity_id, reason))
            CATALOG_ROWS_SKIPPED.labels(entity).inc()
            log.error("catalog: %s %d left out, it cannot be served: %s",
                      entity, entity_id, reason)

    def _servable(self, entity: str, entity_id: int, make: Callable[[], T]) -> T | None:
        try:
            return make()
        except BAD_ROW_ERRORS as exc:
            self._note_skipped(entity, entity_id, exc)
            return None

    def _load_promotions(self, session: Session) -> tuple[PromotionView, ...]:
        """Every published promotion, best first: two queries (rows, then outlet links)."""
        return tuple(sorted(read_promotions(session, self._servable).values(), key=rank))

    def _patch_promotions(self, session: Session, ids: set[int]) -> None:
        """Re-read just the changed promotions; a large batch reloads them all."""
        if len(ids) > PATCH_MAX:
            self._offers = Offers(self._load_promotions(session), cut=prune_cut())
            return
        fresh = read_promotions(session, self._servable, ids)
        self._offers = self._offers.patched({i: fresh.get(i) for i in ids}, cut=prune_cut())

    def _prune_offers(self) -> None:
        """Take promotions that have ended out of the offer lists, once a minute at most."""
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self._offers = self._offers.pruned(prune_cut())

    # ---- following the change feed -------------------------------------------------------
    def refresh(self) -> int:
        """Apply changes newer than what this worker has; returns how many were applied."""
        with self._lock, self._sessions() as session:
            return self._refresh(session)

    def _refresh(self, session: Session) -> int:
        self._expire_gaps()
        if latest_seq(session) <= self.seq and not self._gaps:
            self._synced()
            return 0
        waiting = session.scalar(sa.select(sa.func.count()).where(CatalogChange.seq > self.seq))
        if (waiting or 0) > BULK_CHANGES:  # a bulk import: a new base, not an overlay
            self._load(session, catch_up=False)
            return int(waiting or 0)
        changes = changes_since(session, self.seq, also=self._gaps.keys())
        if not changes:
            self._synced()
            return 0
        self._note_gaps(changes)
        kinds: dict[str, dict[int, int]] = defaultdict(dict)
        for change in changes:
            kinds[change.entity][change.entity_id] = change.seq
        if kinds.get("region"):  # names and codes shown with outlets
            self.live.cols.tables.regions = loading.regions(session)
            self.live.cache = {}
            self._patch_outlets(session, {oid: 0 for oid in self.live.overlay})
        if kinds.get("outlet"):
            self._patch_outlets(session, kinds["outlet"])
        # Promotion views hold outlet ids, never outlet fields (an outlet's region is read
        # at query time), so only promotion changes touch them.
        if kinds.get("promotion"):
            self._patch_promotions(session, set(kinds["promotion"]))
        self._synced()
        return len(changes)

    def _patch_outlets(self, session: Session, changed: dict[int, int]) -> None:
        """Re-read the changed outlets into the overlay (None: deleted or unservable)."""
        if not changed:
            return
        found = {r.id: r for r in loading.rows(session, loading.LIVE & Outlet.id.in_(changed))}
        builder = build([found[i] for i in changed if i in found], self.live.cols.tables,
                        self._skip_row)
        cols = builder.columns()
        views: dict[int, OutletView | None] = dict.fromkeys(changed)
        for row in range(len(cols)):
            views[int(cols.ids[row])] = cols.view(row)
        for oid in changed:
            self._overlay_rows[oid] = found.get(oid) if views[oid] is not None else None
        if not self.live.overlay:
            self._overlay_since = time.monotonic()
        self.open_now.patch(views)  # first: the minutes ask it as the index takes the rows
        self.live = self.live.patched(views, max(changed.values()))

    def _note_gaps(self, changes: list) -> None:
        """Sequence numbers can commit out of order on PostgreSQL: remember the holes below
        the newest seen and look at them again until they fill or time out."""
        seen = {c.seq for c in changes}
        for seq in seen:
            self._gaps.pop(seq, None)
        top = max(seen)
        now = time.monotonic()
        for missing in range(self.seq + 1, top):
            if missing not in seen:
                self._gaps.setdefault(missing, now)
        self.seq = max(self.seq, top)

    def _expire_gaps(self) -> None:
        # A hole still open after GAP_TIMEOUT_S was a rolled-back transaction.
        cutoff = time.monotonic() - GAP_TIMEOUT_S
        for seq in [s for s, t in self._gaps.items() if t < cutoff]:
            del self._gaps[seq]

    # ---- background sync -----------------------------------------------------------------
    def _prebuild_open(self) -> None:
        """This minute's and the next one's open-now index, before a request needs them."""
        now = time.time()
        for at in (now, now + 60):
            minute = minute_of(datetime.fromtimestamp(at, UTC))
            if self.open_now.get(minute) is None:
                self._build_open(minute)

    def _synced(self) -> None:
        self.synced_at = time.monotonic()
        INDEX_SIZE.set(len(self))
        INDEX_VERSION.set(self.seq)
        INDEX_AGE.set(0)

    def start(self) -> None:
        """Poll the change feed in a daemon thread until close()."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="catalog-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                if self.stale:
                    self.load()
                else:
                    self.refresh()
                    self._fold_soon()
                with self._lock:
                    self._prebuild_open()
                    self._prune_offers()
            except sa.exc.OperationalError as exc:  # the database is away: quietly, tick on
                log.debug("catalog sync: database unavailable (%s)", type(exc).__name__)
            except Exception:  # keep serving from memory; say why, try again next tick
                log.exception("catalog refresh failed; serving the last good snapshot")
            INDEX_AGE.set(self.age_s)

    def close(self) -> None:
        self._stop.set()
        if self._folding is not None:
            self._folding.join(timeout=30)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
