"""Published promotions indexed by scope and schedule, so an outlet's offers cost what applies
to it, not every promotion the chain has ever published.

`Offers` is immutable: a change builds a new one that shares every list the change did not
touch, and readers keep whichever they picked up. It holds

- every published promotion by id (`get`, `all`), in the catalog's order: priority highest
  first, newer first among equals;
- candidate lists in that order: chain-wide ones, one per region, one per outlet (scope
  "outlets"). An outlet's offers at `at` are its region's, its own and the chain's, merged;
- only promotions still live at `cut` in those lists: one whose validity ended by then can
  never be active at or after it. A query before `cut` (a preview of the past, a test
  clock) scans everything instead, so answers never depend on the cut; `pruned` moves the
  cut forward as offers expire.

Within the lists the validity window is a pair of comparisons; only offers with weekdays or
a daily window ask `Schedule.is_active`. The results are exactly those of the plain scan
`[p for p in all() if p.applies_to(outlet) and p.is_active(at, outlet.timezone)]`.
"""

from __future__ import annotations

import json
from bisect import insort
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog.models import Promotion, PromotionScope, PromotionStatus, promotion_outlets
from o2o.catalog.views import OutletView, PromotionView, promotion_view

__all__ = ["PATCH_MAX", "Offers", "prune_cut", "rank", "read_promotions"]

#: Promotions ended this long ago leave the lists (see `prune_cut`).
PRUNE_LAG = timedelta(minutes=5)
#: A refresh re-reads the promotions it names, up to this many; more is a full reload.
PATCH_MAX = 5_000

_PAST = datetime.min.replace(tzinfo=UTC)
_FUTURE = datetime.max.replace(tzinfo=UTC)
#: (valid from, valid until, needs the clock rules, the view): one per promotion, shared.
_Entry = tuple[datetime, datetime, bool, PromotionView]
_Lists = tuple[tuple[_Entry, ...], dict[int, tuple[_Entry, ...]], dict[int, tuple[_Entry, ...]]]


def rank(view: PromotionView) -> tuple[int, int]:
    """The catalog's order: highest priority first; newer first among equals, so a fresh
    offer wins a tie."""
    return -view.priority, -view.id


def _entry_rank(entry: _Entry) -> tuple[int, int]:
    return -entry[3].priority, -entry[3].id


def _entry(view: PromotionView) -> _Entry:
    s = view.schedule
    clock = bool(s.weekdays) or s.daily_start is not None or s.daily_end is not None
    return s.valid_from or _PAST, s.valid_until or _FUTURE, clock, view


def _live(view: PromotionView, cut: datetime | None) -> bool:
    """Can `view` still be active at or after `cut`?"""
    end = view.schedule.valid_until
    return cut is None or end is None or end > cut


def _key(view: PromotionView) -> tuple[str, int | None]:
    """Which candidate list holds `view` (the branches of PromotionView.applies_to)."""
    if view.scope == "all":
        return "chain", None
    if view.scope == "region":
        return "region", view.region_id  # None matches no outlet: kept in no list
    return "outlets", None


