"""`o2o staff ...`: the token is printed once and works; revocation and deactivation bite."""

from __future__ import annotations

import argparse
import re

import pytest
import sqlalchemy as sa

from o2o.errors import Unauthenticated, ValidationError
from o2o.staff import cli
from o2o.staff.models import Role, Staff, StaffToken
from o2o.staff.tokens import authenticate
from tests.factories import make_outlet, make_region

TOKEN = re.compile(r"^token:\s+(o2o_\S+)$", re.M)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="o2o")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def env(db_url, monkeypatch):
    monkeypatch.setenv("O2O_DATABASE_URL", db_url)
    return db_url


def test_create_prints_a_working_token_once(env, sessions, capsys):
    with sessions.begin() as s:
        region = make_region(s, code="EAST")
        make_outlet(s, code="SH001", region=region)
    assert run("staff", "create", "--name", "王经理", "--role", "manager",
               "--region", "EAST") == 0
    out = capsys.readouterr().out
    token = TOKEN.search(out).group(1)
    assert "shown only once" in out and "regions EAST" in out
    with sessions() as s:
        principal = authenticate(s, token)
        assert principal.role is Role.MANAGER and principal.region_ids == {region.id}
        assert token not in str(s.scalars(sa.select(StaffToken.token_hash)).all())

    assert run("staff", "create", "--name", "店员", "--role", "staff", "--outlet", "SH001",
               "--no-expiry") == 0
    out = capsys.readouterr().out
    assert "expires: never" in out
    run("staff", "list")
    listing = capsys.readouterr().out
    assert "王经理" in listing and "outlets SH001" in listing and token not in listing


def test_bad_scope_writes_nothing(env, sessions):
    with pytest.raises(ValidationError) as err:
        run("staff", "create", "--name", "x", "--role", "manager", "--region", "NOPE")
    assert "unknown region code 'NOPE'" in err.value.message
    with pytest.raises(ValidationError):
        run("staff", "create", "--name", "x", "--role", "staff")
    with pytest.raises(ValidationError):
        run("staff", "create", "--name", "x", "--role", "admin", "--expires-days", "0")
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Staff)) == 0


def test_token_revoke_and_deactivate(env, sessions, capsys):
    run("staff", "create", "--name", "admin", "--role", "admin")
    first = TOKEN.search(capsys.readouterr().out).group(1)
    with sessions() as s:
        staff_id = s.scalar(sa.select(Staff.id))
    run("staff", "token", str(staff_id), "--expires-days", "7")
    second = TOKEN.search(capsys.readouterr().out).group(1)
    run("staff", "revoke", "--prefix", first[:12])
    with sessions() as s:
        with pytest.raises(Unauthenticated):
            authenticate(s, first)
        authenticate(s, second)
    run("staff", "deactivate", str(staff_id))
    with sessions() as s, pytest.raises(Unauthenticated):
        authenticate(s, second)
    with pytest.raises(ValidationError):
        run("staff", "token", str(staff_id))
    run("staff", "revoke", "--staff", str(staff_id))
    assert "revoked 1 token(s)" in capsys.readouterr().out


def test_through_the_o2o_command(env, capsys):
    from o2o.cli import main

    assert main(["staff", "create", "--name", "老板", "--role", "admin"]) == 0
    assert TOKEN.search(capsys.readouterr().out)
    assert main(["staff", "create", "--name", "x", "--role", "manager"]) == 2
    assert "a manager needs at least one region" in capsys.readouterr().err


def test_login_link_prints_a_url_that_signs_in_once(env, sessions, capsys):
    from o2o.staff.login_links import LoginLinkUsed, redeem_login_link
    from tests.factories_staff import make_staff

    with sessions.begin() as s:
        staff_id = make_staff(s, Role.ADMIN).id
    assert run("staff", "login-link", str(staff_id)) == 0
    out = capsys.readouterr().out
    url = re.search(r"^(http\S+/staff/login\?t=(o2l_\S+))$", out, re.M)
    assert url and "Works once" in out and "█" in out  # the terminal QR code
    with sessions() as s:
        assert redeem_login_link(s, url.group(2)).id == staff_id
        s.commit()
        with pytest.raises(LoginLinkUsed):
            redeem_login_link(s, url.group(2))
    assert run("staff", "login-link", str(staff_id), "--no-qr") == 0
    assert "█" not in capsys.readouterr().out


def test_revoking_an_account_ends_its_console_sessions_and_links(env, sessions, capsys):
    from datetime import timedelta

    from o2o.staff.login_links import LoginLinkInvalid, create_login_link, redeem_login_link
    from o2o.staff.sessions import SessionEnded, resume_session, start_session
    from tests.factories_staff import make_staff

    with sessions.begin() as s:
        staff = make_staff(s, Role.ADMIN)
        sid = start_session(s, staff=staff, idle=timedelta(hours=1), cap=timedelta(hours=2)).sid
        link = create_login_link(s, staff_id=staff.id).token
        staff_id = staff.id
    run("staff", "revoke", "--staff", str(staff_id))
    assert "0 token(s), 1 console session(s) and 1 login link(s)" in capsys.readouterr().out
    with sessions() as s:
        with pytest.raises(SessionEnded):
            resume_session(s, sid, idle=timedelta(hours=1))
        with pytest.raises(LoginLinkInvalid):
            redeem_login_link(s, link)
