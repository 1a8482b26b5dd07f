"""Builders for staff accounts with tokens, and the Authorization header that carries them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from sqlalchemy.orm import Session

from o2o.catalog.models import Outlet, Region
from o2o.staff.models import Role, Staff
from o2o.staff.principal import Principal
from o2o.staff.tokens import issue_token, principal_for

_seq = itertools.count(1)


def make_staff(session: Session, role: Role | str = Role.ADMIN, *,
               regions: Sequence[Region] = (), outlets: Sequence[Outlet] = (),
               name: str | None = None, active: bool = True) -> Staff:
    staff = Staff(name=name or f"员工 {next(_seq)}", role=Role(role), active=active,
                  regions=list(regions), outlets=list(outlets))
    session.add(staff)
    session.flush()
    return staff


def make_token(session: Session, role: Role | str = Role.ADMIN, **kw: object) -> str:
    """A staff member of `role` (scope in kw) and a fresh raw token for them."""
    staff = make_staff(session, role, **kw)  # type: ignore[arg-type]
    return issue_token(session, staff=staff).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_principal(session: Session, role: Role | str = Role.ADMIN, **kw: object) -> Principal:
    """A saved staff member of `role` as the services see them."""
    return principal_for(make_staff(session, role, **kw))  # type: ignore[arg-type]
