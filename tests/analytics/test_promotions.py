"""Claims and redemptions per promotion and outlet, by hand."""

from __future__ import annotations

import pytest

from o2o.analytics.promotions import promotion_report
from o2o.analytics.rollup import roll_up
from o2o.errors import NotFound
from tests.factories_events import FROM, TO, event, known_history, utc


@pytest.mark.parametrize("rolled", [False, True])
def test_promotion_lines(session, rolled: bool) -> None:
    h = known_history(session)
    # A second claim of P1 at B by c2, redeemed nowhere yet.
    event(session, "claim", utc("03-06 03:00"), customer="c2", outlet=h.b, promotion=h.p1)
    session.commit()
    if rolled:
        roll_up(session)
    report = promotion_report(session, scope=frozenset({h.r1.id}), date_from=FROM, date_to=TO)
    lines = [(x.promotion, x.outlet, x.counts, x.uniques["claim"]) for x in report.lines]
    assert lines == [
        ("买一送一", "合计", {"impression": 1, "click": 0, "claim": 2, "redemption": 1}, 2),
        ("买一送一", "人民广场店 (A1)", {"impression": 1, "click": 0, "claim": 1,
                                      "redemption": 1}, 1),
        ("买一送一", "西部店 (B1)", {"impression": 0, "click": 0, "claim": 1, "redemption": 0}, 1),
    ]
    assert report.lines[0].rates == {"claim_per_impression": 2.0, "redemption_per_claim": 0.5}
    assert promotion_report(session, scope=frozenset({h.r2.id}), date_from=FROM,
                            date_to=TO).lines == []
    with pytest.raises(NotFound):
        promotion_report(session, scope=frozenset({h.r2.id}), date_from=FROM, date_to=TO,
                         outlet_id=h.a.id)
