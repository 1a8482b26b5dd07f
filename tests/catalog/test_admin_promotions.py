"""Promotion admin services: reach within scope, WeChat byte limits, lifecycle, versions, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.admin_common import PreconditionRequired
from o2o.catalog.admin_promotions import (
    InvalidTransition,
    create_promotion,
    delete_promotion,
    get_promotion,
    list_promotions,
    set_promotion_status,
    update_promotion,
)
from o2o.catalog.changes import latest_seq
from o2o.catalog.models import Promotion, PromotionStatus
from o2o.catalog.runtime import Catalog
from o2o.catalog.schemas import PromotionCreate, PromotionStatusIn, PromotionUpdate
from o2o.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed, ValidationError
from o2o.staff.models import Role
from o2o.staff.policy import can_read_promotion
from tests.factories import make_outlet, make_promotion, make_region
from tests.factories_staff import make_principal


@pytest.fixture
def world(session):
    east, west = make_region(session, code="EAST"), make_region(session, code="WEST")
    e1 = make_outlet(session, code="E1", region=east)
    e2 = make_outlet(session, code="E2", region=east)
    w1 = make_outlet(session, code="W1", region=west)
    people = {
        "admin": make_principal(session, Role.ADMIN),
        "manager": make_principal(session, Role.MANAGER, regions=[east]),
        "west_manager": make_principal(session, Role.MANAGER, regions=[west]),
        "clerk": make_principal(session, Role.STAFF, outlets=[e1]),
    }
    session.commit()  # an open SQLite transaction would hold the write lock
    return {**people, "east": east, "west": west, "e1": e1, "e2": e2, "w1": w1}


def promo_in(**kw):
    data = {"code": "SPRING", "title": "春季拿铁第二杯半价", "scope": "outlets", "outlets": ["E1"],
            "image_url": "https://img.example.com/spring.jpg"}
    data.update(kw)
    return PromotionCreate(**data)


def written(session):
    return (session.scalar(sa.select(sa.func.count()).select_from(Promotion)),
            session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
            latest_seq(session))


def publish(session, principal, row, catalog=None):
    return set_promotion_status(session, principal=principal, promotion_id=row.id,
                                status_in=PromotionStatusIn(status="published"),
                                expected_version=row.version, catalog=catalog)


def test_lifecycle_reaches_the_live_catalog(session, sessions, world):
    catalog = Catalog(sessions)
    catalog.load()
    clerk = world["clerk"]
    row = create_promotion(session, principal=clerk, promotion_in=promo_in(), catalog=catalog)
    assert row.status is PromotionStatus.DRAFT and row.created_by == clerk.staff_id
    assert catalog.promotion(row.id) is None  # drafts never show
    row = publish(session, clerk, row, catalog)
    assert catalog.promotion(row.id).outlet_ids == {world["e1"].id}
    again = publish(session, clerk, row, catalog)  # already there: nothing to do
    assert again.version == row.version
    row = set_promotion_status(session, principal=clerk, promotion_id=row.id,
                               status_in=PromotionStatusIn(status="archived"),
                               expected_version=row.version, catalog=catalog)
    assert catalog.promotion(row.id) is None
    with pytest.raises(InvalidTransition):  # archived -> published skips review as a draft
        publish(session, clerk, row)
    actions = session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["create", "status:published", "status:archived"]
    catalog.close()


@pytest.mark.parametrize(("who", "kw", "error", "field"), [
    ("manager", {"scope": "all", "outlets": []}, PermissionDenied, None),
    ("clerk", {"scope": "region", "region": "EAST", "outlets": []}, PermissionDenied, None),
    ("manager", {"scope": "region", "region": "WEST", "outlets": []}, ValidationError, "region"),
    ("manager", {"outlets": ["E1", "W1"]}, ValidationError, "outlets"),
    ("clerk", {"outlets": ["E2"]}, ValidationError, "outlets"),
    ("admin", {"outlets": ["NOPE"]}, ValidationError, "outlets"),
    ("admin", {"outlets": []}, ValidationError, "outlets"),
    ("admin", {"scope": "all"}, ValidationError, "outlets"),
    ("admin", {"scope": "region", "outlets": []}, ValidationError, "region"),
    ("admin", {"valid_from": datetime(2026, 5, 2, tzinfo=UTC),
               "valid_until": datetime(2026, 5, 1, tzinfo=UTC)}, ValidationError, "valid_until"),
    ("admin", {"daily_start": "10:00", "daily_end": "10:00"}, ValidationError, "daily_end"),
    ("admin", {"code": "DUP"}, Conflict, "code"),
])
def test_bad_creates_write_nothing(session, world, who, kw, error, field):
    make_promotion(session, code="DUP")
    session.commit()
    before = written(session)
    with pytest.raises(error) as err:
        create_promotion(session, principal=world[who], promotion_in=promo_in(**kw))
    if field:
        assert field in {d["field"] for d in err.value.details}
    session.rollback()
    assert written(session) == before


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("title", "拿" * 43, "at most 128 bytes"),  # 129 bytes though only 43 characters
    ("title", "   ", "at least 1"),
    ("description", "优" * 171, "at most 512 bytes"),
    ("image_url", "http://img.example.com/a.jpg", "https"),
    ("image_url", "https://img.example.com/a.gif", ".png"),
    ("image_url", "https:///a.png", "https"),
    ("link_url", "javascript:alert(1)", "https"),
    ("weekdays", [0, 8], "less than or equal to 7"),
    ("daily_start", "25:00", "pattern"),
    ("timezone", "Mars/Olympus", "unknown time zone"),
    ("valid_from", "2026-05-01T10:00:00", "timezone"),
])
def test_shape_rules(field, value, fragment):
    with pytest.raises(ValueError) as err:
        promo_in(**{field: value})
    assert fragment in str(err.value)


def test_byte_limits_are_exact():
    assert promo_in(title="拿" * 42).title == "拿" * 42  # 126 bytes
    assert promo_in(title="a" * 128).title == "a" * 128
    assert promo_in(description="优" * 170).description


def test_visibility_matches_the_policy(session, world):
    rows = {
        "all": make_promotion(session, code="ALL", scope="all"),
        "east": make_promotion(session, code="REG-E", scope="region",
                               region_id=world["east"].id),
        "west": make_promotion(session, code="REG-W", scope="region",
                               region_id=world["west"].id),
        "e1": make_promotion(session, code="O-E1", outlets=[world["e1"]]),
        "e2": make_promotion(session, code="O-E2", outlets=[world["e2"]]),
        "mixed": make_promotion(session, code="O-MIX", outlets=[world["e1"], world["w1"]]),
    }
    session.commit()
    expected = {
        "admin": set(rows), "manager": {"all", "east", "e1", "e2"},
        "west_manager": {"all", "west"}, "clerk": {"all", "east", "e1"},
    }
    for who, names in expected.items():
        principal = world[who]
        seen, total = list_promotions(session, principal=principal)
        assert {r.code for r in seen} == {rows[n].code for n in names}, who
        assert total == len(names)
        for name, row in rows.items():
            own_regions = frozenset({world["east"].id}) if who == "clerk" else frozenset()
            policy = can_read_promotion(
                principal, scope=str(row.scope), region_id=row.region_id,
                outlets=[(o.id, o.region_id) for o in row.outlets],
                own_outlet_regions=own_regions)
            assert policy == (name in names), (who, name)
            if name in names:
                get_promotion(session, principal=principal, promotion_id=row.id)
            else:
                with pytest.raises(NotFound):
                    get_promotion(session, principal=principal, promotion_id=row.id)
    assert [r.code for r in list_promotions(session, principal=world["admin"], outlet="W1")[0]] \
        == ["O-MIX"]


def test_read_only_promotions_are_403_to_change(session, world):
    chain = make_promotion(session, code="ALL", scope="all")
    session.commit()
    with pytest.raises(PermissionDenied):
        update_promotion(session, principal=world["manager"], promotion_id=chain.id,
                         promotion_in=PromotionUpdate(title="x"), expected_version=1)
    hidden = make_promotion(session, code="W", outlets=[world["w1"]])
    session.commit()
    with pytest.raises(NotFound):
        update_promotion(session, principal=world["manager"], promotion_id=hidden.id,
                         promotion_in=PromotionUpdate(title="x"), expected_version=1)


def test_update_versions_scope_and_audit(session, world):
    manager = world["manager"]
    row = create_promotion(session, principal=manager, promotion_in=promo_in())
    with pytest.raises(PreconditionRequired):
        update_promotion(session, principal=manager, promotion_id=row.id,
                         promotion_in=PromotionUpdate(priority=5), expected_version=None)
    with pytest.raises(PreconditionFailed):
        update_promotion(session, principal=manager, promotion_id=row.id,
                         promotion_in=PromotionUpdate(priority=5), expected_version=2)
    row = update_promotion(session, principal=manager, promotion_id=row.id,
                           promotion_in=PromotionUpdate(outlets=["E1", "E2"]),
                           expected_version=1)
    assert row.version == 2 and sorted(o.code for o in row.outlets) == ["E1", "E2"]
    row = update_promotion(session, principal=manager, promotion_id=row.id,
                           promotion_in=PromotionUpdate(scope="region", region="EAST"),
                           expected_version=2)
    assert (row.scope, row.region_id, row.outlets) == ("region", world["east"].id, [])
    with pytest.raises(ValidationError):
        update_promotion(session, principal=manager, promotion_id=row.id,
                         promotion_in=PromotionUpdate(region="WEST"), expected_version=3)
    entries = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "update")
                              .order_by(AuditEntry.id)).all()
    assert entries[0].before == {"outlets": ["E1"], "version": 1}
    assert entries[0].after == {"outlets": ["E1", "E2"], "version": 2}
    assert all(e.region_id == world["east"].id for e in entries)


def test_publishing_an_ended_offer_is_refused(session, world):
    admin = world["admin"]
    row = create_promotion(session, principal=admin, promotion_in=promo_in(
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        valid_until=datetime(2020, 2, 1, tzinfo=UTC)))
    with pytest.raises(ValidationError) as err:
        publish(session, admin, row)
    assert err.value.details[0]["field"] == "valid_until"


def test_only_never_published_drafts_are_deleted(session, world):
    admin = world["admin"]
    draft = create_promotion(session, principal=admin, promotion_in=promo_in(code="D1"))
    delete_promotion(session, principal=admin, promotion_id=draft.id, expected_version=1)
    assert session.get(Promotion, draft.id) is None
    assert session.scalars(sa.select(AuditEntry.action)).all()[-1] == "delete"
    once = create_promotion(session, principal=admin, promotion_in=promo_in(code="D2"))
    once = publish(session, admin, once)
    once = set_promotion_status(session, principal=admin, promotion_id=once.id,
                                status_in=PromotionStatusIn(status="draft"),
                                expected_version=once.version)
    with pytest.raises(Conflict):
        delete_promotion(session, principal=admin, promotion_id=once.id,
                         expected_version=once.version)
    assert session.get(Promotion, once.id) is not None


def test_null_rules():
    with pytest.raises(ValueError, match="not null"):
        PromotionUpdate(title=None)
    assert PromotionUpdate(valid_until=None).changes() == {"valid_until": None}
    assert PromotionUpdate(weekdays=[3, 1, 3]).weekdays == [1, 3]


def test_window_in_the_past_is_fine_for_drafts(session, world):
    row = create_promotion(session, principal=world["admin"], promotion_in=promo_in(
        valid_from=datetime.now(UTC) - timedelta(days=3)))
    assert row.valid_from is not None
