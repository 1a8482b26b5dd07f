"""Server-side staff console sessions: the browser holds a random id, the database its hash.

A session is made at sign-in (a new id every time: whatever id the browser had before is
ended, so a planted id never becomes a signed-in one), slides forward while used (idle expiry)
but never past an absolute cap, and can be revoked one by one or all of an account's at once.
Each session has its own CSRF secret; forms carry a token derived from it.
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
from o2o.errors import Unauthenticated
from o2o.staff.models import Staff, StaffSession
from o2o.staff.principal import Principal
from o2o.staff.tokens import hash_token, principal_for

SESSION_PREFIX = "o2s_"
#: last_seen_at is written at most this often: reading a page must not be a write each time.
TOUCH_EVERY = timedelta(seconds=60)
EXPIRED = "Your console session has ended; sign in again with a new link."


class SessionEnded(Unauthenticated):
    """No session, or one that expired, was revoked or belongs to a deactivated account."""

    code = "console_session_ended"


@dataclass(frozen=True, slots=True)
class StartedSession:
    """The raw id, for the cookie; it exists nowhere else."""

    sid: str
    session_id: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A live session as a request sees it."""

    session_id: int
    principal: Principal
    csrf_secret: str
    outlet_id: int | None
    #: True when last_seen_at is due to be moved forward (see touch_session).
    touch_due: bool

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.csrf_secret)


def csrf_token(secret: str) -> str:
    """The token forms carry: derived from the session's secret, so it never travels alone."""
    return hmac.new(secret.encode(), b"o2o-console-csrf", hashlib.sha256).hexdigest()


def csrf_ok(secret: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(secret), token or "")


def start_session(session: Session, *, staff: Staff, idle: timedelta, cap: timedelta,
                  previous: str | None = None, now: datetime | None = None) -> StartedSession:
    """A fresh session for `staff` (in the caller's transaction); `previous`, the id the
    browser came with, is ended so sign-in always rotates the id."""
    now = now or utcnow()
    if previous:
        end_session(session, previous, now=now)
    raw = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = StaffSession(staff_id=staff.id, session_hash=hash_token(raw),
                       csrf_secret=secrets.token_hex(32), created_at=now, last_seen_at=now,
                       expires_at=now + cap)
    session.add(row)
    session.flush()
    return StartedSession(sid=raw, session_id=row.id, expires_at=min(row.expires_at, now + idle))


def resume_session(session: Session, raw: str | None, *, idle: timedelta,
                   now: datetime | None = None) -> ConsoleSession:
    """The live session behind a cookie value, reading only; SessionEnded for every other."""
    now = now or utcnow()
    if not raw or not raw.startswith(SESSION_PREFIX) or len(raw) > 100:
        raise SessionEnded(EXPIRED)
    row = session.scalar(sa.select(StaffSession).where(
        StaffSession.session_hash == hash_token(raw)))
    if row is None or row.revoked_at is not None or row.expires_at <= now or \
            row.last_seen_at + idle <= now or not row.staff.active:
        raise SessionEnded(EXPIRED)
    return ConsoleSession(session_id=row.id, principal=principal_for(row.staff),
                          csrf_secret=row.csrf_secret, outlet_id=row.outlet_id,
                          touch_due=now - row.last_seen_at >= TOUCH_EVERY)


def touch_session(session: Session, *, session_id: int, now: datetime) -> None:
    """Note activity at `now` (never moving last_seen_at back): the idle clock restarts."""
    session.execute(sa.update(StaffSession).where(
        StaffSession.id == session_id, StaffSession.last_seen_at < now)
        .values(last_seen_at=now))


def remember_outlet(session: Session, *, session_id: int, outlet_id: int | None) -> None:
    """The outlet this session last worked at (the till preselects it next time)."""
    session.execute(sa.update(StaffSession).where(StaffSession.id == session_id)
                    .values(outlet_id=outlet_id))


def end_session(session: Session, raw: str, *, now: datetime | None = None) -> bool:
    """Sign out: revoke the session behind a cookie value; True if there was a live one."""
    result = session.execute(sa.update(StaffSession).where(
        StaffSession.session_hash == hash_token(raw), StaffSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow()).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def revoke_sessions(session: Session, *, staff_id: int, now: datetime | None = None) -> int:
    """Sign an account out everywhere (deactivation, a lost phone); how many were live."""
    result = session.execute(sa.update(StaffSession).where(
        StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount or 0
