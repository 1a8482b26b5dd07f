"""The conversion funnel: counts and unique customers per step, rates, grouped as asked.

Steps: query → impression → click → claim → redemption, and store-proven visits. Days and
hours are local to each event's outlet (else region, else Asia/Shanghai). Queries belong to
no outlet, so outlet-level views report them as None rather than inventing an attribution.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from o2o.analytics.cells import STEPS, CellRow, tally, unique_count
from o2o.analytics.rollup_models import NONE_ID, OUTLET_DAY, OUTLET_HOUR, REGION_HOUR
from o2o.analytics.scope import (
    Scope,
    check_range,
    outlet_in_view,
    outlet_labels,
    region_labels,
    regions_in_view,
)
from o2o.analytics.source import collect_cells
from o2o.errors import ValidationError

GROUPS = ("none", "day", "weekday", "hour", "weekday_hour", "region", "outlet")
#: The cell fields each grouping reads (the database may pre-group on them).
GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "none": (), "day": ("day",), "weekday": ("day",), "hour": ("hour",),
    "weekday_hour": ("day", "hour"), "region": ("region_id",), "outlet": ("outlet_id",)}
WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")
#: (numerator, denominator) step pairs reported as rates.
RATES = (("impression", "query"), ("click", "impression"), ("claim", "click"),
         ("redemption", "claim"), ("visit", "click"), ("visit", "impression"),
         ("visit", "query"))


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """One group: raw counts and unique customers per step, and the rates between steps."""

    key: Any
    label: str
    counts: dict[str, int | None]
    uniques: dict[str, int | None]

    @property
    def rates(self) -> dict[str, float | None]:
        return {f"{a}_per_{b}": ratio(self.counts[a], self.counts[b]) for a, b in RATES}

    @property
    def unique_rates(self) -> dict[str, float | None]:
        return {f"{a}_per_{b}": ratio(self.uniques[a], self.uniques[b]) for a, b in RATES}

    def as_dict(self) -> dict[str, Any]:
        key = list(self.key) if isinstance(self.key, tuple) else self.key
        return {"key": key.isoformat() if isinstance(key, date) else key, "label": self.label,
                "counts": self.counts, "uniques": self.uniques, "rates": self.rates,
                "unique_rates": self.unique_rates}


@dataclass(frozen=True, slots=True)
class FunnelReport:
    date_from: date
    date_to: date
    group_by: str
    regions: list[int] | None
    outlet_id: int | None
    total: FunnelRow
    rows: list[FunnelRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "timezone": "local time of each outlet (else its region, else Asia/Shanghai)",
                "group_by": self.group_by, "region_ids": self.regions,
                "outlet_id": self.outlet_id, "steps": list(STEPS),
                "total": self.total.as_dict(), "rows": [r.as_dict() for r in self.rows]}


def ratio(numerator: int | None, denominator: int | None) -> float | None:
    """numerator / denominator to 4 places; None when either is unknown or the base is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def funnel(session: Session, *, scope: Scope, date_from: date, date_to: date,
           group_by: str = "none", region_id: int | None = None, outlet_id: int | None = None,
           raw: bool = False) -> FunnelReport:
    """The funnel for the caller's scope (None = everything), a local date range and a grouping."""
    if group_by not in GROUPS:
        raise ValidationError(f"group_by must be one of {', '.join(GROUPS)}",
                              details=[{"field": "group_by", "allowed": list(GROUPS)}])
    check_range(date_from, date_to)
    regions = regions_in_view(session, scope=scope, region_id=region_id)
    if outlet_id is not None:
        outlet_in_view(session, scope=regions, outlet_id=outlet_id)
    by_outlet = outlet_id is not None or group_by == "outlet"
    grain = REGION_HOUR
    if by_outlet:
        grain = OUTLET_HOUR if group_by in ("hour", "weekday_hour") else OUTLET_DAY
    cells = collect_cells(session, grain=grain, regions=regions, date_from=date_from,
                          date_to=date_to, outlet_id=outlet_id, by=GROUP_FIELDS[group_by],
                          raw=raw)
    steps = tuple(s for s in STEPS if not (by_outlet and s == "query"))
    groups = _group(cells, group_by)
    total = _row(None, "合计", _overall(groups), steps)
    labels = _labels(session, group_by, regions, outlet_id, date_from, date_to, groups)
    rows = [] if group_by == "none" else [
        _row(key, label, groups.get(key, {}), steps) for key, label in labels.items()]
    return FunnelReport(date_from, date_to, group_by,
                        None if regions is None else sorted(regions), outlet_id, total, rows)


