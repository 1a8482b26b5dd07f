"""Every router the app mounts, in one list (add yours here)."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import health, nearby

ROUTERS: list[APIRouter] = [health.router, nearby.router]
