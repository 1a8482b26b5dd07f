"""Promotions indexed by scope and schedule (o2o.catalog.offers): the same offers, in the same
order, as scanning every promotion; loaded without a query per promotion; patched per id."""

from __future__ import annotations

import random
import time as clock
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from o2o.catalog import offers as offers_module
from o2o.catalog import runtime
from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet, Promotion
from o2o.catalog.offers import Offers, rank
from o2o.catalog.runtime import Catalog
from o2o.catalog.schedule import Schedule
from o2o.catalog.views import OutletView, PromotionView
from tests.factories import make_outlet, make_promotion, make_region

BASE = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # a Monday, 12:00 in Shanghai
ZONES = [None, "Asia/Shanghai", "Asia/Urumqi", "America/New_York", "Pacific/Kiritimati"]
REGIONS = [1, 2, 3, 4]
OUTLETS = 40


def outlet(oid: int, region_id: int | None, tz: str) -> OutletView:
    return OutletView(
        id=oid, code=f"S{oid}", name="店", address="", city="", district="", phone="",
        lat=31.0, lng=121.0, timezone=tz, region_id=region_id, region_code=None,
        region_name=None, status="open", reopen_on=None, tags=frozenset(), image_url="",
        geofence_radius_m=150, geofence_wkt=None, hours=None)


def random_schedule(rng: random.Random) -> Schedule:
    start = BASE + timedelta(hours=rng.randint(-24 * 20, 24 * 20))
    valid_from = start if rng.random() < 0.6 else None
    valid_until = start + timedelta(hours=rng.randint(1, 24 * 30)) if rng.random() < 0.6 else None
    daily = [None, time(0, 0), time(7, 0), time(10, 30), time(22, 0), time(2, 0)]
    daily_start, daily_end = rng.choice(daily), rng.choice(daily)
    if daily_start is not None and daily_start == daily_end:
        daily_end = None
    weekdays = frozenset(rng.sample(range(1, 8), rng.randint(1, 6))) if rng.random() < 0.4 \
        else frozenset()
    return Schedule(valid_from=valid_from, valid_until=valid_until, weekdays=weekdays,
                    daily_start=daily_start, daily_end=daily_end, timezone=rng.choice(ZONES))


def random_promotion(rng: random.Random, pid: int) -> PromotionView:
    scope = rng.choice(["all", "region", "region", "outlets", "outlets", "outlets"])
    region_id = rng.choice([*REGIONS, None]) if scope == "region" else rng.choice([None, 1])
    outlet_ids = frozenset(rng.sample(range(1, OUTLETS + 1), rng.randint(0, 5))) \
        if scope == "outlets" else frozenset(rng.sample(range(1, OUTLETS + 1), rng.randint(0, 1)))
    return PromotionView(
        id=pid, code=f"P{pid}", title=f"优惠 {pid}", description="", image_url="", link_url="",
        priority=rng.choice([0, 0, 1, 5, -2]), scope=scope, region_id=region_id,
        outlet_ids=outlet_ids, schedule=random_schedule(rng), coupon_enabled=False,
        coupon_total=None, coupon_per_customer=1, coupon_valid_days=7)


def brute(views: list[PromotionView], where: OutletView, at: datetime) -> list[PromotionView]:
    """What the catalog did before the index: scan every promotion, best first."""
    return [p for p in sorted(views, key=rank)
            if p.applies_to(where) and p.is_active(at, where.timezone)]


def random_times(rng: random.Random, n: int) -> list[datetime]:
    zones = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]
    return [(BASE + timedelta(minutes=rng.randint(-60 * 24 * 30, 60 * 24 * 40)))
            .astimezone(rng.choice(zones)) for _ in range(n)]


def assert_exact(offers: Offers, views: list[PromotionView], rng: random.Random,
                 queries: int = 400) -> int:
    outlets = [outlet(i, rng.choice([*REGIONS, None]), rng.choice(ZONES[1:]))
               for i in range(1, OUTLETS + 5)]
    assert offers.all() == tuple(sorted(views, key=rank))
    found = 0
    for at in random_times(rng, queries):
        where = rng.choice(outlets)
        expected = brute(views, where, at)
        assert offers.for_outlet(where, at) == expected, (where.id, at)
        found += len(expected)
    return found


@pytest.mark.parametrize("seed", range(6))
def test_same_offers_in_the_same_order_as_scanning_everything(seed: int) -> None:
    rng = random.Random(seed)
    views = [random_promotion(rng, pid) for pid in rng.sample(range(1, 10_000), 300)]
    cut = BASE + timedelta(days=rng.randint(-5, 5))
    for offers in (Offers(views), Offers(views, cut=cut), Offers(views).pruned(cut)):
        assert len(offers) == len(views)
        assert all(offers.get(v.id) is v for v in views)
        assert offers.get(10_001) is None
        assert assert_exact(offers, views, rng) > 100  # the queries do find offers


