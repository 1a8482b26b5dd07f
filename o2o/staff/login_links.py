"""One-time sign-in links for the staff console: made for one account, short-lived, used once.

The link carries `o2l_` + 43 url-safe characters (256 random bits); only the SHA-256 is kept,
so a database dump holds no working link. Redeeming is one conditional UPDATE (unused, not
revoked, not expired, account active), so two taps racing each other sign in once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.db.schema import utcnow
from o2o.errors import NotFound, Unauthenticated, ValidationError
from o2o.staff.models import Staff, StaffLoginLink
from o2o.staff.tokens import hash_token

LINK_PREFIX = "o2l_"
DEFAULT_TTL_MIN = 15
MAX_TTL_MIN = 7 * 24 * 60
#: The console path a link opens (the web layer serves it).
LOGIN_PATH = "/staff/login"


class LoginLinkInvalid(Unauthenticated):
    """Unknown, mangled or revoked: nothing to say beyond "ask for a new one"."""

    code = "login_link_invalid"


class LoginLinkUsed(LoginLinkInvalid):
    code = "login_link_used"


class LoginLinkExpired(LoginLinkInvalid):
    code = "login_link_expired"


@dataclass(frozen=True, slots=True)
class IssuedLoginLink:
    """The only moment the raw link exists: print it, show it as a QR, never store it."""

    token: str
    link_id: int
    staff_id: int
    expires_at: datetime


def login_url(base_url: str, token: str) -> str:
    """The absolute URL a staff member opens (or scans) to sign in."""
    return f"{base_url.rstrip('/')}{LOGIN_PATH}?{urlencode({'t': token})}"


def create_login_link(session: Session, *, staff_id: int, ttl_min: int = DEFAULT_TTL_MIN,
                      issued_by: int | None = None, now: datetime | None = None
                      ) -> IssuedLoginLink:
    """A new link for an active account, in the caller's transaction."""
    if not 1 <= ttl_min <= MAX_TTL_MIN:
        raise ValidationError(f"a login link lives 1..{MAX_TTL_MIN} minutes",
                              details=[{"field": "ttl_min", "message": f"must be 1..{MAX_TTL_MIN}"}])
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"No staff #{staff_id}.")
    if not staff.active:
        raise ValidationError(f"staff #{staff_id} is deactivated; no login links.")
    now = now or utcnow()
    raw = LINK_PREFIX + secrets.token_urlsafe(32)
    row = StaffLoginLink(staff_id=staff_id, token_hash=hash_token(raw), issued_by=issued_by,
                         created_at=now, expires_at=now + timedelta(minutes=ttl_min))
    session.add(row)
    session.flush()
    return IssuedLoginLink(token=raw, link_id=row.id, staff_id=staff_id,
                           expires_at=row.expires_at)


def _lookup(session: Session, raw: str | None) -> StaffLoginLink:
    if not raw or not raw.startswith(LINK_PREFIX) or len(raw) > 100:
        raise LoginLinkInvalid("This sign-in link is not valid.")
    row = session.scalar(sa.select(StaffLoginLink).where(
        StaffLoginLink.token_hash == hash_token(raw)))
    if row is None or row.revoked_at is not None or not row.staff.active:
        raise LoginLinkInvalid("This sign-in link is not valid.")
    return row


def _check(row: StaffLoginLink, now: datetime) -> None:
    if row.used_at is not None:
        raise LoginLinkUsed(f"This sign-in link was already used at {row.used_at:%Y-%m-%d %H:%M} "
                            "UTC; each link works once.")
    if row.expires_at <= now:
        raise LoginLinkExpired("This sign-in link has expired.")


def check_login_link(session: Session, raw: str | None, *, now: datetime | None = None) -> Staff:
    """Whose link this is, if it could still sign in; reads only (the confirm page)."""
    row = _lookup(session, raw)
    _check(row, now or utcnow())
    return row.staff


def redeem_login_link(session: Session, raw: str | None, *, now: datetime | None = None
                      ) -> Staff:
    """Use the link up (in the caller's transaction) and return its account; a second
    redemption, even a concurrent one, gets LoginLinkUsed."""
    now = now or utcnow()
    row = _lookup(session, raw)
    _check(row, now)
    used = session.execute(sa.update(StaffLoginLink).where(
        StaffLoginLink.id == row.id, StaffLoginLink.used_at.is_(None),
        StaffLoginLink.revoked_at.is_(None), StaffLoginLink.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False))
    if used.rowcount != 1:
        raise LoginLinkUsed("This sign-in link was just used; each link works once.")
    return row.staff


def revoke_login_link(session: Session, *, link_id: int, now: datetime | None = None
                      ) -> StaffLoginLink:
    """Revoke one unused link; revoking twice is harmless."""
    row = session.get(StaffLoginLink, link_id)
    if row is None:
        raise NotFound("No such login link.")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
    session.flush()
    return row


def revoke_login_links(session: Session, *, staff_id: int, now: datetime | None = None) -> int:
    """Revoke every still-usable link of one account (deactivation, a lost phone)."""
    now = now or utcnow()
    result = session.execute(sa.update(StaffLoginLink).where(
        StaffLoginLink.staff_id == staff_id, StaffLoginLink.revoked_at.is_(None),
        StaffLoginLink.used_at.is_(None)).values(revoked_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0
