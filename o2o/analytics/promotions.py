"""Which offers bring people in: impressions, clicks, claims and redemptions per promotion and outlet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.cells import tally, unique_count
from o2o.analytics.funnel import ratio
from o2o.analytics.rollup_models import NONE_ID, OUTLET_DAY
from o2o.analytics.scope import (
    Scope,
    check_range,
    outlet_in_view,
    outlet_labels,
    regions_in_view,
)
from o2o.analytics.source import collect_cells
from o2o.catalog.models import Promotion

PROMO_STEPS = ("impression", "click", "claim", "redemption")


@dataclass(frozen=True, slots=True)
class PromotionLine:
    """Counts and unique customers of one promotion at one outlet (or at all, outlet None)."""

    promotion_id: int
    promotion: str
    outlet_id: int | None
    outlet: str
    counts: dict[str, int]
    uniques: dict[str, int]

    @property
    def rates(self) -> dict[str, float | None]:
        return {"claim_per_impression": ratio(self.counts["claim"], self.counts["impression"]),
                "redemption_per_claim": ratio(self.counts["redemption"], self.counts["claim"])}

    def as_dict(self) -> dict[str, Any]:
        return {"promotion_id": self.promotion_id, "promotion": self.promotion,
                "outlet_id": self.outlet_id, "outlet": self.outlet, "counts": self.counts,
                "uniques": self.uniques, "rates": self.rates}


@dataclass(frozen=True, slots=True)
class PromotionReport:
    date_from: date
    date_to: date
    regions: list[int] | None
    lines: list[PromotionLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "region_ids": self.regions, "steps": list(PROMO_STEPS),
                "rows": [line.as_dict() for line in self.lines]}


def promotion_report(session: Session, *, scope: Scope, date_from: date, date_to: date,
                     region_id: int | None = None, outlet_id: int | None = None,
                     raw: bool = False) -> PromotionReport:
    """Per promotion: a total line, then one line per outlet, busiest first."""
    check_range(date_from, date_to)
    regions = regions_in_view(session, scope=scope, region_id=region_id)
    if outlet_id is not None:
        outlet_in_view(session, scope=regions, outlet_id=outlet_id)
    cells = collect_cells(session, grain=OUTLET_DAY, regions=regions, date_from=date_from,
                          date_to=date_to, outlet_id=outlet_id, types=PROMO_STEPS,
                          by=("promotion_id", "outlet_id"), raw=raw)
    by_line: dict[tuple[int, int | None], dict[str, list]] = {}
    for cell in cells:
        if cell.promotion_id == NONE_ID:
            continue
        for line in ((cell.promotion_id, None), (cell.promotion_id, cell.outlet_id)):
            acc = by_line.setdefault(line, {}).setdefault(cell.type, tally())
            acc[0] += cell.count
            if cell.keys.size:
                acc[1].append(cell.keys)
    titles = dict(session.execute(
        sa.select(Promotion.id, Promotion.title).where(
            Promotion.id.in_({p for p, _ in by_line}))).all()) if by_line else {}
    outlets = outlet_labels(session, None, include_deleted=True) if by_line else {}
    lines = []
    for (promo, outlet), steps in by_line.items():
        counts = {s: steps[s][0] if s in steps else 0 for s in PROMO_STEPS}
        uniques = {s: unique_count(steps[s][1]) if s in steps else 0 for s in PROMO_STEPS}
        lines.append(PromotionLine(promo, titles.get(promo, f"#{promo}"), outlet,
                                   "合计" if outlet is None else outlets.get(outlet, f"#{outlet}"),
                                   counts, uniques))
    totals = {line.promotion_id: line.counts for line in lines if line.outlet_id is None}
    lines.sort(key=lambda line: (-totals[line.promotion_id]["redemption"],
                                 -totals[line.promotion_id]["claim"], line.promotion_id,
                                 line.outlet_id is not None, -line.counts["redemption"],
                                 -line.counts["claim"], line.outlet_id or 0))
    return PromotionReport(date_from, date_to, None if regions is None else sorted(regions),
                           lines)
