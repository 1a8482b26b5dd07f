"""CSV exports open in Excel: BOM, CRLF, Chinese intact, formulas defused."""

from __future__ import annotations

import csv
import io

from o2o.analytics.demand import DemandCell, DemandReport
from o2o.analytics.export import BOM, demand_csv, funnel_csv, promotions_csv, to_csv
from o2o.analytics.funnel import funnel
from o2o.analytics.promotions import promotion_report
from tests.factories_events import FROM, TO, known_history


def parse(text: str) -> list[list[str]]:
    assert text.startswith(BOM)
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text[1:])))


def test_funnel_csv_has_every_group_and_the_total(session) -> None:
    h = known_history(session)
    report = funnel(session, scope=frozenset({h.r1.id}), date_from=FROM, date_to=TO,
                    group_by="outlet")
    rows = parse(funnel_csv(report))
    assert rows[0][:8] == ["group", "label", "query", "impression", "click", "claim",
                           "redemption", "visit"]
    by_label = {r[1]: r for r in rows[1:]}
    assert by_label["人民广场店 (A1)"][2:8] == ["", "2", "1", "1", "1", "3"]
    assert by_label["合计"][0] == "total"
    assert len(rows) == 1 + 2 + 1
    text = funnel_csv(report).encode("utf-8")
    assert text.startswith(b"\xef\xbb\xbf") and "人民广场店".encode() in text


def test_promotions_csv(session) -> None:
    h = known_history(session)
    rows = parse(promotions_csv(promotion_report(session, scope=None, date_from=FROM,
                                                 date_to=TO)))
    assert rows[1][:8] == [str(h.p1.id), "买一送一", "", "合计", "1", "0", "1", "1"]


def test_formulas_are_defused_and_demand_rows_written() -> None:
    text = to_csv(["a", "b"], [["=HYPERLINK(\"x\")", -3], ["@SUM(A1)", "普通"]])
    assert parse(text)[1:] == [["'=HYPERLINK(\"x\")", "-3"], ["'@SUM(A1)", "普通"]]
    cell = DemandCell("88309959d1fffff", 31.2, 121.4, [], 2, 1, 70.0, 5, "店 (S1)", 378.6)
    rows = parse(demand_csv(DemandReport(FROM, TO, 8, None, [cell])))
    assert rows[1] == ["88309959d1fffff", "31.2", "121.4", "2", "1", "70.0", "5", "店 (S1)",
                       "378.6"]
