"""Bodies are read only after authentication, and never past their route's cap (413).

Driven as an ASGI server would drive the app, chunk by chunk, counting the bytes the app
pulled: that count, not memory or timing, shows what was read. (TestClient would read the
whole body up front, which is the very thing under test.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from api.app import create_app
from o2o.staff.models import Role
from tests.factories import make_region
from tests.factories_staff import bearer, make_token

CHUNK = 64 * 1024


class Body:
    """A request body delivered in `chunks` chunks (no Content-Length: a chunked upload)."""

    def __init__(self, chunks: int, chunk: bytes = b"x" * CHUNK, *, data: bytes = b"") -> None:
        self.parts = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] if data else None
        self.chunks = len(self.parts) if self.parts is not None else chunks
        self.chunk = chunk
        self.sent = 0
        self.pulled = 0

    async def receive(self) -> dict[str, Any]:
        if self.sent >= self.chunks:
            return {"type": "http.disconnect"}
        part = self.parts[self.sent] if self.parts is not None else self.chunk
        self.sent += 1
        self.pulled += len(part)
        return {"type": "http.request", "body": part, "more_body": self.sent < self.chunks}


def call(app: Any, path: str, body: Body, headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, dict[str, Any]]:
    """One request through the app; the status and the JSON answer."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80),
             "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                         for k, v in (headers or {}).items()]}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, body.receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(content) if content else {}


@pytest.fixture
def capped(settings):  # type: ignore[no-untyped-def]
    """Services with small caps, so a test moves kilobytes, not megabytes."""
    from o2o.services import build_services

    svc = build_services(settings.model_copy(update={
        "max_body_bytes": 4 * CHUNK, "import_max_bytes": 16 * CHUNK,
        "wechat_max_body_bytes": 2 * CHUNK}), migrate=False, load_demo=False, sync=False)
    yield svc
    svc.close()


@pytest.fixture
def app(capped):  # type: ignore[no-untyped-def]
    return create_app(capped.settings, services=capped)


@pytest.fixture
def admin(capped) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with capped.sessions.begin() as s:
        make_region(s, code="EAST")
        token = make_token(s, Role.ADMIN)
    capped.catalog.load()
    return bearer(token)


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("token", [None, "o2o_" + "A" * 43, "not-a-token"])
def test_no_byte_of_a_body_is_read_without_a_valid_token(app, admin, token) -> None:
    headers = JSON if token is None else {**JSON, "Authorization": f"Bearer {token}"}
    body = Body(chunks=4800)  # 300 MB, sent only if pulled
    status, answer = call(app, "/api/v1/promotions", body, headers)
    assert (status, answer["error"]["code"]) == (401, "unauthenticated")
    assert body.pulled == 0
    upload = Body(chunks=6400)  # 400 MB to the import, the largest cap
    status, _ = call(app, "/api/v1/outlets/import", upload,
                     {"Content-Type": "multipart/form-data; boundary=b"})
    assert status == 401 and upload.pulled == 0


def test_every_staff_route_with_a_body_authenticates_before_reading_it(app, admin) -> None:
    """Whichever router a staff route sits on, its body waits for the token check."""
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        for method, op in operations.items():
            if "requestBody" not in op or {"StaffToken": []} not in op.get("security", []):
                continue
            body = Body(chunks=64)
            status, _ = call(app, path.replace("{", "").replace("}", ""), body, JSON,
                             method=method.upper())
            assert (status, body.pulled) == (401, 0), f"{method.upper()} {path}"
            checked += 1
    assert checked >= 5  # promotions, outlets, import, redeem ... are among them


def test_a_body_over_the_cap_is_refused_with_413_without_reading_on(app, admin) -> None:
    body = Body(chunks=4800)  # chunked: no Content-Length to judge by
    status, answer = call(app, "/api/v1/promotions", body, {**admin, **JSON})
    assert status == 413 and answer["error"]["code"] == "content_too_large"
    assert "262,144 bytes" in answer["error"]["message"]
    assert body.pulled <= 4 * CHUNK + CHUNK  # the cap, and the chunk that crossed it
    declared = Body(chunks=4800)
    status, answer = call(app, "/api/v1/promotions", declared,
                          {**admin, **JSON, "Content-Length": str(300 * 1024 * 1024)})
    assert status == 413 and declared.pulled == 0  # refused on its declared length alone


def test_a_body_within_the_cap_is_read_and_validated(app, admin) -> None:
    data = json.dumps({"code": "P1", "title": "x" * (3 * CHUNK)}).encode()
    body = Body(0, data=data)
    status, answer = call(app, "/api/v1/promotions", body, {**admin, **JSON})
    assert status == 422 and answer["error"]["code"] == "validation_error"  # read, judged
    assert body.pulled == len(data)


def _multipart(csv: bytes) -> tuple[bytes, dict[str, str]]:
    request = httpx.Request("POST", "http://testserver/api/v1/outlets/import",
                            files={"file": ("stores.csv", csv)}, data={"crs": "wgs84"})
    return request.read(), {"Content-Type": request.headers["Content-Type"]}


def test_the_import_has_its_own_larger_cap_once_authenticated(app, admin, capped) -> None:
    rows = "".join(f"S{i:05d},店{i},31.{i:04d},121.4737,EAST,{'路' * 40}\n" for i in range(2000))
    data, headers = _multipart(("code,name,lat,lng,region,address\n" + rows).encode())
    assert 4 * CHUNK < len(data) < 16 * CHUNK  # over every other route's cap, under its own
    status, answer = call(app, "/api/v1/outlets/import", Body(0, data=data), {**admin, **headers})
    assert status == 200 and answer["created"] == 2000, answer
    big, headers = _multipart(b"code,name,lat,lng\n" + b"A,b,1,2\n" * (20 * CHUNK // 8))
    body = Body(0, data=big)
    status, answer = call(app, "/api/v1/outlets/import", body, {**admin, **headers})
    assert status == 413 and answer["error"]["code"] == "content_too_large"
    assert body.pulled <= 17 * CHUNK


def test_the_wechat_endpoint_keeps_its_small_cap(app) -> None:
    body = Body(chunks=100)
    status, answer = call(app, "/wechat", body, {"Content-Type": "text/xml"})
    assert status == 413 and answer["error"]["code"] == "content_too_large"
    assert body.pulled <= 3 * CHUNK
    declared = Body(chunks=100)
    status, answer = call(app, "/wechat", declared,
                          {"Content-Type": "text/xml", "Content-Length": str(100 * CHUNK)})
    assert status == 413 and answer["error"]["code"] == "content_too_large"
    assert declared.pulled == 0  # refused on its declared length alone
