"""The conventional implementation o2o is measured against: what a team would write on the
same stack without o2o's in-memory catalog. Per push: verify the signature and parse with
wechatpy, ONE PostGIS KNN query for the nearest open outlet (`ORDER BY location <-> point
LIMIT 1` on the GiST index o2o's migrations create), ONE query for the best published
promotion that applies to it now (chain-wide, its region or the outlet itself;
validity, weekday and daily window in the outlet's zone),
ONE event insert, and a one-card `ArticlesReply`. SQLAlchemy Core on a connection pool, in
FastAPI's thread pool, under the same uvicorn options as the others.

    O2O_DATABASE_URL=postgresql+psycopg://... O2O_WECHAT_TOKEN=... \
        uvicorn --factory benchmarks._wechat_conventional:create_conventional_app
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from wechatpy import parse_message
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import ArticlesReply, TextReply
from wechatpy.utils import check_signature

from o2o.geo import Datum, to_wgs84

POINT = "ST_SetSRID(ST_MakePoint(:lng, :lat), 4326)::geography"
NEAREST = sa.text(f"""
    SELECT id, name, address, region_id, timezone, ST_Distance(location, {POINT}) AS metres
    FROM outlets WHERE deleted_at IS NULL AND status = 'open'
    ORDER BY location <-> {POINT} LIMIT 1""")
OFFER = sa.text("""
    SELECT id, title FROM promotions p
    CROSS JOIN LATERAL (SELECT now() AT TIME ZONE coalesce(p.timezone, :zone) AS local) t
    WHERE status = 'published'
      AND (valid_from IS NULL OR valid_from <= now())
      AND (valid_until IS NULL OR valid_until > now())
      AND (weekdays::jsonb = '[]'::jsonb
           OR weekdays::jsonb @> to_jsonb(extract(isodow FROM t.local)::int))
      AND (daily_start IS NULL
           OR to_char(t.local, 'HH24:MI') >= daily_start AND to_char(t.local, 'HH24:MI') < daily_end)
      AND (scope = 'all' OR (scope = 'region' AND region_id = :region)
           OR (scope = 'outlets' AND EXISTS (SELECT 1 FROM promotion_outlets po
                                            WHERE po.promotion_id = p.id
                                              AND po.outlet_id = :outlet)))
    ORDER BY priority DESC, id LIMIT 1""")
EVENT = sa.text("""
    INSERT INTO events (occurred_at, type, customer_hash, outlet_id, promotion_id, region_id,
                        lat, lng, distance_m, channel, dedup_key, props)
    VALUES (now(), 'query', :customer, :outlet, :promotion, :region, :lat, :lng, :metres,
            'wechat', :dedup, '{}')
    ON CONFLICT (dedup_key) DO NOTHING""")


def create_conventional_app() -> FastAPI:
    engine = sa.create_engine(os.environ["O2O_DATABASE_URL"], pool_size=8, max_overflow=8)
    token = os.environ["O2O_WECHAT_TOKEN"]
    base = os.environ.get("O2O_PUBLIC_BASE_URL", "http://127.0.0.1:8000")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with engine.connect() as conn:  # ready means connected and answering
            conn.execute(NEAREST, {"lat": 31.23, "lng": 121.47}).first()
        yield
        engine.dispose()

    app = FastAPI(title="conventional store guide", lifespan=lifespan)

    def answer(body: bytes) -> str:
        msg = parse_message(body)
        if msg.type != "location":
            return TextReply(message=msg, content="发送位置，查找最近的门店").render()
        lat, lng = to_wgs84(float(msg.location_x), float(msg.location_y), Datum.GCJ02)
        with engine.begin() as conn:
            outlet = conn.execute(NEAREST, {"lat": lat, "lng": lng}).first()
            if outlet is None:
                return TextReply(message=msg, content="附近没有门店").render()
            offer = conn.execute(OFFER, {"region": outlet.region_id, "outlet": outlet.id,
                                         "zone": outlet.timezone}).first()
            conn.execute(EVENT, {
                "customer": hashlib.sha256(msg.source.encode()).hexdigest(),
                "outlet": outlet.id, "promotion": offer.id if offer else None,
                "region": outlet.region_id, "lat": round(lat, 3), "lng": round(lng, 3),
                "metres": outlet.metres, "dedup": f"query:{msg.id}"})
        lines = [outlet.address, f"今日优惠：{offer.title}" if offer else "",
                 "点击查看附近全部门店、导航和优惠"]
        return ArticlesReply(message=msg, articles=[{
            "title": f"{outlet.name} · 距您 {outlet.metres:,.0f} 米",
            "description": "\n".join(x for x in lines if x),
            "image": f"{base}/static/wechat/cover-large.png",
            "url": f"{base}/outlets/{outlet.id}"}]).render()

    @app.post("/wechat")
    async def receive(request: Request, signature: str = "", timestamp: str = "",
                      nonce: str = "") -> Response:
        try:
            check_signature(token, signature, timestamp, nonce)
        except InvalidSignatureException:
            return PlainTextResponse("bad signature", status_code=403)
        body = await request.body()
        reply = await run_in_threadpool(answer, body)  # the database calls block
        return Response(reply, media_type="application/xml; charset=utf-8")

    @app.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app
