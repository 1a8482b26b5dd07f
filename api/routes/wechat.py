"""GET|POST /wechat: the Official Account endpoint, a thin shell over WeChatEndpoint.

Pushes are the busiest requests by far, so POST /wechat is answered by `WeChatPushes`, a
pure-ASGI middleware just inside RequestContext (request id, access log, latency metric),
before the router: no route matching, dependency solving, Request object or exception
middleware per push. It reads the body under the endpoint's own cap (the same 413 as
api.body's), answers with `respond`, and turns a refusal into the same error envelope
(api.errors.domain_response); anything unexpected propagates to the app's 500 handler as
before. The router's POST entry documents the endpoint in /docs and answers through the
same `respond` when the app is built without the middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from api.body import body_limit, declared_over, too_large
from api.deps import ServicesDep
from api.errors import domain_response
from api.responses import refusals
from o2o.errors import O2OError
from o2o.services import Services
from o2o.wechat.endpoint import WeChatEndpoint

#: Refused pushes (bad signature, stale timestamp, malformed or oversized XML, too many).
router = APIRouter(tags=["wechat"], responses=refusals(400, 403, 413, 429))
PATH = "/wechat"


def endpoint_of(services: Services) -> WeChatEndpoint:
    endpoint = services.extras.get("wechat")
    if endpoint is None:
        endpoint = services.extras["wechat"] = WeChatEndpoint(services)
    return endpoint


async def get_endpoint(services: ServicesDep) -> WeChatEndpoint:
    return endpoint_of(services)


Endpoint = Annotated[WeChatEndpoint, Depends(get_endpoint)]


async def respond(endpoint: WeChatEndpoint, query: Mapping[str, str],
                  body: bytes) -> tuple[str, str]:
    """The reply to one push and its media type; raises WeChatError for a bad push.

    Location pushes are answered from memory on the loop; their writes are queued for the
    group commit, whose batch the reply then awaits without a thread. Only a handler that
    may wait on I/O runs on a worker thread."""
    push = endpoint.accept(query, body)
    if endpoint.blocking(push):
        reply, pending = await run_in_threadpool(endpoint.answer, push)
    else:
        reply, pending = endpoint.answer(push)
    if pending is not None:
        committed = await pending.wait_async(endpoint.services.settings.wechat_write_wait_s)
        endpoint.settle(committed)
        if not committed:  # the database is away or slow: on disk before the reply goes
            await run_in_threadpool(endpoint.secure, push)
    media = "text/plain" if reply == "success" else "application/xml"
    return reply, f"{media}; charset=utf-8"


@router.get(PATH, response_class=PlainTextResponse, summary="WeChat URL verification")
def verify(request: Request, endpoint: Endpoint) -> PlainTextResponse:
    return PlainTextResponse(endpoint.verify(dict(request.query_params)))


@router.post(PATH, summary="WeChat pushes (plain, 兼容模式, 安全模式)")
@body_limit("wechat_max_body_bytes")  # a push is a few hundred bytes; refused past this unread
async def receive(request: Request) -> Response:
    endpoint = endpoint_of(request.app.state.services)
    reply, media = await respond(endpoint, request.query_params, await request.body())
    return Response(reply, media_type=media)


class _Template:
    """What RequestContext reads from scope["route"] for its metric and log line."""

    path = PATH


class WeChatPushes:
    """Pure-ASGI middleware answering POST /wechat before the router (see the module)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" \
                or scope["path"] != scope.get("root_path", "") + PATH:
            await self.app(scope, receive, send)
            return
        scope["route"] = _Template
        services: Services = scope["app"].state.services
        try:
            body = await _read_body(scope, receive, services.settings.wechat_max_body_bytes)
            if body is None:
                return  # the client went away: nobody to answer
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"),
                                   keep_blank_values=True))
            reply, media = await respond(endpoint_of(services), query, body)
        except O2OError as exc:
            await domain_response(exc)(scope, receive, send)
            return
        payload = reply.encode("utf-8")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", media.encode("latin-1")),
                                (b"content-length", str(len(payload)).encode("latin-1"))]})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes | None:
    """The whole body, refused (ContentTooLarge) past `limit` bytes as declared or as read;
    None when the client disconnected first."""
    if declared_over(scope, limit):
        raise too_large(limit)
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
