"""Every router the app mounts, in one list (add yours here)."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    admin_audit,
    admin_import,
    admin_me,
    admin_outlets,
    admin_promotions,
    admin_regions,
    admin_staff,
    analytics,
    console,
    coupons,
    dashboard,
    h5,
    h5_wechat,
    health,
    nearby,
    redirect,
    wechat,
)

# /wechat first: the router tries routes in order and it is the busiest.
ROUTERS: list[APIRouter] = [wechat.router, health.router, nearby.router]
ROUTERS += [admin_me.router, admin_import.router, admin_outlets.router, admin_promotions.router,
            admin_audit.router]
ROUTERS += [admin_regions.router, admin_staff.router]
ROUTERS += [h5_wechat.page_router, h5.router, redirect.router, coupons.router]
ROUTERS += [h5_wechat.config_router]
ROUTERS += [analytics.router, dashboard.router]
ROUTERS += [console.router]
