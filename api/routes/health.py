"""Liveness for load balancers (up or not, nothing more), and Prometheus metrics for
operators only (O2O_METRICS_TOKEN / O2O_METRICS_ALLOW)."""

from __future__ import annotations

import logging
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServicesDep
from o2o.db.engine import read_only
from o2o.errors import PermissionDenied
from o2o.metrics import INDEX_AGE, may_read_metrics
from o2o.services import Services
from o2o.wechat.platform import PlatformError, platform_of

log = logging.getLogger("o2o.health")
router = APIRouter(tags=["operations"])
metrics_bearer = HTTPBearer(auto_error=False, scheme_name="MetricsToken")


@router.get("/healthz", responses={503: {"description": "Degraded: a check failed"}},
            summary="Is this worker fit to serve: its database, its nearest "
                                "index and Redis (no details: those are in /metrics)")
def healthz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, dict[str, bool]] = {}
    try:
        # Read-only: on SQLite the probe must not queue for the write lock behind an
        # import (and be reported dead), nor hold the WeChat writes up itself.
        with read_only(services.sessions)() as session:
            session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health: database check failed: %s", type(exc).__name__)
        checks["database"] = {"ok": False}
    age = services.catalog.age_s
    checks["index"] = {"ok": age < max(5.0, services.settings.catalog_poll_s * 20)}
    if services.redis is not None:
        try:
            services.redis.ping()
            checks["redis"] = {"ok": True}
        except Exception as exc:  # any client error means "not healthy", logged by name
            log.warning("health: Redis check failed: %s", type(exc).__name__)
            checks["redis"] = {"ok": False}
    ok = all(check["ok"] for check in checks.values())
    body: dict[str, object] = {"status": "ok" if ok else "degraded", "checks": checks}
    # Informational (issue 15): the shared token's age and WeChat's last error, never the
    # token; WeChat's API being down degrades no customer reply, so it is not a check.
    body["wechat_api"] = _wechat_api(services)
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(
    request: Request, services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(metrics_bearer)],
) -> Response:
    if not may_read_metrics(services.settings,
                            client=request.client.host if request.client else None,
                            token=credentials.credentials if credentials else None):
        raise PermissionDenied("Metrics are for operators: send O2O_METRICS_TOKEN as a "
                               "Bearer token, or call from an address in O2O_METRICS_ALLOW.")
    INDEX_AGE.set(services.catalog.age_s if services.catalog.synced_at else 0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _wechat_api(services: Services) -> dict[str, object]:
    """The shared token's age and the last WeChat API error; never a token. Informational:
    WeChat's API being down degrades no customer reply, so it does not fail the check."""
    try:
        return platform_of(services).status()
    except PlatformError as exc:
        return {"error": exc.message}
