"""Passive replies: the Reply types handlers return, and their rendering to always-valid XML.

Whatever a handler puts in a reply (a store name with `]]>`, `<`, `&`, emoji, control
characters from an imported spreadsheet), the XML stays well-formed: illegal characters
are dropped and CDATA is split around `]]>`. Lengths are trimmed in UTF-8 bytes, because
WeChat measures them so (a Chinese character is 3 bytes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Byte limits. The Official Account docs give none for passive news replies; WeChat Work's
#: news message documents 128 bytes for a title and 512 for a description ("超过会自动截断"),
#: the same card renderer. Trimming ourselves keeps the cut at a character, with an ellipsis.
TITLE_MAX_BYTES = 128
DESCRIPTION_MAX_BYTES = 512
#: Text replies (and customer-service text) are documented at 2048 bytes.
TEXT_MAX_BYTES = 2048
#: A URL is never trimmed (half a URL is a broken link); longer ones are refused by render.
URL_MAX_BYTES = 2048
#: A news reply carries 1..8 articles; a reply to a user's own message only 1 (see registry).
MAX_ARTICLES = 8
ELLIPSIS = "…"
SUCCESS = "success"

log = logging.getLogger("o2o.wechat")

# XML 1.0 Char production: everything else (C0 controls, lone surrogates, U+FFFE/FFFF) goes.
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_clean(text: str) -> str:
    """Drop what XML 1.0 cannot carry, and write line ends as the parser will read them (LF)."""
    return _ILLEGAL_XML.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def cdata(text: str) -> str:
    """Wrap text in CDATA that no `]]>` inside it can close early."""
    return _cdata_clean(xml_clean(text))


def _cdata_clean(text: str) -> str:
    """`cdata` of text `xml_clean` already cleaned (cleaning is idempotent: once is enough)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def utf8_len(text: str) -> int:
    """Length of text in UTF-8 bytes (lone surrogates counted as the 3 bytes they would take)."""
    return len(text.encode("utf-8", "surrogatepass"))


def utf8_trim(text: str, max_bytes: int, *, ellipsis: str = ELLIPSIS) -> str:
    """Cut text to at most max_bytes UTF-8 bytes at a character boundary, marking the cut."""
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    mark = ellipsis.encode("utf-8", "surrogatepass")
    if len(mark) > max_bytes:
        mark, ellipsis = b"", ""
    cut = max_bytes - len(mark)
    # Step back over continuation bytes (10xxxxxx) so the cut never splits a character.
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    head = data[:cut].decode("utf-8", "surrogatepass").rstrip()
    # A zero-width joiner or variation selector left dangling would glue onto the ellipsis.
    head = head.rstrip("\u200d\ufe0e\ufe0f")
    return head + ellipsis


@dataclass(frozen=True, slots=True)
class TextReply:
    """A plain text answer."""

    content: str


@dataclass(frozen=True, slots=True)
class Article:
    """One news card: title, description, cover picture and the link it opens."""

    title: str
    description: str = ""
    pic_url: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class NewsReply:
    """One to eight news cards; the first is the big one."""

    articles: Sequence[Article]

    def __post_init__(self) -> None:
        items = tuple(self.articles)
        if not items:
            raise ValueError("a news reply needs at least one article; reply with text instead")
        if not all(isinstance(a, Article) for a in items):
            raise TypeError("NewsReply articles must be Article instances")
        object.__setattr__(self, "articles", items)


@dataclass(frozen=True, slots=True)
class SuccessReply:
    """The literal `success`: WeChat shows nothing and does not retry."""


Reply = TextReply | NewsReply | SuccessReply


def render(reply: Reply, *, to_user: str, from_user: str, create_time: int,
           max_articles: int = MAX_ARTICLES) -> str:
    """Render a reply as WeChat passive-reply XML (or `success`)."""
    if isinstance(reply, SuccessReply):
        return SUCCESS
    head = (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
    )
    if isinstance(reply, TextReply):
        content = utf8_trim(xml_clean(reply.content), TEXT_MAX_BYTES)
        return (f"{head}<MsgType><![CDATA[text]]></MsgType>"
                f"<Content>{_cdata_clean(content)}</Content></xml>")
    if isinstance(reply, NewsReply):
        articles = reply.articles[: max(1, min(max_articles, MAX_ARTICLES))]
        items = "".join(_item(a) for a in articles)
        return (
            f"{head}<MsgType><![CDATA[news]]></MsgType><ArticleCount>{len(articles)}</ArticleCount>"
            f"<Articles>{items}</Articles></xml>"
        )
    raise TypeError(f"not a Reply: {type(reply).__name__}")


def _item(article: Article) -> str:
    """One <item>: texts trimmed by bytes, URLs checked but never cut. Each text is
    cleaned once: trimming and `_url` keep clean text clean."""
    title = utf8_trim(xml_clean(article.title), TITLE_MAX_BYTES)
    description = utf8_trim(xml_clean(article.description), DESCRIPTION_MAX_BYTES)
    return (
        f"<item><Title>{_cdata_clean(title)}</Title>"
        f"<Description>{_cdata_clean(description)}</Description>"
        f"<PicUrl>{_cdata_clean(_url(article.pic_url))}</PicUrl>"
        f"<Url>{_cdata_clean(_url(article.url))}</Url></item>"
    )


def _url(url: str) -> str:
    """A link WeChat can open: http(s) within the byte limit; anything else is dropped, loudly.

    Dropping beats failing here: the customer still gets the card, the log names the bad link.
    """
    url = xml_clean(url).strip()
    if not url:
        return ""
    if not url.lower().startswith(("http://", "https://")) or utf8_len(url) > URL_MAX_BYTES:
        log.warning("dropped an unusable article link: %r", url[:80])
        return ""
    return url
