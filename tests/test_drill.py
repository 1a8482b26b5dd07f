"""The fault drill's short form (CI): nothing a client was answered is lost or doubled
through a worker kill, PostgreSQL and Redis restarts, an outage with the workers killed, and
a deploy's SIGTERM, with customers claiming coupons and a cashier redeeming them at the
till (tapping twice); and the drill does catch the planted fault (no journal)."""

from __future__ import annotations

import pytest

from benchmarks import drill
from benchmarks.drill_services import have_tools
from tests.conftest import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgis, pytest.mark.redis]


@pytest.fixture(autouse=True)
def _tools() -> None:
    if not have_tools():
        unavailable("the drill needs root, PostgreSQL's initdb and redis-server")


def test_short_drill_loses_and_doubles_nothing() -> None:
    rows = drill.run(short=True)
    assert [r["phase"] for r in rows] == [p.name for p in drill.PHASES]
    assert all(r["answered"] for r in rows), rows  # every phase had load and answers
    assert [(r["phase"], r["lost"], r["doubled"]) for r in rows] == \
        [(r["phase"], 0, 0) for r in rows]
    assert sum(int(r["5xx"]) for r in rows) == 0, rows  # the WeChat endpoint never 5xx'd
    assert sum(int(r["claims"]) for r in rows) > 0, rows  # customers claimed coupons
    assert (rows[-1]["claims lost"], rows[-1]["claims doubled"]) == (0, 0), rows
    # Staff redeemed claimed coupons at the console till, and tapped again each time.
    assert sum(int(r["redeemed"]) for r in rows) > 0, rows
    assert sum(int(r["repeats refused"]) for r in rows) > 0, rows
    assert sum(int(r["repeats redeemed"]) for r in rows) == 0, rows
    assert (rows[-1]["redemptions lost"], rows[-1]["redeemed twice"]) == (0, 0), rows


def test_the_drill_catches_answered_rows_lost_without_the_journal() -> None:
    rows = drill.run(short=True, journal=False, phases=drill.PLANTED)
    outage = rows[-1]
    assert outage["answered"] and outage["lost"], rows
