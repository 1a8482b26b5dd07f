"""GET /r/<token>: count the click, then send the customer where the sealed link says."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from api.deps import CatalogDep, DbSession, SettingsDep
from api.routes.h5 import HtmlPage
from o2o.customers.clicks import follow
from o2o.customers.links import opened_from_share
from o2o.links import LinkInvalid

router = APIRouter(tags=["customer pages"], route_class=HtmlPage, include_in_schema=False)


@router.get("/r/{token}")
def redirect(request: Request, token: str, settings: SettingsDep, catalog: CatalogDep,
             session: DbSession) -> RedirectResponse:
    followed = follow(session, settings=settings, catalog=catalog, token=token,
                      now=datetime.now(UTC), shared=opened_from_share(request.query_params))
    session.commit()
    return RedirectResponse(followed.location, status_code=302)


@router.get("/r/{rest:path}")
def mangled(rest: str) -> RedirectResponse:
    """A /r/ path that is not one token (extra slashes, a pasted URL): friendly 400."""
    raise LinkInvalid("This link is not valid.")
