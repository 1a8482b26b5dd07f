"""A scratch chain for the WeChat benchmark: many synthetic outlets inserted in bulk, a few
promotions, and the GCJ-02 positions customers share, all from one seed.

Outlets are 70% clustered around 25 Chinese cities (as real chains are) and 30% spread
over the whole sphere; queries are near those cities, so every reply is a news card.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from o2o.catalog.models import Outlet, Promotion, PromotionScope, PromotionStatus, Region
from o2o.db.engine import make_engine, make_sessionmaker
from o2o.db.schema import point_ewkt
from o2o.geo import Datum, from_wgs84
from o2o.migrate import upgrade

CITIES = [
    ("上海", 31.23, 121.47), ("北京", 39.90, 116.40), ("广州", 23.13, 113.26),
    ("深圳", 22.54, 114.06), ("成都", 30.57, 104.07), ("重庆", 29.56, 106.55),
    ("武汉", 30.59, 114.30), ("西安", 34.34, 108.94), ("南京", 32.06, 118.80),
    ("杭州", 30.27, 120.15), ("青岛", 36.07, 120.38), ("石家庄", 38.04, 114.51),
    ("沈阳", 41.80, 123.43), ("哈尔滨", 45.80, 126.53), ("昆明", 25.04, 102.71),
    ("贵阳", 26.65, 106.63), ("长沙", 28.23, 112.94), ("厦门", 24.48, 118.09),
    ("福州", 26.07, 119.30), ("乌鲁木齐", 43.83, 87.62), ("兰州", 36.06, 103.83),
    ("南宁", 22.82, 108.32), ("海口", 20.04, 110.34), ("合肥", 31.82, 117.23),
    ("郑州", 34.75, 113.63),
]  # fmt: skip
DISTRICTS = ["中心区", "东城", "西城", "南区", "北区", "新区", "高新区", "滨江"]
HOURS = [  # a few shapes; compiled timetables are shared between equal ones
    {d: [["07:00", "22:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    {**{d: [["08:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
     "sat": [["10:00", "23:00"]], "sun": [["10:00", "23:00"]]},
]
COLUMNS = ("id", "code", "name", "address", "city", "district", "phone", "lat", "lng",
           "location", "timezone", "region_id", "status", "hours", "exceptions", "tags",
           "image_url", "geofence_radius_m", "version", "created_at", "updated_at")


def positions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS-84 lat, lng and city index (-1 = elsewhere in the world) of n outlets."""
    local = int(n * 0.7)
    city = rng.integers(0, len(CITIES), local)
    centre = np.array([(c[1], c[2]) for c in CITIES])[city]
    lat = centre[:, 0] + rng.normal(0, 0.12, local)
    lng = centre[:, 1] + rng.normal(0, 0.15, local)
    world_lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n - local)))
    world_lng = rng.uniform(-180, 180, n - local)
    return (np.concatenate([lat, world_lat]), np.concatenate([lng, world_lng]),
            np.concatenate([city, np.full(n - local, -1)]))


def query_points(n: int, seed: int = 7) -> list[tuple[float, float]]:
    """GCJ-02 (lat, lng) as WeChat reports them, scattered over the city clusters."""
    rng = np.random.default_rng(seed)
    city = rng.integers(0, len(CITIES), n)
    centre = np.array([(c[1], c[2]) for c in CITIES])[city]
    lat = centre[:, 0] + rng.normal(0, 0.08, n)
    lng = centre[:, 1] + rng.normal(0, 0.10, n)
    return [from_wgs84(a, b, Datum.GCJ02) for a, b in zip(lat.tolist(), lng.tolist(), strict=True)]


def create_database(url: str, outlets: int, *, seed: int = 1) -> dict[str, float]:
    """Migrate `url` and fill it; returns timings in seconds."""
    engine = make_engine(url)
    started = time.perf_counter()
    upgrade(engine)
    migrated = time.perf_counter()
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        regions = [Region(code=f"R{i}", name=name, timezone="Asia/Shanghai")
                   for i, (name, _, _) in enumerate(CITIES)]
        world = Region(code="WORLD", name="海外", timezone="UTC")
        session.add_all([*regions, world])
        session.flush()
        region_ids = [r.id for r in regions] + [world.id]
        _promotions(session, region_ids)
    if engine.dialect.name == "sqlite":
        _insert_outlets(engine, outlets, region_ids, seed)
    else:
        _insert_outlets_core(engine, outlets, region_ids, seed)
    engine.dispose()
    return {"migrate_s": migrated - started, "insert_s": time.perf_counter() - migrated}


