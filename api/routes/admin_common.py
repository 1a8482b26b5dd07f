"""What the admin routers share: ETag/If-Match as versions, paging parameters, the router
factory that puts Bearer authentication on every route."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from api.auth import StaffRoute, current_staff
from api.params import Skip
from api.responses import STAFF
from o2o.catalog.admin_common import MAX_LIMIT
from o2o.errors import PreconditionFailed

_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,18})"\s*$')
ETAG_HELP = ('The ETag from your last read, e.g. W/"3". Required to change or delete what was '
             "read (PATCH, PUT .../status, DELETE): a stale one gets 412, none gets 428.")


def admin_router(*, tags: list[str]) -> APIRouter:
    """An /api/v1 router whose every route needs a staff token (401 without one, before
    the body is read)."""
    return APIRouter(prefix="/api/v1", tags=tags, dependencies=[Depends(current_staff)],
                     route_class=StaffRoute, responses=STAFF)


def etag(version: int) -> str:
    """Weak ETag of a versioned row (the version counts changes of what the API shows)."""
    return f'W/"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def if_match(
    value: Annotated[str | None, Header(alias="If-Match", description=ETAG_HELP)] = None,
) -> int | None:
    """The version the caller based a change on; None when they sent none (-> 428).
    `*` is treated as none: it would overwrite whatever is there, which is the point of
    asking. Weak and strong forms of our ETag are both accepted."""
    if value is None or not value.strip() or value.strip() == "*":
        return None
    match = _ETAG.match(value)
    if match is None:
        raise PreconditionFailed('If-Match must be one ETag as read from this API, e.g. W/"3".')
    return int(match.group(1))


IfMatch = Annotated[int | None, Depends(if_match)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Offset = Annotated[Skip, Query(description="Items to skip")]
