"""Outlet admin services: scope, validation with nothing half-written, versions, audit, live index."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from o2o.audit.models import AuditEntry
from o2o.catalog.admin_common import PreconditionRequired
from o2o.catalog.admin_outlets import (
    create_outlet,
    delete_outlet,
    get_outlet,
    list_outlets,
    set_outlet_status,
    update_outlet,
)
from o2o.catalog.changes import latest_seq
from o2o.catalog.models import Outlet, OutletStatus
from o2o.catalog.runtime import Catalog
from o2o.catalog.schemas import OutletCreate, OutletStatusIn, OutletUpdate
from o2o.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed, ValidationError
from o2o.geo.datum import to_wgs84
from o2o.staff.models import Role, Staff
from o2o.staff.tokens import principal_for
from tests.factories import ALWAYS_OPEN, make_outlet, make_region
from tests.factories_staff import make_principal


@pytest.fixture
def world(session):
    """Two regions with one outlet each; an admin, a manager and a clerk of the east."""
    east, west = make_region(session, code="EAST"), make_region(session, code="WEST")
    e1 = make_outlet(session, code="E1", region=east, name="东一店")
    w1 = make_outlet(session, code="W1", region=west, name="西一店", city="杭州")
    people = {
        "admin": make_principal(session, Role.ADMIN),
        "manager": make_principal(session, Role.MANAGER, regions=[east]),
        "west_manager": make_principal(session, Role.MANAGER, regions=[west]),
        "clerk": make_principal(session, Role.STAFF, outlets=[e1]),
    }
    session.commit()  # an open SQLite transaction would hold the write lock
    return {**people, "east": east, "west": west, "e1": e1, "w1": w1}


def new_outlet(**kw):
    data = {"code": "E2", "name": "东二店", "lat": 31.2304, "lng": 121.4737, "crs": "gcj02",
            "region": "EAST", "hours": ALWAYS_OPEN, "city": "上海"}
    data.update(kw)
    return OutletCreate(**data)


def written(session):
    """What a failed write must leave untouched."""
    return (session.scalar(sa.select(sa.func.count()).select_from(Outlet)),
            session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
            latest_seq(session))


def test_create_converts_the_datum_audits_and_goes_live(session, sessions, world):
    catalog = Catalog(sessions)
    catalog.load()
    row = create_outlet(session, principal=world["manager"], outlet_in=new_outlet(),
                        catalog=catalog)
    wlat, wlng = to_wgs84(31.2304, 121.4737, "gcj02")
    assert (row.lat, row.lng) == pytest.approx((wlat, wlng))
    assert abs(row.lat - 31.2304) + abs(row.lng - 121.4737) > 0.001  # really converted
    assert row.version == 1 and row.status is OutletStatus.OPEN
    assert catalog.outlet_by_code("E2") is not None  # this worker sees it at once
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.entity_id == row.id))
    assert (entry.action, entry.staff_id, entry.region_id) == \
        ("create", world["manager"].staff_id, world["east"].id)
    assert entry.before is None and entry.after["code"] == "E2"
    catalog.close()


@pytest.mark.parametrize(("who", "kw", "error", "field"), [
    ("manager", {"region": "WEST"}, ValidationError, "region"),
    ("manager", {"region": "NOWHERE"}, ValidationError, "region"),
    ("manager", {"region": None}, ValidationError, "region"),
    ("clerk", {}, PermissionDenied, None),
    ("admin", {"code": "E1"}, Conflict, "code"),
    ("admin", {"hours": {"mon": [["07:00", "26:00"]]}}, ValidationError, "hours.mon"),
    ("admin", {"exceptions": {"2026-13-01": []}}, ValidationError, "exceptions"),
    ("admin", {"geofence_wkt": "POLYGON((0 0, 1 0, 1 1, 0 0))"}, ValidationError,
     "geofence_wkt"),
    ("admin", {"geofence_wkt": "not wkt"}, ValidationError, "geofence_wkt"),
])
def test_bad_creates_write_nothing(session, world, who, kw, error, field):
    before = written(session)
    with pytest.raises(error) as err:
        create_outlet(session, principal=world[who], outlet_in=new_outlet(**kw))
    if field is not None:
        assert field in {d["field"] for d in err.value.details}
    session.rollback()
    assert written(session) == before


def test_unknown_and_foreign_region_read_the_same(session, world):
    messages = []
    for code in ("WEST", "NOWHERE"):
        with pytest.raises(ValidationError) as err:
            create_outlet(session, principal=world["manager"], outlet_in=new_outlet(region=code))
        messages.append(err.value.details[0]["message"].replace(code, "X"))
    assert messages[0] == messages[1]


def test_list_is_scoped_filtered_and_paged(session, world):
    for i in range(3):
        make_outlet(session, code=f"E9{i}", region=world["east"], name=f"东九{i}店")
    session.commit()
    admin, manager, clerk = world["admin"], world["manager"], world["clerk"]
    assert list_outlets(session, principal=admin)[1] == 5
    codes = [o.code for o in list_outlets(session, principal=manager)[0]]
    assert codes == ["E1", "E90", "E91", "E92"]
    assert [o.code for o in list_outlets(session, principal=clerk)[0]] == ["E1"]
    assert list_outlets(session, principal=manager, region="WEST")[1] == 0
    assert [o.code for o in list_outlets(session, principal=admin, city="杭州")[0]] == ["W1"]
    assert list_outlets(session, principal=admin, q="东九")[1] == 3
    assert list_outlets(session, principal=admin, q="%")[1] == 0  # LIKE characters are text
    page, total = list_outlets(session, principal=manager, limit=2, offset=2)
    assert total == 4 and [o.code for o in page] == ["E91", "E92"]
    with pytest.raises(ValidationError):
        list_outlets(session, principal=admin, limit=1000)


def test_reads_out_of_scope_look_missing(session, world):
    for who, other in (("manager", "w1"), ("clerk", "w1")):
        with pytest.raises(NotFound) as hidden:
            get_outlet(session, principal=world[who], outlet_id=world[other].id)
        with pytest.raises(NotFound) as missing:
            get_outlet(session, principal=world[who], outlet_id=987654)
        assert hidden.value.message.replace(str(world[other].id), "N") == \
            missing.value.message.replace("987654", "N")
    assert get_outlet(session, principal=world["clerk"], outlet_id=world["e1"].id).code == "E1"


def test_update_needs_the_current_version(session, world):
    e1, admin = world["e1"], world["admin"]
    with pytest.raises(PreconditionRequired):
        update_outlet(session, principal=admin, outlet_id=e1.id,
                      outlet_in=OutletUpdate(phone="1"), expected_version=None)
    with pytest.raises(PreconditionFailed):
        update_outlet(session, principal=admin, outlet_id=e1.id,
                      outlet_in=OutletUpdate(phone="1"), expected_version=7)
    row = update_outlet(session, principal=admin, outlet_id=e1.id,
                        outlet_in=OutletUpdate(phone="021-1234", name="东一旗舰店"),
                        expected_version=1)
    assert row.version == 2 and row.phone == "021-1234" and row.city == "上海"
    entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "update")).one()
    assert entry.before == {"name": "东一店", "phone": "", "version": 1}
    assert entry.after == {"name": "东一旗舰店", "phone": "021-1234", "version": 2}


def test_staff_change_only_their_fields_and_never_others_outlets(session, world):
    clerk = world["clerk"]
    row = update_outlet(session, principal=clerk, outlet_id=world["e1"].id,
                        outlet_in=OutletUpdate(phone="138", tags=["wifi", "wifi", "外卖"]),
                        expected_version=1)
    assert row.tags == ["wifi", "外卖"]
    with pytest.raises(PermissionDenied):
        update_outlet(session, principal=clerk, outlet_id=world["e1"].id,
                      outlet_in=OutletUpdate(lat=31.0, lng=121.0, crs="wgs84"),
                      expected_version=2)
    with pytest.raises(NotFound):  # someone else's outlet: not even a 403
        update_outlet(session, principal=clerk, outlet_id=world["w1"].id,
                      outlet_in=OutletUpdate(name="x"), expected_version=1)
    with pytest.raises(NotFound):
        update_outlet(session, principal=world["manager"], outlet_id=world["w1"].id,
                      outlet_in=OutletUpdate(phone="x"), expected_version=1)


def test_moves_and_region_changes(session, world):
    manager, e1 = world["manager"], world["e1"]
    with pytest.raises(ValidationError):  # position without its datum
        update_outlet(session, principal=manager, outlet_id=e1.id,
                      outlet_in=OutletUpdate(lat=31.0, lng=121.0), expected_version=1)
    with pytest.raises(ValidationError):  # out of the manager's regions
        update_outlet(session, principal=manager, outlet_id=e1.id,
                      outlet_in=OutletUpdate(region="WEST"), expected_version=1)
    row = update_outlet(session, principal=manager, outlet_id=e1.id,
                        outlet_in=OutletUpdate(lat=30.0, lng=120.0, crs="wgs84"),
                        expected_version=1)
    assert (row.lat, row.lng) == (30.0, 120.0) and "120.0 30.0" in str(row.location)
    row = update_outlet(session, principal=world["admin"], outlet_id=e1.id,
                        outlet_in=OutletUpdate(region="WEST"), expected_version=2)
    assert row.region_id == world["west"].id
    with pytest.raises(NotFound):  # moved out of the manager's scope
        get_outlet(session, principal=manager, outlet_id=e1.id)


def test_null_only_where_it_means_something():
    with pytest.raises(ValueError, match="not null"):
        OutletUpdate(name=None)
    assert OutletUpdate(hours=None).changes() == {"hours": None}
    with pytest.raises(ValueError):
        OutletUpdate(colour="red")


def test_status(session, sessions, world):
    catalog = Catalog(sessions)
    catalog.load()
    e1, clerk = world["e1"], world["clerk"]
    today = date(2026, 5, 1)
    closing = OutletStatusIn(status="temporarily_closed", reopen_on=today + timedelta(days=3))
    for bad in (OutletStatusIn(status="temporarily_closed"),
                OutletStatusIn(status="temporarily_closed", reopen_on=today),
                OutletStatusIn(status="open", reopen_on=today + timedelta(days=1))):
        with pytest.raises(ValidationError) as err:
            set_outlet_status(session, principal=clerk, outlet_id=e1.id, status_in=bad,
                              expected_version=1, today=today)
        assert err.value.details[0]["field"] == "reopen_on"
    with pytest.raises(PermissionDenied):
        set_outlet_status(session, principal=clerk, outlet_id=e1.id,
                          status_in=OutletStatusIn(status="closed"), expected_version=1)
    row = set_outlet_status(session, principal=clerk, outlet_id=e1.id, status_in=closing,
                            expected_version=1, today=today, catalog=catalog)
    assert row.status is OutletStatus.TEMPORARILY_CLOSED and row.version == 2
    assert catalog.outlet(e1.id).status == "temporarily_closed"
    row = set_outlet_status(session, principal=clerk, outlet_id=e1.id,
                            status_in=OutletStatusIn(status="open"), expected_version=2,
                            catalog=catalog)
    assert row.reopen_on is None and catalog.outlet(e1.id).status == "open"
    catalog.close()


def test_soft_delete(session, sessions, world):
    catalog = Catalog(sessions)
    catalog.load()
    e1 = world["e1"]
    with pytest.raises(PermissionDenied):
        delete_outlet(session, principal=world["clerk"], outlet_id=e1.id, expected_version=1)
    with pytest.raises(NotFound):
        delete_outlet(session, principal=world["manager"], outlet_id=world["w1"].id,
                      expected_version=1)
    delete_outlet(session, principal=world["manager"], outlet_id=e1.id, expected_version=1,
                  catalog=catalog)
    assert catalog.outlet(e1.id) is None
    with pytest.raises(NotFound):
        get_outlet(session, principal=world["admin"], outlet_id=e1.id)
    assert session.get(Outlet, e1.id).deleted_at is not None  # kept for history
    clerk_row = session.get(Staff, world["clerk"].staff_id)
    assert principal_for(clerk_row).outlet_ids == frozenset()
    catalog.close()


def test_two_concurrent_edits_one_wins(sessions, world):
    """Both read version 1, both send it: exactly one change lands, the other is refused."""
    e1_id, admin, manager = world["e1"].id, world["admin"], world["manager"]
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, object] = {}

    def edit(who, principal, phone):
        with sessions() as s:
            barrier.wait()
            try:
                update_outlet(s, principal=principal, outlet_id=e1_id,
                              outlet_in=OutletUpdate(phone=phone), expected_version=1)
                results[who] = "ok"
            except PreconditionFailed as exc:
                results[who] = exc

    threads = [threading.Thread(target=edit, args=("a", admin, "111")),
               threading.Thread(target=edit, args=("m", manager, "222"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(type(r).__name__ for r in results.values()) == ["PreconditionFailed", "str"]
    winner = "111" if results["a"] == "ok" else "222"
    with sessions() as s:
        row = s.get(Outlet, e1_id)
        assert (row.phone, row.version) == (winner, 2)
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "update")) == 1


def test_a_stale_row_cannot_overwrite_at_flush(sessions, world):
    """The check passed on a stale copy; the versioned UPDATE still refuses (412)."""
    e1_id, admin = world["e1"].id, world["admin"]
    with sessions() as stale:
        get_outlet(stale, principal=admin, outlet_id=e1_id)  # version 1 in its identity map
        stale.commit()
        with sessions() as other:
            update_outlet(other, principal=admin, outlet_id=e1_id,
                          outlet_in=OutletUpdate(phone="first"), expected_version=1)
        with pytest.raises(PreconditionFailed):
            update_outlet(stale, principal=admin, outlet_id=e1_id,
                          outlet_in=OutletUpdate(phone="second"), expected_version=1)
    with sessions() as s:
        assert s.get(Outlet, e1_id).phone == "first"


def test_a_failed_refresh_after_the_commit_does_not_refuse_the_write(session, world, tmp_path,
                                                                     caplog):
    """Once committed, the caller hears "done" even if this worker's catalog cannot refresh
    (issue 19: a refresh error once came back as a 422 for a change that was stored)."""
    unreachable = sa.orm.sessionmaker(bind=sa.create_engine(
        f"sqlite:///{tmp_path / 'missing' / 'o2o.db'}"))  # no such directory: cannot connect
    row = update_outlet(session, principal=world["admin"], outlet_id=world["e1"].id,
                        outlet_in=OutletUpdate(name="东一新店"), expected_version=1,
                        catalog=Catalog(unreachable))
    assert row.version == 2
    session.expire_all()
    assert session.get(Outlet, world["e1"].id).name == "东一新店"
    assert "will catch up from the feed" in caplog.text
