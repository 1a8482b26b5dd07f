"""The process's long-lived services, built once at start-up and shared by all requests."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from o2o.catalog import snapshot
from o2o.catalog.runtime import Catalog
from o2o.config import Settings
from o2o.db.engine import check_database, make_engine, make_sessionmaker
from o2o.db.journal import Journal
from o2o.db.writer import BatchWriter
from o2o.errors import ServiceUnavailable
from o2o.geo import region

log = logging.getLogger("o2o.services")


@dataclass
class Services:
    """What a request handler, a CLI command or a worker needs; no globals anywhere."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: Catalog
    redis: Any | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _writer: BatchWriter | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def writer(self) -> BatchWriter:
        """The group-commit writer of the reply path, started on first use."""
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    journal = Journal(self.settings.state_path / "journal") \
                        if self.settings.write_journal else None
                    self._writer = BatchWriter(
                        self.sessions, delay_s=self.settings.write_batch_delay_s,
                        journal=journal)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()  # what is queued is written before the engine goes
        self.catalog.close()
        for extra in reversed(list(self.extras.values())):  # last started, first stopped
            stop = getattr(extra, "close", None)
            if callable(stop):
                stop()
        if self.redis is not None:
            self.redis.close()
        self.engine.dispose()


def connect_redis(url: str, *, required: bool = True) -> Any:
    """A Redis client that has answered PING, or one clear sentence why not. Not
    `required` (a serving worker), an unreachable Redis is logged and the client returned
    anyway: it reconnects by itself when Redis is back, and its callers fail fast meanwhile."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # Short timeouts and no retries: Redis sits on the WeChat reply path, which has a 5 s
    # deadline; a stalled Redis must fail fast so the reply is computed without it.
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=1,
                                  retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    except redis.RedisError as exc:
        if required:
            raise ServiceUnavailable(f"Cannot reach Redis at {url}: {exc}") from exc
        log.warning("Redis at %s unreachable at start (%s); used when it answers", url, exc)
    return client


def build_services(settings: Settings, *, migrate: bool | None = None,
                   load_demo: bool | None = None, sync: bool = True) -> Services:
    """Connect, check and migrate the database, load the demo chain into an empty embedded
    database, build the catalog, and start following changes (`sync`).

    A serving worker (`sync`) never fails to start because the database or Redis cannot be
    reached: it serves the host's last catalog snapshot, journals its writes, and becomes
    whole by itself when they answer (uvicorn stops every worker when one fails to start).
    Anything else (a wrong schema, no PostGIS) still stops the start with one sentence."""
    migrate = settings.auto_migrate if migrate is None else migrate
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    try:
        prepare_database(settings, engine, sessions, migrate=migrate, load_demo=load_demo)
        reachable = True
    except ServiceUnavailable as exc:
        if not sync:
            engine.dispose()
            raise
        log.error("%s; serving the last catalog snapshot and journaling writes until it "
                  "answers", exc)
        reachable = False
    redis_client = connect_redis(settings.redis_url, required=not sync) \
        if settings.redis_url else None
    catalog = Catalog(sessions, poll_s=settings.catalog_poll_s,
                      snapshot=settings.state_path / snapshot.NAME if sync else None)
    if reachable:
        try:
            catalog.load()
        except sa.exc.OperationalError:  # gone again since the check
            if not sync:
                raise
            reachable = False
    if not reachable:
        catalog.load_snapshot()
    services = Services(settings=settings, engine=engine, sessions=sessions, catalog=catalog,
                        redis=redis_client)
    if sync:  # a serving process, not `o2o serve`'s one-off set-up before its workers
        region.prepare()  # the datum rule's grid: built now, not on a customer's push
        catalog.start()
        _ = services.writer  # started now: it replays journals left by dead workers
    if sync and settings.wechat_subscribe_template_id and settings.reminder_poll_s > 0:
        from o2o.reminders.job import ReminderThread  # every worker: claims keep it once
        from o2o.wechat.platform import platform_of

        services.extras["reminders"] = ReminderThread(sessions, settings,
                                                      platform_of(services)).start()
    return services


def prepare_database(settings: Settings, engine: Engine, sessions: sessionmaker[Session], *,
                     migrate: bool, load_demo: bool | None) -> None:
    """Check (and migrate, and fill an empty embedded database with the demo chain)."""
    check_database(engine)
    if migrate:
        from o2o.migrate import upgrade

        upgrade(engine)
    if load_demo is None:
        load_demo = migrate and settings.load_demo_data and settings.is_sqlite
    if load_demo:
        from o2o.catalog.demo import load_demo_if_empty

        load_demo_if_empty(sessions)
