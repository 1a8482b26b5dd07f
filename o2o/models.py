"""Every table in one import, for Alembic and create_all."""

from o2o.analytics.models import Event, EventType
from o2o.audit.models import AuditEntry
from o2o.catalog.models import (
    CatalogChange,
    Outlet,
    OutletStatus,
    Promotion,
    PromotionScope,
    PromotionStatus,
    Region,
    promotion_outlets,
)
from o2o.coupons.models import Coupon, CouponStatus
from o2o.customers.models import Customer
from o2o.db.schema import Base
from o2o.reminders.models import CouponReminder, ReminderIntent, ReminderStatus
from o2o.staff.models import (
    Role,
    Staff,
    StaffLoginLink,
    StaffSession,
    StaffToken,
    staff_outlets,
    staff_regions,
)

__all__ = [
    "AuditEntry", "Base", "CatalogChange", "Coupon", "CouponReminder", "CouponStatus",
    "Customer", "Event", "ReminderIntent", "ReminderStatus",
    "EventType", "Outlet", "OutletStatus", "Promotion", "PromotionScope",
    "PromotionStatus", "Region", "Role", "Staff", "StaffLoginLink", "StaffSession",
    "StaffToken", "promotion_outlets", "staff_outlets", "staff_regions",
]
