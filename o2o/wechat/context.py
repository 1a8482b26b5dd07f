"""What a WeChat handler gets besides the message: the services and who is asking."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.catalog.runtime import Catalog
from o2o.config import Settings
from o2o.db import transaction
from o2o.wechat.parsing import Message

log = logging.getLogger("o2o.wechat")

_QUERY_NS = uuid.UUID("6f1c2c5e-6c8e-4e4a-9d8e-0a1f2b3c4d5e")


@dataclass(frozen=True, slots=True)
class HandlerContext:
    settings: Settings
    catalog: Catalog
    sessions: sessionmaker[Session]
    now: datetime
    #: Keyed hash of the sender's openid: the only customer identity handlers ever see.
    customer_hash: str

    def delivery_key(self, message: Message) -> str:
        """WeChat's retry identity (MsgId, or sender + CreateTime + event) with the openid
        replaced by its keyed hash, so the key can be stored and logged."""
        if message.msg_id is not None and not message.is_event:
            return f"{message.to_user}:msg:{message.msg_id}"
        kind = message.event or message.msg_type
        return f"{message.to_user}:{kind}:{self.customer_hash}:{message.create_time}"

    def query_id(self, message: Message) -> str:
        """Stable per delivery, so WeChat's retries of one message make one query."""
        return uuid.uuid5(_QUERY_NS, self.delivery_key(message)).hex

    def write(self, work: Callable[[Session], object]) -> bool:
        """Run a small write in its own transaction. A failing database must not cost the
        customer the answer (the reply comes from memory), so it is logged, not raised."""
        try:
            with transaction(self.sessions) as session:
                work(session)
            return True
        except sa.exc.SQLAlchemyError:
            log.exception("write skipped while answering a WeChat push")
            return False

    def read(self, work: Callable[[Session], object]) -> object:
        try:
            with self.sessions() as session:
                return work(session)
        except sa.exc.SQLAlchemyError:
            log.exception("read skipped while answering a WeChat push")
            return None
