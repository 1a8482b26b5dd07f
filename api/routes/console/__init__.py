"""The staff console at /staff: server-rendered pages for store staff on their phones.

One router; each area is a module with its own sub-router (auth, outlets, promotions, today,
...). Add a module's router to SUBROUTERS and its menu entry to page.NAV.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.routes.console import auth, outlets, promotions, today
from api.routes.console.auth import ConsoleStaff, console_router
from api.routes.console.page import PREFIX, render

home = console_router()


@home.get("/", response_class=HTMLResponse)
def index(request: Request, me: ConsoleStaff) -> Response:
    """The menu: one big button per area."""
    return render(request, "staff/home.html")


SUBROUTERS: list[APIRouter] = [auth.router, home, outlets.router,
                                promotions.router, today.router]

router = APIRouter(prefix=PREFIX, tags=["staff console"], include_in_schema=False)
for sub in SUBROUTERS:
    router.include_router(sub)
