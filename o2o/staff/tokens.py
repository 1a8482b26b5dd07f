"""API tokens for staff: issued once, stored only as SHA-256, expiring and revocable.

A token is `o2o_` + 43 url-safe characters (256 random bits). Only its hash is stored, so a
leaked database does not leak working credentials; lookups go by the hash, so no stored
secret is ever compared character by character with what a caller sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.db.schema import utcnow
from o2o.errors import NotFound, Unauthenticated, ValidationError
from o2o.staff.models import Staff, StaffToken
from o2o.staff.principal import Principal

TOKEN_PREFIX = "o2o_"
#: Characters of the token kept in clear (`o2o_` + 8) so people can tell their tokens apart.
SHOWN_CHARS = 12
DEFAULT_TTL_DAYS = 90
MAX_TTL_DAYS = 3650
#: last_used_at is written at most this often per token: auth must not be a write per request.
TOUCH_EVERY = timedelta(seconds=60)
#: One message for every bad token, so a caller learns nothing about why it failed.
INVALID = "Missing, invalid, expired or revoked token."


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The only moment the raw token exists outside its owner's hands."""

    token: str
    token_id: int
    staff_id: int
    prefix: str
    expires_at: datetime | None


def hash_token(raw: str) -> str:
    """Hex SHA-256 of a raw token: what the database stores and looks up."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def check_ttl(ttl_days: int | None) -> None:
    """A lifetime a token may have (None: never expires)."""
    if ttl_days is not None and not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise ValidationError(
            f"expiry must be 1..{MAX_TTL_DAYS} days",
            details=[{"field": "expires_days", "message": f"must be 1..{MAX_TTL_DAYS}"}])


def issue_token(session: Session, *, staff: Staff, ttl_days: int | None = DEFAULT_TTL_DAYS,
                now: datetime | None = None) -> IssuedToken:
    """Create a token for `staff` in the caller's transaction; `ttl_days=None` never expires."""
    check_ttl(ttl_days)
    now = now or utcnow()
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = StaffToken(staff_id=staff.id, token_hash=hash_token(raw), prefix=raw[:SHOWN_CHARS],
                     created_at=now,
                     expires_at=None if ttl_days is None else now + timedelta(days=ttl_days))
    session.add(row)
    session.flush()
    return IssuedToken(token=raw, token_id=row.id, staff_id=staff.id, prefix=row.prefix,
                       expires_at=row.expires_at)


def principal_for(staff: Staff) -> Principal:
    """The scope of a staff member as every check reads it (deleted outlets drop out)."""
    return Principal(
        staff_id=staff.id, name=staff.name, role=staff.role,
        region_ids=frozenset(r.id for r in staff.regions),
        outlet_ids=frozenset(o.id for o in staff.outlets if o.deleted_at is None),
    )


def authenticate(session: Session, raw: str | None, *, now: datetime | None = None) -> Principal:
    """The Principal behind a raw Bearer token, or Unauthenticated (one message for all cases).

    Notes `last_used_at` (at most once a minute) and commits that alone.
    """
    now = now or utcnow()
    principal, due = identify(session, raw, now=now)
    if due is not None:
        touch(session, token_id=due, now=now)
        session.commit()
    return principal


def identify(session: Session, raw: str | None, *, now: datetime) -> tuple[Principal, int | None]:
    """Who a raw Bearer token belongs to, reading only (Unauthenticated for everyone else),
    and the token's id when its `last_used_at` is due to be noted (else None)."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise Unauthenticated(INVALID)
    digest = hash_token(raw)
    row = session.scalar(sa.select(StaffToken).where(StaffToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthenticated(INVALID)
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Unauthenticated(INVALID)
    if not row.staff.active:
        raise Unauthenticated(INVALID)
    due = row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY
    return principal_for(row.staff), row.id if due else None


def touch(session: Session, *, token_id: int, now: datetime) -> None:
    """Note that a token was used at `now` (never moving `last_used_at` back)."""
    session.execute(sa.update(StaffToken).where(
        StaffToken.id == token_id,
        sa.or_(StaffToken.last_used_at.is_(None), StaffToken.last_used_at < now))
        .values(last_used_at=now))


def revoke_token(session: Session, *, token_id: int | None = None, prefix: str | None = None,
                 now: datetime | None = None) -> StaffToken:
    """Revoke one token, named by id or by its shown prefix; revoking twice is harmless."""
    if (token_id is None) == (prefix is None):
        raise ValidationError("name the token by id or by prefix (exactly one)")
    cond = StaffToken.id == token_id if token_id is not None else StaffToken.prefix == prefix
    rows = session.scalars(sa.select(StaffToken).where(cond)).all()
    if not rows:
        raise NotFound("No such token.")
    if len(rows) > 1:
        raise ValidationError("That prefix names several tokens; revoke by id instead.")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
    session.flush()
    return row


def revoke_all(session: Session, *, staff_id: int, now: datetime | None = None) -> int:
    """Revoke every live token of one staff member (someone leaves, a laptop is lost)."""
    now = now or utcnow()
    rows = session.scalars(sa.select(StaffToken).where(
        StaffToken.staff_id == staff_id, StaffToken.revoked_at.is_(None))).all()
    for row in rows:
        row.revoked_at = now
    session.flush()
    return len(rows)
