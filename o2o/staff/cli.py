"""`o2o staff create|list|token|revoke|deactivate`: accounts and their Bearer tokens.

A token is printed once, when it is made; only its hash is kept, so a lost token is revoked
and replaced, never recovered.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from o2o.cli_db import cli_session
from o2o.staff.models import Staff, StaffToken
from o2o.staff.tokens import DEFAULT_TTL_DAYS, IssuedToken


def register(sub: argparse._SubParsersAction) -> None:
    staff = sub.add_parser("staff", help="staff accounts and API tokens")
    cmds = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")

    create = cmds.add_parser("create", help="add an account and print its first token")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["admin", "manager", "staff"])
    create.add_argument("--region", action="append", default=[], metavar="CODE",
                        help="a region a manager oversees (repeatable)")
    create.add_argument("--outlet", action="append", default=[], metavar="CODE",
                        help="an outlet a staff member looks after (repeatable)")
    _expiry(create)
    create.set_defaults(func=run_create)

    lst = cmds.add_parser("list", help="accounts, their scope and live tokens")
    lst.set_defaults(func=run_list)

    token = cmds.add_parser("token", help="issue another token for an account")
    token.add_argument("staff_id", type=int)
    _expiry(token)
    token.set_defaults(func=run_token)

    revoke = cmds.add_parser("revoke", help="revoke a token (by id or prefix), or all of "
                                            "an account's tokens, console sessions and "
                                            "login links")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--token-id", type=int)
    which.add_argument("--prefix", help="the shown start of the token, e.g. o2o_AbCdEfGh")
    which.add_argument("--staff", type=int, metavar="STAFF_ID",
                       help="every token, console session and unused login link of one "
                            "account (a lost phone)")
    revoke.set_defaults(func=run_revoke)

    link = cmds.add_parser("login-link", help="print a one-time sign-in link for the staff "
                                              "console (and its QR code)")
    link.add_argument("staff_id", type=int)
    link.add_argument("--ttl-min", type=int, default=None,
                      help="minutes the link works (default: O2O_LOGIN_LINK_TTL_MIN, 15)")
    link.add_argument("--no-qr", action="store_true", help="the URL only, no terminal QR code")
    link.set_defaults(func=run_login_link)

    off = cmds.add_parser("deactivate", help="switch an account off (its tokens stop working)")
    off.add_argument("staff_id", type=int)
    off.set_defaults(func=run_deactivate)


def _expiry(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--expires-days", type=int, default=DEFAULT_TTL_DAYS,
                       help=f"token lifetime in days (default {DEFAULT_TTL_DAYS})")
    group.add_argument("--no-expiry", action="store_true", help="a token that never expires")


def _print_token(issued: IssuedToken) -> None:
    print(f"token:   {issued.token}")
    expires = issued.expires_at
    print(f"expires: {expires:%Y-%m-%d %H:%M} UTC" if expires else "expires: never")
    print("Store it now: it is shown only once (only its hash is kept).")


def run_create(args: argparse.Namespace) -> int:
    from o2o.staff.credentials import issue_token_for
    from o2o.staff.principal import OPERATOR
    from o2o.staff.service import create_staff
    from o2o.staff.tokens import check_ttl

    ttl_days = None if args.no_expiry else args.expires_days
    check_ttl(ttl_days)  # before the account is made: a bad expiry leaves nothing behind
    with cli_session() as session:
        staff = create_staff(session, name=args.name, role=args.role,
                             region_codes=args.region, outlet_codes=args.outlet)
        issued = issue_token_for(session, principal=OPERATOR, staff_id=staff.id,
                                 ttl_days=ttl_days)
        print(f"staff #{staff.id} {staff.name} ({staff.role}{_scope(staff)})")
        _print_token(issued)
    return 0


def run_token(args: argparse.Namespace) -> int:
    from o2o.staff.credentials import issue_token_for
    from o2o.staff.principal import OPERATOR

    with cli_session() as session:
        issued = issue_token_for(session, principal=OPERATOR, staff_id=args.staff_id,
                                 ttl_days=None if args.no_expiry else args.expires_days)
        print(f"staff #{issued.staff_id}")
        _print_token(issued)
    return 0


def run_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from o2o.db.schema import utcnow
    from o2o.staff.service import list_staff

    now = utcnow()
    with cli_session() as session:
        for staff in list_staff(session):
            state = "" if staff.active else " [deactivated]"
            print(f"#{staff.id} {staff.name} ({staff.role}{_scope(staff)}){state}")
            tokens = session.scalars(sa.select(StaffToken).where(
                StaffToken.staff_id == staff.id).order_by(StaffToken.id))
            for t in tokens:
                print(f"    token {t.id} {t.prefix}…  {_token_state(t, now)}")
    return 0


def _token_state(t: StaffToken, now: datetime) -> str:
    if t.revoked_at is not None:
        return f"revoked {t.revoked_at:%Y-%m-%d}"
    if t.expires_at is not None and t.expires_at <= now:
        return f"expired {t.expires_at:%Y-%m-%d}"
    until = f"until {t.expires_at:%Y-%m-%d}" if t.expires_at else "no expiry"
    used = t.last_used_at
    return f"live, {until}, " + (f"last used {used:%Y-%m-%d %H:%M}" if used else "never used")


def _scope(staff: Staff) -> str:
    regions = [r.code for r in staff.regions]
    outlets = [o.code for o in staff.outlets]
    if regions:
        return "; regions " + ", ".join(regions)
    if outlets:
        return "; outlets " + ", ".join(outlets)
    return ""


def run_revoke(args: argparse.Namespace) -> int:
    from o2o.staff.credentials import revoke_all_for, revoke_token_for
    from o2o.staff.login_links import revoke_login_links
    from o2o.staff.principal import OPERATOR
    from o2o.staff.sessions import revoke_sessions

    with cli_session() as session:
        if args.staff is not None:
            count = revoke_all_for(session, principal=OPERATOR, staff_id=args.staff)
            ended = revoke_sessions(session, staff_id=args.staff)
            links = revoke_login_links(session, staff_id=args.staff)
            print(f"revoked {count} token(s), {ended} console session(s) and {links} login "
                  f"link(s) of staff #{args.staff}")
        else:
            row = revoke_token_for(session, principal=OPERATOR, token_id=args.token_id,
                                   prefix=args.prefix)
            print(f"revoked token {row.id} ({row.prefix}…) of staff #{row.staff_id}")
    return 0


def run_login_link(args: argparse.Namespace) -> int:
    from o2o.config import Settings
    from o2o.staff.credentials import issue_login_link_for
    from o2o.staff.principal import OPERATOR

    settings = Settings()
    with cli_session() as session:
        issued, url = issue_login_link_for(
            session, principal=OPERATOR, staff_id=args.staff_id,
            ttl_min=args.ttl_min or settings.login_link_ttl_min,
            base_url=settings.public_base_url)
    print(url)
    if not args.no_qr:
        import segno

        segno.make(url, error="m").terminal(compact=True)
    print(f"Works once, until {issued.expires_at:%Y-%m-%d %H:%M} UTC. Hand it only to "
          f"staff #{issued.staff_id}.")
    return 0


def run_deactivate(args: argparse.Namespace) -> int:
    from o2o.staff.service import deactivate_staff

    with cli_session() as session:
        staff = deactivate_staff(session, staff_id=args.staff_id)
        print(f"staff #{staff.id} {staff.name} deactivated; their tokens no longer work")
    return 0
