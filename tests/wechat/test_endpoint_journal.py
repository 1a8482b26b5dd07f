"""A reply whose rows cannot be committed in time (SQLite's write lock held elsewhere) is
sent only once its rows are journaled; they are stored exactly once when the lock goes."""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa

from o2o.analytics.models import Event
from o2o.config import Settings
from o2o.db.engine import read_only
from o2o.wechat.simulator import build_request, decode_reply, location_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet

TOKEN, APPID = "test-token", "wxtestappid0001"
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"wechat_write_wait_s": 0.2})


def _queries(services) -> int:  # type: ignore[no-untyped-def]
    with read_only(services.sessions)() as s:  # never queues for the write lock
        return s.scalar(sa.select(sa.func.count()).select_from(Event)
                        .where(Event.type == "query")) or 0


def test_a_late_reply_is_journaled_first_and_stored_once(services, client,  # type: ignore[no-untyped-def]
                                                         db_url: str) -> None:
    with services.sessions.begin() as s:
        make_outlet(s, name="人民广场店")
    services.catalog.load()
    journal = services.settings.state_path / "journal"
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # an import, say, holding the write lock
    try:
        query, body = build_request(location_xml(31.2304, 121.4737, msg_id=42), token=TOKEN,
                                    aes_key=TEST_AES_KEY, appid=APPID)
        reply = client.post("/wechat", params=query, content=body)
        assert reply.status_code == 200
        assert decode_reply(reply.content, token=TOKEN, aes_key=TEST_AES_KEY, appid=APPID,
                            encrypted=True).kind == "news"
        (written,) = journal.glob("journal-*.jsonl")  # on disk before the reply went out
        assert b'"type":"query"' in written.read_bytes()
        assert _queries(services) == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert services.writer.flush(35)
    deadline = time.monotonic() + 10
    while list(journal.glob("journal-*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the writer replays the journal after its next commit
    assert not list(journal.glob("journal-*"))
    assert _queries(services) == 1  # committed late and replayed: stored once
