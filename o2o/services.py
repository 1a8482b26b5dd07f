"""The process's long-lived services, built once at start-up and shared by all requests."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from o2o.catalog.runtime import Catalog
from o2o.config import Settings
from o2o.db import check_database, make_engine, make_sessionmaker
from o2o.errors import ServiceUnavailable
from o2o.geo import region
from o2o.writer import BatchWriter

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
                    self._writer = BatchWriter(
                        self.sessions, delay_s=self.settings.write_batch_delay_s)
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


def connect_redis(url: str) -> Any:
    """A Redis client that has answered PING, or one clear sentence why not."""
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
        raise ServiceUnavailable(f"Cannot reach Redis at {url}: {exc}") from exc
    return client


def build_services(settings: Settings, *, migrate: bool | None = None,
                   load_demo: bool | None = None, sync: bool = True) -> Services:
    """Connect, check and migrate the database, load the demo chain into an empty embedded
    database, build the catalog, and start following changes (`sync`)."""
    migrate = settings.auto_migrate if migrate is None else migrate
    engine = make_engine(settings.database_url)
    check_database(engine)
    if migrate:
        from o2o.migrate import upgrade

        upgrade(engine)
    sessions = make_sessionmaker(engine)
    if load_demo is None:
        load_demo = migrate and settings.load_demo_data and settings.is_sqlite
    if load_demo:
        from o2o.catalog.demo import load_demo_if_empty

        load_demo_if_empty(sessions)
    redis_client = connect_redis(settings.redis_url) if settings.redis_url else None
    catalog = Catalog(sessions, poll_s=settings.catalog_poll_s)
    catalog.load()
    if sync:  # a serving process, not `o2o serve`'s one-off set-up before its workers
        region.prepare()  # the datum rule's grid: built now, not on a customer's push
        catalog.start()
    services = Services(settings=settings, engine=engine, sessions=sessions, catalog=catalog,
                        redis=redis_client)
    if sync and settings.wechat_subscribe_template_id and settings.reminder_poll_s > 0:
        from o2o.reminders.job import ReminderThread  # every worker: claims keep it once
        from o2o.wechat.platform import platform_of

        services.extras["reminders"] = ReminderThread(sessions, settings,
                                                      platform_of(services)).start()
    return services
