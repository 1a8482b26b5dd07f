"""Rendering: every reply parses back with a real XML parser to exactly what was meant."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2o.wechat.replies import (
    DESCRIPTION_MAX_BYTES,
    TEXT_MAX_BYTES,
    TITLE_MAX_BYTES,
    Article,
    NewsReply,
    SuccessReply,
    TextReply,
    cdata,
    render,
    utf8_len,
    utf8_trim,
    xml_clean,
)

HEAD = {"to_user": "o_user", "from_user": "gh_account", "create_time": 1700000000}


def parsed(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def test_text_reply_fields() -> None:
    root = parsed(render(TextReply("您好"), **HEAD))
    assert [c.tag for c in root] == ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content"]
    assert root.findtext("ToUserName") == "o_user"
    assert root.findtext("FromUserName") == "gh_account"
    assert root.findtext("CreateTime") == "1700000000"
    assert root.findtext("MsgType") == "text"
    assert root.findtext("Content") == "您好"


def test_success_is_the_literal() -> None:
    assert render(SuccessReply(), **HEAD) == "success"


@pytest.mark.parametrize("text", [
    "a]]>b", "]]>", "]]]]>", "<![CDATA[x]]>", "<b>&amp; & <", "🍵🧋 第二杯半价", "\U0010FFFF",
])
def test_hostile_text_survives_exactly(text: str) -> None:
    assert parsed(render(TextReply(text), **HEAD)).findtext("Content") == text


def test_line_ends_are_written_as_the_parser_reads_them() -> None:
    content = parsed(render(TextReply("a\tb\r\nc\rd\ne"), **HEAD)).findtext("Content")
    assert content == "a\tb\nc\nd\ne"


def test_illegal_xml_characters_are_dropped() -> None:
    text = "a\x00b\x01c\x08d\x0be\x1ff\ud800g\ufffeh\uffffi"
    assert parsed(render(TextReply(text), **HEAD)).findtext("Content") == "abcdefghi"


def test_user_names_are_escaped_too() -> None:
    root = parsed(render(TextReply("x"), to_user="o]]><evil/>", from_user="gh&", create_time=1))
    assert root.findtext("ToUserName") == "o]]><evil/>"
    assert root.findtext("FromUserName") == "gh&"


def test_news_reply_items() -> None:
    articles = [Article(f"店{i} ]]>", f"描述 {i} <&>", f"https://img/{i}.png", f"https://h5/{i}?a=1&b=2")
                for i in range(3)]
    root = parsed(render(NewsReply(articles), **HEAD))
    assert root.findtext("MsgType") == "news"
    assert root.findtext("ArticleCount") == "3"
    items = root.find("Articles").findall("item")
    assert [(i.findtext("Title"), i.findtext("Description"), i.findtext("PicUrl"), i.findtext("Url"))
            for i in items] == [(a.title, a.description, a.pic_url, a.url) for a in articles]


def test_news_reply_is_capped_at_eight_and_at_max_articles() -> None:
    articles = [Article(str(i)) for i in range(12)]
    assert parsed(render(NewsReply(articles), **HEAD)).findtext("ArticleCount") == "8"
    one = parsed(render(NewsReply(articles), **HEAD, max_articles=1))
    assert one.findtext("ArticleCount") == "1"
    assert len(one.find("Articles").findall("item")) == 1


def test_news_needs_an_article() -> None:
    with pytest.raises(ValueError):
        NewsReply([])
    with pytest.raises(TypeError):
        NewsReply(["not an article"])  # type: ignore[list-item]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x", "https://" + "a" * 3000])
def test_unusable_links_are_dropped_not_rendered(url: str) -> None:
    item = parsed(render(NewsReply([Article("t", url=url, pic_url=url)]), **HEAD)).find("Articles/item")
    assert item.findtext("Url") == "" and item.findtext("PicUrl") == ""
    assert item.findtext("Title") == "t"


def test_titles_and_descriptions_are_trimmed_by_bytes() -> None:
    article = Article("门" * 100, "述" * 300)
    item = parsed(render(NewsReply([article]), **HEAD)).find("Articles/item")
    title, description = item.findtext("Title"), item.findtext("Description")
    assert utf8_len(title) <= TITLE_MAX_BYTES and title.endswith("…")
    assert title == "门" * 41 + "…"  # 41 * 3 + 3 = 126 <= 128; 42 would be 129
    assert utf8_len(description) <= DESCRIPTION_MAX_BYTES and description == "述" * 169 + "…"


def test_long_text_reply_is_trimmed() -> None:
    content = parsed(render(TextReply("字" * 1000), **HEAD)).findtext("Content")
    assert utf8_len(content) <= TEXT_MAX_BYTES and content == "字" * 681 + "…"


def test_utf8_trim_examples() -> None:
    assert utf8_trim("short", 10) == "short"
    assert utf8_trim("abcdef", 6) == "abcdef"
    assert utf8_trim("abcdefg", 6) == "abc…"
    assert utf8_trim("星巴克南京西路店", 12) == "星巴克…"
    assert utf8_trim("星巴克南京西路店", 13) == "星巴克…"
    assert utf8_trim("🍵🍵🍵", 8) == "🍵…"
    assert utf8_trim("abcdef", 2) == "ab"  # no room for the ellipsis: plain cut
    assert utf8_trim("ab cdef", 6) == "ab…"  # no dangling space before the mark
    assert utf8_trim("👨\u200d👩\u200d👧xyz", 10, ellipsis="") == "👨"
    assert utf8_trim("abcdef", 4, ellipsis="...") == "a..."
    with pytest.raises(ValueError):
        utf8_trim("x", -1)


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_utf8_trim_properties(text: str, limit: int) -> None:
    out = utf8_trim(text, limit)
    assert utf8_len(out) <= limit
    if utf8_len(text) <= limit:
        assert out == text
    else:
        assert text.startswith(out.removesuffix("…").rstrip("\u200d\ufe0e\ufe0f"))


@given(st.text(), st.text(), st.text())
def test_any_text_renders_to_well_formed_xml(title: str, description: str, content: str) -> None:
    news = parsed(render(NewsReply([Article(title, description)]), **HEAD)).find("Articles/item")
    assert news.findtext("Title") == utf8_trim(xml_clean(title), TITLE_MAX_BYTES)
    assert news.findtext("Description") == utf8_trim(xml_clean(description), DESCRIPTION_MAX_BYTES)
    assert parsed(render(TextReply(content), **HEAD)).findtext("Content") == utf8_trim(
        xml_clean(content), TEXT_MAX_BYTES)


@given(st.text())
def test_cdata_round_trips_clean_text(text: str) -> None:
    assert (parsed(f"<x>{cdata(text)}</x>").text or "") == xml_clean(text)
