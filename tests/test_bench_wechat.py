"""The WeChat benchmark's pieces that decide its verdicts: the conventional implementation
answers a signed location push with a one-card news reply for the nearest open outlet and
logs one event (and refuses a bad signature); the bench's PostGIS chain is planned on fresh
statistics; memory is read as RSS and PSS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from benchmarks._scratch_db import scratch_postgis
from benchmarks._wechat_data import create_database
from benchmarks._wechat_memory import rss_pss_mb
from benchmarks._wechat_requests import Keys, Pushes
from o2o.db import make_engine
from tests.conftest import unavailable

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def chain() -> Iterator[str]:
    with scratch_postgis("o2o_test_bench", optional=True) as url:
        if url is None:
            unavailable("PostgreSQL for the benchmark's scratch chain")
        create_database(url, 2000)
        yield url


def test_conventional_app_answers_one_card_and_logs_one_event(
        chain: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks._wechat_conventional import create_conventional_app

    keys = Keys()
    monkeypatch.setenv("O2O_DATABASE_URL", chain)
    monkeypatch.setenv("O2O_WECHAT_TOKEN", keys.token)
    pushes = Pushes(keys)
    (target, body), = pushes.build(1, aes=False)
    with TestClient(create_conventional_app()) as client:
        reply = pushes.decode(client.post(target, content=body).content, aes=False)
        assert reply.kind == "news" and len(reply.articles) == 1  # type: ignore[attr-defined]
        assert "拾光茶咖" in reply.articles[0]["title"]  # type: ignore[attr-defined]
        query = dict(parse_qsl(urlsplit(target).query), signature="0" * 40)
        assert client.post("/wechat", params=query, content=body).status_code == 403
    engine = make_engine(chain)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 1
        plan = "\n".join(conn.execute(sa.text(
            "EXPLAIN SELECT id FROM outlets ORDER BY location <-> "
            "ST_SetSRID(ST_MakePoint(121.4, 31.2), 4326)::geography LIMIT 1")).scalars())
        analyzed = conn.execute(sa.text("SELECT reltuples FROM pg_class "
                                        "WHERE oid = 'outlets'::regclass")).scalar()
    engine.dispose()
    assert "idx_outlets_location" in plan and analyzed == 2000


def test_memory_of_this_process_is_read_as_rss_and_pss() -> None:
    rss, pss = rss_pss_mb(os.getpid())
    assert 0 < pss <= rss
