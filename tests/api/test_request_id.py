"""Request ids are the server's own: a client's X-Request-ID is noted beside, never adopted."""

from __future__ import annotations

import logging
import re


def test_a_client_chosen_request_id_is_logged_beside_the_servers_own(client, caplog) -> None:
    theirs = "req-0123456789abcdef"
    with caplog.at_level(logging.INFO, logger="o2o.access"):
        r = client.get("/api/v1/me", headers={"X-Request-ID": theirs})
    ours = r.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", ours) and ours != theirs
    assert r.status_code == 401 and r.json()["error"]["request_id"] == ours
    line = next(rec for rec in caplog.records if rec.name == "o2o.access")
    assert line.getMessage().endswith(f"(client id {theirs})")


def test_every_request_gets_a_fresh_id(client) -> None:
    ids = {client.get("/api/v1/me", headers={"X-Request-ID": "same-id-every-time"})
           .headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_an_unexpected_error_quotes_the_real_request_id(services, caplog) -> None:
    """The 500 asks the caller to quote its request id: the body, the header and the log
    line carry the same one (it used to say "-": the handler runs after the middleware)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from o2o.logs import _RequestIdFilter

    app = create_app(services.settings, services=services)
    caplog.handler.addFilter(_RequestIdFilter())  # what every configured log line carries

    @app.get("/boom")
    def boom() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    with caplog.at_level(logging.ERROR, logger="o2o.api"), \
            TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    rid = r.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert r.json()["error"] == {
        "code": "internal_error", "request_id": rid,
        "message": "Internal error (OverflowError); quote the request id to support."}
    record = next(rec for rec in caplog.records if rec.name == "o2o.api")
    assert record.request_id == rid and record.exc_info is not None  # type: ignore[attr-defined]


def test_huge_integers_are_refused_not_overflowed(client) -> None:
    """Ids and offsets beyond a database integer, and days at the ends of the calendar, are a
    422, not an OverflowError (500)."""
    from tests.factories_staff import bearer, make_token

    with client.app.state.services.sessions() as session:
        token = make_token(session, "admin")
        session.commit()
    huge = "9" * 25
    for path in (f"/api/v1/outlets/{huge}", f"/api/v1/outlets?offset={huge}",
                 f"/api/v1/audit?staff_id={huge}",
                 f"/api/v1/analytics/funnel?region_id={huge}",
                 "/api/v1/analytics/funnel?to=0001-01-01"):  # minus 29 days: before year 1
        r = client.get(path, headers=bearer(token))
        assert r.status_code == 422, path
        assert r.json()["error"]["code"] == "validation_error"
