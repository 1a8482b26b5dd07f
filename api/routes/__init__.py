"""Every router the app mounts, in one list (add yours here)."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    admin_audit,
    admin_import,
    admin_me,
    admin_outlets,
    admin_promotions,
    analytics,
    console,
    coupons,
    dashboard,
    h5,
    health,
    nearby,
    redirect,
    wechat,
)

# /wechat first: the router tries routes in order and it is the busiest.
ROUTERS: list[APIRouter] = [wechat.router, health.router, nearby.router]
ROUTERS += [admin_me.router, admin_import.router, admin_outlets.router, admin_promotions.router,
            admin_audit.router]
ROUTERS += [h5.router, redirect.router, coupons.router]
ROUTERS += [analytics.router, dashboard.router]
ROUTERS += [console.router]
