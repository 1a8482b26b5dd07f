"""Today at my outlet: redemptions, claims and visits so far today beside the same weekday
last week, from the analytics funnel (stored cells plus the not yet rolled-up tail, so today's
events count at once). Days are the outlet's local days."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ReadDbSession
from api.params import RowId
from api.routes.console.auth import ConsoleSessionDep, ConsoleStaff, console_router
from api.routes.console.page import render
from o2o.analytics.funnel import funnel
from o2o.analytics.scope import Scope
from o2o.catalog import admin_outlets
from o2o.catalog.models import Outlet
from o2o.staff.principal import Principal

router = console_router()
#: What the page shows, in this order: (funnel step, label).
STEPS = [("redemption", "核销"), ("claim", "领券"), ("visit", "到店"), ("click", "点击"),
         ("impression", "曝光")]
WEEKDAY = "一二三四五六日"
#: Outlets offered in the picker (a manager of many picks among the first, or by ?outlet=).
PICKER = 200


def _scope(me: Principal, outlet: Outlet) -> Scope:
    """The funnel's scope for an outlet the caller may already see (checked by get_outlet):
    store staff have no regions of their own, so theirs is their outlet's region."""
    if me.is_admin or outlet.region_id is None:
        return None
    return frozenset({outlet.region_id})


@router.get("/today", response_class=HTMLResponse)
def today(request: Request, me: ConsoleStaff, console: ConsoleSessionDep,
          session: ReadDbSession, outlet: RowId | None = None) -> Response:
    outlets, _total = admin_outlets.list_outlets(session, principal=me, limit=PICKER)
    wanted = outlet or console.outlet_id or (outlets[0].id if outlets else None)
    if wanted is None:
        return render(request, "staff/today.html", outlets=[], row=None)
    row = admin_outlets.get_outlet(session, principal=me, outlet_id=wanted)
    day = datetime.now(ZoneInfo(row.timezone)).date()
    before = day - timedelta(days=7)
    scope = _scope(me, row)
    now = funnel(session, scope=scope, date_from=day, date_to=day, outlet_id=row.id).total
    then = funnel(session, scope=scope, date_from=before, date_to=before,
                  outlet_id=row.id).total
    stats = [(label, now.counts.get(step) or 0, then.counts.get(step) or 0)
             for step, label in STEPS]
    return render(request, "staff/today.html", outlets=outlets, row=row, stats=stats,
                  day=day, before=before, weekday=WEEKDAY[day.weekday()])
