"""Dependencies, declared once as Annotated aliases.

The trivial ones are `async def`: FastAPI runs a plain `def` dependency in a worker thread,
a hop that cost the WeChat path measurable CPU per request (benchmarks/bench_wechat.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from api.auth import current_staff
from o2o.catalog.runtime import Catalog
from o2o.config import Settings
from o2o.db.engine import read_only
from o2o.services import Services
from o2o.staff.principal import Principal


async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


async def get_catalog(services: Annotated[Services, Depends(get_services)]) -> Catalog:
    return services.catalog


def _request_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def get_db(services: Annotated[Services, Depends(get_services)]) -> Iterator[Session]:
    """A session per request; services commit their own unit of work, the rest rolls back."""
    yield from _request_session(services.sessions)


def get_read_db(services: Annotated[Services, Depends(get_services)]) -> Iterator[Session]:
    """A read-only session per request (reports): on SQLite it never takes the write lock,
    so a long report cannot hold up the WeChat writes, nor wait for them."""
    yield from _request_session(read_only(services.sessions))


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
DbSession = Annotated[Session, Depends(get_db)]
ReadDbSession = Annotated[Session, Depends(get_read_db)]
CurrentStaff = Annotated[Principal, Depends(current_staff)]
