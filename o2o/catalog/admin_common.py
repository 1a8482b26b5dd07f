"""What every admin write shares: version preconditions, field problems, one commit that maps
database conflicts to domain errors, and the live catalog refresh after it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from o2o.errors import Conflict, O2OError, PreconditionFailed, ValidationError
from o2o.staff.policy import not_found

if TYPE_CHECKING:
    from o2o.catalog.runtime import Catalog

MAX_LIMIT = 200
log = logging.getLogger("o2o.catalog")


class PreconditionRequired(O2OError):
    """A change to an existing thing must say which version it was based on (If-Match)."""

    code = "precondition_required"
    http_status = 428


class Problems:
    """Field-level problems gathered before anything is written; raised together as one 422."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def __bool__(self) -> bool:
        return bool(self.items)

    @classmethod
    def raise_one(cls, field: str, message: str) -> None:
        problems = cls()
        problems.add(field, message)
        problems.raise_if_any()

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError("; ".join(f"{p['field']}: {p['message']}" for p in self.items),
                                  details=self.items)


def check_version(row: Any, expected: int | None, kind: str) -> None:
    """428 without a version, 412 with a stale one: nobody overwrites a change unseen."""
    if expected is None:
        raise PreconditionRequired(
            f"Send If-Match with the {kind}'s ETag (read it first) so a concurrent change is "
            "not overwritten.")
    if not 1 <= expected <= row.version:
        raise PreconditionFailed(
            f"The {kind} has never been at version {expected} (it is at version "
            f"{row.version}); send the ETag you read from it.",
            details={"current_version": row.version})
    if row.version != expected:
        raise PreconditionFailed(
            f"The {kind} changed since you read it (version {expected}, now {row.version}); "
            "read it again and reapply your change.",
            details={"current_version": row.version})


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only what changed, as (before, after), for a readable audit entry."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def check_page(limit: int, offset: int) -> None:
    problems = Problems()
    if not 1 <= limit <= MAX_LIMIT:
        problems.add("limit", f"must be 1..{MAX_LIMIT}")
    if offset < 0:
        problems.add("offset", "must be >= 0")
    problems.raise_if_any()


def page_of(session: Session, query: sa.Select, *order_by: Any, limit: int,
            offset: int) -> tuple[list[Any], int]:
    """One page of a list query's rows in `order_by` order, and how many there are in all."""
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*order_by).limit(limit).offset(offset)).all()
    return list(rows), total


def one_in_scope(session: Session, query: sa.Select, *, kind: str, key: int) -> Any:
    """The one row of a scoped query; missing and out of scope read the same (404)."""
    row = session.scalar(query)
    if row is None:
        raise not_found(kind, f"#{key}")
    return row


@contextmanager
def unit_of_work(session: Session, *, kind: str, catalog: Catalog | None) -> Iterator[None]:
    """Run the block and commit, or roll it all back and say why in domain terms; then make
    this worker's catalog current at once (the others follow the change feed). A failure
    there is logged, never raised: the write is stored and the caller must hear so."""
    try:
        yield
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise PreconditionFailed(
            f"The {kind} was changed by someone else at the same moment; read it again and "
            "reapply your change.") from exc
    except sa.exc.IntegrityError as exc:
        session.rollback()
        raise Conflict(f"The {kind} conflicts with existing data (a code already in use?).",
                       code="integrity_conflict") from exc
    except BaseException:
        session.rollback()
        raise
    # Committed: from here on nothing may fail the write, or a caller would be told "refused"
    # about a change that is stored (issue 19). Every check belongs before the commit.
    if catalog is not None:
        try:
            catalog.refresh()
        except Exception:  # the change feed brings it on the next poll; say why now
            log.exception("%s committed; this worker's catalog will catch up from the feed",
                          kind)
