"""A real `o2o serve --workers 2` on PostGIS: it starts and answers while the database is
unreachable, survives a worker killed then, heals without a hand; SIGTERM drains."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.drill_lib import Ledger, Server, WeChat, lost_and_doubled, server_env
from o2o.catalog import snapshot
from o2o.catalog.runtime import Catalog
from tests.factories import make_outlet
from tests.outage import unreachable

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["postgis"], indirect=True)]


def _catalog_with_snapshot(sessions: sessionmaker[Session], state: Path) -> None:
    """A few outlets, and the snapshot a worker of this host saved when it last loaded."""
    with sessions() as session:
        make_outlet(session, name="静安寺店", lat=31.2235, lng=121.4456)
        make_outlet(session, name="人民广场店", lat=31.2304, lng=121.4737)
        session.commit()
    Catalog(sessions, snapshot=state / snapshot.NAME).load()


def test_workers_start_during_an_outage_answer_and_heal_by_themselves(
        db_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    state = tmp_path / "state"
    _catalog_with_snapshot(sessions, state)
    ledger = Ledger()
    wechat = None
    with unreachable(db_url):
        server = Server(server_env(db_url, state, O2O_WECHAT_WRITE_WAIT_S="0.3"),
                        log=tmp_path / "serve.log")
        try:
            server.wait_listening()
            assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 503
            wechat = WeChat(server.base, ledger)
            for n in range(8):
                assert wechat.push(1000 + n, "outage")
            victim = server.workers()[0]
            os.kill(victim, signal.SIGKILL)  # its journal outlives it; uvicorn restarts it
            for n in range(8, 16):
                assert wechat.push(1000 + n, "outage")
            deadline = time.monotonic() + 30
            while victim in server.workers() or len(server.workers()) < 2:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.2)
            for n in range(16, 24):  # some land on the worker that started in the outage
                assert wechat.push(1000 + n, "outage")
        except BaseException:
            server.terminate()
            raise
    try:
        server.wait_healthy(60)
        assert wechat is not None
        for n in range(24, 30):
            assert wechat.push(1000 + n, "after")
        deadline = time.monotonic() + 30
        while lost_and_doubled(db_url, ledger.all_answered()) != (0, 0):
            assert time.monotonic() < deadline, lost_and_doubled(db_url, ledger.all_answered())
            time.sleep(0.5)
        assert len(ledger.all_answered()) == 30
    finally:
        if wechat is not None:
            wechat.close()
        assert server.terminate() == 0
    assert "failed to start" not in server.output()
    assert not list((state / "journal").glob("journal-*"))


def test_sigterm_drains_in_flight_pushes_and_loses_nothing_acknowledged(
        db_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    state = tmp_path / "state"
    _catalog_with_snapshot(sessions, state)
    server = Server(server_env(db_url, state), log=tmp_path / "serve.log")
    ledger = Ledger()
    try:
        server.wait_healthy(90)
    except BaseException:
        server.terminate()
        raise
    stop = threading.Event()

    def customers(who: int) -> None:
        wechat = WeChat(server.base, ledger, who=who)
        try:
            for n in range(200):  # bounded; ends when the server is gone
                if not wechat.push(who * 1000 + n, "drain") and stop.is_set():
                    return
        finally:
            wechat.close()

    threads = [threading.Thread(target=customers, args=(who,)) for who in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    stop.set()
    assert server.terminate() == 0
    for thread in threads:
        thread.join(60)
    answered = ledger.all_answered()
    assert len(answered) > 20
    assert lost_and_doubled(db_url, answered) == (0, 0)
