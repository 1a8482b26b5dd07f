"""Request bodies: one size cap on every route, checked against Content-Length and counted
as the body streams, so an oversized body is refused with 413 without being buffered.

Each route gets `O2O_MAX_BODY_BYTES` unless its endpoint is marked with `body_limit(field)`,
which names the Settings field holding its own cap (the WeChat endpoint's smaller one, the
import's larger one). The cap is looked up when the route first reads its body: staff routes
authenticate before that (api.auth.StaffRoute), so a larger cap never serves a caller
without a valid token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.errors import domain_response
from o2o.errors import ContentTooLarge

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "o2o_body_limit"


def body_limit(setting: str) -> Callable[[F], F]:
    """Give a route the cap in Settings field `setting` instead of `max_body_bytes`."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _MARK, setting)
        return endpoint

    return mark


class _Refused(HTTPException):
    """ContentTooLarge as FastAPI must see it while it reads a body: an HTTPException passes
    through (anything else it reports as an unparsable body, 400); rendered as the error."""

    def __init__(self, error: ContentTooLarge) -> None:
        super().__init__(status_code=413, detail=error.message)
        self.error = error


def cap_for(scope: dict[str, Any]) -> int:
    """The body cap of the route this request matched (the default before routing)."""
    settings = scope["app"].state.services.settings
    endpoint = getattr(scope.get("route"), "endpoint", None)
    return int(getattr(settings, getattr(endpoint, _MARK, "max_body_bytes")))


def too_large(limit: int) -> ContentTooLarge:
    """The refusal of a body past `limit` bytes (also api.routes.wechat's)."""
    return ContentTooLarge(f"Request body too large: this route accepts at most "
                           f"{limit:,} bytes.")


def declared_over(scope: dict[str, Any], limit: int) -> bool:
    """Whether the request's Content-Length already says its body is past `limit` bytes
    (refused unread); a chunked body is counted as it is read."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    return declared.isdigit() and int(declared) > limit


def _refuse(limit: int) -> _Refused:
    return _Refused(too_large(limit))


class BodyLimit:
    """Pure-ASGI middleware: wraps `receive` so that reading past the cap raises."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int | None = None
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal limit, seen
            if limit is None:  # first read: routing and authentication are done
                limit = cap_for(scope)
                if declared_over(scope, limit):
                    raise _refuse(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _refuse(limit)
            return message

        await self.app(scope, limited, send)


def install(app: FastAPI) -> None:
    """Cap every body and answer a refusal with the error envelope."""

    async def refused(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, _Refused)
        return domain_response(exc.error)

    app.add_exception_handler(_Refused, refused)
    app.add_middleware(BodyLimit)
