"""Scratch databases for benchmark runs: a temporary SQLite file, or a uniquely named
PostGIS database on the test server, dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from o2o.db.engine import make_engine

PG_ADMIN = os.environ.get("O2O_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_postgis(prefix: str = "o2o_bench", *,
                    optional: bool = False) -> Iterator[str | None]:
    """Create a uniquely named database with PostGIS, yield its URL, drop it afterwards.
    When no server answers: raise, or with `optional` say so and yield None."""
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if not optional:
            raise
        print(f"PostGIS skipped: {str(exc.orig).strip()[:120]}")
        yield None
        return
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" or "postgis"); PostGIS must be reachable."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    with scratch_postgis() as url:
        assert url is not None  # not optional: an unreachable server raised
        yield url
