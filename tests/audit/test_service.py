"""The audit log: written in the change's transaction, read back by scope, never editable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from o2o.audit.models import AuditEntry
from o2o.audit.service import audit, get_entry, jsonable, list_entries
from o2o.catalog.models import OutletStatus
from o2o.errors import NotFound, PermissionDenied, ValidationError
from o2o.logs import request_id_var
from o2o.staff.models import Role
from o2o.staff.tokens import principal_for
from tests.factories import make_outlet, make_region
from tests.factories_staff import make_staff


def test_jsonable():
    assert jsonable({"d": date(2026, 1, 2), "s": OutletStatus.OPEN, "t": frozenset({2, 1}),
                     "n": [datetime(2026, 1, 1, tzinfo=UTC)]}) == \
        {"d": "2026-01-02", "s": "open", "t": [1, 2], "n": ["2026-01-01T00:00:00+00:00"]}


def test_entries_are_scoped(session):
    east, west = make_region(session), make_region(session)
    o_east, o_west = make_outlet(session, region=east), make_outlet(session, region=west)
    admin = principal_for(make_staff(session, Role.ADMIN, name="admin"))
    boss = principal_for(make_staff(session, Role.MANAGER, regions=[east], name="东区经理"))
    clerk = principal_for(make_staff(session, Role.STAFF, outlets=[o_east]))
    token = request_id_var.set("req-123")
    try:
        audit(session, principal=admin, action="update", entity_type="outlet", entity=o_east,
              before={"phone": "1"}, after={"phone": "2"})
    finally:
        request_id_var.reset(token)
    audit(session, principal=admin, action="update", entity_type="outlet", entity=o_west,
          before={"region_id": west.id}, after={"phone": "3"})
    # A change by the manager themselves that belongs to no region (e.g. several regions).
    own = audit(session, principal=boss, action="create", entity_type="promotion",
                entity=None, before=None, after={"title": "x"}, region_id=None)
    session.commit()

    items, total = list_entries(session, principal=admin)
    assert total == 3 and items[0].id == own.id  # newest first
    east_entry = next(e for e in items if e.entity_id == o_east.id)
    assert (east_entry.staff_name, east_entry.request_id, east_entry.region_id,
            east_entry.entity_code) == ("admin", "req-123", east.id, o_east.code)
    assert east_entry.before == {"phone": "1"} and east_entry.after == {"phone": "2"}

    mine, total = list_entries(session, principal=boss)
    assert total == 2 and {e.id for e in mine} == {east_entry.id, own.id}
    west_entry = next(e for e in items if e.entity_id == o_west.id)
    with pytest.raises(NotFound) as err:
        get_entry(session, principal=boss, entry_id=west_entry.id)
    with pytest.raises(NotFound) as missing:
        get_entry(session, principal=boss, entry_id=999_999)
    assert err.value.message.replace(str(west_entry.id), "N") == \
        missing.value.message.replace("999999", "N")
    assert get_entry(session, principal=boss, entry_id=east_entry.id).id == east_entry.id
    with pytest.raises(PermissionDenied):
        list_entries(session, principal=clerk)
    with pytest.raises(PermissionDenied):
        get_entry(session, principal=clerk, entry_id=east_entry.id)


def test_filters(session):
    region = make_region(session)
    outlet = make_outlet(session, region=region)
    admin = principal_for(make_staff(session, Role.ADMIN))
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(5):
        entry = audit(session, principal=admin, action="update" if i else "create",
                      entity_type="outlet", entity=outlet, before={}, after={"i": i})
        entry.at = t0 + timedelta(days=i)
    session.commit()
    assert list_entries(session, principal=admin, action="create")[1] == 1
    assert list_entries(session, principal=admin, entity_id=outlet.id)[1] == 5
    assert list_entries(session, principal=admin, entity_code=outlet.code,
                        entity_type="promotion")[1] == 0
    page, total = list_entries(session, principal=admin, since=t0 + timedelta(days=1),
                               until=t0 + timedelta(days=3), limit=1, offset=1)
    assert total == 2 and page[0].after == {"i": 1}
    with pytest.raises(ValidationError):
        list_entries(session, principal=admin, since=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        list_entries(session, principal=admin, limit=0)


def test_entry_rolls_back_with_the_change(session):
    outlet = make_outlet(session)
    session.commit()
    audit(session, principal=None, action="update", entity_type="outlet", entity=outlet,
          before={}, after={"name": "x"})
    session.rollback()
    assert session.query(AuditEntry).count() == 0
