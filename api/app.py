"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import body, errors
from api.middleware import RequestContext
from api.routes import ROUTERS
from api.routes.wechat import WeChatPushes
from o2o import __version__
from o2o.config import Settings, get_settings
from o2o.services import Services, build_services

STATIC = Path(__file__).with_name("static")


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the app. Given `services` (tests, benchmarks) it uses them and does not close them;
    otherwise it builds its own at start-up from `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or build_services(settings or get_settings())
        if owned:
            # The catalog is millions of long-lived objects at 1M outlets; left to the
            # cyclic GC, every full collection walks them all (pauses of seconds in the
            # middle of WeChat's 5 s deadline). Frozen, collections see only new objects.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="o2o store guide",
        version=__version__,
        description="Nearest outlets and today's offers behind a WeChat Official Account; "
                    "staff admin and conversion analytics under /api/v1.",
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    errors.install(app)
    body.install(app)
    for router in ROUTERS:
        app.include_router(router)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(WeChatPushes)  # inside RequestContext, before the router
    app.add_middleware(RequestContext)
    return app
