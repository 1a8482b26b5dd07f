"""Liveness with dependency status, and Prometheus metrics."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServicesDep
from o2o.db import read_only
from o2o.metrics import INDEX_AGE
from o2o.services import Services
from o2o.wechat.platform import PlatformError, platform_of

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Health of the database, the nearest index and Redis")
def healthz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, object] = {}
    ok = True
    try:
        # Read-only: on SQLite the probe must not queue for the write lock behind an
        # import (and be reported dead), nor hold the WeChat writes up itself.
        with read_only(services.sessions)() as session:
            session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True, "dialect": services.engine.dialect.name}
    except sa.exc.SQLAlchemyError as exc:
        ok = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    catalog = services.catalog
    age = catalog.age_s
    fresh = age < max(5.0, services.settings.catalog_poll_s * 20)
    checks["index"] = {"ok": fresh, "outlets": len(catalog), "seq": catalog.seq,
                       "age_s": round(age, 3) if age != float("inf") else None}
    ok = ok and fresh
    if services.redis is not None:
        try:
            services.redis.ping()
            checks["redis"] = {"ok": True}
        except Exception as exc:  # any client error means "not healthy", reported by name
            ok = False
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
    checks["wechat_api"] = _wechat_api(services)
    return JSONResponse({"status": "ok" if ok else "degraded", "checks": checks},
                        status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    INDEX_AGE.set(services.catalog.age_s if services.catalog.synced_at else 0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _wechat_api(services: Services) -> dict[str, object]:
    """The shared token's age and the last WeChat API error; never a token. Informational:
    WeChat's API being down degrades no customer reply, so it does not fail the check."""
    try:
        return platform_of(services).status()
    except PlatformError as exc:
        return {"error": exc.message}
