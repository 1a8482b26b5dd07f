"""The scheduled side: the app's maintenance thread folds and purges without being asked."""

from __future__ import annotations

import os
import time

import pydantic
import pytest
import sqlalchemy as sa

from o2o.analytics.maintenance import Maintenance
from o2o.analytics.models import Event
from o2o.analytics.rollup import rolled_up_to
from o2o.cli import main
from tests.factories_events import known_history


def until(check, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll `check` until it holds (a deadline for a thread, not a speed assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def folded_all(sessions) -> bool:  # type: ignore[no-untyped-def]
    """Whether the 18 events of `known_history` are all in the cells."""
    with sessions() as s:
        return rolled_up_to(s) == 18


def fold_known_history(session, sessions) -> None:  # type: ignore[no-untyped-def]
    """Store `known_history` and let a maintenance job fold it all (or fail the test)."""
    known_history(session)
    job = Maintenance(sessions, retention_days=30, rollup_s=0.05)
    job.start()
    try:
        assert until(lambda: folded_all(sessions))
    finally:
        job.close()


def test_thread_folds_then_purges(session, sessions) -> None:
    known_history(session)
    job = Maintenance(sessions, retention_days=30, rollup_s=0.05, purge_s=0.3)
    job.start()
    try:
        def purged() -> bool:
            with sessions() as s:
                return s.scalar(sa.select(sa.func.count()).where(Event.lat.is_not(None))) == 0

        assert until(lambda: folded_all(sessions))
        assert until(purged)
    finally:
        job.close()


def test_the_fold_runs_in_a_child_process_not_in_the_worker(
        session, sessions, monkeypatch) -> None:
    """Folding is seconds of Python that would hold the worker's GIL against its event loop:
    it runs in a child of its own. A fold attempted in this process fails here, and the
    events are folded all the same."""
    import o2o.analytics.rollup

    def not_here(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("folded inside the worker")

    monkeypatch.setattr(o2o.analytics.rollup, "roll_up", not_here)
    fold_known_history(session, sessions)


def test_the_child_runs_at_a_lower_priority_from_its_start(
        session, sessions, monkeypatch) -> None:
    """The child's interpreter start and imports are about a second of CPU: they must not
    compete with the worker on equal terms, so the worker lowers the child's priority as
    soon as it is started, not the child once its code runs."""
    import o2o.analytics.maintenance as maintenance

    seen: list[tuple[int, int]] = []
    real = maintenance.lower_priority

    def noting(pid: int) -> None:
        real(pid)
        if pid:
            seen.append((pid, os.getpriority(os.PRIO_PROCESS, pid)))

    monkeypatch.setattr(maintenance, "lower_priority", noting)
    fold_known_history(session, sessions)
    assert seen and all(pid != os.getpid() and nice >= maintenance.NICENESS
                        for pid, nice in seen), seen


def test_lowering_a_priority_never_raises_it() -> None:
    import subprocess
    import sys

    from o2o.analytics.maintenance import NICENESS, lower_priority

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lower_priority(child.pid)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == NICENESS
        os.setpriority(os.PRIO_PROCESS, child.pid, 19)
        lower_priority(child.pid)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 19
    finally:
        child.kill()
        child.wait()
    lower_priority(child.pid)  # gone: nothing to do, nothing raised


@pytest.mark.parametrize(("url", "in_child"), [
    ("sqlite://", False), ("sqlite:///:memory:", False),
    ("sqlite:///file:m?mode=memory&cache=shared&uri=true", False),
    ("sqlite:////var/lib/o2o/o2o.db", True), ("postgresql+psycopg://o2o@db/o2o", True)])
def test_only_a_private_in_memory_database_is_folded_in_the_worker(url, in_child) -> None:
    """No other process can open an in-memory database: its runs stay in the thread
    (`run_job`, as the child runs it); every other database is folded by a child."""
    from o2o.db.engine import make_sessionmaker

    engine = sa.create_engine(url, poolclass=sa.pool.StaticPool)
    try:
        job = Maintenance(make_sessionmaker(engine), retention_days=30)
        assert (job._url is not None) is in_child
    finally:
        engine.dispose()


def test_run_job_folds_and_purges_in_the_callers_session() -> None:
    from o2o.analytics.maintenance import run_job
    from o2o.db.engine import make_engine, make_sessionmaker
    from o2o.migrate import upgrade

    engine = make_engine("sqlite://", poolclass=sa.pool.StaticPool)
    try:
        upgrade(engine)
        with make_sessionmaker(engine)() as s:
            known_history(s)
            s.commit()
            run_job(s, "rollup", 30)
            assert rolled_up_to(s) == 18
            run_job(s, "purge", 30)
            assert s.scalar(sa.select(sa.func.count()).where(Event.lat.is_not(None))) == 0
    finally:
        engine.dispose()


def test_cli_rollup_and_rebuild(session, db_url, monkeypatch, capsys) -> None:
    known_history(session)
    session.close()
    monkeypatch.setenv("O2O_DATABASE_URL", db_url)
    assert main(["analytics", "rollup"]) == 0
    assert "folded 18 events" in capsys.readouterr().out
    assert main(["analytics", "rollup"]) == 0
    assert "folded 0 events" in capsys.readouterr().out
    assert main(["analytics", "rollup", "--rebuild"]) == 0
    assert "folded 18 events" in capsys.readouterr().out


def test_the_app_folds_on_the_configured_schedule(session, services) -> None:  # type: ignore[no-untyped-def]
    """O2O_ANALYTICS_ROLLUP_EVERY_S reaches each worker's maintenance thread."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    known_history(session)
    session.close()
    services.settings = services.settings.model_copy(update={"analytics_rollup_every_s": 0.05})
    with TestClient(create_app(services.settings, services=services)):
        assert until(lambda: folded_all(services.sessions))


def test_schedules_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from o2o.config import Settings

    monkeypatch.setenv("O2O_ANALYTICS_ROLLUP_EVERY_S", "60")
    monkeypatch.setenv("O2O_ANALYTICS_PURGE_EVERY_S", "3600")
    settings = Settings()
    assert (settings.analytics_rollup_every_s, settings.analytics_purge_every_s) == (60, 3600)
    monkeypatch.setenv("O2O_ANALYTICS_ROLLUP_EVERY_S", "0")
    with pytest.raises(pydantic.ValidationError):
        Settings()