@pytest.mark.parametrize("seed", range(4))
def test_patched_and_pruned_indexes_stay_exact(seed: int) -> None:
    rng = random.Random(100 + seed)
    views = {pid: random_promotion(rng, pid) for pid in range(1, 201)}
    offers = Offers(views.values(), cut=BASE - timedelta(days=10))
    for step in range(30):
        fresh: dict[int, PromotionView | None] = {}
        for pid in rng.sample(range(1, 260), rng.randint(1, 8)):
            fresh[pid] = None if rng.random() < 0.3 else random_promotion(rng, pid)
        cut = BASE + timedelta(days=step - 10) if step % 3 == 0 else None
        offers = offers.patched(fresh, cut=cut)
        for pid, view in fresh.items():
            if view is None:
                views.pop(pid, None)
            else:
                views[pid] = view
        if step % 7 == 0:
            offers = offers.pruned(BASE + timedelta(days=step - 8))
        assert_exact(offers, list(views.values()), rng, queries=60)
        ends = [e for v in views.values() if (e := v.schedule.valid_until) is not None
                and (offers.cut is None or e > offers.cut)]
        assert offers.next_expiry is None or offers.next_expiry <= min(ends)


def test_ended_promotions_leave_the_lists_but_not_the_catalog() -> None:
    rng = random.Random(7)
    ended = replace(random_promotion(rng, 1), scope="all", schedule=Schedule(valid_until=BASE))
    offers = Offers([ended], cut=BASE + timedelta(hours=1))
    where = outlet(1, None, "Asia/Shanghai")
    assert offers.get(1) is ended and offers.all() == (ended,)
    assert offers.for_outlet(where, BASE + timedelta(hours=2)) == []
    assert offers.for_outlet(where, BASE - timedelta(minutes=1)) == [ended]  # before the cut
    with pytest.raises(ValueError, match="aware"):  # as before: a naive instant is refused
        offers.for_outlet(where, BASE.replace(tzinfo=None))


# ---- with the database ---------------------------------------------------------------------
def statements(engine: sa.Engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _c, _cur, sql, *_a: seen.append(sql.lower()))
    return seen


def chain_with_promotions(s, n: int) -> list[Outlet]:  # type: ignore[no-untyped-def]
    regions = [make_region(s, code=f"R{i}") for i in range(3)]
    outlets = [make_outlet(s, code=f"O{i}", region=regions[i % 3], lat=31 + i / 1000)
               for i in range(12)]
    for i in range(n):
        kind = i % 3
        make_promotion(
            s, code=f"N{i}", priority=i % 4,
            scope=("all", "region", "outlets")[kind],
            region_id=regions[i % 3].id if kind == 1 else None,
            outlets=[outlets[i % 12], outlets[(i + 5) % 12]] if kind == 2 else None)
    return outlets


def test_a_load_reads_promotions_in_two_queries_however_many_there_are(sessions, engine) -> None:
    with sessions.begin() as s:
        outlets = chain_with_promotions(s, 200)
        ids = [o.id for o in outlets]
    seen = statements(engine)
    cat = Catalog(sessions)
    cat.load()
    promotion_queries = [q for q in seen if "from promotion" in q or "join promotion" in q]
    assert len(promotion_queries) == 2, promotion_queries  # rows, then the outlet links
    assert len(cat.promotions()) == 200
    with sessions() as s:  # the same views the ORM gives, link by link
        for row in s.scalars(sa.select(Promotion)):
            assert cat.promotion(row.id).outlet_ids == {o.id for o in row.outlets}
    for oid in ids:
        view = cat.outlet(oid)
        assert cat.promotions_for(view, BASE) == cat._offers.scan(view, BASE)
        assert len(cat.promotions_for(view, BASE)) > 60


