"""The live catalog of one worker: outlets in the nearest index, promotions in memory.

Built from the database at start-up (or, while it cannot be reached, from the last snapshot
this host saved: `o2o.catalog.snapshot`), then patched from the change feed
(catalog_changes) polled every `poll_s` seconds, so an admin change reaches every worker
within a second without a full rebuild. Readers never block and never see a half-applied change: each
refresh swaps whole dictionaries.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.catalog.changes import changes_since, latest_seq
from o2o.catalog.hours import OpeningHours
from o2o.catalog.models import Outlet, Region
from o2o.catalog.offers import PATCH_MAX, Offers, prune_cut, rank, read_promotions
from o2o.catalog.open_now import OpenNow, minute_of
from o2o.catalog.snapshot import read_snapshot, save_snapshot
from o2o.catalog.views import (
    OutletView,
    PromotionView,
    index_entry,
    outlet_view,
)
from o2o.db import read_only
from o2o.errors import O2OError, ValidationError
from o2o.geo.index import STATUS_CODE, NearestIndex
from o2o.metrics import CATALOG_ROWS_SKIPPED, INDEX_AGE, INDEX_SIZE, INDEX_VERSION

log = logging.getLogger("o2o.catalog")

GAP_TIMEOUT_S = 30.0
#: The sync thread takes ended promotions out of the offer lists at most this often.
PRUNE_EVERY_S = 60.0
#: What a stored row that cannot be served raises while it is turned into a view: bad JSON,
#: hours or times that do not parse, an unknown time zone or status, degrees out of range.
BAD_ROW_ERRORS = (O2OError, ValueError, TypeError, LookupError, ArithmeticError)
T = TypeVar("T")


class Catalog:
    """Outlets + promotions as this worker serves them."""

    def __init__(self, sessions: sessionmaker[Session], *, poll_s: float = 0.25,
                 snapshot: Path | None = None) -> None:
        # Loads and refreshes only read: on SQLite they must not hold the write lock (a full
        # reload at 1M outlets takes most of a minute).
        self._sessions = read_only(sessions)
        self._poll_s = poll_s
        self._lock = threading.Lock()  # one writer (load/refresh) at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.index = NearestIndex()
        self.open_now = OpenNow()
        self._outlets: dict[int, OutletView] = {}
        self._by_code: dict[str, int] = {}
        self._offers = Offers()
        self._pruned_at = 0.0
        self.seq = 0
        self._gaps: dict[int, float] = {}
        self._skipped: set[tuple[str, int, str]] = set()  # (entity, id, reason) logged once
        self.synced_at = 0.0
        #: Where each full load is saved, for a start while the database is away.
        self.snapshot = snapshot
        #: Serving a snapshot (or nothing): the next sync is a full load, not a refresh.
        self.stale = False

    # ---- reading -------------------------------------------------------------------------
    def outlet(self, outlet_id: int) -> OutletView | None:
        return self._outlets.get(outlet_id)

    def outlet_by_code(self, code: str) -> OutletView | None:
        oid = self._by_code.get(code)
        return None if oid is None else self._outlets.get(oid)

    def outlets(self) -> Iterable[OutletView]:
        return self._outlets.values()

    def open_index(self, at: datetime) -> NearestIndex:
        """The index of the outlets open at `at` (see o2o.catalog.open_now). Loads and the
        sync thread build the current and next minute's ahead; another minute (an explicit
        `at`, or no sync thread) is built here on first use."""
        minute = minute_of(at)
        index = self.open_now.get(minute)
        if index is None:
            with self._lock:
                index = self.open_now.get(minute) or self.open_now.build(
                    minute, self._outlets.values())
        return index

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
        return len(self._outlets)

    # ---- loading -------------------------------------------------------------------------
    def load(self) -> None:
        """Full (re)build from the database."""
        with self._lock, self._sessions() as session:
            self._load(session)

    def _load(self, session: Session) -> None:
        seq = latest_seq(session)
        views = dict(self._views(session, Outlet.deleted_at.is_(None)))
        promos = self._load_promotions(session)
        self._install(views, promos, seq)
        self.stale = False
        self._synced()
        log.info("catalog loaded: %d outlets, %d promotions, seq %d",
                 len(views), len(promos), seq)
        if self.snapshot is not None:
            save_snapshot(self.snapshot, views, promos, seq)

    def _install(self, views: dict[int, OutletView], promos: tuple[PromotionView, ...],
                 seq: int) -> None:
        index = NearestIndex()
        index.build_arrays([v.id for v in views.values()], [v.lat for v in views.values()],
                           [v.lng for v in views.values()],
                           status=[STATUS_CODE[v.status] for v in views.values()],
                           tags=[v.tags for v in views.values()])
        self.index, self._outlets = index, views
        self.open_now.clear()
        self._prebuild_open()
        self._by_code = {v.code: v.id for v in views.values()}
        self._offers = Offers(promos, cut=prune_cut())
        self.seq = seq
        self._gaps.clear()

    def load_snapshot(self) -> bool:
        """Serve the last catalog this host loaded (the database is away); the sync thread
        replaces it with a full load as soon as the database answers."""
        self.stale = True
        found = None if self.snapshot is None else read_snapshot(self.snapshot)
        if found is None:
            log.warning("no catalog snapshot at %s: serving no outlets until the database "
                        "answers", self.snapshot)
            return False
        with self._lock:
            self._install(*found)
        INDEX_SIZE.set(len(self._outlets))
        log.warning("catalog from the snapshot %s: %d outlets, seq %d", self.snapshot,
                    len(self._outlets), self.seq)
        return True

    def _views(self, session: Session, where: sa.ColumnElement[bool]) -> Iterator[tuple[int, OutletView]]:
        """(id, view) of every servable outlet row matching `where`; bad rows are skipped."""
        # Plain rows of the needed columns, streamed: a million ORM objects would cost
        # minutes and gigabytes for state the catalog never writes back.
        regions = {r.id: r for r in session.scalars(sa.select(Region))}
        rows = session.execute(sa.select(*VIEW_COLUMNS).where(where)
                               .execution_options(yield_per=10_000))
        # Per call, so an edited timetable is compiled afresh and nothing outlives the load.
        hours_of, tags_of = cache(_compile_hours), cache(_parse_tags)
        for row in rows:
            view = self._servable("outlet", row.id, lambda row=row: _checked(outlet_view(
                row, regions.get(row.region_id),
                hours=hours_of((row.hours, row.exceptions, row.timezone)),
                tags=tags_of(row.tags))))
            if view is not None:
                yield row.id, view

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

    def _servable(self, entity: str, entity_id: int, make: Callable[[], T]) -> T | None:
        """What `make` builds from a stored row, or None if the row cannot be served (it got
        past validation somehow): logged once with its id and reason, counted, never fatal,
        so one bad row cannot stop a start or a refresh."""
        try:
            return make()
        except BAD_ROW_ERRORS as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if (entity, entity_id, reason) not in self._skipped:
                self._skipped.add((entity, entity_id, reason))
                CATALOG_ROWS_SKIPPED.labels(entity).inc()
                log.error("catalog: %s %d left out, it cannot be served: %s",
                          entity, entity_id, reason)
            return None

    def refresh(self) -> int:
        """Apply changes newer than what this worker has; returns how many were applied."""
        with self._lock, self._sessions() as session:
            self._expire_gaps()
            if latest_seq(session) <= self.seq and not self._gaps:
                self._synced()
                return 0
            changes = changes_since(session, self.seq, also=self._gaps.keys())
            if not changes:
                self._synced()
                return 0
            self._note_gaps(changes)
            kinds: dict[str, set[int]] = defaultdict(set)
            for change in changes:
                kinds[change.entity].add(change.entity_id)
            if kinds.get("region"):
                # Regions are rare and touch many outlets and promotions: rebuild.
                self._load(session)
                return len(changes)
            if kinds.get("outlet"):
                self._patch_outlets(session, kinds["outlet"])
            # Promotion views hold outlet ids, never outlet fields (an outlet's region is
            # read at query time), so only promotion changes touch them.
            if kinds.get("promotion"):
                self._patch_promotions(session, kinds["promotion"])
            self._synced()
            return len(changes)

    def _patch_outlets(self, session: Session, ids: set[int]) -> None:
        fresh = dict(self._views(session, Outlet.id.in_(ids) & Outlet.deleted_at.is_(None)))
        outlets, by_code = dict(self._outlets), dict(self._by_code)
        self.open_now.patch({oid: fresh.get(oid) for oid in ids})
        for oid in ids:
            old = outlets.pop(oid, None)
            if old is not None:
                by_code.pop(old.code, None)
            view = fresh.get(oid)
            if view is None:  # deleted, or no longer servable
                self.index.remove(oid)
                continue
            outlets[oid], by_code[view.code] = view, oid
            self.index.upsert(index_entry(view))
        self._outlets, self._by_code = outlets, by_code

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

    def _prebuild_open(self) -> None:
        """This minute's and the next one's open-now index, before a request needs them."""
        now = time.time()
        for at in (now, now + 60):
            minute = minute_of(datetime.fromtimestamp(at, UTC))
            if self.open_now.get(minute) is None:
                self.open_now.build(minute, self._outlets.values())

    def _synced(self) -> None:
        self.synced_at = time.monotonic()
        INDEX_SIZE.set(len(self._outlets))
        INDEX_VERSION.set(self.seq)
        INDEX_AGE.set(0)

    # ---- background sync -----------------------------------------------------------------
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
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


#: What a bulk load selects: no geography, no timestamps, JSON as text (a chain has a few
#: distinct timetables and tag sets; each is decoded and compiled once, not per outlet).
VIEW_COLUMNS = (Outlet.id, Outlet.code, Outlet.name, Outlet.address, Outlet.city,
                Outlet.district, Outlet.phone, Outlet.lat, Outlet.lng, Outlet.timezone,
                Outlet.region_id, sa.type_coerce(Outlet.status, sa.String).label("status"),
                Outlet.reopen_on,
                sa.cast(Outlet.hours, sa.Text).label("hours"),
                sa.cast(Outlet.exceptions, sa.Text).label("exceptions"),
                sa.cast(Outlet.tags, sa.Text).label("tags"), Outlet.image_url,
                Outlet.geofence_radius_m, Outlet.geofence_wkt)


def _compile_hours(key: tuple[str | None, str | None, str]) -> OpeningHours | None:
    weekly_text, exceptions_text, tz = key
    weekly = json.loads(weekly_text) if weekly_text else None
    if weekly is None:
        return None
    return OpeningHours.compile(weekly, json.loads(exceptions_text or "{}") or {}, tz)


def _parse_tags(text: str | None) -> frozenset[str]:
    tags = json.loads(text) if text else []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationError(f"tags must be a list of strings, not {text}")
    return frozenset(tags)


def _checked(view: OutletView) -> OutletView:
    """The view, once the index has accepted it as an entry (degrees, status, tags)."""
    index_entry(view)
    return view