class Offers:
    """An immutable index of published promotions; see the module's docstring."""

    __slots__ = ("_all", "_by_id", "_chain", "_cut", "_next_expiry", "_outlets", "_regions")

    def __init__(self, views: Iterable[PromotionView] = (), *, cut: datetime | None = None) -> None:
        ordered = sorted(views, key=rank)
        self._by_id = {v.id: v for v in ordered}
        self._all: tuple[PromotionView, ...] | None = tuple(ordered)
        self._cut = cut
        chain: list[_Entry] = []
        regions: dict[int, list[_Entry]] = defaultdict(list)
        outlets: dict[int, list[_Entry]] = defaultdict(list)
        for view in ordered:
            if not _live(view, cut):
                continue
            entry = _entry(view)
            kind, region = _key(view)
            if kind == "chain":
                chain.append(entry)
            elif kind == "region":
                if region is not None:
                    regions[region].append(entry)
            else:
                for oid in view.outlet_ids:
                    outlets[oid].append(entry)
        self._chain = tuple(chain)
        self._regions = {k: tuple(v) for k, v in regions.items()}
        self._outlets = {k: tuple(v) for k, v in outlets.items()}
        self._next_expiry = _next_expiry(self._by_id.values(), cut)

    # ---- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, promotion_id: int) -> PromotionView | None:
        return self._by_id.get(promotion_id)

    def all(self) -> tuple[PromotionView, ...]:
        """Every published promotion, best first (expired ones too)."""
        if self._all is None:
            self._all = tuple(sorted(self._by_id.values(), key=rank))
        return self._all

    @property
    def cut(self) -> datetime | None:
        return self._cut

    @property
    def next_expiry(self) -> datetime | None:
        """No later than the first moment a listed promotion ends (None: none ends)."""
        return self._next_expiry

    def for_outlet(self, outlet: OutletView, at: datetime) -> list[PromotionView]:
        """Published promotions active at `at` in the outlet's zone, best first."""
        if at.tzinfo is None or (self._cut is not None and at < self._cut):
            return self.scan(outlet, at)
        lists = [self._chain]
        if outlet.region_id is not None and (region := self._regions.get(outlet.region_id)):
            lists.append(region)
        if own := self._outlets.get(outlet.id):
            lists.append(own)
        tz = outlet.timezone
        hits: list[PromotionView] = []
        sources = 0
        for entries in lists:
            before = len(hits)
            for start, end, clock, view in entries:
                if start <= at < end and (not clock or view.schedule.is_active(at, tz)):
                    hits.append(view)
            sources += len(hits) > before
        if sources > 1:
            hits.sort(key=rank)
        return hits

    def scan(self, outlet: OutletView, at: datetime) -> list[PromotionView]:
        """The same answer by looking at every promotion (what the index replaces)."""
        return [p for p in self.all() if p.applies_to(outlet) and p.is_active(at, outlet.timezone)]

    # ---- changing ------------------------------------------------------------------------
    def patched(self, fresh: Mapping[int, PromotionView | None],
                cut: datetime | None = None) -> Offers:
        """A new index with the promotions in `fresh` replaced (None: no longer published);
        costs the lists they are in, not the whole index; then `pruned(cut)` if given."""
        by_id = dict(self._by_id)
        for pid, view in fresh.items():
            if view is None:
                by_id.pop(pid, None)
            else:
                by_id[pid] = view
        olds = [v for pid in fresh if (v := self._by_id.get(pid)) is not None]
        news = [v for v in fresh.values() if v is not None and _live(v, self._cut)]
        out = self._derive(by_id, self._cut, set(fresh), olds, news)
        ends = [e for v in news if (e := v.schedule.valid_until) is not None]
        if self._next_expiry is not None:
            ends.append(self._next_expiry)
        out._next_expiry = min(ends, default=None)
        later = _later(self._cut, cut)
        return out if later == self._cut else out.pruned(later)

    def pruned(self, cut: datetime) -> Offers:
        """The same promotions with those ended by `cut` left out of the lists (a query
        before `cut` then scans instead). Costs one pass over the promotions."""
        cut = _later(self._cut, cut)
        if cut == self._cut or self._next_expiry is None or self._next_expiry > cut:
            return self  # nothing listed has ended by `cut`
        ended = [v for v in self._by_id.values()
                 if (e := v.schedule.valid_until) is not None and e <= cut
                 and (self._cut is None or e > self._cut)]
        out = self._derive(self._by_id, cut, {v.id for v in ended}, ended, [])
        out._all = self._all
        out._next_expiry = _next_expiry(self._by_id.values(), cut)
        return out

    def _derive(self, by_id: dict[int, PromotionView], cut: datetime | None, gone: set[int],
                olds: list[PromotionView], news: list[PromotionView]) -> Offers:
        """A copy sharing every list no view in `olds` or `news` sits in; entries whose id is
        in `gone` are dropped from the touched lists and `news` inserted in order."""
        out = Offers.__new__(Offers)
        out._by_id, out._cut, out._all = by_id, cut, None
        chain, regions, outlets = self._chain, dict(self._regions), dict(self._outlets)
        adds: dict[tuple[str, int | None], list[_Entry]] = defaultdict(list)
        for view in news:
            entry = _entry(view)
            for key in _keys(view):
                adds[key].append(entry)
        touched = {key for view in olds for key in _keys(view)} | adds.keys()
        for kind, k in touched:
            if kind == "chain":
                chain = _merged(chain, gone, adds[(kind, k)])
            elif kind == "region" and k is not None:
                _put(regions, k, _merged(regions.get(k, ()), gone, adds[(kind, k)]))
            elif k is not None:
                _put(outlets, k, _merged(outlets.get(k, ()), gone, adds[(kind, k)]))
        out._chain, out._regions, out._outlets = chain, regions, outlets
        out._next_expiry = None
        return out


