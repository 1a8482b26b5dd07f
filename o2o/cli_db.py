"""One database transaction for a CLI command, on the configured database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session


@contextmanager
def cli_session() -> Iterator[Session]:
    """Commit when the command succeeds, roll back on any error, always dispose the engine."""
    from o2o.config import Settings
    from o2o.db.engine import check_database, make_engine, make_sessionmaker, transaction

    engine = make_engine(Settings().database_url)
    try:
        check_database(engine)
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()
