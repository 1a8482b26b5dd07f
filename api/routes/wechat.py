"""GET|POST /wechat: the Official Account endpoint, a thin shell over WeChatEndpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from api.deps import ServicesDep
from o2o.services import Services
from o2o.wechat.endpoint import WeChatEndpoint
from o2o.wechat.errors import BodyTooLarge

router = APIRouter(tags=["wechat"])


async def get_endpoint(services: ServicesDep) -> WeChatEndpoint:
    endpoint = services.extras.get("wechat")
    if endpoint is None:
        endpoint = services.extras["wechat"] = WeChatEndpoint(services)
    return endpoint


Endpoint = Annotated[WeChatEndpoint, Depends(get_endpoint)]


@router.get("/wechat", response_class=PlainTextResponse, summary="WeChat URL verification")
def verify(request: Request, endpoint: Endpoint) -> PlainTextResponse:
    return PlainTextResponse(endpoint.verify(dict(request.query_params)))


@router.post("/wechat", summary="WeChat pushes (plain, 兼容模式, 安全模式)")
async def receive(request: Request, endpoint: Endpoint) -> Response:
    body = await _read_limited(request, endpoint.services)
    # The handlers do a little blocking database work: keep it off the event loop.
    reply = await run_in_threadpool(endpoint.handle, dict(request.query_params), body)
    media = "text/plain" if reply == "success" else "application/xml"
    return Response(reply, media_type=f"{media}; charset=utf-8")


async def _read_limited(request: Request, services: Services) -> bytes:
    """Read at most the configured size; a larger body is refused without buffering it."""
    limit = services.settings.wechat_max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
