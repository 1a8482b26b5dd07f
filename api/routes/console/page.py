"""What every console page shares: the route class (refusals as pages, strict headers, audit
entries marked "console"), rendering with the signed-in context, the menu."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import pass_context
from markupsafe import Markup, escape

from api.errors import status_for
from api.routes.h5 import TEMPLATES
from o2o.audit.service import audit_via
from o2o.errors import O2OError, ValidationError
from o2o.staff.models import Role
from o2o.staff.sessions import SessionEnded

PREFIX = "/staff"
SIGNIN = f"{PREFIX}/signin"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # No inline script or style anywhere in the console; images may be the outlets' own
    # (https) pictures, shown as the chat card would show them.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data: https:; object-src 'none'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
#: The console's menu: (path, label). Pages of other modules add their entry here.
NAV: list[tuple[str, str]] = [
    (f"{PREFIX}/outlets", "我的门店"),
    (f"{PREFIX}/promotions", "优惠活动"),
    (f"{PREFIX}/today", "今日数据"),
]
#: Menu entries only some roles see (path -> roles); an entry not named here is for everyone.
#: Hiding is a courtesy: each page checks the role itself.
NAV_ROLES: dict[str, frozenset[Role]] = {}
#: What a refusal reads like, by error code: (title, hint).
TROUBLE = {
    "not_found": ("找不到", "没有这一项，或它不在您负责的范围内。"),
    "permission_denied": ("无权操作", "您的账号不能做这件事；请联系区域经理。"),
    "validation_error": ("填写有误", "请返回检查后再提交。"),
    "csrf_failed": ("页面已失效", "为了安全，这个表单已过期。请返回刷新页面后再提交。"),
    "rate_limited": ("尝试太频繁", "请稍等几分钟再试。"),
}


class CsrfFailed(O2OError):
    code = "csrf_failed"
    http_status = 403


class RateLimited(O2OError):
    code = "rate_limited"
    http_status = 429


@pass_context
def csrf_field(context: Any) -> Markup:
    """The hidden input every console form carries: `{{ csrf_field() }}`."""
    return Markup('<input type="hidden" name="csrf" value="{}">').format(
        escape(context.get("csrf", "")))


TEMPLATES.env.globals["csrf_field"] = csrf_field


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A console page with the brand, the signed-in member (if any), the menu, the CSRF token."""
    services = request.app.state.services
    console = getattr(request.state, "console", None)
    me = console.principal if console else None
    nav = [(path, label) for path, label in NAV
           if me is not None and me.role in NAV_ROLES.get(path, frozenset(Role))]
    return TEMPLATES.TemplateResponse(request, template, {
        "brand": services.settings.brand_name, "nav": nav, "path": request.url.path,
        "me": me,
        "csrf": console.csrf_token if console else "", **context}, status_code=status_code)


def trouble_page(request: Request, exc: O2OError) -> HTMLResponse:
    title, hint = TROUBLE.get(exc.code, ("出错了", exc.message))
    return render(request, "staff/trouble.html", status_code=status_for(exc), title=title,
                  hint=hint, detail=exc.message)


class ConsolePage(APIRoute):
    """A console route: changes it makes are audited as "console"; a missing or ended session
    goes to the sign-in page; refusals are pages, never JSON; strict headers on everything."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            token = audit_via.set("console")
            try:
                response = await handler(request)
            except SessionEnded:
                response = RedirectResponse(SIGNIN, status_code=303)
            except O2OError as exc:
                response = trouble_page(request, exc)
            except RequestValidationError as exc:
                fields = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
                response = trouble_page(request, ValidationError(
                    f"missing or malformed: {fields}"))
            finally:
                audit_via.reset(token)
            response.headers.update(SECURITY_HEADERS)
            return response

        return page
