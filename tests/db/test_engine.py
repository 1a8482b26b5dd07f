from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from o2o.db.engine import check_database, make_engine, read_only
from o2o.errors import ConfigError, ServiceUnavailable
from o2o.migrate import downgrade, upgrade
from o2o.models import Base


def test_schema_has_every_table(engine: sa.Engine) -> None:
    names = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= names


def test_migrations_match_the_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _not_postgis})
        assert compare_metadata(ctx, Base.metadata) == []


def _not_postgis(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    # PostGIS owns spatial_ref_sys, and GeoAlchemy2's GiST indexes are named idx_*.
    return not (name == "spatial_ref_sys" or (type_ == "index" and str(name).startswith("idx_")))


def test_downgrade_to_base_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    downgrade(engine, "base")
    left = set(sa.inspect(engine).get_table_names()) - {"alembic_version", "spatial_ref_sys"}
    assert left == set()
    upgrade(engine, "head")
    assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_postgis_location_is_geography_with_gist(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostGIS-specific column type")
    with engine.connect() as conn:
        typ = conn.execute(sa.text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'outlets'::regclass AND attname = 'location'")).scalar()
        idx = conn.execute(sa.text(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'outlets' "
            "AND indexdef ILIKE '%gist%'")).scalar()
    assert typ == "geography(Point,4326)"
    assert idx is not None and "(location)" in idx


def test_unreachable_database_is_one_sentence() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                         connect_args={"connect_timeout": 2})
    with pytest.raises(ServiceUnavailable) as err:
        check_database(engine)
    assert str(err.value).startswith("Cannot reach the database postgresql+psycopg://nobody@")
    assert "\n" not in str(err.value)


def test_database_without_postgis_is_refused(database_without_postgis: str) -> None:
    engine = make_engine(database_without_postgis)
    with pytest.raises(ConfigError, match="has no PostGIS extension"):
        check_database(engine)
    engine.dispose()


def test_read_only_sessions_let_writers_go_on_and_never_write(
        sessions: sa.orm.sessionmaker) -> None:
    engine: sa.Engine = sessions.kw["bind"]
    with read_only(sessions)() as reading:
        before = reading.scalar(sa.text("SELECT count(*) FROM regions"))
        with engine.connect() as writer:
            if engine.dialect.name == "sqlite":  # waiting for the lock would be an error
                writer.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")
            with writer.begin():
                writer.execute(sa.text(
                    "INSERT INTO regions (code, name, timezone, created_at, updated_at) VALUES "
                    "('ro', 'Read only', 'Asia/Shanghai', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        if engine.dialect.name == "postgresql":  # refused by the database, not by us
            with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
                reading.execute(sa.text("DELETE FROM regions"))
    assert read_only(sessions) is read_only(sessions)
    with read_only(sessions)() as reading:
        assert reading.scalar(sa.text("SELECT count(*) FROM regions")) == before + 1
