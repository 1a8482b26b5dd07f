"""A query row that carries its first card (one row per one-card reply) gives every number the
two rows it replaces gave: funnel, promotions, demand map, raw, stored and tail, in scope."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.demand import demand_grid
from o2o.analytics.funnel import GROUPS, funnel
from o2o.analytics.models import Event
from o2o.analytics.promotions import promotion_report
from o2o.analytics.rollup import rebuild, roll_up
from tests.factories_events import (
    FROM,
    NEAR_A,
    TO,
    History,
    event,
    known_catalog,
    known_events,
    utc,
)


def _history(session: Session, h: History) -> None:
    """The known history, and a query whose first card is B (Urumqi time) across local
    midnight: the query's day is its region's (Shanghai, Sunday), the card's B's (Saturday)."""
    known_events(session, h)
    event(session, "query", utc("03-08 17:30"), customer="c4", region=h.r1,
          lat=NEAR_A[0], lng=NEAR_A[1], distance_m=900.0)
    event(session, "impression", utc("03-08 17:30"), customer="c4", outlet=h.b)
    session.commit()


def _fold(session: Session) -> int:
    """Rewrite the log as the reply writes it now: each query's first impression (the next
    row, same customer and time) goes into the query row. Returns the rows folded."""
    rows = list(session.scalars(sa.select(Event).order_by(Event.id)))
    by_id = {e.id: e for e in rows}
    folded = 0
    for query in rows:
        card = by_id.get(query.id + 1)
        if query.type != "query" or card is None or card.type != "impression" or \
                card.occurred_at != query.occurred_at or card.customer_hash != query.customer_hash:
            continue
        assert card.region_id == query.region_id  # the first card is the nearest outlet
        query.outlet_id, query.promotion_id = card.outlet_id, card.promotion_id
        session.delete(card)
        folded += 1
    session.commit()
    return folded


def _numbers(session: Session, services: Any, h: History, *, raw: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scope in (None, frozenset({h.r1.id}), frozenset({h.r2.id})):
        for group_by in GROUPS:
            kw: dict[str, Any] = dict(scope=scope, date_from=FROM, date_to=TO, group_by=group_by)
            out[f"funnel {scope} {group_by}"] = funnel(session, raw=raw, **kw).as_dict()
            session.rollback()
            if group_by == "region":
                continue
            for outlet in (h.a, h.b, h.c):
                if scope is not None and outlet.region_id not in scope:
                    continue
                out[f"funnel {scope} {group_by} {outlet.code}"] = funnel(
                    session, raw=raw, outlet_id=outlet.id, **kw).as_dict()
                session.rollback()
        out[f"promotions {scope}"] = promotion_report(
            session, scope=scope, date_from=FROM, date_to=TO, raw=raw).as_dict()
        session.rollback()
        grid = demand_grid(session, catalog=services.catalog, scope=scope, date_from=FROM,
                           date_to=TO)
        out[f"demand {scope}"] = [(c.cell, c.queries, c.uniques, c.recorded_distance_m)
                                  for c in grid.cells]
        session.rollback()
    return out


def test_folded_query_rows_keep_every_number(session, services) -> None:  # type: ignore[no-untyped-def]
    h = known_catalog(session)
    session.commit()
    _history(session, h)
    before = _numbers(session, services, h, raw=True)
    assert before["funnel None none"]["total"]["counts"]["impression"] == 5
    assert _fold(session) == 4  # queries 1, 8 and 13, and c4's
    assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 18 + 2 - 4
    assert _numbers(session, services, h, raw=True) == before  # the tail / raw path
    roll_up(session)
    assert _numbers(session, services, h, raw=False) == before  # stored cells
    rebuild(session)
    assert _numbers(session, services, h, raw=False) == before
