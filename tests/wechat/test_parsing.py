"""parse_message over WeChat's documented sample pushes, plus field validation and dedup keys."""

from __future__ import annotations

import pytest

from o2o.wechat.errors import (
    BodyTooLarge,
    ForbiddenXML,
    InvalidField,
    MalformedXML,
    MissingField,
)
from o2o.wechat.parsing import parse_message, parse_xml_fields
from o2o.wechat.simulator import message_xml

from .vectors import SAMPLES


def test_text() -> None:
    m = parse_message(SAMPLES["text"])
    assert (m.msg_type, m.from_user, m.to_user) == ("text", "fromUser", "toUser")
    assert (m.create_time, m.msg_id, m.content) == (1348831860, 1234567890123456, "this is a test")
    assert m.event is None and not m.is_event and not m.has_location
    assert m.dedup_key == "msg:1234567890123456"
    assert m.max_articles == 1


def test_location_x_is_latitude_and_y_longitude() -> None:
    m = parse_message(SAMPLES["location"])
    assert m.msg_type == "location"
    assert (m.latitude, m.longitude) == (23.134521, 113.358803)
    assert (m.scale, m.label) == (20, "位置信息")
    assert m.has_location and m.max_articles == 1
    assert m.dedup_key == "msg:1234567890123456"


@pytest.mark.parametrize("kind", ["image", "voice", "link"])
def test_other_user_messages_keep_their_fields_in_raw(kind: str) -> None:
    m = parse_message(SAMPLES[kind])
    assert m.msg_type == kind and m.msg_id == 1234567890123456 and m.max_articles == 1
    expected = {"image": ("MediaId", "media_id"), "voice": ("Recognition", "腾讯微信团队"),
                "link": ("Title", "公众平台官网链接")}[kind]
    assert m.raw[expected[0]] == expected[1]


def test_subscribe_event() -> None:
    m = parse_message(SAMPLES["subscribe"])
    assert (m.msg_type, m.event, m.event_key) == ("event", "subscribe", None)
    assert m.msg_id is None and m.max_articles == 8
    assert m.dedup_key == "evt:FromUser:123456789:subscribe"


def test_subscribe_by_qr_code_keeps_scene_and_ticket() -> None:
    m = parse_message(SAMPLES["subscribe_qr"])
    assert (m.event, m.event_key, m.raw["Ticket"]) == ("subscribe", "qrscene_123123", "TICKET")


def test_location_report_event() -> None:
    m = parse_message(SAMPLES["LOCATION"])
    assert m.event == "location"
    assert (m.latitude, m.longitude, m.precision) == (23.137466, 113.352425, 119.38504)
    assert m.dedup_key == "evt:fromUser:123456789:location"


def test_click_event_is_lowercased_but_key_is_not() -> None:
    m = parse_message(SAMPLES["CLICK"])
    assert (m.event, m.event_key) == ("click", "EVENTKEY")


def test_location_select_payload() -> None:
    m = parse_message(SAMPLES["location_select"])
    assert (m.event, m.event_key) == ("location_select", "6")
    assert (m.latitude, m.longitude, m.scale) == (23.0, 113.0, 15)
    assert m.label == " 广州市海珠区客村艺苑路 106号"
    assert m.poiname == ""
    assert m.raw["SendLocationInfo"]["Location_X"] == "23"


def test_nested_lists_are_kept() -> None:
    m = parse_message(SAMPLES["pic_photo_or_album"])
    assert m.raw["SendPicsInfo"]["PicList"]["item"]["PicMd5Sum"] == "5a75aaca956d97be686719218f275c6b"


def test_bytes_and_bom_are_accepted() -> None:
    m = parse_message(b"\xef\xbb\xbf" + SAMPLES["text"].encode("utf-8"))
    assert m.content == "this is a test"


def test_simulator_builders_round_trip() -> None:
    m = parse_message(message_xml("event", "location_select", 31.2, 121.5, "外滩",
                                  from_user="o1", create_time=5))
    assert (m.event, m.event_key, m.latitude, m.longitude, m.label) == (
        "location_select", "NEARBY_SELECT", 31.2, 121.5, "外滩")
    m = parse_message(message_xml("event", "LOCATION", -33.9, 151.2, from_user="o1"))
    assert (m.event, m.latitude, m.longitude) == ("location", -33.9, 151.2)
    m = parse_message(message_xml("event", "click", "OFFERS"))
    assert (m.event, m.event_key) == ("click", "OFFERS")
    m = parse_message(message_xml("text", "第二杯 ]]> <半价> & 🍵", msg_id=9))
    assert (m.content, m.dedup_key) == ("第二杯 ]]> <半价> & 🍵", "msg:9")


