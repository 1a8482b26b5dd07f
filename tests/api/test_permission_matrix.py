"""Every /api/v1 and /staff route x every role x in scope / out of scope, from the app's routes.

A route that is neither on the public allow-list nor described in SPECS fails here, so a new
admin route cannot ship without someone deciding who may use it, and every non-public route
must refuse a caller without a valid token (401). Out-of-scope callers must get exactly what
a missing thing gets (404), a 403 for what their role may never do, or, on lists, a page
without the other store's data.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import fastapi.routing
import pytest

from api.app import create_app
from o2o.audit.service import audit
from o2o.catalog.boundary import parse_boundary, to_column
from o2o.config import Settings
from o2o.coupons.service import claim
from o2o.db.schema import utcnow
from o2o.staff.models import Role, Staff, StaffSession
from o2o.staff.tokens import issue_token, principal_for
from tests.factories import ALWAYS_OPEN, make_outlet, make_promotion, make_region
from tests.factories_staff import bearer, make_staff

#: Routes anyone may call: customer-facing, deliberately without a staff token.
PUBLIC = {
    ("GET", "/api/v1/nearby"),
    ("GET", "/api/v1/wechat/js-config"),  # signs only our own H5 pages' URLs
}
ROLES = ("admin", "manager_in", "manager_out", "staff_in", "staff_out")
_n = itertools.count(1)


@dataclass
class Target:
    """Fresh things in region A for one call: what "in scope" means for the *_in roles."""

    outlet_id: int
    outlet_code: str
    region_id: int
    promotion_id: int
    entry_id: int
    coupon_code: str
    staff_id: int  # a clerk of the new outlet (in A)
    token_id: int  # one of that clerk's tokens

    def path(self, template: str) -> str:
        return template.format(outlet_id=self.outlet_id, promotion_id=self.promotion_id,
                               entry_id=self.entry_id, code=self.coupon_code,
                               region_id=self.region_id, staff_id=self.staff_id,
                               token_id=self.token_id)


@dataclass
class Spec:
    """Expected status per role; `listing` routes answer 200 to all and must show the target
    only to `sees`; `body`/`query` build the request for a target."""

    expect: dict[str, int]
    body: Callable[[Target], dict[str, Any]] | None = None
    upload: Callable[[Target], tuple[dict[str, Any], dict[str, Any]]] | None = None  # files, form
    query: Callable[[Target], dict[str, Any]] = field(default=lambda t: {})
    listing: Callable[[Target], int] | None = None  # the id the list must (not) show
    sees: frozenset[str] = frozenset()


def _all(in_: int, out: int = 404, staff: int | None = None) -> dict[str, int]:
    staff_in = in_ if staff is None else staff
    staff_out = out if staff is None else staff
    return {"admin": in_, "manager_in": in_, "manager_out": out, "staff_in": staff_in,
            "staff_out": staff_out}


def _outlet_body(_t: Target) -> dict[str, Any]:
    return {"code": f"NEW{next(_n)}", "name": "新店", "lat": 31.23, "lng": 121.47,
            "crs": "gcj02", "region": "A", "hours": ALWAYS_OPEN}


def _import_upload(_t: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = f"code,name,lat,lng,region\nIMP{next(_n)},导入店,31.2,121.4,A\n"
    return {"file": ("stores.csv", rows.encode(), "text/csv")}, {"crs": "gcj02"}


def _promotion_body(t: Target) -> dict[str, Any]:
    return {"code": f"P-NEW{next(_n)}", "title": "新品尝鲜", "scope": "outlets",
            "outlets": [t.outlet_code]}


def _admin_only(status: int) -> dict[str, int]:
    return {role: status if role == "admin" else 403 for role in ROLES}


#: Regions: admins do everything; managers list and read their own; staff none of it.
REGIONS_READ = {"admin": 200, "manager_in": 200, "manager_out": 404, "staff_in": 403,
                "staff_out": 403}
#: Staff accounts: admins all; managers the store staff of their regions; staff none.
ACCOUNTS = REGIONS_READ
IN_SCOPE = frozenset({"admin", "manager_in", "staff_in"})
#: Analytics are for managers and admins; a region outside the caller's scope is 404.
ANALYTICS = {"admin": 200, "manager_in": 200, "manager_out": 404, "staff_in": 403,
             "staff_out": 403}
REPORTS = ("funnel", "promotions", "demand", "open-next")
SPECS: dict[tuple[str, str], Spec] = {
    ("GET", "/api/v1/me"): Spec(expect=_all(200, 200)),
    ("GET", "/api/v1/outlets"): Spec(expect=_all(200, 200), listing=lambda t: t.outlet_id, sees=IN_SCOPE),
    ("POST", "/api/v1/outlets"): Spec(
        expect={**_all(201, 422, staff=403)}, body=_outlet_body),
    ("POST", "/api/v1/outlets/import"): Spec(
        expect=_all(200, 422, staff=403), upload=_import_upload),
    ("GET", "/api/v1/outlets/{outlet_id}"): Spec(expect=_all(200)),
    ("PATCH", "/api/v1/outlets/{outlet_id}"): Spec(expect=_all(200),
                                                    body=lambda t: {"phone": "021-0000"}),
    ("PUT", "/api/v1/outlets/{outlet_id}/status"): Spec(
        expect=_all(200), body=lambda t: {"status": "temporarily_closed",
                                          "reopen_on": str(date.today() + timedelta(days=9))}),
    ("DELETE", "/api/v1/outlets/{outlet_id}"): Spec(
        expect={**_all(204), "staff_in": 403, "staff_out": 403}),
    ("GET", "/api/v1/promotions"): Spec(expect=_all(200, 200), listing=lambda t: t.promotion_id, sees=IN_SCOPE),
    ("POST", "/api/v1/promotions"): Spec(expect=_all(201, 422), body=_promotion_body),
    ("GET", "/api/v1/promotions/{promotion_id}"): Spec(expect=_all(200)),
    ("PATCH", "/api/v1/promotions/{promotion_id}"): Spec(expect=_all(200),
                                                          body=lambda t: {"priority": 3}),
    ("PUT", "/api/v1/promotions/{promotion_id}/status"): Spec(
        expect=_all(200), body=lambda t: {"status": "published"}),
    ("DELETE", "/api/v1/promotions/{promotion_id}"): Spec(expect=_all(204)),
    ("GET", "/api/v1/promotions/{promotion_id}/preview"): Spec(
        expect=_all(200), query=lambda t: {"outlet": t.outlet_code}),
    ("GET", "/api/v1/audit"): Spec(expect={**_all(200, 200), "staff_in": 403, "staff_out": 403},
                                   listing=lambda t: t.entry_id,
                                   sees=frozenset({"admin", "manager_in"})),
    ("GET", "/api/v1/audit/{entry_id}"): Spec(
        expect={**_all(200), "staff_in": 403, "staff_out": 403}),
    ("POST", "/api/v1/coupons/redeem"): Spec(
        expect=_all(200), body=lambda t: {"code": t.coupon_code, "outlet_id": t.outlet_id}),
    ("GET", "/api/v1/coupons/{code}"): Spec(
        expect=_all(200), query=lambda t: {"outlet_id": t.outlet_id}),
    ("GET", "/api/v1/regions"): Spec(
        expect={**REGIONS_READ, "manager_out": 200}, listing=lambda t: t.region_id,
        sees=frozenset({"admin", "manager_in"})),
    ("POST", "/api/v1/regions"): Spec(
        expect=_admin_only(201), body=lambda t: {"code": f"R{next(_n)}", "name": "新区"}),
    ("GET", "/api/v1/regions/{region_id}"): Spec(expect=REGIONS_READ),
    ("PATCH", "/api/v1/regions/{region_id}"): Spec(
        expect=_admin_only(200), body=lambda t: {"name": "改名"}),
    ("POST", "/api/v1/regions/{region_id}/assign-outlets"): Spec(
        expect=_admin_only(200), body=lambda t: {"dry_run": True}),
    ("GET", "/api/v1/me/tokens"): Spec(expect=_all(200, 200)),
    # The target's token is a clerk's: nobody else's own token, so "no such token" for all.
    ("DELETE", "/api/v1/me/tokens/{token_id}"): Spec(expect=_all(404, 404)),
    ("GET", "/api/v1/staff"): Spec(
        expect={**ACCOUNTS, "manager_out": 200}, listing=lambda t: t.staff_id,
        sees=frozenset({"admin", "manager_in"})),
    ("POST", "/api/v1/staff"): Spec(
        expect={**ACCOUNTS, "admin": 201, "manager_in": 201, "manager_out": 422},
        body=lambda t: {"name": "新店员", "role": "staff", "outlets": [t.outlet_code]}),
    ("GET", "/api/v1/staff/{staff_id}"): Spec(expect=ACCOUNTS),
    ("PATCH", "/api/v1/staff/{staff_id}"): Spec(expect=ACCOUNTS, body=lambda t: {"name": "改"}),
    ("GET", "/api/v1/staff/{staff_id}/tokens"): Spec(expect=ACCOUNTS),
    ("POST", "/api/v1/staff/{staff_id}/tokens"): Spec(
        expect={**ACCOUNTS, "admin": 201, "manager_in": 201}, body=lambda t: {}),
    ("DELETE", "/api/v1/staff/{staff_id}/tokens/{token_id}"): Spec(
        expect={**ACCOUNTS, "admin": 204, "manager_in": 204}),
    ("POST", "/api/v1/staff/{staff_id}/login-links"): Spec(
        expect={**ACCOUNTS, "admin": 201, "manager_in": 201}, body=lambda t: {}),
    ("GET", "/api/v1/analytics/scope"): Spec(expect={**ANALYTICS, "manager_out": 200}),
    **{("GET", f"/api/v1/analytics/{name}{ext}"): Spec(
        expect=ANALYTICS, query=lambda t: {"region_id": t.region_id})
       for name in REPORTS for ext in ("", ".csv")},
}


Route = tuple[str, str]


def mounted_routes(prefix: str) -> list[tuple[str, str]]:
    """(method, path) of every route under `prefix` the app mounts, hidden-from-docs ones
    included. FastAPI >= 0.16x mounts routers lazily; iter_route_contexts walks them either
    way."""
    app = create_app(Settings())
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(walk(app.routes)) if walk else list(app.routes)
    found = set()
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path and methods and path.startswith(prefix):
            found.update((m, path) for m in methods - {"HEAD"})
    documented = {p for p in app.openapi()["paths"] if p.startswith(prefix)}
    assert documented <= {p for _, p in found}, "route walk missed documented routes"
    return sorted(found)


def assert_specs_match(guarded: Collection[Route], specs: Collection[Route],
                       public: Collection[Route], routes: Collection[Route]) -> None:
    """Every guarded route has a spec, no spec outlives its route, public ones exist."""
    missing = [r for r in guarded if r not in specs]
    assert not missing, f"routes without a permission spec (add them): {missing}"
    stale = [r for r in specs if r not in guarded]
    assert not stale, f"specs for routes that no longer exist: {stale}"
    assert all(r in routes for r in public), "a public route was removed: update it"


ROUTES = mounted_routes("/api/v1/")
GUARDED = [r for r in ROUTES if r not in PUBLIC]


def test_every_guarded_route_has_a_spec_and_no_spec_is_stale():
    assert_specs_match(GUARDED, SPECS, PUBLIC, ROUTES)


@pytest.fixture
def people(session):
    """Region A (in scope) and B (out of scope), with a manager and a clerk each."""
    a = make_region(session, code="A", boundary=to_column(parse_boundary(
        "POLYGON((121 31, 122 31, 122 32, 121 32, 121 31))")))
    b = make_region(session, code="B")
    home_b = make_outlet(session, code="B-HOME", region=b)
    staff = {
        "admin": make_staff(session, Role.ADMIN),
        "manager_in": make_staff(session, Role.MANAGER, regions=[a]),
        "manager_out": make_staff(session, Role.MANAGER, regions=[b]),
        "staff_in": make_staff(session, Role.STAFF),
        "staff_out": make_staff(session, Role.STAFF, outlets=[home_b]),
    }
    tokens = {name: issue_token(session, staff=s).token for name, s in staff.items()}
    session.commit()
    return {"region": a, "staff": staff, "tokens": tokens}


def fresh_target(session, people) -> Target:
    """A new outlet in A (assigned to staff_in), a promotion on it, an audit entry about it."""
    outlet = make_outlet(session, code=f"A-{next(_n)}", region=people["region"])
    clerk = session.get(Staff, people["staff"]["staff_in"].id)
    clerk.outlets = [*clerk.outlets, outlet]
    promo = make_promotion(session, code=f"P-{next(_n)}", outlets=[outlet], status="draft")
    admin = principal_for(session.get(Staff, people["staff"]["admin"].id))
    entry = audit(session, principal=admin, action="update", entity_type="outlet",
                  entity=outlet, before={}, after={})
    offer = make_promotion(session, code=f"C-{next(_n)}", outlets=[outlet], coupon_enabled=True)
    coupon = claim(session, promotion_id=offer.id, customer_hash="c" * 64, outlet_id=outlet.id,
                   query_id=None, now=utcnow())
    clerk_a = make_staff(session, Role.STAFF, outlets=[outlet])
    token = issue_token(session, staff=clerk_a)
    session.commit()
    return Target(outlet.id, outlet.code, outlet.region_id, promo.id, entry.id, coupon.code,
                  clerk_a.id, token.token_id)


def call(client, method, path, spec, target, headers):
    kwargs: dict[str, Any] = {"headers": dict(headers), "params": spec.query(target)}
    if method in ("PATCH", "PUT", "DELETE"):
        kwargs["headers"]["If-Match"] = 'W/"1"'
    if spec.body is not None:
        kwargs["json"] = spec.body(target)
    if spec.upload is not None:
        kwargs["files"], kwargs["data"] = spec.upload(target)
    return client.request(method, target.path(path), **kwargs)


@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_anonymous_and_bad_tokens_get_401(client, session, people, method, path):
    target = fresh_target(session, people)
    spec = SPECS.get((method, path), Spec(expect={}))
    for headers in ({}, bearer("o2o_forged-token"), {"Authorization": "Basic YTpi"}):
        response = call(client, method, path, spec, target, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_role_and_scope_matrix(client, session, people, method, path):
    spec = SPECS.get((method, path))
    assert spec is not None, f"{method} {path} has no permission spec"
    assert set(spec.expect) == set(ROLES)
    failures = []
    for role in ROLES:
        target = fresh_target(session, people)  # fresh: earlier roles may have deleted it
        response = call(client, method, path, spec, target, bearer(people["tokens"][role]))
        if response.status_code != spec.expect[role]:
            failures.append(f"{role}: {response.status_code} != {spec.expect[role]} "
                            f"{response.text[:200]}")
            continue
        if spec.listing and response.status_code == 200:
            shown = spec.listing(target) in {item["id"] for item in response.json()["items"]}
            if shown != (role in spec.sees):
                failures.append(f"{role}: target {'shown' if shown else 'hidden'} in the list")
    assert not failures, "\n".join(failures)


# --- The staff console (/staff): the same roles and scopes, signed in by session cookie. ---

#: Console routes anyone may call: the sign-in pages (a link, not a session, is the key).
CONSOLE_PUBLIC = {("GET", "/staff/login"), ("POST", "/staff/login"), ("GET", "/staff/signin")}


@dataclass
class Page:
    """Expected status per role; `form` builds a POST's fields; `shows` is the text a list
    must show exactly to `sees`."""

    expect: dict[str, int]
    form: Callable[[Target], dict[str, Any]] | None = None
    query: Callable[[Target], dict[str, Any]] = field(default=lambda t: {})
    shows: Callable[[Target], str] | None = None
    sees: frozenset[str] = frozenset()


def _promotion_form(t: Target) -> dict[str, Any]:
    return {"code": f"P-CON{next(_n)}", "title": "新品尝鲜", "scope": "outlets",
            "outlets": [t.outlet_code], "version": "1"}


_LATER = str(date.today() + timedelta(days=9))
CONSOLE_SPECS: dict[tuple[str, str], Page] = {
    ("GET", "/staff/"): Page(expect=_all(200, 200)),
    ("POST", "/staff/logout"): Page(expect=_all(303, 303), form=lambda t: {}),
    ("GET", "/staff/outlets"): Page(expect=_all(200, 200), shows=lambda t: t.outlet_code,
                                    sees=IN_SCOPE),
    ("GET", "/staff/outlets/{outlet_id}"): Page(expect=_all(200)),
    ("POST", "/staff/outlets/{outlet_id}/details"): Page(
        expect=_all(303), form=lambda t: {"version": "1", "hours": "24/7", "phone": "021-1",
                                          "image_url": ""}),
    ("POST", "/staff/outlets/{outlet_id}/status"): Page(
        expect=_all(303), form=lambda t: {"version": "1", "status": "temporarily_closed",
                                          "reopen_on": _LATER}),
    ("POST", "/staff/outlets/{outlet_id}/close-early"): Page(
        expect=_all(303), form=lambda t: {"version": "1", "close_at": "12:00"}),
    ("POST", "/staff/outlets/{outlet_id}/special"): Page(
        expect=_all(303), form=lambda t: {"version": "1", "day": _LATER,
                                          "special_hours": "10:00-12:00"}),
    ("POST", "/staff/outlets/{outlet_id}/exceptions/remove"): Page(
        expect=_all(303), form=lambda t: {"version": "1", "day": _LATER}),
    ("GET", "/staff/promotions"): Page(
        expect=_all(200, 200), shows=lambda t: f"/staff/promotions/{t.promotion_id}\"",
        sees=IN_SCOPE),
    ("GET", "/staff/promotions/new"): Page(expect=_all(200, 200)),
    ("POST", "/staff/promotions"): Page(expect=_all(303, 422), form=_promotion_form),
    ("GET", "/staff/promotions/{promotion_id}"): Page(expect=_all(200)),
    ("POST", "/staff/promotions/{promotion_id}"): Page(expect=_all(303), form=_promotion_form),
    ("POST", "/staff/promotions/{promotion_id}/status"): Page(
        expect=_all(303), form=lambda t: {"version": "1", "status": "published"}),
    ("GET", "/staff/today"): Page(expect=_all(200),
                                  query=lambda t: {"outlet": t.outlet_id}),
    ("GET", "/staff/till"): Page(
        expect=_all(200), query=lambda t: {"outlet_id": t.outlet_id, "code": t.coupon_code},
        shows=lambda t: "可以核销", sees=IN_SCOPE),
    ("POST", "/staff/till/outlet"): Page(expect=_all(303),
                                         form=lambda t: {"outlet_id": str(t.outlet_id)}),
    ("POST", "/staff/till/redeem"): Page(
        expect=_all(303), form=lambda t: {"code": t.coupon_code, "outlet_id": str(t.outlet_id)}),
    ("GET", "/staff/accounts"): Page(
        expect={**ACCOUNTS, "manager_out": 200},
        shows=lambda t: f'href="/staff/accounts/{t.staff_id}"',
        sees=frozenset({"admin", "manager_in"})),
    ("POST", "/staff/accounts"): Page(
        expect={**ACCOUNTS, "admin": 303, "manager_in": 303, "manager_out": 422},
        form=lambda t: {"name": "新店员", "role": "staff", "outlets": [t.outlet_code]}),
    ("GET", "/staff/accounts/{staff_id}"): Page(expect=ACCOUNTS),
    ("POST", "/staff/accounts/{staff_id}/active"): Page(
        expect={**ACCOUNTS, "admin": 303, "manager_in": 303},
        form=lambda t: {"version": "1", "active": "0"}),
    ("POST", "/staff/accounts/{staff_id}/login-link"): Page(expect=ACCOUNTS, form=lambda t: {}),
    ("GET", "/staff/regions"): Page(
        expect={**REGIONS_READ, "manager_out": 200}, shows=lambda t: 'id="region-A"',
        sees=frozenset({"admin", "manager_in"})),
    ("POST", "/staff/regions"): Page(
        expect=_admin_only(303), form=lambda t: {"code": f"R{next(_n)}", "name": "新区"}),
    ("POST", "/staff/regions/{region_id}/active"): Page(
        expect=_admin_only(303), form=lambda t: {"version": "1", "active": "0"}),
    ("POST", "/staff/regions/{region_id}/assign-outlets"): Page(
        expect=_admin_only(303), form=lambda t: {}),
}


CONSOLE_ROUTES = mounted_routes("/staff")
CONSOLE_GUARDED = [r for r in CONSOLE_ROUTES if r not in CONSOLE_PUBLIC]


def test_every_console_route_has_a_spec_and_no_spec_is_stale():
    assert_specs_match(CONSOLE_GUARDED, CONSOLE_SPECS, CONSOLE_PUBLIC, CONSOLE_ROUTES)


def console_cookie(session, staff: Staff) -> tuple[dict[str, str], str]:
    """A signed-in console session for `staff`: its Cookie header and CSRF token."""
    from o2o.staff.sessions import csrf_token, start_session

    started = start_session(session, staff=staff, idle=timedelta(hours=1),
                            cap=timedelta(hours=2))
    secret = session.get(StaffSession, started.session_id).csrf_secret
    session.commit()
    return {"Cookie": f"o2o_staff={started.sid}"}, csrf_token(secret)


def console_call(client, method, path, page, target, headers, csrf):
    kwargs: dict[str, Any] = {"headers": headers, "params": page.query(target),
                              "follow_redirects": False}
    if method == "POST":
        kwargs["data"] = {**(page.form(target) if page.form else {}),
                          **({"csrf": csrf} if csrf else {})}
    return client.request(method, target.path(path), **kwargs)


@pytest.mark.parametrize(("method", "path"), CONSOLE_GUARDED,
                         ids=[f"{m} {p}" for m, p in CONSOLE_GUARDED])
def test_console_without_a_session_sends_to_sign_in(client, session, people, method, path):
    target = fresh_target(session, people)
    page = CONSOLE_SPECS.get((method, path), Page(expect={}))
    for headers in ({}, {"Cookie": "o2o_staff=o2s_forged"}):
        response = console_call(client, method, path, page, target, headers, "x")
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/staff/signin")


@pytest.mark.parametrize(("method", "path"), CONSOLE_GUARDED,
                         ids=[f"{m} {p}" for m, p in CONSOLE_GUARDED])
def test_console_role_and_scope_matrix(client, session, people, method, path):
    page = CONSOLE_SPECS.get((method, path))
    assert page is not None, f"{method} {path} has no console spec"
    assert set(page.expect) == set(ROLES)
    failures = []
    for role in ROLES:
        target = fresh_target(session, people)
        staff = session.get(Staff, people["staff"][role].id)
        headers, csrf = console_cookie(session, staff)
        if method == "POST":  # no token: refused, whatever the role and scope
            refused = console_call(client, method, path, page, target, headers, None)
            if refused.status_code != 403:
                failures.append(f"{role}: POST without CSRF token got {refused.status_code}")
        response = console_call(client, method, path, page, target, headers, csrf)
        if response.status_code != page.expect[role]:
            failures.append(f"{role}: {response.status_code} != {page.expect[role]} "
                            f"{response.text[:300]}")
            continue
        if page.shows and response.status_code == 200:
            shown = page.shows(target) in response.text
            if shown != (role in page.sees):
                failures.append(f"{role}: target {'shown' if shown else 'hidden'} on the page")
    assert not failures, "\n".join(failures)
