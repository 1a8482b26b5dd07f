"""What a push queues, and how one transaction applies it, on the loop or the writer thread.

An op is `(kind, payload)`: `("customer", values)` for an upsert of
`customers.service.query_values`, `("events", rows)` for `analytics.events.event_row`s, or
`("work", callable)` for any other small write given an ORM session.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

Op = tuple[str, Any]


class _Rows:
    """Multi-row upserts of one table, merged by key (a batch may hold one customer twice)."""

    def __init__(self) -> None:
        self.by_key: dict[Any, dict[str, Any]] = {}

    def add(self, key: Any, values: dict[str, Any]) -> None:
        seen = self.by_key.get(key)
        if seen is None:
            self.by_key[key] = dict(values)
        else:  # the later push wins, as if written one after the other
            seen.update({k: v for k, v in values.items() if k not in _FIRST_WINS})


#: Columns that keep the first value within a batch.
_FIRST_WINS = frozenset({"first_seen_at"})


def apply(conn: sa.Connection, ops: list[Op], sessions: sessionmaker[Session]) -> None:
    """Run `ops` in order in the transaction of `conn`; runs of customer upserts and events
    between two `work` items become one statement each. `work` items get an ORM session
    joined to that transaction (made only when one is queued)."""
    # Imported when used: the domain packages import o2o.db (their models' base), and
    # o2o.db imports none of them.
    from o2o.analytics.events import insert_events
    from o2o.customers.service import upsert_customers

    customers, events = _Rows(), []
    session: Session | None = None

    def flush() -> None:
        if customers.by_key:
            upsert_customers(conn, list(customers.by_key.values()))
            customers.by_key.clear()
        if events:
            insert_events(conn, events)
            events.clear()

    try:
        for kind, payload in ops:
            if kind == "customer":
                customers.add(payload["customer_hash"], payload)
            elif kind == "events":
                events.extend(payload)
            else:
                flush()
                if session is None:
                    session = sessions(bind=conn)
                payload(session)
                session.flush()
        flush()
    finally:
        if session is not None:
            session.close()
