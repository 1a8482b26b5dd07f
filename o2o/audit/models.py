"""Audit entries: who changed what, when, with the before and after state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db.schema import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"), nullable=True)
    #: Name at the time of the change, so the log reads right after a staff rename or removal.
    staff_name: Mapped[str] = mapped_column(sa.String(100), default="")
    action: Mapped[str] = mapped_column(sa.String(32))
    entity_type: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    entity_code: Mapped[str] = mapped_column(sa.String(64), default="")
    #: Region the entity belonged to (before or after), for manager scoping of reads.
    region_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    request_id: Mapped[str] = mapped_column(sa.String(64), default="")
    #: Where the change was made: "api" (Bearer token), "console" (staff console), "cli".
    via: Mapped[str] = mapped_column(sa.String(16), default="api", server_default="api")
