"""The promotion form: its fields as the admin schemas take them, and a promotion as the form
shows it. Times in the form are wall-clock times in the promotion's zone (the outlets' own
when it has none, Asia/Shanghai by default), as a store manager thinks of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from api.routes.console.forms import text, texts
from o2o.catalog.models import Promotion
from o2o.wechat.replies import DESCRIPTION_MAX_BYTES, TITLE_MAX_BYTES

DEFAULT_ZONE = "Asia/Shanghai"
WEEKDAYS = [(1, "一"), (2, "二"), (3, "三"), (4, "四"), (5, "五"), (6, "六"), (7, "日")]
SCOPE_TEXT = {"outlets": "指定门店", "region": "整个区域", "all": "全部门店"}
STATUS_TEXT = {"draft": "草稿", "published": "已发布", "archived": "已归档"}
LABELS = {"code": "编号", "title": "标题", "description": "描述", "image_url": "封面图片",
          "link_url": "链接", "valid_from": "开始时间", "valid_until": "结束时间",
          "weekdays": "每周哪几天", "daily_start": "每天开始", "daily_end": "每天结束",
          "priority": "优先级", "scope": "适用范围", "region": "区域", "outlets": "门店",
          "coupon_enabled": "可领券", "coupon_total": "券总数", "coupon_per_customer": "每人限领",
          "coupon_valid_days": "领取后有效天数", "status": "状态", "schedule": "时间安排"}
LIMITS = {"title": TITLE_MAX_BYTES, "description": DESCRIPTION_MAX_BYTES}


def _aware(value: str, zone: str) -> str | None:
    """A datetime-local value as ISO with the zone's offset; unreadable text is passed on for
    the schema to refuse in its own words."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone)).isoformat()
    except ValueError:
        return value


def fields_from_form(form: FormData, *, zone: str = DEFAULT_ZONE) -> dict[str, Any]:
    """PromotionCreate/PromotionUpdate fields from the posted form (code included)."""
    outlets = texts(form, "outlets") + [c.strip() for c in text(form, "outlet_codes")
                                        .replace("，", ",").split(",") if c.strip()]
    total = text(form, "coupon_total")
    return {
        "code": text(form, "code"), "title": text(form, "title"),
        "description": text(form, "description"), "image_url": text(form, "image_url"),
        "link_url": text(form, "link_url"),
        "valid_from": _aware(text(form, "valid_from"), zone),
        "valid_until": _aware(text(form, "valid_until"), zone),
        "weekdays": texts(form, "weekdays"),
        "daily_start": text(form, "daily_start") or None,
        "daily_end": text(form, "daily_end") or None,
        "priority": text(form, "priority") or "0",
        "scope": text(form, "scope"), "region": text(form, "region") or None,
        "outlets": list(dict.fromkeys(outlets)),
        "coupon_enabled": text(form, "coupon_enabled") == "1",
        "coupon_total": total or None,
        "coupon_per_customer": text(form, "coupon_per_customer") or "1",
        "coupon_valid_days": text(form, "coupon_valid_days") or "7",
    }


def _local(value: datetime | None, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M") if value else ""


def form_values(row: Promotion | None, *, copy: bool = False) -> dict[str, Any]:
    """What the form shows for a promotion (a new one: sensible blanks; a copy: all but the
    code)."""
    if row is None:
        return {"code": "", "title": "", "description": "", "image_url": "", "link_url": "",
                "valid_from": "", "valid_until": "", "weekdays": [], "daily_start": "",
                "daily_end": "", "priority": "0", "scope": "outlets", "region": "",
                "outlets": [], "outlet_codes": "", "coupon_enabled": False,
                "coupon_total": "", "coupon_per_customer": "1", "coupon_valid_days": "7"}
    zone = row.timezone or DEFAULT_ZONE
    outlets = sorted(o.code for o in row.outlets if o.deleted_at is None)
    return {"code": f"{row.code}-copy" if copy else row.code, "title": row.title,
            "description": row.description, "image_url": row.image_url,
            "link_url": row.link_url, "valid_from": _local(row.valid_from, zone),
            "valid_until": _local(row.valid_until, zone),
            "weekdays": [str(d) for d in row.weekdays or []],
            "daily_start": row.daily_start or "", "daily_end": row.daily_end or "",
            "priority": str(row.priority), "scope": str(row.scope),
            "region": row.region.code if row.region else "", "outlets": outlets,
            "outlet_codes": ", ".join(outlets), "coupon_enabled": row.coupon_enabled,
            "coupon_total": "" if row.coupon_total is None else str(row.coupon_total),
            "coupon_per_customer": str(row.coupon_per_customer),
            "coupon_valid_days": str(row.coupon_valid_days)}


def values_from_form(form: FormData) -> dict[str, Any]:
    """The form as the user filled it, to show again after a refusal."""
    values = {k: text(form, k) for k in form_values(None) if k not in ("weekdays", "outlets")}
    values.update(weekdays=texts(form, "weekdays"), outlets=texts(form, "outlets"),
                  coupon_enabled=text(form, "coupon_enabled") == "1")
    return values


def summary(values: dict[str, Any]) -> dict[str, str]:
    """One line per field, for the side-by-side "changed meanwhile" page."""
    out = {}
    for key, value in values.items():
        if key in ("outlet_codes",):
            continue
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, bool):
            value = "是" if value else "否"
        out[key] = str(value)
    return out


def schedule_text(row: Promotion) -> str:
    """The schedule in words: window, weekdays, daily hours."""
    zone = row.timezone or DEFAULT_ZONE
    parts = []
    if row.valid_from or row.valid_until:
        parts.append(f"{_local(row.valid_from, zone).replace('T', ' ') or '现在'} 至 "
                     f"{_local(row.valid_until, zone).replace('T', ' ') or '长期'}")
    if row.weekdays:
        parts.append("每周" + "、".join(dict(WEEKDAYS)[d] for d in row.weekdays))
    if row.daily_start or row.daily_end:
        parts.append(f"每天 {row.daily_start or '00:00'}–{row.daily_end or '24:00'}")
    return "；".join(parts) or "一直有效"
