"""A PostgreSQL database made unreachable for a while, as a stopped server is to its clients."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from o2o.db.engine import make_engine
from tests.conftest import PG_ADMIN_URL


@contextlib.contextmanager
def unreachable(url: str) -> Iterator[None]:
    """Every connection to the database is refused until the block ends."""
    name = make_engine(url).url.database
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
