"""After a purge no position older than the retention age remains, and last month reads the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from o2o.analytics.funnel import GROUPS, funnel
from o2o.analytics.models import Event
from o2o.analytics.promotions import promotion_report
from o2o.analytics.retention import purge
from o2o.analytics.rollup import rolled_up_to
from o2o.cli import main
from o2o.customers.models import Customer
from o2o.errors import ValidationError
from tests.factories_events import FROM, TO, cust, event, known_history

NOW = datetime(2025, 4, 15, 12, 0, tzinfo=UTC)  # March is older than 30 days


def customer(session, name: str, located: datetime | None, expires: datetime | None) -> None:  # type: ignore[no-untyped-def]
    session.add(Customer(customer_hash=cust(name), last_lat=31.231, last_lng=121.474,
                         last_located_at=located, location_expires_at=expires,
                         first_seen_at=NOW - timedelta(days=60), last_seen_at=NOW))


def views(session, scope):  # type: ignore[no-untyped-def]
    out = {g: funnel(session, scope=scope, date_from=FROM, date_to=TO, group_by=g).as_dict()
           for g in GROUPS}
    out["promotions"] = promotion_report(session, scope=scope, date_from=FROM,
                                         date_to=TO).as_dict()
    session.rollback()
    return out


@pytest.fixture
def history(session):  # type: ignore[no-untyped-def]
    h = known_history(session)
    event(session, "query", NOW - timedelta(days=2), customer="c9", region=h.r1,
          lat=31.2311, lng=121.4741)
    customer(session, "expired", NOW - timedelta(hours=5), NOW - timedelta(hours=3))
    customer(session, "fresh", NOW - timedelta(minutes=10), NOW + timedelta(hours=1))
    customer(session, "ancient", NOW - timedelta(days=40), NOW + timedelta(days=400))
    session.commit()
    return h


def positions_before(session, cutoff: datetime) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(sa.select(sa.func.count()).where(
        Event.occurred_at < cutoff, sa.or_(Event.lat.is_not(None), Event.lng.is_not(None))))


def test_purge_erases_old_positions_and_keeps_every_number(session, history) -> None:
    before = {s: views(session, s) for s in (None, frozenset({history.r1.id}))}
    cutoff = NOW - timedelta(days=30)
    assert positions_before(session, cutoff) == 7
    report = purge(session, retention_days=30, now=NOW)
    assert (report.events_cleared, report.customers_cleared) == (7, 2)
    assert report.rollup is not None and rolled_up_to(session) == 19
    assert positions_before(session, cutoff) == 0
    assert session.scalar(sa.select(sa.func.count()).where(Event.lat.is_not(None))) == 1
    kept = session.execute(sa.select(Customer.customer_hash).where(
        Customer.last_lat.is_not(None))).scalars().all()
    assert kept == [cust("fresh")]
    assert session.scalar(sa.select(sa.func.count()).where(Event.cell.is_not(None))) == 8
    for scope, expected in before.items():
        assert views(session, scope) == expected
    again = purge(session, retention_days=30, now=NOW)
    assert (again.events_cleared, again.customers_cleared) == (0, 0)


def test_dry_run_counts_and_changes_nothing(session, history) -> None:
    report = purge(session, retention_days=30, now=NOW, dry_run=True)
    assert (report.events_cleared, report.customers_cleared, report.rollup) == (7, 2, None)
    assert positions_before(session, NOW - timedelta(days=30)) == 7
    assert rolled_up_to(session) == 0


def test_retention_of_zero_days_is_refused(session, history) -> None:
    with pytest.raises(ValidationError):
        purge(session, retention_days=0, now=NOW)
    assert positions_before(session, NOW) == 8


def test_cli_purge_uses_the_configured_age(session, history, db_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("O2O_DATABASE_URL", db_url)
    session.commit()
    assert main(["purge", "--dry-run"]) == 0
    assert "would erase positions of 8 events" in capsys.readouterr().out
    # Ten years: 2025 is still inside; the customers' positions expired long ago (real clock).
    assert main(["purge", "--days", "3650"]) == 0
    assert "erased positions of 0 events and 3 customers" in capsys.readouterr().out
    assert positions_before(session, datetime.now(UTC)) == 8
    session.rollback()
    assert main(["purge"]) == 0
    assert "erased positions of 8 events and 0 customers" in capsys.readouterr().out
    assert positions_before(session, datetime.now(UTC)) == 0
    session.rollback()
    assert main(["purge", "--days", "0"]) == 2
    assert "retention must be at least one day" in capsys.readouterr().err