def _keys(view: PromotionView) -> list[tuple[str, int | None]]:
    kind, region = _key(view)
    if kind == "outlets":
        return [("outlets", oid) for oid in view.outlet_ids]
    return [(kind, region)]


def _merged(entries: tuple[_Entry, ...], gone: set[int],
            adds: list[_Entry]) -> tuple[_Entry, ...]:
    kept = [e for e in entries if e[3].id not in gone]
    for entry in adds:
        insort(kept, entry, key=_entry_rank)
    return tuple(kept)


def _put(lists: dict[int, tuple[_Entry, ...]], key: int, entries: tuple[_Entry, ...]) -> None:
    if entries:
        lists[key] = entries
    else:
        lists.pop(key, None)


def prune_cut() -> datetime:
    """Where a worker cuts its lists: a little before now, so a request that took its clock
    reading just before a rebuild still finds the index."""
    return datetime.now(UTC) - PRUNE_LAG


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _next_expiry(views: Iterable[PromotionView], cut: datetime | None) -> datetime | None:
    return min((e for v in views if (e := v.schedule.valid_until) is not None
                and (cut is None or e > cut)), default=None)


# ---- loading ---------------------------------------------------------------------------
#: What a load selects: plain columns, weekdays as text (decoded per row, so a bad value is
#: one bad row, not a failed load), scope as a string (checked per row for the same reason).
COLUMNS = (Promotion.id, Promotion.code, Promotion.title, Promotion.description,
           Promotion.image_url, Promotion.link_url, Promotion.valid_from, Promotion.valid_until,
           sa.cast(Promotion.weekdays, sa.Text).label("weekdays"), Promotion.daily_start,
           Promotion.daily_end, Promotion.timezone, Promotion.priority,
           sa.type_coerce(Promotion.scope, sa.String).label("scope"), Promotion.region_id,
           Promotion.coupon_enabled, Promotion.coupon_total, Promotion.coupon_per_customer,
           Promotion.coupon_valid_days)
_SCOPES = frozenset(s.value for s in PromotionScope)
#: The catalog's guard for one stored row: (entity, id, build) → the view, or None (logged).
Servable = Callable[[str, int, Callable[[], PromotionView]], PromotionView | None]


def read_promotions(session: Session, servable: Servable,
                    ids: Collection[int] | None = None) -> dict[int, PromotionView]:
    """The published promotions (all, or those among `ids`) as views, by id, in two queries:
    the rows, then their outlet links (no query per promotion)."""
    published = Promotion.status == PromotionStatus.PUBLISHED
    link = promotion_outlets.c
    links = sa.select(link.promotion_id, link.outlet_id)
    if ids is None:
        where = published
        links = links.join(Promotion, Promotion.id == link.promotion_id).where(published)
    else:
        where = published & Promotion.id.in_(list(ids))
        links = links.where(link.promotion_id.in_(list(ids)))
    conn = session.connection()  # plain rows: no ORM bookkeeping per row
    rows = conn.execute(sa.select(*COLUMNS).where(where)).all()
    outlets: dict[int, set[int]] = defaultdict(set)
    for pid, oid in conn.execute(links):
        outlets[pid].add(oid)
    views = {}
    for row in rows:
        view = servable("promotion", row.id, lambda row=row: _view(row, outlets.get(row.id, ())))
        if view is not None:
            views[row.id] = view
    return views


def _view(row: Any, outlet_ids: Iterable[int]) -> PromotionView:
    if row.scope not in _SCOPES:
        raise LookupError(f"unknown promotion scope {row.scope!r}")
    weekdays = json.loads(row.weekdays) if row.weekdays else []
    return promotion_view(row, outlet_ids=outlet_ids, weekdays=weekdays)
