"""The write journal: rows answered while the database is away survive a killed worker and
are replayed exactly once; a torn last line and a live writer's file are handled."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.analytics.events import event_row
from o2o.analytics.models import Event
from o2o.db.journal import Journal
from o2o.db.writer import BatchWriter
from tests.factories_loop import NOW
from tests.outage import unreachable


def _rows(n: int) -> list[tuple[str, Any]]:
    return [("events", [event_row(type="query", customer_hash=f"c{i}", query_id=f"q{i}",
                                  lat=31.23, lng=121.47, at=NOW, dedup_key=f"query:q{i}")])
            for i in range(n)]


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Event)) or 0


def test_a_torn_last_line_is_skipped_and_the_complete_ones_replayed(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    assert first.append(_rows(3)) == 3
    first.close()
    (path,) = tmp_path.glob("journal-*.jsonl")
    with path.open("ab") as out:  # a crash in the middle of the next append
        out.write(b'{"kind":"events","rows":[{"type":"qu')
    got: list[list[tuple[str, Any]]] = []
    assert Journal(tmp_path).replay(got.append) == 3
    assert [row["dedup_key"] for (_kind, rows) in got[0] for row in rows] == \
        ["query:q0", "query:q1", "query:q2"]
    assert got[0][0][1][0]["occurred_at"] == NOW  # datetimes come back as they went in
    assert not list(tmp_path.glob("journal-*"))


def test_a_live_writers_file_is_left_to_it(tmp_path: Path) -> None:
    live = Journal(tmp_path)
    live.append(_rows(1))
    got: list[object] = []
    assert Journal(tmp_path).replay(got.append) == 0  # its writer holds the lock
    assert got == [] and len(list(tmp_path.glob("journal-*"))) == 1
    assert live.replay(got.append) == 1  # its own writer replays it
    assert not list(tmp_path.glob("journal-*"))


def test_a_failed_replay_keeps_the_file_for_the_next_try(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.append(_rows(2))
    first.close()

    def refuse(_ops: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    second = Journal(tmp_path)
    with pytest.raises(sa.exc.OperationalError):
        second.replay(refuse)
    assert second.pending()
    got: list[object] = []
    assert second.replay(got.append) == 2


# -- PostGIS made unreachable, a writer killed with SIGKILL, the next start replays --------

_CHILD = textwrap.dedent("""
    import os, signal, sys
    from o2o.db.engine import make_engine, make_sessionmaker
    from o2o.db.journal import Journal
    from o2o.db.writer import BatchWriter
    from tests.db.test_journal import _rows

    url, state, journal = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    sessions = make_sessionmaker(make_engine(url))
    writer = BatchWriter(sessions, journal=Journal(__import__("pathlib").Path(state))
                         if journal else None)
    batches = [writer.submit(events=rows) for _kind, rows in _rows(20)]
    # What a reply does: wait its budget for the batch, then secure its own rows.
    answered = sum(b.wait(0.2) or writer.secure([("events", rows)])
                   for b, (_kind, rows) in zip(batches, _rows(20)))
    print(answered, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _killed_writer(url: str, state: Path, *, journal: bool) -> int:
    """Run a writer in a child process during the outage; it answers, then is SIGKILLed."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", _CHILD, url, str(state), "1" if journal else "0"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == -9, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("db_url", ["postgis"], indirect=True)
def test_rows_answered_in_an_outage_survive_a_kill_and_are_replayed_once(
        db_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    state = tmp_path / "journal"
    with unreachable(db_url):
        answered = _killed_writer(db_url, state, journal=True)
    assert answered == 20  # every push could be acknowledged: its rows were on disk
    assert _count(sessions) == 0
    assert len(list(state.glob("journal-*.jsonl"))) == 1
    for _ in range(2):  # the next start replays; the one after finds nothing to do
        writer = BatchWriter(sessions, journal=Journal(state))
        writer.close()
        assert _count(sessions) == 20
    assert not list(state.glob("journal-*"))


@pytest.mark.parametrize("db_url", ["postgis"], indirect=True)
def test_without_the_journal_the_same_kill_loses_what_was_answered(
        db_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """The planted fault: the test above fails on the code before the journal."""
    with unreachable(db_url):
        answered = _killed_writer(db_url, tmp_path, journal=False)
    assert answered == 0  # nothing was committed in time: every reply went out unbacked
    BatchWriter(sessions).close()
    assert _count(sessions) == 0  # and the rows died with the worker


def test_a_replay_after_rows_also_committed_adds_nothing(sessions: sessionmaker[Session],
                                                         tmp_path: Path) -> None:
    """A reply secured its rows while its late batch still committed: replay skips them."""
    writer = BatchWriter(sessions, journal=Journal(tmp_path))
    try:
        for _kind, rows in _rows(5):
            writer.submit(events=rows)
            writer.secure([("events", rows)])
        assert writer.flush(10)
        writer.submit(events=_rows(6)[5][1])  # a commit after which the thread replays
        assert writer.flush(10)
    finally:
        writer.close()
    assert _count(sessions) == 6
    assert not list(tmp_path.glob("journal-*"))
