"""Record catalog changes in the writer's transaction so every worker can catch up."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog.models import CatalogChange


def record_change(session: Session, entity: str, entity_id: int) -> None:
    """Append to the change feed; commits (or rolls back) with the caller's transaction."""
    if entity not in ("outlet", "promotion", "region"):
        raise ValueError(f"unknown catalog entity {entity!r}")
    session.add(CatalogChange(entity=entity, entity_id=entity_id))


def latest_seq(session: Session) -> int:
    """The newest change number; 0 for an empty feed. One index-only lookup."""
    return session.execute(sa.select(sa.func.max(CatalogChange.seq))).scalar() or 0


def changes_since(session: Session, seq: int, *, also: Iterable[int] = ()) -> list[CatalogChange]:
    """Changes after `seq`, plus the listed older ones (holes a worker is still waiting on)."""
    cond = CatalogChange.seq > seq
    extra = list(also)
    if extra:
        cond = sa.or_(cond, CatalogChange.seq.in_(extra))
    return list(session.scalars(sa.select(CatalogChange).where(cond).order_by(CatalogChange.seq)))
