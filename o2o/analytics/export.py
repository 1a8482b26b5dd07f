"""CSV exports of every analytics view: UTF-8 with a BOM so Excel shows Chinese correctly.

Text cells that a spreadsheet would run as a formula (=, +, -, @ ...) are quoted with a
leading apostrophe, so an outlet named "=HYPERLINK(...)" stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from o2o.analytics.cells import STEPS
from o2o.analytics.demand import DemandCell, DemandReport
from o2o.analytics.funnel import RATES, FunnelReport
from o2o.analytics.promotions import PROMO_STEPS, PromotionReport

BOM = "\ufeff"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (BOM, CRLF line ends, as Excel writes it)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()


def funnel_csv(report: FunnelReport) -> str:
    rates = [f"{a}_per_{b}" for a, b in RATES]
    header = ["group", "label", *STEPS, *(f"{s}_customers" for s in STEPS), *rates]
    rows = [*report.rows, report.total]
    return to_csv(header, (
        [_key(r.key) if r is not report.total else "total", r.label,
         *(r.counts[s] for s in STEPS), *(r.uniques[s] for s in STEPS),
         *(r.rates[k] for k in rates)] for r in rows))


def promotions_csv(report: PromotionReport) -> str:
    header = ["promotion_id", "promotion", "outlet_id", "outlet", *PROMO_STEPS,
              *(f"{s}_customers" for s in PROMO_STEPS), "claim_per_impression",
              "redemption_per_claim"]
    return to_csv(header, (
        [line.promotion_id, line.promotion, line.outlet_id, line.outlet,
         *(line.counts[s] for s in PROMO_STEPS), *(line.uniques[s] for s in PROMO_STEPS),
         line.rates["claim_per_impression"], line.rates["redemption_per_claim"]]
        for line in report.lines))


def demand_csv(report: DemandReport | Sequence[DemandCell]) -> str:
    cells = report.cells if isinstance(report, DemandReport) else report
    header = ["cell", "lat", "lng", "queries", "customers", "recorded_distance_m",
              "nearest_outlet_id", "nearest_outlet", "nearest_distance_m"]
    return to_csv(header, (
        [c.cell, c.lat, c.lng, c.queries, c.uniques, c.recorded_distance_m,
         c.nearest_outlet_id, c.nearest_outlet, c.nearest_distance_m] for c in cells))


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return "-".join(str(k) for k in key)
    return key.isoformat() if hasattr(key, "isoformat") else str(key)
