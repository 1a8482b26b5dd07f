"""Credentials of the accounts a caller manages: API tokens (shown once, revocable) and
one-time console login links. Scoped like the accounts themselves (o2o.staff.service) and
audited; the secret itself never reaches the log, only its id, prefix and expiry.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.audit.service import audit
from o2o.catalog.admin_common import unit_of_work
from o2o.errors import NotFound, ValidationError
from o2o.staff.login_links import IssuedLoginLink, create_login_link, login_url
from o2o.staff.models import Staff, StaffToken
from o2o.staff.principal import Principal
from o2o.staff.service import get_account, home_region
from o2o.staff.tokens import IssuedToken, issue_token, revoke_all, revoke_token


def _active(row: Staff, what: str) -> None:
    if not row.active:
        raise ValidationError(f"staff #{row.id} is deactivated; no new {what}.",
                              details=[{"field": "active", "message": "account deactivated"}])


def _note(session: Session, principal: Principal, row: Staff, action: str,
          after: dict[str, object]) -> None:
    audit(session, principal=principal, action=action, entity_type="staff", entity=row,
          before=None, after=after, region_id=home_region(row))


def list_tokens(session: Session, *, principal: Principal, staff_id: int) -> list[StaffToken]:
    get_account(session, principal=principal, staff_id=staff_id)
    return list(session.scalars(sa.select(StaffToken).where(StaffToken.staff_id == staff_id)
                                .order_by(StaffToken.id)))


def own_tokens(session: Session, *, principal: Principal) -> list[StaffToken]:
    """The caller's own tokens (anyone signed in may see and revoke their own)."""
    return list(session.scalars(sa.select(StaffToken).where(
        StaffToken.staff_id == principal.staff_id).order_by(StaffToken.id)))


def revoke_own_token(session: Session, *, principal: Principal, token_id: int) -> StaffToken:
    """Revoke one of the caller's own tokens (a lost phone); anyone else's is "no such
    token". Revoking the token in use signs this caller out of the API."""
    token = session.get(StaffToken, token_id)
    if token is None or token.staff_id != principal.staff_id:
        raise NotFound("No such token.")
    with unit_of_work(session, kind="token", catalog=None):
        revoke_token(session, token_id=token_id)
        _note(session, principal, token.staff, "revoke_token",
              {"token_id": token.id, "prefix": token.prefix})
    return token


def issue_token_for(session: Session, *, principal: Principal, staff_id: int,
                    ttl_days: int | None) -> IssuedToken:
    """A new Bearer token for an active account in scope; the raw token exists only in the
    returned object."""
    row = get_account(session, principal=principal, staff_id=staff_id)
    _active(row, "tokens")
    with unit_of_work(session, kind="token", catalog=None):
        issued = issue_token(session, staff=row, ttl_days=ttl_days)
        _note(session, principal, row, "issue_token",
              {"token_id": issued.token_id, "prefix": issued.prefix,
               "expires_at": issued.expires_at})
    return issued


def revoke_token_for(session: Session, *, principal: Principal, staff_id: int | None = None,
                     token_id: int | None = None, prefix: str | None = None) -> StaffToken:
    """Revoke one token (by id or shown prefix) of an account in scope; given `staff_id`,
    a token of anyone else is "no such token". Revoking twice is harmless."""
    with unit_of_work(session, kind="token", catalog=None):
        token = revoke_token(session, token_id=token_id, prefix=prefix)
        if staff_id is not None and token.staff_id != staff_id:
            raise NotFound("No such token.")
        try:
            row = get_account(session, principal=principal, staff_id=token.staff_id)
        except NotFound:
            raise NotFound("No such token.") from None
        _note(session, principal, row, "revoke_token",
              {"token_id": token.id, "prefix": token.prefix})
    return token


def revoke_all_for(session: Session, *, principal: Principal, staff_id: int) -> int:
    """Revoke every live token of an account in scope (a lost phone, someone leaving)."""
    row = get_account(session, principal=principal, staff_id=staff_id)
    with unit_of_work(session, kind="token", catalog=None):
        revoked = revoke_all(session, staff_id=staff_id)
        if revoked:
            _note(session, principal, row, "revoke_token", {"revoked": revoked})
    return revoked


def issue_login_link_for(session: Session, *, principal: Principal, staff_id: int,
                         ttl_min: int, base_url: str) -> tuple[IssuedLoginLink, str]:
    """A one-time console sign-in link for an active account in scope, and its URL."""
    row = get_account(session, principal=principal, staff_id=staff_id)
    _active(row, "login links")
    with unit_of_work(session, kind="login link", catalog=None):
        link = create_login_link(session, staff_id=row.id, ttl_min=ttl_min,
                                 issued_by=principal.staff_id or None)
        _note(session, principal, row, "issue_login_link",
              {"link_id": link.link_id, "expires_at": link.expires_at})
    return link, login_url(base_url, link.token)