def test_refresh_rereads_only_changed_promotions_and_drafts_never_show(
        sessions, monkeypatch) -> None:
    with sessions.begin() as s:
        outlets = chain_with_promotions(s, 30)
        draft = make_promotion(s, code="DRAFT", status="draft", priority=99)
        first = s.scalar(sa.select(Promotion).where(Promotion.code == "N2"))
        first_id, draft_id, where = first.id, draft.id, outlets[0].id
    cat = Catalog(sessions)
    cat.load()
    assert cat.promotion(draft_id) is None
    asked: list[object] = []
    real = runtime.read_promotions
    monkeypatch.setattr(runtime, "read_promotions",
                        lambda session, servable, ids=None: asked.append(ids)
                        or real(session, servable, ids))
    with sessions.begin() as s:
        s.get(Promotion, first_id).scope = "all"  # from two outlets' lists to the chain's
        s.get(Promotion, first_id).priority = 50
        record_change(s, "promotion", first_id)
        s.get(Promotion, draft_id).title = "still a draft"
        record_change(s, "promotion", draft_id)
        new = make_promotion(s, code="NEW", priority=50, outlets=[s.get(Outlet, where)])
    assert cat.refresh() == 3
    assert asked == [{first_id, draft_id, new.id}]
    assert cat.promotion(draft_id) is None
    fresh = Catalog(sessions)
    fresh.load()
    assert cat.promotions() == fresh.promotions()
    for view in cat.outlets():
        got = cat.promotions_for(view, BASE)
        assert got == fresh.promotions_for(view, BASE)
        assert draft_id not in {p.id for p in got}
    assert [p.code for p in cat.promotions_for(cat.outlet(where), BASE)][:2] == ["NEW", "N2"]
    with sessions.begin() as s:  # published, then back out of sight
        s.get(Promotion, new.id).status = "archived"
        record_change(s, "promotion", new.id)
    cat.refresh()
    assert cat.promotion(new.id) is None
    assert "NEW" not in {p.code for p in cat.promotions_for(cat.outlet(where), BASE)}


def test_an_outlet_change_leaves_promotions_alone(sessions, engine) -> None:
    with sessions.begin() as s:
        outlets = chain_with_promotions(s, 12)
        other = make_region(s, code="MOVED")
        moved = outlets[0].id
    cat = Catalog(sessions)
    cat.load()
    before = cat.promotions()
    seen = statements(engine)
    with sessions.begin() as s:
        s.get(Outlet, moved).region_id = other.id  # its region's offers follow it at once
        record_change(s, "outlet", moved)
    del seen[:]
    assert cat.refresh() == 1
    assert not [q for q in seen if "promotion" in q]
    assert cat.promotions() is before
    view = cat.outlet(moved)
    assert view.region_id == other.id
    assert cat.promotions_for(view, BASE) == cat._offers.scan(view, BASE)
    assert all(p.scope != "region" for p in cat.promotions_for(view, BASE))


def test_a_snapshot_start_serves_the_same_offers(sessions, tmp_path) -> None:
    with sessions.begin() as s:
        chain_with_promotions(s, 24)
    saved = Catalog(sessions, snapshot=tmp_path / "catalog.columns")
    saved.load()
    restored = Catalog(sessions, snapshot=tmp_path / "catalog.columns")
    assert restored.load_snapshot()
    assert restored.promotions() == saved.promotions()
    for view in saved.outlets():
        assert restored.promotions_for(view, BASE) == saved.promotions_for(view, BASE)


def test_many_changed_promotions_reload_them_all(sessions, monkeypatch) -> None:
    with sessions.begin() as s:
        chain_with_promotions(s, 9)
    cat = Catalog(sessions)
    cat.load()
    monkeypatch.setattr(runtime, "PATCH_MAX", 1)
    with sessions.begin() as s:
        for row in s.scalars(sa.select(Promotion).where(Promotion.scope == "region")):
            row.status = "archived"
            record_change(s, "promotion", row.id)
    assert cat.refresh() == 3
    assert [p.scope for p in cat.promotions()].count("region") == 0
    assert all(p.scope != "region" for v in cat.outlets() for p in cat.promotions_for(v, BASE))


def test_the_sync_thread_prunes_promotions_as_they_end(sessions, monkeypatch) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    with sessions.begin() as s:
        where = make_outlet(s, code="A").id
        ending = make_promotion(s, code="ENDING", valid_until=soon).id
        make_promotion(s, code="STAYS")
    monkeypatch.setattr(offers_module, "PRUNE_LAG", timedelta(0))
    monkeypatch.setattr(runtime, "PRUNE_EVERY_S", 0.0)
    cat = Catalog(sessions)
    cat.load()
    loaded = cat._offers
    cat._prune_offers()
    assert cat._offers is loaded  # nothing has ended yet
    time_left = (soon - datetime.now(UTC)).total_seconds()
    clock.sleep(max(0.0, time_left) + 0.01)
    cat._prune_offers()
    assert cat._offers is not loaded and cat._offers.cut >= soon
    view = cat.outlet(where)
    now = datetime.now(UTC)
    assert [p.code for p in cat.promotions_for(view, now)] == ["STAYS"]
    assert [p.code for p in cat.promotions_for(view, soon - timedelta(seconds=1))] \
        == ["STAYS", "ENDING"]  # before the cut: the scan still finds it
    assert cat.promotion(ending).code == "ENDING"
