"""Handler context: query ids are uuid5 of the delivery, so ids stay stable across versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from o2o.wechat.context import _QUERY_NS, HandlerContext
from o2o.wechat.parsing import parse_message
from o2o.wechat.simulator import message_xml


def _ctx() -> HandlerContext:
    none: Any = None
    return HandlerContext(settings=none, catalog=none, sessions=none, writer=none,
                          now=datetime(2026, 5, 6, tzinfo=UTC), customer_hash="c" * 64)


def test_query_id_is_the_uuid5_of_the_delivery_key() -> None:
    ctx = _ctx()
    for xml in (message_xml("location", 31.2, 121.4, msg_id=42),
                message_xml("event", "location_select", 31.2, 121.4), message_xml("text", "附近")):
        message = parse_message(xml)
        expected = uuid.uuid5(_QUERY_NS, ctx.delivery_key(message)).hex
        assert ctx.query_id(message) == expected
        assert ctx.query_id(message) == ctx.query_id(parse_message(xml))  # retries: same id
