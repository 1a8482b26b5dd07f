"""Parse WeChat push XML into a typed Message, refusing anything a hostile sender could abuse.

The parser is expat with DTDs, entities and external references refused; the body is
capped before parsing and decoded as strict UTF-8 (WeChat sends nothing else), so a declared
encoding cannot smuggle another one in. Every failure is one of o2o.wechat.errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from xml.parsers import expat

from o2o.wechat.errors import (
    BodyTooLarge,
    ForbiddenXML,
    InvalidField,
    MalformedXML,
    MissingField,
)

#: WeChat pushes are a few hundred bytes; an encrypted one a little over 1 KiB. 64 KiB is generous.
DEFAULT_MAX_BYTES = 64 * 1024
#: Nesting deeper than this (xml > SendPicsInfo > PicList > item > PicMd5Sum) is not WeChat.
MAX_DEPTH = 4
MAX_ELEMENTS = 256



def decode_body(body: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Return the body as text after the size cap and a strict UTF-8 decode."""
    if isinstance(body, str):
        try:
            size = len(body.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise MalformedXML("body contains unpaired surrogates") from exc
        if size > max_bytes:
            raise BodyTooLarge(f"body is {size} bytes; the limit is {max_bytes}")
        return body
    if not isinstance(body, bytes | bytearray | memoryview):
        raise MalformedXML(f"body must be str or bytes, not {type(body).__name__}")
    if len(body) > max_bytes:
        raise BodyTooLarge(f"body is {len(body)} bytes; the limit is {max_bytes}")
    try:
        return bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedXML(f"body is not UTF-8 (byte {exc.start})") from exc


def parse_xml_fields(xml: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Return `<xml>`'s children as a dict: text for leaves, dicts for groups, lists for repeats.

    Straight on expat (no tree is built): a document type declaration, and with it every
    entity definition, is refused the moment it starts; so are external references,
    nesting beyond MAX_DEPTH and more than MAX_ELEMENTS elements.
    """
    text = decode_body(xml, max_bytes=max_bytes)
    fields = _Fields()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.StartElementHandler = fields.start
    parser.EndElementHandler = fields.end
    parser.CharacterDataHandler = fields.text
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise MalformedXML(f"not well-formed XML: {exc}") from exc
    except (ValueError, LookupError, RecursionError) as exc:
        raise MalformedXML(f"unreadable XML: {exc}") from exc
    if not fields.root:
        raise MalformedXML("<xml> has no fields")
    return fields.root


def _refuse_dtd(*_args: Any) -> None:
    raise ForbiddenXML("DTDs, entities and external references are refused")


class _Fields:
    """Builds the nested dict while expat reads: one frame per open element."""

    __slots__ = ("count", "root", "stack")

    def __init__(self) -> None:
        self.root: dict[str, Any] = {}
        self.stack: list[list[Any]] = []  # [tag, children dict or None, text parts]
        self.count = 0

    def start(self, tag: str, _attrs: Any) -> None:
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise MalformedXML(f"more than {MAX_ELEMENTS} elements")
        depth = len(self.stack)
        if depth == 0:
            if tag != "xml":
                raise MalformedXML(f"root element is <{tag}>, expected <xml>")
            self.stack.append([tag, self.root, []])
            return
        if depth > MAX_DEPTH:
            raise MalformedXML(f"elements nested deeper than {MAX_DEPTH}")
        parent = self.stack[-1]
        if parent[1] is None:
            parent[1] = {}
        self.stack.append([tag, None, []])

    def text(self, data: str) -> None:
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame[1] is None:
            frame[2].append(data)

    def end(self, _tag: str) -> None:
        tag, children, parts = self.stack.pop()
        if not self.stack:
            return
        value = children if children is not None else "".join(parts)
        siblings = self.stack[-1][1]
        if tag not in siblings:
            siblings[tag] = value
        elif len(self.stack) == 1:
            # A repeated top-level field: which of the two values would be signed?
            raise MalformedXML(f"field <{tag}> appears more than once")
        elif isinstance(siblings[tag], list):
            siblings[tag].append(value)
        else:
            siblings[tag] = [siblings[tag], value]


@dataclass(frozen=True, slots=True)
class Message:
    """One push from WeChat: a user message or an event, with the fields handlers need typed."""

    msg_type: str
    from_user: str
    to_user: str
    create_time: int
    event: str | None = None
    msg_id: int | None = None
    content: str | None = None
    #: GCJ-02 degrees, from Location_X/Y, SendLocationInfo or the LOCATION event's Latitude/Longitude.
    latitude: float | None = None
    longitude: float | None = None
    scale: int | None = None
    label: str | None = None
    poiname: str | None = None
    precision: float | None = None
    event_key: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def is_event(self) -> bool:
        return self.msg_type == "event"

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def max_articles(self) -> int:
        """How many news articles WeChat accepts in a passive reply to this push.

        Anything a user sent (text, image, voice, video, location, link, and types WeChat
        adds later) gets one; only events get eight.
        """
        return 8 if self.is_event else 1

    @property
    def dedup_key(self) -> str:
        """Key under which WeChat's retries of this push are recognised (MsgId, or user+time+event)."""
        if self.msg_id is not None and not self.is_event:
            return f"msg:{self.msg_id}"
        if self.is_event:
            return f"evt:{self.from_user}:{self.create_time}:{self.event}"
        return f"msg:{self.from_user}:{self.create_time}:{self.msg_type}"


def parse_message(xml: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Message:
    """Parse a plaintext push into a Message; raise a WeChatError subclass for anything else."""
    raw = parse_xml_fields(xml, max_bytes=max_bytes)
    msg_type = _required(raw, "MsgType").lower()
    values: dict[str, Any] = {
        "msg_type": msg_type,
        "from_user": _required(raw, "FromUserName"),
        "to_user": _required(raw, "ToUserName"),
        "create_time": _int(raw, "CreateTime", required=True),
        "msg_id": _int(raw, "MsgId"),
        "raw": MappingProxyType(raw),
    }
    if msg_type == "text":
        values["content"] = _text(raw, "Content", required=True)
    elif msg_type == "location":
        values.update(_point(raw, "Location_X", "Location_Y"))
        values["scale"] = _scale(raw)
        values["label"] = _text(raw, "Label")
    elif msg_type == "event":
        values.update(_event_fields(raw))
    return Message(**values)


def _event_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Typed fields of an event; location_select and LOCATION carry a position."""
    event = _required(raw, "Event").lower()
    out: dict[str, Any] = {"event": event, "event_key": _text(raw, "EventKey")}
    if event == "location_select":
        info = raw.get("SendLocationInfo")
        if not isinstance(info, dict):
            raise MissingField("location_select event without SendLocationInfo",
                               details=[{"field": "SendLocationInfo", "message": "required"}])
        out.update(_point(info, "Location_X", "Location_Y"))
        out["scale"] = _scale(info)
        out["label"] = _text(info, "Label")
        out["poiname"] = _text(info, "Poiname")
    elif event == "location":
        out.update(_point(raw, "Latitude", "Longitude"))
        out["precision"] = _float(raw, "Precision")
    return out


def _problem(cls: type[MissingField] | type[InvalidField], name: str, message: str) -> Exception:
    """Build a field error with `details` in the shape the admin API uses."""
    return cls(f"{name}: {message}", details=[{"field": name, "message": message}])


def _text(raw: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """A leaf field as text; groups where a leaf belongs are refused."""
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise _problem(MissingField, name, "required")
        return None if value is None else ""
    if not isinstance(value, str):
        raise _problem(InvalidField, name, "expected text, found nested elements")
    return value


def _required(raw: Mapping[str, Any], name: str) -> str:
    """A leaf field that must be present and not blank, stripped of surrounding space."""
    value = (_text(raw, name, required=True) or "").strip()
    if not value:
        raise _problem(MissingField, name, "required")
    return value


def _int(raw: Mapping[str, Any], name: str, *, required: bool = False) -> int | None:
    """An integer field; WeChat's ids are up to 64 bits, so longer digit strings are refused."""
    value = _text(raw, name, required=required)
    if value is None or value == "":
        return None
    value = value.strip()
    digits = value[1:] if value[:1] == "-" else value
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 20):
        raise _problem(InvalidField, name, f"expected an integer, got {value[:32]!r}")
    return int(value)


def _float(raw: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    value = _text(raw, name, required=required)
    if value is None or value == "":
        return None
    value = value.strip()
    try:
        number = float(value) if len(value) <= 32 else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _problem(InvalidField, name, f"expected a number, got {value[:32]!r}")
    return number


def _scale(raw: Mapping[str, Any]) -> int | None:
    """Map zoom level; SendLocationInfo sends it as text that may carry decimals."""
    value = _float(raw, "Scale")
    if value is None:
        return None
    if not 0 <= value <= 100:
        raise _problem(InvalidField, "Scale", f"zoom level {value} outside [0, 100]")
    return round(value)


def _point(raw: Mapping[str, Any], lat_name: str, lng_name: str) -> dict[str, float]:
    """Latitude and longitude, both required and inside their ranges."""
    lat = _float(raw, lat_name, required=True) or 0.0
    lng = _float(raw, lng_name, required=True) or 0.0
    if not -90.0 <= lat <= 90.0:
        raise _problem(InvalidField, lat_name, f"latitude {lat} outside [-90, 90]")
    if not -180.0 <= lng <= 180.0:
        raise _problem(InvalidField, lng_name, f"longitude {lng} outside [-180, 180]")
    return {"latitude": lat, "longitude": lng}
