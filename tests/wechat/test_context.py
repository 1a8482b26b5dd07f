"""Handler context: query ids are stable per delivery and ordered by the message's time."""

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


def test_query_id_is_a_uuid7_of_create_time_and_the_delivery_key() -> None:
    ctx = _ctx()
    for xml in (message_xml("location", 31.2, 121.4, msg_id=42, create_time=1_795_000_000),
                message_xml("event", "location_select", 31.2, 121.4),
                message_xml("text", "附近")):
        message = parse_message(xml)
        query_id = ctx.query_id(message)
        as_uuid = uuid.UUID(hex=query_id)
        assert as_uuid.version == 7 and as_uuid.variant == uuid.RFC_4122
        assert int(query_id[:12], 16) == message.create_time * 1000  # CreateTime, in ms
        # The rest is the uuid5 of the delivery key, bar the version nibble.
        of_key = uuid.uuid5(_QUERY_NS, ctx.delivery_key(message)).hex
        assert query_id[13:] == of_key[13:]
        assert query_id == ctx.query_id(parse_message(xml))  # retries: same id


def test_query_ids_sort_by_message_time_and_differ_per_delivery() -> None:
    ctx = _ctx()
    ids = [ctx.query_id(parse_message(message_xml("location", 31.2, 121.4, msg_id=m,
                                                  create_time=t)))
           for t, m in ((1_795_000_000, 9), (1_795_000_001, 3), (1_795_000_060, 1))]
    assert ids == sorted(ids) and len(set(ids)) == 3
    same_second = {ctx.query_id(parse_message(message_xml("location", 31.2, 121.4, msg_id=m,
                                                          create_time=1_795_000_000)))
                   for m in range(100)}
    assert len(same_second) == 100
