"""The role table: what each role may do, decided in one place."""

from __future__ import annotations

import pytest

from o2o.errors import PermissionDenied
from o2o.staff.models import Role
from o2o.staff.policy import (
    STAFF_OUTLET_FIELDS,
    can_read_promotion,
    can_use_region,
    can_write_promotion,
    check_staff_fields,
    check_staff_status,
    require_role,
)
from o2o.staff.principal import Principal

ADMIN = Principal(1, "a", Role.ADMIN)
MANAGER = Principal(2, "m", Role.MANAGER, region_ids=frozenset({10, 11}))
STAFF = Principal(3, "s", Role.STAFF, outlet_ids=frozenset({100, 101}))


def test_require_role():
    require_role(ADMIN, Role.ADMIN, Role.MANAGER, doing="x")
    require_role(MANAGER, Role.ADMIN, Role.MANAGER, doing="x")
    with pytest.raises(PermissionDenied, match="A staff may not create outlets"):
        require_role(STAFF, Role.ADMIN, Role.MANAGER, doing="create outlets")


def test_regions():
    assert can_use_region(ADMIN, None) and can_use_region(ADMIN, 99)
    assert can_use_region(MANAGER, 10) and not can_use_region(MANAGER, 12)
    assert not can_use_region(MANAGER, None)
    assert not can_use_region(STAFF, 10)


def test_staff_fields_and_statuses():
    check_staff_fields(STAFF, STAFF_OUTLET_FIELDS)
    check_staff_fields(MANAGER, {"lat", "code", "region"})
    with pytest.raises(PermissionDenied) as err:
        check_staff_fields(STAFF, {"phone", "lat", "geofence_radius_m"})
    assert [d["field"] for d in err.value.details] == ["geofence_radius_m", "lat"]
    check_staff_status(STAFF, "temporarily_closed")
    check_staff_status(MANAGER, "closed")
    with pytest.raises(PermissionDenied):
        check_staff_status(STAFF, "closed")


@pytest.mark.parametrize(("who", "scope", "region", "outlets", "write", "read"), [
    (ADMIN, "all", None, [], True, True),
    (MANAGER, "all", None, [], False, True),
    (STAFF, "all", None, [], False, True),
    (MANAGER, "region", 10, [], True, True),
    (MANAGER, "region", 12, [], False, False),
    (STAFF, "region", 10, [], False, False),
    (MANAGER, "outlets", None, [(100, 10), (200, 11)], True, True),
    (MANAGER, "outlets", None, [(100, 10), (300, 12)], False, False),
    (MANAGER, "outlets", None, [(100, None)], False, False),
    (MANAGER, "outlets", None, [], False, False),
    (STAFF, "outlets", None, [(100, 10), (101, 12)], True, True),
    (STAFF, "outlets", None, [(100, 10), (200, 10)], False, False),
    (STAFF, "outlets", None, [], False, False),
])
def test_promotion_reach(who, scope, region, outlets, write, read):
    assert can_write_promotion(who, scope=scope, region_id=region, outlets=outlets) is write
    assert can_read_promotion(who, scope=scope, region_id=region, outlets=outlets) is read


def test_staff_read_regional_promotions_of_their_outlets_regions():
    assert can_read_promotion(STAFF, scope="region", region_id=10, outlets=[],
                              own_outlet_regions=frozenset({10}))
    assert not can_write_promotion(STAFF, scope="region", region_id=10, outlets=[])
