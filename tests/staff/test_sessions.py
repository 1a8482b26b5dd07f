"""Console sessions: hashed ids, idle expiry that slides, an absolute cap, revocation, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from o2o.db.schema import utcnow
from o2o.staff.models import Role, StaffSession
from o2o.staff.sessions import (
    SessionEnded,
    csrf_ok,
    end_session,
    remember_outlet,
    resume_session,
    revoke_sessions,
    start_session,
    touch_session,
)
from tests.factories_staff import make_staff

IDLE, CAP = timedelta(hours=12), timedelta(days=7)


def test_a_session_resumes_until_idle_and_activity_slides_it(session) -> None:
    staff = make_staff(session, Role.STAFF)
    t0 = utcnow()
    started = start_session(session, staff=staff, idle=IDLE, cap=CAP, now=t0)
    assert started.sid not in str(session.scalars(sa.select(StaffSession.session_hash)).all())
    live = resume_session(session, started.sid, idle=IDLE, now=t0 + timedelta(hours=11))
    assert live.principal.staff_id == staff.id and live.touch_due
    touch_session(session, session_id=live.session_id, now=t0 + timedelta(hours=11))
    assert resume_session(session, started.sid, idle=IDLE, now=t0 + timedelta(hours=22))
    with pytest.raises(SessionEnded):
        resume_session(session, started.sid, idle=IDLE, now=t0 + timedelta(hours=23, minutes=1))


def test_the_cap_ends_a_busy_session(session) -> None:
    staff = make_staff(session, Role.STAFF)
    t0 = utcnow()
    started = start_session(session, staff=staff, idle=IDLE, cap=timedelta(hours=20), now=t0)
    touch_session(session, session_id=started.session_id, now=t0 + timedelta(hours=19))
    with pytest.raises(SessionEnded):
        resume_session(session, started.sid, idle=IDLE, now=t0 + timedelta(hours=20))


def test_sign_in_rotates_sign_out_and_revocation_end(session) -> None:
    staff = make_staff(session, Role.MANAGER)
    first = start_session(session, staff=staff, idle=IDLE, cap=CAP)
    second = start_session(session, staff=staff, idle=IDLE, cap=CAP, previous=first.sid)
    with pytest.raises(SessionEnded):
        resume_session(session, first.sid, idle=IDLE)
    assert end_session(session, second.sid) and not end_session(session, second.sid)
    with pytest.raises(SessionEnded):
        resume_session(session, second.sid, idle=IDLE)
    third = start_session(session, staff=staff, idle=IDLE, cap=CAP)
    assert revoke_sessions(session, staff_id=staff.id) == 1
    with pytest.raises(SessionEnded):
        resume_session(session, third.sid, idle=IDLE)


def test_a_deactivated_account_loses_its_sessions(session) -> None:
    staff = make_staff(session, Role.STAFF)
    started = start_session(session, staff=staff, idle=IDLE, cap=CAP)
    staff.active = False
    session.flush()
    with pytest.raises(SessionEnded):
        resume_session(session, started.sid, idle=IDLE)


def test_forged_ids_and_csrf_tokens(session) -> None:
    staff = make_staff(session, Role.STAFF)
    started = start_session(session, staff=staff, idle=IDLE, cap=CAP)
    for raw in (None, "", "o2s_forged", started.sid[:-1], "x" * 500):
        with pytest.raises(SessionEnded):
            resume_session(session, raw, idle=IDLE)
    live = resume_session(session, started.sid, idle=IDLE)
    assert csrf_ok(live.csrf_secret, live.csrf_token)
    other = resume_session(session, start_session(session, staff=staff, idle=IDLE,
                                                  cap=CAP).sid, idle=IDLE)
    assert not csrf_ok(live.csrf_secret, other.csrf_token)  # per session
    assert not csrf_ok(live.csrf_secret, None) and not csrf_ok(live.csrf_secret, "")


def test_the_outlet_is_remembered(session) -> None:
    staff = make_staff(session, Role.STAFF)
    started = start_session(session, staff=staff, idle=IDLE, cap=CAP)
    remember_outlet(session, session_id=started.session_id, outlet_id=42)
    assert resume_session(session, started.sid, idle=IDLE).outlet_id == 42
