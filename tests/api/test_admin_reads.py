"""Admin reads neither take nor wait for the write lock: on SQLite a staff member browsing
outlets, promotions or the audit log while an import (or the WeChat group commit) writes
gets an answer, and holds none of those writes up."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from o2o.db.schema import utcnow
from o2o.staff.models import Role, StaffToken
from o2o.staff.tokens import hash_token
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_staff import bearer, make_token


@pytest.fixture
def shop(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST")
        outlet = make_outlet(s, code="E1", region=east)
        promo = make_promotion(s)
        token = make_token(s, Role.ADMIN)
        ids = {"outlet": outlet.id, "promotion": promo.id}
    services.catalog.load()
    return {"headers": bearer(token), "token": token, **ids}


READS = ["/api/v1/me", "/api/v1/outlets", "/api/v1/outlets/{outlet}", "/api/v1/promotions",
         "/api/v1/promotions/{promotion}", "/api/v1/promotions/{promotion}/preview?outlet=E1",
         "/api/v1/audit"]


def _last_used(services, token: str):  # type: ignore[no-untyped-def]
    with services.sessions() as s:
        return s.scalar(sa.select(StaffToken.last_used_at).where(
            StaffToken.token_hash == hash_token(token)))


def test_admin_reads_answer_while_another_transaction_holds_the_write_lock(  # type: ignore[no-untyped-def]
        client, services, shop) -> None:
    holder = services.engine.connect()
    holder.begin()  # on SQLite: BEGIN IMMEDIATE, the write lock, as an import would hold it
    try:
        if services.engine.dialect.name == "sqlite":
            holder.execute(sa.text("UPDATE regions SET name = name"))
        # Queued for the lock, each would fail after the 30 s busy timeout.
        replies = [client.get(url.format(**shop), headers=shop["headers"]) for url in READS]
    finally:
        holder.rollback()
        holder.close()
    assert [r.status_code for r in replies] == [200] * len(READS), [r.text for r in replies]
    # The token's first use is noted afterwards, by the writer, not by the request.
    assert services.writer.flush(10)
    used = _last_used(services, shop["token"])
    assert used is not None and utcnow() - used < timedelta(minutes=1)


def test_a_tokens_use_is_noted_at_most_once_a_minute_and_never_backwards(  # type: ignore[no-untyped-def]
        client, services, shop) -> None:
    assert client.get("/api/v1/me", headers=shop["headers"]).status_code == 200
    assert services.writer.flush(10)
    first = _last_used(services, shop["token"])
    assert client.get("/api/v1/me", headers=shop["headers"]).status_code == 200
    assert services.writer.flush(10)
    assert _last_used(services, shop["token"]) == first  # within the minute: not written
    with services.sessions.begin() as s:  # a minute later, as far as the token knows
        s.execute(sa.update(StaffToken).values(last_used_at=first - timedelta(minutes=2)))
    assert client.get("/api/v1/me", headers=shop["headers"]).status_code == 200
    assert services.writer.flush(10)
    assert _last_used(services, shop["token"]) > first - timedelta(minutes=2)


def test_a_token_still_works_while_the_server_shuts_its_writer_down(  # type: ignore[no-untyped-def]
        client, services, shop) -> None:
    services.writer.close()  # as at shutdown: the note of its use can no longer be queued
    assert client.get("/api/v1/me", headers=shop["headers"]).status_code == 200
    assert _last_used(services, shop["token"]) is None
