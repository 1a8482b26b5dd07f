"""GET|POST /wechat: the Official Account endpoint, a thin shell over WeChatEndpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from api.body import body_limit
from api.deps import ServicesDep
from api.responses import refusals
from o2o.services import Services
from o2o.wechat.endpoint import WeChatEndpoint

#: Refused pushes (bad signature, stale timestamp, malformed or oversized XML, too many).
router = APIRouter(tags=["wechat"], responses=refusals(400, 403, 413, 429))


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
@body_limit("wechat_max_body_bytes")  # a push is a few hundred bytes; refused past this unread
async def receive(request: Request) -> Response:
    # The hottest route: no dependency solving, and no worker-thread hop unless the handler
    # waits on I/O. Location pushes are answered from memory on the loop; their writes are
    # queued for the group commit, whose batch the reply then awaits without a thread.
    endpoint = endpoint_of(request.app.state.services)
    body = await request.body()
    push = endpoint.accept(request.query_params, body)
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
    return Response(reply, media_type=f"{media}; charset=utf-8")

