"""The app factory: a server that builds its own services freezes them out of the GC; its
health probe does not queue behind writers."""

from __future__ import annotations

import gc

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from o2o.config import Settings
from o2o.staff.models import Role
from tests.factories_staff import bearer, make_token


def test_an_app_with_its_own_services_keeps_them_out_of_full_collections(
        settings: Settings) -> None:
    gc.unfreeze()
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
            # The catalog loaded at start-up is no longer walked by the cyclic GC.
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_an_app_given_services_leaves_the_gc_alone(services) -> None:  # type: ignore[no-untyped-def]
    gc.unfreeze()
    with TestClient(create_app(services.settings, services=services)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0


def test_health_answers_while_another_transaction_holds_the_write_lock(
        client, services) -> None:  # type: ignore[no-untyped-def]
    holder = services.engine.connect()
    holder.begin()  # on SQLite: BEGIN IMMEDIATE, as a long admin import would
    try:
        if services.engine.dialect.name == "sqlite":
            holder.execute(sa.text("UPDATE regions SET name = name"))
        reply = client.get("/healthz")  # queued for the lock, it would fail after 30 s
    finally:
        holder.rollback()
        holder.close()
    assert reply.status_code == 200 and reply.json()["checks"]["database"]["ok"] is True


def test_unknown_paths_and_methods_answer_in_the_error_envelope(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "not_found" and "/api/v1/nope" in error["message"]
    assert "request_id" in error
    r = client.delete("/api/v1/nearby")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in r.headers["Allow"]



def test_broken_json_is_reported_as_the_body_at_a_position(client, services) -> None:  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        admin = bearer(make_token(s, Role.ADMIN))
    r = client.post("/api/v1/outlets", content=b'{"code": "X",,}',
                    headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422
    (detail,) = r.json()["error"]["details"]
    assert detail["field"] == "body"
    assert detail["message"].startswith("not valid JSON at character 13: ")
