"""Registry: dispatch by type and event, fallback to success, WeChat's reply rules in one place."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from o2o.wechat.parsing import Message, parse_message
from o2o.wechat.registry import Registry, enforce_reply_rules, key_of
from o2o.wechat.replies import Article, NewsReply, SuccessReply, TextReply
from o2o.wechat.simulator import message_xml

from .vectors import SAMPLES

TEN = NewsReply([Article(f"店{i}", url=f"https://h5/{i}") for i in range(10)])


def msg(kind: str, *args: object, **kw: object) -> Message:
    return parse_message(message_xml(kind, *args, **kw))


def test_dispatch_by_message_type_and_event() -> None:
    registry: Registry[str] = Registry()
    seen: list[tuple[str, str]] = []

    @registry.on("text")
    def on_text(message: Message, ctx: str) -> TextReply:
        seen.append(("text", ctx))
        return TextReply(f"you said {message.content}")

    @registry.on("event", "CLICK")
    def on_click(message: Message, ctx: str) -> TextReply:
        seen.append(("click", ctx))
        return TextReply(f"clicked {message.event_key}")

    assert registry.dispatch(msg("text", "hi"), "c1") == TextReply("you said hi")
    assert registry.dispatch(msg("event", "click", "OFFERS"), "c2") == TextReply("clicked OFFERS")
    assert seen == [("text", "c1"), ("click", "c2")]
    assert sorted(map(str, registry.keys())) == ["('event', 'click')", "text"]


def test_unknown_types_and_events_get_success() -> None:
    registry: Registry[None] = Registry()
    registry.on("text")(lambda m, c: TextReply("x"))
    assert registry.dispatch(parse_message(SAMPLES["image"]), None) == SuccessReply()
    assert registry.dispatch(msg("event", "subscribe"), None) == SuccessReply()
    assert registry.respond(msg("event", "subscribe"), None) == "success"


def test_fallback_handler() -> None:
    registry: Registry[None] = Registry()

    @registry.fallback
    def anything(message: Message, ctx: None) -> TextReply:
        return TextReply(f"fallback for {message.msg_type}")

    assert registry.dispatch(parse_message(SAMPLES["voice"]), None) == TextReply("fallback for voice")


def test_none_means_success() -> None:
    registry: Registry[None] = Registry()
    registry.on("text")(lambda m, c: None)
    assert registry.dispatch(msg("text", "hi"), None) == SuccessReply()


def test_user_message_reply_carries_one_article_event_reply_eight() -> None:
    registry: Registry[None] = Registry()
    registry.on("location")(lambda m, c: TEN)
    registry.on("event", "location_select")(lambda m, c: TEN)
    registry.on("event", "click")(lambda m, c: TEN)
    one = registry.dispatch(msg("location", 31.2, 121.4), None)
    assert isinstance(one, NewsReply) and [a.title for a in one.articles] == ["店0"]
    for event in (msg("event", "location_select", 31.2, 121.4), msg("event", "click", "NEARBY")):
        eight = registry.dispatch(event, None)
        assert isinstance(eight, NewsReply) and len(eight.articles) == 8


def test_rendered_reply_respects_the_limit_and_addresses_the_sender() -> None:
    registry: Registry[None] = Registry()
    registry.on("location")(lambda m, c: TEN)
    xml = registry.respond(msg("location", 31.2, 121.4, from_user="o_me", to_user="gh_shop"), None,
                           now=1700000000)
    root = ET.fromstring(xml)
    assert root.findtext("ToUserName") == "o_me" and root.findtext("FromUserName") == "gh_shop"
    assert root.findtext("CreateTime") == "1700000000"
    assert root.findtext("ArticleCount") == "1"


@pytest.mark.parametrize("event", [("LOCATION", 31.2, 121.4), ("unsubscribe",)])
def test_location_reports_and_unsubscribes_only_get_success(event: tuple[object, ...]) -> None:
    registry: Registry[list[str]] = Registry()
    calls: list[str] = []

    def handler(message: Message, ctx: list[str]) -> TextReply:
        ctx.append(message.event or "")
        return TextReply("should never be sent")

    registry.register(("event", str(event[0])), handler)
    assert registry.dispatch(msg("event", *event), calls) == SuccessReply()
    assert calls == [str(event[0]).lower()]  # the handler still ran (it stores the position)


def test_enforce_rules_leaves_text_alone() -> None:
    message = msg("text", "hi")
    assert enforce_reply_rules(TextReply("ok"), message) == TextReply("ok")


def test_duplicate_registration_is_an_error() -> None:
    registry: Registry[None] = Registry()
    registry.on("text")(lambda m, c: None)
    with pytest.raises(ValueError):
        registry.on("TEXT")(lambda m, c: None)


def test_keys() -> None:
    assert key_of("Location") == "location"
    assert key_of("event", "CLICK") == ("event", "click")
    with pytest.raises(ValueError):
        key_of("event")
    with pytest.raises(ValueError):
        key_of("text", "click")


def test_registries_are_independent() -> None:
    a: Registry[None] = Registry()
    b: Registry[None] = Registry()
    a.on("text")(lambda m, c: TextReply("a"))
    assert b.dispatch(msg("text", "hi"), None) == SuccessReply()


def test_a_user_message_type_wechat_adds_later_still_gets_one_article() -> None:
    future = message_xml("text", "x").replace("<MsgType><![CDATA[text]]></MsgType>",
                                              "<MsgType><![CDATA[hologram]]></MsgType>")
    message = parse_message(future)
    assert message.msg_type == "hologram" and message.max_articles == 1
    registry: Registry[None] = Registry()
    registry.on("hologram")(lambda m, c: TEN)
    reply = registry.dispatch(message, None)
    assert isinstance(reply, NewsReply) and len(reply.articles) == 1


def test_blocking_handlers_are_known_before_dispatch() -> None:
    """The web layer answers memory-only handlers on the event loop and sends the ones that
    read the database (or an unknown fallback) to a worker thread."""
    registry: Registry[None] = Registry()
    registry.register("location", lambda m, c: None)
    registry.register(("event", "click"), lambda m, c: None, blocking=True)
    assert not registry.blocking(msg("location", 31.2, 121.4))
    assert registry.blocking(msg("event", "click", "NEARBY"))
    assert not registry.blocking(msg("text", "hi"))  # unregistered: plain `success`
    registry.fallback(lambda m, c: None)
    assert registry.blocking(msg("text", "hi"))  # a fallback may do anything


def test_the_app_keeps_location_pushes_on_the_loop_and_reads_off_it() -> None:
    from o2o.wechat.handlers import build_registry

    registry = build_registry()
    assert not registry.blocking(msg("location", 31.2, 121.4))
    assert not registry.blocking(msg("event", "subscribe"))
    assert registry.blocking(msg("event", "click", "NEARBY"))  # reads the last position
    assert registry.blocking(msg("text", "优惠"))
