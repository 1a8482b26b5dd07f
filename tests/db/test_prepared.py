"""Prepared statements write exactly what SQLAlchemy's own executemany writes, on both
backends, and refuse what they cannot run."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from o2o.analytics.events import _insert_events_stmt, event_row, insert_events
from o2o.analytics.models import Event
from o2o.customers.models import Customer
from o2o.customers.service import query_values, upsert_customers
from o2o.db.prepared import Prepared, prepared
from tests.factories_loop import NOW, a_customer


def _events(tag: str) -> list[dict[str, object]]:
    return [
        event_row(type="query", customer_hash=a_customer(1), query_id=f"{tag}-q", lat=31.2304,
                  lng=121.4737, at=NOW, dedup_key=f"query:{tag}", props={"k": 1, "名": "店"}),
        event_row(type="impression", customer_hash=a_customer(1), query_id=f"{tag}-q",
                  outlet_id=7, region_id=3, distance_m=123.456, at=NOW + timedelta(seconds=1),
                  props={"rank": 1}),
        event_row(type="click", at=NOW, channel="h5"),  # nulls everywhere else
    ]


def _stored(engine: sa.Engine, tag: str) -> list[tuple[object, ...]]:
    columns = [c for c in Event.__table__.columns if c.key != "id"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(
            sa.or_(Event.query_id == f"{tag}-q", Event.channel == f"h5-{tag}"))
            .order_by(Event.id)).all()
    return [tuple(row) for row in rows]


def _untag(row: tuple[object, ...], tag: str) -> tuple[object, ...]:
    return tuple(v.replace(tag, "") if isinstance(v, str) else v for v in row)


def test_events_read_back_the_same_as_through_sqlalchemy(engine: sa.Engine) -> None:
    ours, theirs = _events("ours"), _events("theirs")
    ours[2]["channel"], theirs[2]["channel"] = "h5-ours", "h5-theirs"
    with engine.begin() as conn:
        insert_events(conn, ours)
        conn.execute(_insert_events_stmt(conn.dialect.name), theirs)
    a, b = _stored(engine, "ours"), _stored(engine, "theirs")
    assert len(a) == 3
    # Identical but for the tags that tell them apart.
    assert [_untag(r, "ours") for r in a] == [_untag(r, "theirs") for r in b]
    assert a[0][0] == NOW and a[0][0].tzinfo is not None
    assert a[0][-1] == {"k": 1, "名": "店"}


def test_customer_upsert_keeps_first_seen_and_never_moves_last_seen_back(
        engine: sa.Engine) -> None:
    who = a_customer(42)
    later = NOW + timedelta(minutes=5)
    with engine.begin() as conn:
        upsert_customers(conn, [query_values(customer_hash=who, now=later, lat=31.2, lng=121.4,
                                             ttl_s=600)])
    with engine.begin() as conn:  # a late push from another worker, and one without position
        upsert_customers(conn, [query_values(customer_hash=who, now=NOW)])
    with engine.connect() as conn:
        row = conn.execute(sa.select(Customer).where(Customer.customer_hash == who)).one()
    assert row.first_seen_at == later
    assert row.last_seen_at == later
    assert row.location_expires_at == later + timedelta(seconds=600)
    assert (row.last_lat, row.last_lng) == (31.2, 121.4)


def test_a_bad_row_fails_the_statement_and_the_transaction_writes_nothing(
        engine: sa.Engine) -> None:
    rows = _events("bad")
    del rows[1]["outlet_id"]
    with pytest.raises(KeyError), engine.begin() as conn:
        insert_events(conn, rows)
    assert _stored(engine, "bad") == []


def test_a_statement_needing_parameters_the_caller_does_not_give_is_refused(
        engine: sa.Engine) -> None:
    stmt = sa.insert(Event.__table__).values(type=sa.bindparam("kind"))
    with pytest.raises(ValueError, match="kind"):
        Prepared(stmt, engine.dialect, ["occurred_at"])


def test_statements_are_compiled_once_per_dialect_and_column_set(engine: sa.Engine) -> None:
    built: list[int] = []

    def build() -> sa.Insert:
        built.append(1)
        return sa.insert(Customer.__table__)

    with engine.connect() as conn:
        names = ["customer_hash", "first_seen_at", "last_seen_at", "reports_location",
                 "subscribed"]
        first = prepared(conn, "test-once", build, names)
        assert prepared(conn, "test-once", build, names) is first
        assert prepared(conn, "test-once", build, [*names, "last_lat"]) is not first
    assert len(built) == 2
