"""Shared fixtures: the same tests on SQLite and PostGIS, real Redis, the app over HTTP.

PostGIS and Redis tests need the local servers. Without them they skip with a loud reason;
with O2O_REQUIRE_SERVICES=1 (CI) a missing server fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from o2o.config import Settings
from o2o.db.engine import make_engine, make_sessionmaker
from o2o.migrate import upgrade
from o2o.models import Base

REQUIRE = os.environ.get("O2O_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("O2O_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("O2O_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 chars, tests only
BACKENDS = ["sqlite", "postgis"]


SKIP_MARK = "!!! SKIPPED (service unavailable)"
#: What each kind of unavailable service is, by a word of its skip reason.
SERVICES = {"Postg": "PostgreSQL/PostGIS", "Redis": "Redis", "Chromium": "headless Chromium"}


def unavailable(reason: str) -> None:
    """Skip loudly, or fail when the run requires every service (CI)."""
    if REQUIRE:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(f"{SKIP_MARK}: {reason}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """End a run that skipped for want of a service with what is missing and the one
    command that installs it (the README's "Running the whole suite"), after pytest's own
    summary so it is the last thing read."""
    yield
    _missing_services_summary(terminalreporter)


def _missing_services_summary(terminalreporter: pytest.TerminalReporter) -> None:
    missing: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr)
        if SKIP_MARK in reason:
            name = next((v for k, v in SERVICES.items() if k in reason), "a service")
            missing[name] = missing.get(name, 0) + 1
    if not missing:
        return
    counts = ", ".join(f"{n} need {name}" for name, n in sorted(missing.items()))
    terminalreporter.write_sep("=", f"{sum(missing.values())} tests skipped ({counts})",
                               yellow=True)
    terminalreporter.write_line("Install them with `make deps` (Debian, as root or via sudo), "
                                "start PostgreSQL and Redis, and run `make test` again; see "
                                "README.md, \"Running the whole suite\".")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (fast, fully isolated)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """A fresh PostGIS database for this test session, migrated, dropped at the end."""
    admin, name, url = _create_database("o2o_test")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        _drop(admin, name)
        unavailable(f"PostGIS extension not installable: {str(exc).splitlines()[0]}")
    upgrade(engine)
    engine.dispose()
    yield url
    _drop(admin, name)


def _create_database(prefix: str) -> tuple[sa.Engine, str, str]:
    """A new empty database on the test server: (admin engine, its name, its URL)."""
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {str(exc.orig).strip()[:200]}")
    return admin, name, admin.url.set(database=name).render_as_string(hide_password=False)


def _drop(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_without_postgis() -> Iterator[str]:
    """URL of a scratch PostgreSQL database with no PostGIS extension (dropped after)."""
    admin, name, url = _create_database("o2o_nogis")
    yield url
    _drop(admin, name)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database URL for one test, on each backend in turn, empty at the start."""
    if request.param == "sqlite":
        path = tmp_path / "o2o.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgis_url")
    yield url
    _truncate(url)


def _truncate(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: sa.Engine) -> sa.orm.sessionmaker:
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessions: sa.orm.sessionmaker) -> Iterator[sa.orm.Session]:
    with sessions() as s:
        yield s


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Development settings with fixed test secrets (no generated files)."""
    return Settings(
        database_url=db_url,
        state_dir=tmp_path / "state",
        wechat_token="test-token",
        wechat_aes_key=TEST_AES_KEY,
        wechat_appid="wxtestappid0001",
        wechat_secret="test-secret",
        signing_key="test-signing-key-0123456789",
        customer_hash_key="test-customer-hash-key",
        public_base_url="http://testserver",
        load_demo_data=False,
        auto_migrate=False,
    )


@pytest.fixture
def services(settings: Settings):  # type: ignore[no-untyped-def]
    """The app's services on the test database; the catalog syncs only when asked
    (`services.catalog.refresh()`), so tests are deterministic."""
    from o2o.services import build_services

    svc = build_services(settings, migrate=False, load_demo=False, sync=False)
    yield svc
    svc.close()


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    """HTTP through the real app (TestClient), on the test database."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(services.settings, services=services)) as c:
        yield c


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL
