"""Write the demo chain (晨汐茶咖, a fictional tea and coffee brand) from a fixed seed.

Run `python -m stores_data.generate` to rewrite outlets.csv, regions.json and promotions.json;
`--check` compares instead of writing (the files are the generator's output, byte for byte).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

from stores_data.anchors import CITIES, REGIONS, Anchor, City

BRAND = "晨汐茶咖"
SEED = 20261122
HEADER = ("code", "name", "address", "city", "district", "phone", "lat", "lng", "timezone",
          "region", "status", "reopen_on", "tags", "hours", "exceptions", "image_url",
          "geofence_radius_m")
MIN_SPACING_M = 80  # no two outlets closer than this (looks like a real network)

# (profile, weight, compact hours, exceptions, geofence radii)
PROFILES: tuple[tuple[str, int, str, dict[str, list[list[str]]], tuple[int, ...]], ...] = (
    ("street", 30, "Mo-Fr 07:30-22:00; Sa,Su 08:30-22:30", {}, (100, 120, 150)),
    ("mall", 25, "Mo-Th 10:00-22:00; Fr-Su 10:00-22:30",
     {"2027-02-05": [["10:00", "18:00"]], "2027-02-06": []}, (150, 200)),
    ("office", 15, "Mo-Fr 07:00-19:00; Sa 09:00-17:00",
     {"2027-01-01": [], "2027-02-05": [], "2027-02-06": [], "2027-02-07": []}, (100, 150)),
    ("split", 8, "Mo-Fr 07:00-10:30,11:30-21:00; Sa,Su 09:00-21:00", {}, (100, 120)),
    ("late", 10, "Mo-Th 10:00-24:00; Fr,Sa 10:00-02:00; Su 10:00-24:00",
     {"2026-12-31": [["10:00", "03:00"]], "2027-02-05": []}, (120, 150)),
    ("always", 7, "24/7", {}, (100, 150)),
    ("campus", 5, "Mo-Fr 07:30-21:30; Sa 10:00-18:00", {"2027-02-06": []}, (200, 250)),
)
BASE_TAGS = {"street": ["外卖", "堂食", "自提"], "mall": ["堂食", "自提", "停车", "无障碍"],
             "office": ["外卖", "自提"], "split": ["外卖", "堂食"], "late": ["堂食", "外卖"],
             "always": ["24h", "外卖", "堂食"], "campus": ["堂食", "自提"]}
EXTRA_TAGS = ("停车", "无障碍", "充电", "宠物友好", "Wi-Fi")
PLACES = ("", "", "1层", "1层101室", "B1层", "L1-{n:02d}", "L2-{n:02d}", "首层")
CLOSED = {"SH": [13], "BJ": [21], "GZ": [8], "CD": [17]}
TEMPORARILY_CLOSED = {"SH": [(27, "2027-01-10")], "BJ": [(9, "2026-12-15")],
                      "HZ": [(12, "2027-03-01")], "SZ": [(5, "2027-01-20")],
                      "CD": [(4, "2026-12-31")]}


def _scatter(rng: random.Random, anchor: Anchor) -> tuple[float, float]:
    """A uniform point in the anchor's disk (small-distance approximation is plenty here)."""
    distance = anchor.radius_m * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / 111_320
    dlng = distance * math.sin(bearing) / (111_320 * math.cos(math.radians(anchor.lat)))
    return round(anchor.lat + dlat, 6), round(anchor.lng + dlng, 6)


def _far_enough(point: tuple[float, float], taken: list[tuple[float, float]]) -> bool:
    lat, lng = point
    for other_lat, other_lng in taken:
        dy = (lat - other_lat) * 111_320
        dx = (lng - other_lng) * 111_320 * math.cos(math.radians(lat))
        if math.hypot(dx, dy) < MIN_SPACING_M:
            return False
    return True


def _phone(rng: random.Random, city: City) -> str:
    # Chinese local numbers never start with 0: plausible to the eye, impossible to dial.
    digits = "0" + "".join(rng.choice("0123456789") for _ in range(7))
    return f"{city.area_code}-{digits[:4]} {digits[4:]}"


def _outlet(rng: random.Random, city: City, n: int, anchor: Anchor, point: tuple[float, float],
            names: set[str]) -> dict[str, Any]:
    profile, _w, hours, exceptions, radii = rng.choices(PROFILES, [p[1] for p in PROFILES])[0]
    road = rng.choice(anchor.roads)
    name = f"{BRAND}（{road}店）"
    for ordinal in "二三四五六七八九":
        if name not in names:
            break
        name = f"{BRAND}（{road}{ordinal}店）"
    names.add(name)
    place = rng.choice(PLACES).format(n=rng.randint(1, 40))
    tags = set(BASE_TAGS[profile])
    if rng.random() < 0.35:
        tags.add(rng.choice(EXTRA_TAGS))
    status, reopen_on = "open", ""
    if n in CLOSED.get(city.key, []):
        status = "closed"
    for number, day in TEMPORARILY_CLOSED.get(city.key, []):
        if n == number:
            status, reopen_on = "temporarily_closed", day
    return {
        "code": f"CX-{city.key}-{n:03d}", "name": name,
        "address": f"{city.name}市{anchor.district}{road}{rng.randint(1, 899)}号{place}",
        "city": city.name, "district": anchor.district, "phone": _phone(rng, city),
        "lat": f"{point[0]:.6f}", "lng": f"{point[1]:.6f}", "timezone": "Asia/Shanghai",
        "region": city.region, "status": status, "reopen_on": reopen_on,
        "tags": ";".join(sorted(tags)), "hours": hours,
        "exceptions": json.dumps(exceptions, ensure_ascii=False, separators=(",", ":"))
        if exceptions else "",
        "image_url": "", "geofence_radius_m": str(rng.choice(radii)),
    }


def outlets(rng: random.Random) -> list[dict[str, Any]]:
    """Every city's outlets, spread round-robin over its anchors, at least 80 m apart."""
    rows: list[dict[str, Any]] = []
    taken: list[tuple[float, float]] = []
    names: set[str] = set()
    for city in CITIES:
        for n in range(1, city.outlets + 1):
            anchor = city.anchors[(n - 1) % len(city.anchors)]
            point = _scatter(rng, anchor)
            while not _far_enough(point, taken):
                point = _scatter(rng, anchor)
            taken.append(point)
            rows.append(_outlet(rng, city, n, anchor, point, names))
    return rows


def outlets_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _promo(code: str, title: str, description: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": code, "title": title, "description": description, "image_url": "",
        "link_url": "", "priority": 10, "status": "published", "scope": "all",
        "region": None, "outlets": [], "valid_from": "2025-01-01T00:00:00+08:00",
        "valid_until": "2030-12-31T23:59:59+08:00", "weekdays": [], "daily_start": None,
        "daily_end": None, "timezone": None, "coupon_enabled": False, "coupon_total": None,
        "coupon_per_customer": 1, "coupon_valid_days": 7,
    }
    base.update(kw)
    return base


def promotions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Schedules a demo should show: mornings, weekends, overnight, regional, past, future."""
    flagships = [r["code"] for r in rows if r["code"].endswith("-001")]
    offices = [r["code"] for r in rows if r["hours"].startswith("Mo-Fr 07:00-19:00")
               and r["status"] == "open"][:8]
    return [
        _promo("weekday-breakfast", "早餐套餐 12 元", "工作日早 7–10 点，任意咖啡配可颂 12 元",
               priority=20, weekdays=[1, 2, 3, 4, 5], daily_start="07:00", daily_end="10:00",
               coupon_enabled=True, coupon_total=5000, coupon_valid_days=3),
        _promo("weekend-afternoon-tea", "周末下午茶 第二杯半价", "周六日 14–17 点，同款第二杯半价",
               priority=15, weekdays=[6, 7], daily_start="14:00", daily_end="17:00"),
        _promo("new-customer", "新客首单立减 5 元", "首次到店出示券码，满 20 元减 5 元",
               priority=5, coupon_enabled=True, coupon_per_customer=1, coupon_valid_days=14),
        _promo("east-osmanthus-oolong", "华东限定 桂花乌龙", "江浙沪限定新品，全天供应",
               scope="region", region="EC", priority=12),
        _promo("south-lychee-ice", "华南限定 荔枝冰茶", "每日 11–20 点供应，售完即止",
               scope="region", region="SC", priority=12, daily_start="11:00", daily_end="20:00"),
        _promo("north-winter-cocoa", "华北冬日 热可可买一送一", "每日 15 点后，热可可买一送一",
               scope="region", region="NC", priority=12, daily_start="15:00",
               coupon_enabled=True, coupon_total=2000, coupon_per_customer=2,
               coupon_valid_days=5),
        _promo("southwest-night-owl", "夜猫子 22 点后 8 折", "成都夜宵时段，全场饮品 8 折",
               scope="region", region="SW", priority=8, daily_start="22:00", daily_end="02:00",
               timezone="Asia/Shanghai"),
        _promo("flagship-pour-over", "旗舰店限定 手冲单品 9 折", "各城市一号店，手冲单品 9 折",
               scope="outlets", outlets=flagships, priority=18, coupon_enabled=True,
               coupon_total=300, coupon_per_customer=1, coupon_valid_days=7),
        _promo("office-lunch", "工作日午间 拿铁 15 元", "写字楼门店，工作日 11:30–13:30",
               scope="outlets", outlets=offices, priority=16, weekdays=[1, 2, 3, 4, 5],
               daily_start="11:30", daily_end="13:30"),
        _promo("mid-autumn-2026", "中秋 桂花月饼礼盒", "已结束：2026 年中秋礼盒预订",
               valid_from="2026-09-15T00:00:00+08:00", valid_until="2026-10-08T23:59:59+08:00",
               priority=30, coupon_enabled=True, coupon_total=1000),
        _promo("spring-festival-2027", "新春 团圆茶礼", "2027 年春节限定，预订即赠红包杯套",
               valid_from="2027-01-25T00:00:00+08:00", valid_until="2027-02-20T23:59:59+08:00",
               priority=30),
        _promo("summer-cold-brew-draft", "夏日冷萃 草稿", "草稿：尚未发布",
               status="draft", valid_from="2027-06-01T00:00:00+08:00",
               valid_until="2027-08-31T23:59:59+08:00", daily_start="12:00", daily_end="18:00"),
    ]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def render() -> dict[str, str]:
    """File name → content, all from the one seed."""
    rows = outlets(random.Random(SEED))
    regions = [dict(r) for r in REGIONS]
    return {"outlets.csv": outlets_csv(rows), "regions.json": _json(regions),
            "promotions.json": _json(promotions(rows))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for name, content in render().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != content:
                stale.append(name)
        else:
            path.write_text(content, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python -m stores_data.generate)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
