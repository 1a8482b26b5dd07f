"""Promotions in the console: create, copy, schedule, reach limited to the caller's, the exact
chat card, publish and archive; all through the admin promotion services."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.models import Promotion
from o2o.staff.models import Role
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_console import sign_in
from tests.factories_staff import make_staff

NEAR = {"lat": 31.2304, "lng": 121.4737, "crs": "wgs84", "k": 5}


@pytest.fixture
def shop(services):  # type: ignore[no-untyped-def]
    with services.sessions.begin() as s:
        east = make_region(s, code="EAST", name="华东")
        mine = make_outlet(s, code="MINE", region=east, name="人民广场店")
        theirs = make_outlet(s, code="THEIRS", region=east, lat=31.24)
        clerk = make_staff(s, Role.STAFF, outlets=[mine])
        manager = make_staff(s, Role.MANAGER, regions=[east])
        other = make_promotion(s, outlets=[theirs], code="OTHERS", title="别家的优惠")
        chain = make_promotion(s, code="CHAIN", title="全场通用")
        ids = {"mine": mine.id, "clerk": clerk.id, "manager": manager.id,
               "others": other.id, "chain": chain.id}
    services.catalog.load()
    return ids


def _form(csrf: str, **kw: object) -> dict[str, object]:
    data: dict[str, object] = {"csrf": csrf, "code": "LATTE2", "title": "第二杯半价",
                               "description": "工作日下午，拿铁第二杯半价", "scope": "outlets",
                               "outlets": ["MINE"], "weekdays": ["1", "2", "3", "4", "5"],
                               "daily_start": "14:00", "daily_end": "17:00",
                               "valid_from": "2026-01-01T00:00", "valid_until": "",
                               "coupon_per_customer": "1", "coupon_valid_days": "7"}
    data.update(kw)
    return data


def _promotion(services, code):  # type: ignore[no-untyped-def]
    with services.sessions() as s:
        return s.scalar(sa.select(Promotion).where(Promotion.code == code))


def test_create_a_scheduled_draft_and_publish_it(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    page = client.get("/staff/promotions/new")
    assert page.status_code == 200 and 'data-max-bytes="128"' in page.text
    r = client.post("/staff/promotions", data=_form(csrf), follow_redirects=False)
    assert r.status_code == 303, r.text
    row = _promotion(services, "LATTE2")
    assert (row.status, row.weekdays, row.daily_start, row.daily_end) == (
        "draft", [1, 2, 3, 4, 5], "14:00", "17:00")
    assert row.valid_from.isoformat() == "2025-12-31T16:00:00+00:00"  # 00:00 in Shanghai
    detail = client.get(r.headers["location"])
    assert "微信里顾客看到的卡片" in detail.text and "第二杯半价" in detail.text
    assert "draft" in detail.text  # why customers do not see it yet
    r = client.post(f"/staff/promotions/{row.id}/status", data={
        "csrf": csrf, "version": str(row.version), "status": "published"},
        follow_redirects=False)
    assert r.status_code == 303
    assert _promotion(services, "LATTE2").status == "published"
    with services.sessions() as s:
        vias = s.scalars(sa.select(AuditEntry.via).where(
            AuditEntry.entity_type == "promotion", AuditEntry.entity_id == row.id)).all()
        assert vias == ["console", "console"]


def test_the_preview_is_the_card_wechat_sends(client, services, shop) -> None:
    from o2o.catalog.admin_preview import preview_promotion
    from o2o.staff.models import Staff
    from o2o.staff.tokens import principal_for

    sign_in(client, services, shop["clerk"])
    page = client.get(f"/staff/promotions/{shop['chain']}")
    with services.sessions() as s:
        me = principal_for(s.get(Staff, shop["clerk"]))
        card = preview_promotion(s, principal=me, promotion_id=shop["chain"],
                                 outlet_code="MINE", settings=services.settings,
                                 catalog=services.catalog)
    shown = re.search(r'<div class="t">(.*?)</div>', page.text).group(1)
    assert shown == card.title and "全场通用" in card.description + card.title


def test_titles_are_measured_in_utf8_bytes_and_refused_with_the_api_message(
        client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    long_title = "半" * 43  # 129 bytes: one over WeChat's 128
    r = client.post("/staff/promotions", data=_form(csrf, title=long_title))
    assert r.status_code == 422
    assert "at most 128 bytes in UTF-8 as WeChat counts them" in r.text and "this is 129" in r.text
    assert "129 / 128 字节" in r.text  # the counter, server side, before any script
    assert long_title in r.text  # what they typed is kept
    assert _promotion(services, "LATTE2") is None


def test_staff_reach_only_their_outlets(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    page = client.get("/staff/promotions/new")
    assert 'value="region"' not in page.text and 'value="THEIRS"' not in page.text
    for extra in ({"outlets": ["THEIRS"]}, {"scope": "region", "region": "EAST", "outlets": []},
                  {"scope": "all", "outlets": []}):
        r = client.post("/staff/promotions", data=_form(csrf, **extra))
        assert r.status_code in (403, 422)
    assert _promotion(services, "LATTE2") is None


def test_another_stores_promotion_is_not_found_and_nothing_is_written(
        client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    assert client.get(f"/staff/promotions/{shop['others']}").status_code == 404
    r = client.post(f"/staff/promotions/{shop['others']}/status", data={
        "csrf": csrf, "version": "1", "status": "archived"})
    assert r.status_code == 404
    r = client.post(f"/staff/promotions/{shop['others']}", data=_form(csrf, version="1"))
    assert r.status_code == 404
    row = _promotion(services, "OTHERS")
    assert (row.status, row.version, row.title) == ("published", 1, "别家的优惠")


def test_a_chain_wide_promotion_is_read_only_for_staff(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["clerk"])
    page = client.get(f"/staff/promotions/{shop['chain']}")
    assert page.status_code == 200 and "保存修改" not in page.text
    r = client.post(f"/staff/promotions/{shop['chain']}/status", data={
        "csrf": csrf, "version": "1", "status": "archived"})
    assert r.status_code == 403 and _promotion(services, "CHAIN").status == "published"


def test_list_by_status_and_copy(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["manager"])
    assert "全场通用" in client.get("/staff/promotions?status=published").text
    assert "全场通用" not in client.get("/staff/promotions?status=draft").text
    copy = client.get(f"/staff/promotions/new?copy={shop['others']}")
    assert 'value="OTHERS-copy"' in copy.text and "别家的优惠" in copy.text
    r = client.post("/staff/promotions", data=_form(csrf, code="OTHERS-copy", scope="region",
                                                     region="EAST", outlets=[]),
                    follow_redirects=False)
    assert r.status_code == 303
    assert _promotion(services, "OTHERS-copy").scope == "region"


def test_a_stale_edit_shows_both_versions_and_writes_nothing(client, services, shop) -> None:
    csrf = sign_in(client, services, shop["manager"])
    with services.sessions.begin() as s:
        s.get(Promotion, shop["others"]).title = "别人刚改的标题"
    r = client.post(f"/staff/promotions/{shop['others']}",
                    data=_form(csrf, version="1", title="我的标题", outlets=["THEIRS"]))
    assert r.status_code == 409 and "我的标题" in r.text and "别人刚改的标题" in r.text
    assert _promotion(services, "OTHERS").title == "别人刚改的标题"
    r = client.post(f"/staff/promotions/{shop['others']}/status", data={
        "csrf": csrf, "version": "1", "status": "archived"})
    assert r.status_code == 409 and _promotion(services, "OTHERS").status == "published"