def group_key(group_by: str, cell: CellRow) -> Hashable:
    if group_by == "day":
        return cell.day
    if group_by == "weekday":
        return cell.day.isoweekday()
    if group_by == "hour":
        return cell.hour
    if group_by == "weekday_hour":
        return (cell.day.isoweekday(), cell.hour)
    if group_by == "region":
        return cell.region_id
    if group_by == "outlet":
        return cell.outlet_id
    return None


def _group(cells: list[CellRow], group_by: str) -> dict[Hashable, dict[str, list]]:
    """group → step → [count, key arrays]."""
    groups: dict[Hashable, dict[str, list]] = {}
    for cell in cells:
        steps = groups.get(g := group_key(group_by, cell))
        if steps is None:
            steps = groups[g] = {}
        acc = steps.get(cell.type)
        if acc is None:
            acc = steps[cell.type] = tally()
        acc[0] += cell.count
        if cell.keys.size:
            acc[1].append(cell.keys)
    return groups


def _overall(groups: dict[Hashable, dict[str, list]]) -> dict[str, list]:
    """The groups' tallies added up (counts add; key arrays are united later)."""
    if len(groups) == 1:
        return next(iter(groups.values()))
    total: dict[str, list] = {}
    for steps in groups.values():
        for step, (count, parts) in steps.items():
            acc = total.setdefault(step, tally())
            acc[0] += count
            acc[1].extend(parts)
    return total


def _row(key: Hashable, label: str, by_step: dict[str, list], steps: tuple[str, ...]
         ) -> FunnelRow:
    counts: dict[str, int | None] = dict.fromkeys(STEPS)
    uniques: dict[str, int | None] = dict.fromkeys(STEPS)
    for step in steps:
        count, parts = by_step.get(step) or (0, [])
        counts[step], uniques[step] = count, unique_count(parts)
    return FunnelRow(key, label, counts, uniques)


def _labels(session: Session, group_by: str, regions: Scope, outlet_id: int | None,
            date_from: date, date_to: date, groups: dict[Hashable, Any]) -> dict[Any, str]:
    """Every group the view should list, empty ones included, with a readable label."""
    if group_by == "day":
        days = (date_to - date_from).days + 1
        return {d: d.isoformat() for d in (date_from + timedelta(i) for i in range(days))}
    if group_by == "weekday":
        return {w: f"周{WEEKDAYS[w - 1]}" for w in range(1, 8)}
    if group_by == "hour":
        return {h: f"{h:02d}:00" for h in range(24)}
    if group_by == "weekday_hour":
        return {(w, h): f"周{WEEKDAYS[w - 1]} {h:02d}:00" for w in range(1, 8) for h in range(24)}
    if group_by == "region":
        labels: dict[Any, str] = dict(region_labels(session, regions))
        if NONE_ID in groups:
            labels[NONE_ID] = "（无门店区域）"
        return labels | {k: f"#{k}" for k in groups if k not in labels}
    if group_by == "outlet":
        labels = dict(outlet_labels(session, regions, outlet_id))
        named = outlet_labels(session, regions, outlet_id, include_deleted=True)
        return labels | {k: named.get(k, f"#{k}") for k in sorted(groups) if k not in labels}
    return {}
