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
