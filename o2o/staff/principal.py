"""Who is calling, and what they may touch: the one object every scope check reads."""

from __future__ import annotations

from dataclasses import dataclass

from o2o.staff.models import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated staff member. `region_ids`/`outlet_ids` are the scope:
    admin sees everything; a manager their regions; staff their assigned outlets."""

    staff_id: int
    name: str
    role: Role
    region_ids: frozenset[int] = frozenset()
    outlet_ids: frozenset[int] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def can_see_region(self, region_id: int | None) -> bool:
        if self.is_admin:
            return True
        return self.role is Role.MANAGER and region_id is not None and \
            region_id in self.region_ids

    def can_touch_outlet(self, outlet_id: int, region_id: int | None) -> bool:
        """May this caller read or change this outlet (and its promotions)?"""
        if self.is_admin:
            return True
        if self.role is Role.MANAGER:
            return region_id is not None and region_id in self.region_ids
        return outlet_id in self.outlet_ids


#: Whoever runs the `o2o` command on the server: full rights, no account of their own (the
#: audit log records them as this name, with no staff id).
OPERATOR = Principal(staff_id=0, name="operator (o2o CLI)", role=Role.ADMIN)