def _insert_outlets(engine: sa.Engine, n: int, region_ids: list[int], seed: int) -> None:
    """Positions go into a temporary table with executemany; one INSERT ... SELECT then
    writes the outlets, text columns formatted by SQLite at C speed."""
    rng = np.random.default_rng(seed)
    lats, lngs, cities = positions(rng, n)
    names = [c[0] for c in CITIES] + ["海外"]
    regions = region_ids[: len(CITIES)] + [region_ids[-1]]
    offsets = np.where(cities >= 0, 99, -np.round(lngs / 15)).astype(int).tolist()
    # POSIX sign: Etc/GMT-8 is UTC+8.
    zones = {o: "Asia/Shanghai" if o == 99 else f"Etc/GMT{o:+d}" for o in set(offsets)}
    rows = zip(range(1, n + 1), lats.tolist(), lngs.tolist(), [names[c] for c in cities.tolist()],
               [zones[o] for o in offsets], [regions[c] for c in cities.tolist()], strict=True)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    districts = " ".join(f"WHEN {i} THEN '{d}'" for i, d in enumerate(DISTRICTS))
    hours = " ".join(f"WHEN {i} THEN '{json.dumps(h)}'" for i, h in enumerate(HOURS))
    district = f"(CASE id % {len(DISTRICTS)} {districts} END)"
    select = (
        "SELECT id, printf('BW%07d', id - 1), "
        f"'拾光茶咖·' || city || {district} || (id % 997) || '号店', "
        f"city || {district} || '示例路' || (id % 499 + 1) || '号', city, {district}, "
        "printf('021-%08d', id % 100000000), lat, lng, "
        "printf('SRID=4326;POINT(%!.17g %!.17g)', lng, lat), tz, region, "
        "CASE WHEN id % 50 THEN 'open' ELSE 'temporarily_closed' END, "
        f"CASE id % {len(HOURS)} {hours} END, '{{}}', "
        """CASE WHEN id % 10 THEN '[]' ELSE '["wifi"]' END, '', 150, 1, ?, ? FROM seed"""
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA foreign_keys=OFF")  # the region ids were just created
        cur.execute("PRAGMA cache_size=-262144")
        cur.execute("BEGIN")
        # Secondary indexes are cheaper built once at the end than kept up row by row.
        indexes = cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                              "AND tbl_name = 'outlets' AND sql IS NOT NULL").fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("CREATE TEMP TABLE seed (id INTEGER PRIMARY KEY, lat REAL, lng REAL, "
                    "city TEXT, tz TEXT, region INTEGER)")
        cur.executemany("INSERT INTO seed VALUES (?, ?, ?, ?, ?, ?)", rows)
        cur.execute(f"INSERT INTO outlets ({', '.join(COLUMNS)}) {select}", (now, now))
        cur.execute("DROP TABLE seed")
        for _, ddl in indexes:
            cur.execute(ddl)
        cur.execute("COMMIT")
        cur.close()
    finally:
        raw.close()


def _insert_outlets_core(engine: sa.Engine, n: int, region_ids: list[int], seed: int) -> None:
    """The portable path (PostGIS): the same rows through SQLAlchemy Core executemany; fine
    for the breakdown's small chain, slow for a million."""
    rng = np.random.default_rng(seed)
    lats, lngs, cities = positions(rng, n)
    now = datetime.now(UTC)
    rows = []
    for i, (lat, lng, c) in enumerate(zip(lats.tolist(), lngs.tolist(), cities.tolist(),
                                          strict=True), start=1):
        city = CITIES[c][0] if c >= 0 else "海外"
        district = DISTRICTS[i % len(DISTRICTS)]
        rows.append({
            "code": f"BW{i - 1:07d}", "name": f"拾光茶咖·{city}{district}{i % 997}号店",
            "address": f"{city}{district}示例路{i % 499 + 1}号", "city": city,
            "district": district, "phone": f"021-{i % 10**8:08d}", "lat": lat, "lng": lng,
            "location": point_ewkt(lat, lng),
            "timezone": "Asia/Shanghai" if c >= 0 else f"Etc/GMT{-round(lng / 15):+d}",
            "region_id": region_ids[c], "status": "open" if i % 50 else "temporarily_closed",
            "hours": HOURS[i % len(HOURS)], "exceptions": {},
            "tags": [] if i % 10 else ["wifi"], "image_url": "", "geofence_radius_m": 150,
            "version": 1, "created_at": now, "updated_at": now})
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(sa.insert(Outlet.__table__), rows[start:start + 5000])


def _promotions(session, region_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Six published offers of every scope and schedule kind, plus a draft and an archived one."""
    now = datetime.now(UTC)
    specs = [
        dict(code="ALL-DAY", title="第二杯半价", scope=PromotionScope.ALL, priority=1),
        dict(code="MORNING", title="早餐套餐 12 元", scope=PromotionScope.ALL, priority=5,
             daily_start="06:00", daily_end="10:30"),
        dict(code="WEEKEND", title="周末买一送一", scope=PromotionScope.ALL, priority=4,
             weekdays=[6, 7]),
        dict(code="SH-ONLY", title="上海限定 新品尝鲜", scope=PromotionScope.REGION,
             region_id=region_ids[0], priority=8),
        dict(code="BJ-ONLY", title="北京限定 会员日", scope=PromotionScope.REGION,
             region_id=region_ids[1], priority=8, weekdays=[3]),
        dict(code="SEASON", title="冬日热饮季", scope=PromotionScope.ALL, priority=2,
             valid_from=now - timedelta(days=3), valid_until=now + timedelta(days=30)),
        dict(code="DRAFT", title="未发布", scope=PromotionScope.ALL, priority=99,
             status=PromotionStatus.DRAFT),
        dict(code="OLD", title="已结束", scope=PromotionScope.ALL, priority=99,
             status=PromotionStatus.ARCHIVED),
    ]
    for spec in specs:
        spec.setdefault("status", PromotionStatus.PUBLISHED)
        session.add(Promotion(description="到店出示本页面即可享受", **spec))
