"""Staff, their scope (regions, outlets) and hashed API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2o.catalog.models import Outlet, Region
from o2o.db.schema import Base, UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    STAFF = "staff"


staff_regions = sa.Table(
    "staff_regions",
    Base.metadata,
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("region_id", sa.ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
)

staff_outlets = sa.Table(
    "staff_outlets",
    Base.metadata,
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("outlet_id", sa.ForeignKey("outlets.id", ondelete="CASCADE"), primary_key=True),
)


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[Role] = mapped_column(
        sa.Enum(Role, name="staff_role", native_enum=False, length=16,
                values_callable=lambda e: [m.value for m in e]))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    regions: Mapped[list[Region]] = relationship(secondary=staff_regions, lazy="selectin")
    outlets: Mapped[list[Outlet]] = relationship(secondary=staff_outlets, lazy="selectin")

    __mapper_args__ = {"version_id_col": version}


class StaffToken(Base):
    """A Bearer token: only its SHA-256 is stored; the prefix helps people tell tokens apart."""

    __tablename__ = "staff_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"),
                                          index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    staff: Mapped[Staff] = relationship(lazy="joined")


class StaffLoginLink(Base):
    """A one-time sign-in link for the staff console: only the SHA-256 of its secret is kept."""

    __tablename__ = "staff_login_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"),
                                          index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Who issued it (None: the command line).
    issued_by: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    staff: Mapped[Staff] = relationship(lazy="joined")


class StaffSession(Base):
    """A signed-in console session: the cookie holds a random id, the row only its hash."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"),
                                          index=True)
    session_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The secret behind this session's CSRF tokens (random, never sent as a cookie).
    csrf_secret: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The absolute cap: no amount of activity keeps a session past this.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The outlet last picked (the till remembers it); None until one is chosen.
    outlet_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)

    staff: Mapped[Staff] = relationship(lazy="joined")
