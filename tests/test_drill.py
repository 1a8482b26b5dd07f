"""The fault drill's short form (CI): nothing a client was answered is lost or doubled
through a worker kill, PostgreSQL and Redis restarts, an outage with the workers killed, and
a deploy's SIGTERM, with customers claiming coupons and a cashier redeeming them at the
till (tapping twice); nor through a full disk under SQLite; and the drill does catch the
planted fault (no journal)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks import drill, drill_disk
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


def test_a_full_disk_under_sqlite_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """The database's own small filesystem fills up under load, then is freed: every push
    answered meanwhile is journaled (the state dir is on another disk) and stored once."""
    try:
        rows = drill_disk.run(tmp_path, dwell_s=5.0)
    except subprocess.CalledProcessError as exc:
        unavailable(f"mounting a tmpfs needs root: {exc.stderr!r}")
    assert [r["stage"] for r in rows] == list(drill_disk.PHASES)
    assert all(r["answered"] for r in rows), rows
    assert rows[1]["disk full errors logged"], rows  # the fault did bite
    assert [(r["lost"], r["doubled"], r["5xx"]) for r in rows] == [(0, 0, 0)] * 3, rows
    assert rows[2]["recovery s"] is not None, rows


def test_the_drill_catches_answered_rows_lost_without_the_journal() -> None:
    rows = drill.run(short=True, journal=False, phases=drill.PLANTED)
    outage = rows[-1]
    assert outage["answered"] and outage["lost"], rows
