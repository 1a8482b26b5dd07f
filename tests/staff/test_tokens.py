"""Tokens: shown once, stored hashed, expiring, revocable; one answer for every bad token."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from o2o.db.schema import utcnow
from o2o.errors import NotFound, Unauthenticated, ValidationError
from o2o.staff.models import Role, StaffToken
from o2o.staff.service import deactivate_staff
from o2o.staff.tokens import (
    INVALID,
    TOKEN_PREFIX,
    authenticate,
    hash_token,
    issue_token,
    revoke_all,
    revoke_token,
)
from tests.factories import make_outlet, make_region
from tests.factories_staff import make_staff


def test_issued_token_is_stored_only_as_its_hash(session):
    staff = make_staff(session, Role.ADMIN)
    issued = issue_token(session, staff=staff)
    session.commit()
    assert issued.token.startswith(TOKEN_PREFIX) and len(issued.token) >= 40
    row = session.get(StaffToken, issued.token_id)
    assert row.token_hash == hash_token(issued.token)
    assert issued.token not in (row.token_hash, row.prefix)
    assert issued.token.startswith(row.prefix)
    assert row.expires_at - row.created_at == timedelta(days=90)


def test_authenticate_returns_the_scope(session):
    region = make_region(session)
    outlet = make_outlet(session, region=region)
    gone = make_outlet(session, region=region, deleted_at=utcnow())
    manager = make_staff(session, Role.MANAGER, regions=[region], name="王经理")
    clerk = make_staff(session, Role.STAFF, outlets=[outlet, gone])
    m_token = issue_token(session, staff=manager).token
    s_token = issue_token(session, staff=clerk).token
    session.commit()
    p = authenticate(session, m_token)
    assert (p.staff_id, p.name, p.role, p.region_ids, p.outlet_ids) == \
        (manager.id, "王经理", Role.MANAGER, frozenset({region.id}), frozenset())
    s = authenticate(session, s_token)
    assert s.role is Role.STAFF and s.outlet_ids == frozenset({outlet.id})
    assert s.can_touch_outlet(outlet.id, region.id) and not s.can_see_region(region.id)


def test_last_used_is_noted_but_not_on_every_call(session):
    staff = make_staff(session)
    issued = issue_token(session, staff=staff)
    session.commit()
    t0 = utcnow()
    authenticate(session, issued.token, now=t0)
    authenticate(session, issued.token, now=t0 + timedelta(seconds=10))
    assert session.get(StaffToken, issued.token_id).last_used_at == t0
    authenticate(session, issued.token, now=t0 + timedelta(minutes=2))
    assert session.get(StaffToken, issued.token_id).last_used_at == t0 + timedelta(minutes=2)


@pytest.mark.parametrize("raw", [None, "", "Bearer", "o2o_not-a-real-token", "x" * 300,
                                 "o2o_" + "é" * 10, "\ud800"])
def test_garbage_tokens_get_one_answer(session, raw):
    with pytest.raises(Unauthenticated) as err:
        authenticate(session, raw)
    assert err.value.message == INVALID


def test_expired_revoked_and_deactivated_tokens_stop_working(session):
    staff = make_staff(session)
    short = issue_token(session, staff=staff, ttl_days=1)
    revoked = issue_token(session, staff=staff)
    other = make_staff(session)
    off = issue_token(session, staff=other)
    session.commit()
    authenticate(session, short.token)
    with pytest.raises(Unauthenticated):
        authenticate(session, short.token, now=utcnow() + timedelta(days=1, seconds=1))
    revoke_token(session, prefix=revoked.prefix)
    session.commit()
    with pytest.raises(Unauthenticated):
        authenticate(session, revoked.token)
    authenticate(session, off.token)
    deactivate_staff(session, staff_id=other.id)
    session.commit()
    with pytest.raises(Unauthenticated):
        authenticate(session, off.token)


def test_revoke_all_and_revoke_errors(session):
    staff = make_staff(session)
    tokens = [issue_token(session, staff=staff) for _ in range(3)]
    session.commit()
    assert revoke_all(session, staff_id=staff.id) == 3
    session.commit()
    for t in tokens:
        with pytest.raises(Unauthenticated):
            authenticate(session, t.token)
    with pytest.raises(NotFound):
        revoke_token(session, token_id=999_999)
    with pytest.raises(ValidationError):
        revoke_token(session)
    revoke_token(session, token_id=tokens[0].token_id)  # twice is harmless


def test_never_expiring_and_bad_expiry(session):
    staff = make_staff(session)
    forever = issue_token(session, staff=staff, ttl_days=None)
    session.commit()
    assert forever.expires_at is None
    authenticate(session, forever.token, now=utcnow() + timedelta(days=5000))
    for bad in (0, -1, 100_000):
        with pytest.raises(ValidationError):
            issue_token(session, staff=staff, ttl_days=bad)
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(StaffToken)) == 1
