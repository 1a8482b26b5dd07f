"""GET /dashboard: the managers' page. Static HTML and script; the numbers come from the
analytics API with the token the manager types in (kept in sessionStorage, never a cookie)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.deps import SettingsDep

router = APIRouter(tags=["dashboard"])
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
#: Same-origin only: charts are drawn by our own script, nothing is fetched from elsewhere.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; form-action 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
}


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, settings: SettingsDep) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "dashboard.html", {"brand": settings.brand_name},
                                      headers=HEADERS)