def test_two_events_in_the_same_second_from_different_users_differ() -> None:
    a = parse_message(message_xml("event", "subscribe", from_user="a", create_time=1))
    b = parse_message(message_xml("event", "subscribe", from_user="b", create_time=1))
    assert a.dedup_key != b.dedup_key


def replace(xml: str, old: str, new: str) -> str:
    assert old in xml
    return xml.replace(old, new)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("<MsgType><![CDATA[text]]></MsgType>", "", "MsgType"),
    ("<FromUserName><![CDATA[fromUser]]></FromUserName>", "", "FromUserName"),
    ("<CreateTime>1348831860</CreateTime>", "", "CreateTime"),
    ("<Content><![CDATA[this is a test]]></Content>", "", "Content"),
    ("<MsgType><![CDATA[text]]></MsgType>", "<MsgType>   </MsgType>", "MsgType"),
])
def test_missing_fields(old: str, new: str, field: str) -> None:
    with pytest.raises(MissingField) as caught:
        parse_message(replace(SAMPLES["text"], old, new))
    assert caught.value.details == [{"field": field, "message": "required"}]


@pytest.mark.parametrize(("old", "new"), [
    ("<Location_X>23.134521</Location_X>", "<Location_X>90.5</Location_X>"),
    ("<Location_Y>113.358803</Location_Y>", "<Location_Y>-180.01</Location_Y>"),
    ("<Location_X>23.134521</Location_X>", "<Location_X>nan</Location_X>"),
    ("<Location_X>23.134521</Location_X>", "<Location_X>inf</Location_X>"),
    ("<Location_X>23.134521</Location_X>", "<Location_X>north</Location_X>"),
    ("<Location_X>23.134521</Location_X>", "<Location_X><a>1</a></Location_X>"),
    ("<Scale>20</Scale>", "<Scale>1e300</Scale>"),
    ("<MsgId>1234567890123456</MsgId>", "<MsgId>12x</MsgId>"),
    ("<MsgId>1234567890123456</MsgId>", "<MsgId>" + "9" * 400 + "</MsgId>"),
    ("<CreateTime>1351776360</CreateTime>", "<CreateTime>1.5</CreateTime>"),
])
def test_invalid_fields(old: str, new: str) -> None:
    with pytest.raises(InvalidField):
        parse_message(replace(SAMPLES["location"], old, new))


def test_location_without_coordinates_is_missing_field() -> None:
    with pytest.raises(MissingField):
        parse_message(replace(SAMPLES["location"], "<Location_Y>113.358803</Location_Y>", ""))
    no_info = replace(SAMPLES["location_select"], "<SendLocationInfo>", "<Other>")
    no_info = replace(no_info, "</SendLocationInfo>", "</Other>")
    with pytest.raises(MissingField):
        parse_message(no_info)


def test_duplicate_top_level_field_is_refused() -> None:
    doubled = replace(SAMPLES["text"], "</xml>", "<MsgType><![CDATA[event]]></MsgType></xml>")
    with pytest.raises(MalformedXML):
        parse_message(doubled)


def test_wrong_root_and_empty_root() -> None:
    with pytest.raises(MalformedXML):
        parse_message("<root><MsgType>text</MsgType></root>")
    with pytest.raises(MalformedXML):
        parse_message("<xml/>")


def test_dtd_is_forbidden_even_without_entities() -> None:
    with pytest.raises(ForbiddenXML):
        parse_xml_fields('<!DOCTYPE xml [<!ELEMENT xml ANY>]><xml><a>1</a></xml>')


def test_size_cap_is_in_bytes_not_characters() -> None:
    xml = "<xml><Content>" + "店" * 100 + "</Content></xml>"  # 300 bytes of content
    with pytest.raises(BodyTooLarge):
        parse_xml_fields(xml, max_bytes=len(xml) + 10)
    assert parse_xml_fields(xml, max_bytes=len(xml.encode()))["Content"] == "店" * 100


def test_depth_is_capped() -> None:
    deep = "<xml>" + "<a>" * 6 + "x" + "</a>" * 6 + "</xml>"
    with pytest.raises(MalformedXML):
        parse_xml_fields(deep)


def test_element_count_is_capped() -> None:
    many = "<xml><g>" + "<i>1</i>" * 300 + "</g></xml>"
    with pytest.raises(MalformedXML):
        parse_xml_fields(many)
