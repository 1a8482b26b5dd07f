"""The floor: the same stack as the real server (FastAPI on uvicorn, the same request-context
middleware and error handlers) whose POST /wechat reads the body and returns a constant
news reply of the real one's size. No signature check, no parsing, no index, no database.

    uvicorn --factory benchmarks._wechat_bare:create_bare_app
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from api import errors
from api.middleware import RequestContext

REPLY = (
    "<xml><ToUserName><![CDATA[o_bench_000000]]></ToUserName>"
    "<FromUserName><![CDATA[gh_o2o_simulator]]></FromUserName>"
    "<CreateTime>1795332941</CreateTime><MsgType><![CDATA[news]]></MsgType>"
    "<ArticleCount>1</ArticleCount><Articles><item>"
    "<Title><![CDATA[拾光茶咖·上海中心区412号店 · 距您 312 米]]></Title>"
    "<Description><![CDATA[今天 07:00–22:00 营业中\n上海中心区示例路87号\n"
    "今日优惠：上海限定 新品尝鲜\n点击查看附近全部门店、导航和优惠]]></Description>"
    "<PicUrl><![CDATA[http://127.0.0.1:8000/static/wechat/cover-large.png]]></PicUrl>"
    "<Url><![CDATA[http://127.0.0.1:8000/r/eyJ0IjoibmVhcmJ5IiwicSI6IjBkNmE4ZjFiMmMzZDRl"
    "NWY2YTdiOGM5ZDBlMWYyYTNiNCIsImMiOiIzZjRhNWI2YzdkOGU5ZjBhIiwibyI6NDEyLCJwIjo0LCJl"
    "IjoxNzk1OTM3NzQxfQ.c2lnbmF0dXJlLW9mLXRoZS1saW5r]]></Url>"
    "</item></Articles></xml>"
)


def create_bare_app() -> FastAPI:
    """The constant-reply app, built like api.app.create_app minus the routers and services."""
    app = FastAPI(title="o2o bare floor")
    errors.install(app)

    @app.post("/wechat")
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(REPLY, media_type="application/xml; charset=utf-8")

    @app.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.add_middleware(RequestContext)
    return app
