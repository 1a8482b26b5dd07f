"""One-time login links: hashed, expiring, used once (even when two taps race), revocable."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from o2o.db.schema import utcnow
from o2o.errors import NotFound, ValidationError
from o2o.staff.login_links import (
    LoginLinkExpired,
    LoginLinkInvalid,
    LoginLinkUsed,
    check_login_link,
    create_login_link,
    login_url,
    redeem_login_link,
    revoke_login_link,
    revoke_login_links,
)
from o2o.staff.models import Role, StaffLoginLink
from tests.factories_staff import make_staff


def test_a_link_signs_its_owner_in_once_and_only_its_hash_is_kept(session) -> None:
    staff = make_staff(session, Role.MANAGER)
    issued = create_login_link(session, staff_id=staff.id)
    assert issued.expires_at - utcnow() <= timedelta(minutes=15)
    assert issued.token not in str(session.scalars(sa.select(StaffLoginLink.token_hash)).all())
    assert check_login_link(session, issued.token).id == staff.id  # a look does not use it
    assert redeem_login_link(session, issued.token).id == staff.id
    with pytest.raises(LoginLinkUsed):
        redeem_login_link(session, issued.token)
    with pytest.raises(LoginLinkUsed):
        check_login_link(session, issued.token)


def test_expired_revoked_unknown_and_deactivated_links_are_refused(session) -> None:
    staff = make_staff(session, Role.STAFF)
    now = utcnow()
    old = create_login_link(session, staff_id=staff.id, ttl_min=1, now=now - timedelta(minutes=2))
    with pytest.raises(LoginLinkExpired):
        redeem_login_link(session, old.token)
    revoked = create_login_link(session, staff_id=staff.id)
    revoke_login_link(session, link_id=revoked.link_id)
    with pytest.raises(LoginLinkInvalid) as err:
        redeem_login_link(session, revoked.token)
    assert err.value.code == "login_link_invalid"
    for raw in (None, "", "o2l_unknown", "o2o_api_token", "o2l_" + "x" * 200):
        with pytest.raises(LoginLinkInvalid):
            redeem_login_link(session, raw)
    live = create_login_link(session, staff_id=staff.id)
    staff.active = False
    session.flush()
    with pytest.raises(LoginLinkInvalid):
        redeem_login_link(session, live.token)
    with pytest.raises(ValidationError, match="deactivated"):
        create_login_link(session, staff_id=staff.id)
    with pytest.raises(NotFound):
        create_login_link(session, staff_id=999_999)
    with pytest.raises(ValidationError):
        create_login_link(session, staff_id=staff.id, ttl_min=0)


def test_revoking_all_of_an_accounts_links(session) -> None:
    staff = make_staff(session, Role.STAFF)
    links = [create_login_link(session, staff_id=staff.id) for _ in range(3)]
    redeem_login_link(session, links[0].token)
    assert revoke_login_links(session, staff_id=staff.id) == 2
    for issued in links[1:]:
        with pytest.raises(LoginLinkInvalid):
            redeem_login_link(session, issued.token)


def test_two_racing_redemptions_sign_in_once(sessions) -> None:
    with sessions.begin() as s:
        staff = make_staff(s, Role.STAFF)
        token = create_login_link(s, staff_id=staff.id).token
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def tap() -> None:
        with sessions() as s:
            barrier.wait()
            try:
                redeem_login_link(s, token)
                s.commit()
                outcomes.append("in")
            except LoginLinkUsed:
                s.rollback()
                outcomes.append("used")
            except sa.exc.OperationalError:  # SQLite: the loser may find the lock taken
                s.rollback()
                outcomes.append("used")

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["in", "used"]


def test_login_url() -> None:
    assert login_url("https://shop.example.com/", "o2l_a-b") == \
        "https://shop.example.com/staff/login?t=o2l_a-b"
