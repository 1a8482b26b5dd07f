"""Admin shapes for staff accounts and their credentials: StaffCreate/StaffUpdate/StaffRead,
tokens (shown once) and console login links."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator

from o2o.catalog.schemas import Strict
from o2o.staff.models import Role, Staff, StaffToken
from o2o.staff.tokens import DEFAULT_TTL_DAYS, MAX_TTL_DAYS

StaffName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=100)]
Codes = Annotated[list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                        max_length=64)]],
                  Field(max_length=500)]


class StaffCreate(Strict):
    """A new account: a manager needs regions, store staff need outlets, an admin neither."""

    name: StaffName
    role: Role
    regions: Codes = Field(default_factory=list, description="Region codes (managers)")
    outlets: Codes = Field(default_factory=list, description="Outlet codes (store staff)")


class StaffUpdate(Strict):
    """A partial update; `active: false` deactivates (tokens, links and sessions stop)."""

    name: StaffName | None = None
    role: Role | None = None
    regions: Codes | None = None
    outlets: Codes | None = None
    active: bool | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}


class StaffRead(BaseModel):
    id: int
    name: str
    role: Role
    active: bool
    regions: list[str]
    outlets: list[str]
    version: int
    created_at: datetime

    @classmethod
    def of(cls, row: Staff) -> StaffRead:
        return cls(id=row.id, name=row.name, role=row.role, active=row.active,
                   regions=sorted(r.code for r in row.regions),
                   outlets=sorted(o.code for o in row.outlets if o.deleted_at is None),
                   version=row.version, created_at=row.created_at)


class TokenIssueIn(Strict):
    expires_days: int | None = Field(DEFAULT_TTL_DAYS, ge=1, le=MAX_TTL_DAYS,
                                     description="Lifetime in days; null = never expires")


class TokenRead(BaseModel):
    """A token as lists show it: never the token itself, only its first characters."""

    id: int
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: StaffToken) -> TokenRead:
        return cls(id=row.id, prefix=row.prefix, created_at=row.created_at,
                   expires_at=row.expires_at, revoked_at=row.revoked_at,
                   last_used_at=row.last_used_at)


class IssuedTokenRead(BaseModel):
    token: str = Field(description="Shown this once; only its hash is kept")
    token_id: int
    staff_id: int
    prefix: str
    expires_at: datetime | None


class LoginLinkIn(Strict):
    ttl_min: int | None = Field(None, ge=1, description="Minutes it works (default: the "
                                                        "server's O2O_LOGIN_LINK_TTL_MIN)")


class LoginLinkRead(BaseModel):
    url: str = Field(description="Open or scan once to sign in to the staff console")
    link_id: int
    staff_id: int
    expires_at: datetime
