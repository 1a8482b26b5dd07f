"""A scratch PostGIS database for one benchmark run, or None when no server answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from o2o.db import make_engine

PG_ADMIN = os.environ.get("O2O_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_postgis() -> Iterator[str | None]:
    """Create a uniquely named database with PostGIS, yield its URL, drop it afterwards."""
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"o2o_bench_wechat_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"PostGIS skipped: {str(exc.orig).strip()[:120]}")
        admin.dispose()
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
