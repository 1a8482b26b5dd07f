"""A bulk import into PostgreSQL leaves fresh planner statistics behind: the tables it filled
are analyzed in its transaction, so the first query after it is planned on the real table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from o2o.catalog.importer import load_postgres
from o2o.catalog.importer.load import import_records
from o2o.db import make_engine, make_sessionmaker, transaction
from tests.catalog.importer.test_import_bulk import rec
from tests.conftest import _truncate


@pytest.fixture
def pg(postgis_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(postgis_url)
    yield engine
    engine.dispose()
    _truncate(postgis_url)


def statistics(engine: sa.Engine) -> tuple[float, int, object]:
    """(pg_class.reltuples, rows actually there, last manual analyze) of `outlets`."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT c.reltuples, (SELECT count(*) FROM outlets), s.last_analyze "
            "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = 'outlets'::regclass")).one()  # type: ignore[return-value]


def load(engine: sa.Engine, records: list, *, dry_run: bool = False) -> None:  # type: ignore[type-arg]
    with transaction(make_sessionmaker(engine)) as session:
        import_records(session, records, dry_run=dry_run)
        if dry_run:
            session.rollback()


def test_first_import_is_analyzed_and_committed_with_its_statistics(pg: sa.Engine) -> None:
    assert statistics(pg)[0] <= 0  # never analyzed (or truncated)
    load(pg, [rec(n) for n in range(300)])
    reltuples, rows, last_analyze = statistics(pg)
    assert rows == 300 and reltuples == 300  # the import's own rows counted as live
    assert last_analyze is not None
    with pg.connect() as conn:  # the change feed the import filled is analyzed too
        assert conn.execute(sa.text("SELECT reltuples FROM pg_class "
                                    "WHERE oid = 'catalog_changes'::regclass")).scalar() == 300


def test_small_import_into_a_large_table_leaves_statistics_to_autovacuum(pg: sa.Engine) -> None:
    load(pg, [rec(n) for n in range(300)])
    load(pg, [rec(n) for n in range(300, 310)])  # 10 rows: under 10% of the 300 known
    reltuples, rows, _ = statistics(pg)
    assert rows == 310 and reltuples == 300
    load(pg, [rec(n) for n in range(310, 350)])  # 40 rows: over 10%
    assert statistics(pg)[:2] == (350, 350)


def test_dry_run_and_unchanged_import_analyze_nothing(pg: sa.Engine) -> None:
    load(pg, [rec(n) for n in range(20)], dry_run=True)
    assert statistics(pg)[0] <= 0
    load(pg, [rec(n) for n in range(20)])
    with pg.connect() as conn:
        assert load_postgres.analyze_if_stale(conn, 0) is False

