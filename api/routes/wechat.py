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


def endpoint_of(services: Services) -> WeChatEndpoint:
    endpoint = services.extras.get("wechat")
    if endpoint is None:
        endpoint = services.extras["wechat"] = WeChatEndpoint(services)
    return endpoint


async def get_endpoint(services: ServicesDep) -> WeChatEndpoint:
    return endpoint_of(services)


Endpoint = Annotated[WeChatEndpoint, Depends(get_endpoint)]


@router.get("/wechat", response_class=PlainTextResponse, summary="WeChat URL verification")
def verify(request: Request, endpoint: Endpoint) -> PlainTextResponse:
    return PlainTextResponse(endpoint.verify(dict(request.query_params)))


@router.post("/wechat", summary="WeChat pushes (plain, 兼容模式, 安全模式)")
async def receive(request: Request) -> Response:
    # The hottest route: no dependency solving, and no worker-thread hop unless the handler
    # waits on I/O. Location pushes are answered from memory on the loop; their writes are
    # queued for the group commit, whose batch the reply then awaits without a thread.
    endpoint = endpoint_of(request.app.state.services)
    body = await _read_limited(request, endpoint.services)
    push = endpoint.accept(request.query_params, body)
    if endpoint.blocking(push):
        reply, pending = await run_in_threadpool(endpoint.answer, push)
    else:
        reply, pending = endpoint.answer(push)
    if pending is not None:
        endpoint.settle(await pending.wait_async(
            endpoint.services.settings.wechat_write_wait_s))
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
