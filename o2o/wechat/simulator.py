"""Play the WeChat server: build pushes, sign/encrypt them, POST them, decode the reply.

The pure parts (`message_xml`, `build_request`, `decode_reply`, `menu_json`) are what tests
everywhere use to make real signed or encrypted requests; `send` adds the HTTP round trip.
Coordinates are GCJ-02, as WeChat reports them; Location_X is the latitude.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from o2o.errors import O2OError
from o2o.wechat.crypto import MessageCrypto
from o2o.wechat.errors import WeChatError
from o2o.wechat.parsing import parse_xml_fields
from o2o.wechat.replies import SUCCESS, cdata
from o2o.wechat.signing import signature_of

DEFAULT_URL = "http://127.0.0.1:8000/wechat"
ACCOUNT = "gh_o2o_simulator"
OPENID = "o_simulated_customer"


class SimulatorError(O2OError):
    """The server under test answered something WeChat would not accept."""

    code = "simulator_error"


# -- message builders ----------------------------------------------------------------------


def _envelope(msg_type: str, body: str, *, from_user: str, to_user: str,
              create_time: int | None, msg_id: int | None) -> str:
    """Common head of every push; user messages get a MsgId, events do not."""
    created = int(time.time()) if create_time is None else create_time
    head = (f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
            f"<FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType>{cdata(msg_type)}</MsgType>")
    tail = ""
    if msg_type != "event":
        tail = f"<MsgId>{secrets.randbits(62) if msg_id is None else msg_id}</MsgId>"
    return f"{head}{body}{tail}</xml>"


def text_xml(content: str, **common: Any) -> str:
    """A text message the customer typed."""
    return _envelope("text", f"<Content>{cdata(content)}</Content>", **_common(common))


def location_xml(lat: float, lng: float, label: str = "", *, scale: int = 15,
                 **common: Any) -> str:
    """A location shared in chat (Location_X = latitude, Location_Y = longitude)."""
    body = (f"<Location_X>{_deg(lat)}</Location_X><Location_Y>{_deg(lng)}</Location_Y>"
            f"<Scale>{int(scale)}</Scale><Label>{cdata(label)}</Label>")
    return _envelope("location", body, **_common(common))


def event_xml(event: str, *args: Any, **common: Any) -> str:
    """An event: subscribe, unsubscribe, click KEY, location_select LAT LNG, LOCATION LAT LNG,
    subscribe_msg_popup|change|sent TEMPLATE_ID ... (see `_subscribe_msg`)."""
    name = event.lower()
    if name in ("subscribe", "unsubscribe"):
        key = f"<EventKey>{cdata(str(args[0]))}</EventKey>" if args else ""
        body = f"<Event>{cdata(name)}</Event>{key}"
    elif name in ("click", "view"):
        (key,) = args
        body = f"<Event>{cdata(name.upper())}</Event><EventKey>{cdata(str(key))}</EventKey>"
    elif name == "location_select":
        lat, lng, *rest = args
        label = str(rest[0]) if rest else ""
        key = str(common.pop("key", "NEARBY_SELECT"))
        body = (f"<Event>{cdata('location_select')}</Event><EventKey>{cdata(key)}</EventKey>"
                f"<SendLocationInfo><Location_X>{cdata(_deg(lat))}</Location_X>"
                f"<Location_Y>{cdata(_deg(lng))}</Location_Y><Scale>{cdata('15')}</Scale>"
                f"<Label>{cdata(label)}</Label><Poiname>{cdata(label)}</Poiname>"
                f"</SendLocationInfo>")
    elif name == "location":
        lat, lng, *rest = args
        precision = float(rest[0]) if rest else 65.0
        body = (f"<Event>{cdata('LOCATION')}</Event><Latitude>{_deg(lat)}</Latitude>"
                f"<Longitude>{_deg(lng)}</Longitude><Precision>{precision:.6f}</Precision>")
    elif name.removesuffix("_event") in SUBSCRIBE_EVENTS:
        body = _subscribe_msg(name.removesuffix("_event"), args)
    else:
        raise ValueError(f"unknown event {event!r}")
    return _envelope("event", body, **_common(common))


#: One-time subscribe pushes: the event's name and the group its <List> entries sit in.
SUBSCRIBE_EVENTS = {"subscribe_msg_popup": "SubscribeMsgPopupEvent",
                    "subscribe_msg_change": "SubscribeMsgChangeEvent",
                    "subscribe_msg_sent": "SubscribeMsgSentEvent"}


def _subscribe_msg(name: str, args: tuple[Any, ...]) -> str:
    """The body of a subscribe_msg_* push for one template, as WeChat's documentation shows:
    popup `accept`/`reject` (PopupScene 1 = an H5 page), change (withdrawn: `reject`),
    sent (MsgID, ErrorCode, ErrorStatus `success` or `failed:CODE`)."""
    if not args or not str(args[0]).strip():
        raise ValueError(f"{name} needs the TEMPLATE_ID")
    template_id, *rest = args
    if name == "subscribe_msg_popup":
        status = str(rest[0]) if rest else "accept"
        if status not in ("accept", "reject"):
            raise ValueError("a popup is accept or reject")
        entry = (f"<SubscribeStatusString>{cdata(status)}</SubscribeStatusString>"
                 f"<PopupScene>1</PopupScene>")
    elif name == "subscribe_msg_change":
        entry = f"<SubscribeStatusString>{cdata('reject')}</SubscribeStatusString>"
    else:
        msg_id = str(rest[0]) if rest else str(secrets.randbits(62))
        outcome = str(rest[1]) if len(rest) > 1 else "success"
        status, _, code = outcome.partition(":")
        entry = (f"<MsgID>{int(msg_id)}</MsgID><ErrorCode>{int(code or 0)}</ErrorCode>"
                 f"<ErrorStatus>{cdata(status)}</ErrorStatus>")
    group = SUBSCRIBE_EVENTS[name]
    return (f"<Event>{cdata(name + '_event')}</Event><{group}><List>"
            f"<TemplateId>{cdata(str(template_id))}</TemplateId>{entry}</List></{group}>")


def message_xml(kind: str, *args: Any, **common: Any) -> str:
    """One entry for all builders: ("text", s), ("location", lat, lng), ("event", name, ...)."""
    builders = {"text": text_xml, "location": location_xml, "event": event_xml}
    if kind not in builders:
        raise ValueError(f"kind must be one of {sorted(builders)}, not {kind!r}")
    return builders[kind](*args, **common)


def _deg(value: float | str) -> str:
    """Degrees as WeChat writes them: fixed point, six decimals."""
    return f"{float(value):.6f}"


def _common(common: dict[str, Any]) -> dict[str, Any]:
    """Defaults for the fields every push has; unknown keywords are a caller's typo."""
    out = {"from_user": common.pop("from_user", OPENID), "to_user": common.pop("to_user", ACCOUNT),
           "create_time": common.pop("create_time", None), "msg_id": common.pop("msg_id", None)}
    if common:
        raise TypeError(f"unexpected arguments: {sorted(common)}")
    return out


# -- signing and encryption ------------------------------------------------------------------


def build_request(xml: str, *, token: str, aes_key: str | None = None, appid: str | None = None,
                  timestamp: int | None = None, nonce: str | None = None,
                  openid: str | None = None, compat: bool = False) -> tuple[dict[str, str], bytes]:
    """Sign a push as WeChat does, its URL naming the sender (`openid`, by default the
    message's FromUserName); with aes_key, encrypt it (safe mode, or compat=True)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**10))
    query = {"signature": signature_of(token, ts, nonce), "timestamp": ts, "nonce": nonce,
             "openid": _field(xml, "FromUserName", OPENID) if openid is None else openid}
    if aes_key is None:
        return query, xml.encode("utf-8")
    if not appid:
        raise ValueError("encrypting needs the appid")
    crypto = MessageCrypto(token=token, encoding_aes_key=aes_key, appid=appid)
    encrypt = crypto.encrypt_payload(xml)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = signature_of(token, ts, nonce, encrypt)
    if compat:
        head, _, tail = xml.rpartition("</xml>")  # the root's end tag, not one inside CDATA
        body = f"{head}<Encrypt>{cdata(encrypt)}</Encrypt></xml>{tail}"
    else:
        to_user = _field(xml, "ToUserName", ACCOUNT)
        body = f"<xml><ToUserName>{cdata(to_user)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    return query, body.encode("utf-8")


def _field(xml: str, name: str, default: str) -> str:
    """A top-level field of a push, or default when it is absent or the XML is unreadable."""
    try:
        value = parse_xml_fields(xml).get(name)
    except WeChatError:
        return default
    return value if isinstance(value, str) else default


# -- replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodedReply:
    """What the customer would see: a text, news cards, or nothing (`success`)."""

    kind: str  # "text" | "news" | "success" | "empty" | other MsgType
    text: str = ""
    articles: tuple[Mapping[str, str], ...] = ()
    xml: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        if self.kind == "text":
            return self.text
        if self.kind == "news":
            lines = []
            for i, a in enumerate(self.articles, 1):
                lines.append(f"[{i}] {a['title']}")
                lines += [f"    {line}" for line in a["description"].splitlines() if line]
                lines += [f"    -> {a['url']}"] if a["url"] else []
            return "\n".join(lines)
        if self.kind in ("success", "empty"):
            return f"({self.kind}: nothing is shown to the customer)"
        return self.xml


def decode_reply(body: str | bytes, *, token: str, aes_key: str | None = None,
                 appid: str | None = None, encrypted: bool = False) -> DecodedReply:
    """Verify and decrypt (when the push was encrypted) a reply, and read it."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if text.strip() in (SUCCESS, ""):
        return DecodedReply(kind="success" if text.strip() else "empty", xml=text)
    try:
        fields = parse_xml_fields(text)
        if encrypted:
            if "Encrypt" not in fields:
                raise SimulatorError("the push was encrypted but the reply is plaintext")
            if aes_key is None or appid is None:
                raise ValueError("decoding an encrypted reply needs aes_key and appid")
            crypto = MessageCrypto(token=token, encoding_aes_key=aes_key, appid=appid)
            text = crypto.decrypt(text, _leaf(fields, "MsgSignature"), _leaf(fields, "TimeStamp"),
                                  _leaf(fields, "Nonce"))
            fields = parse_xml_fields(text)
    except WeChatError as exc:
        raise SimulatorError(f"the reply is not acceptable to WeChat: {exc.message}") from exc
    kind = _leaf(fields, "MsgType").lower()
    if kind == "text":
        return DecodedReply(kind, text=_leaf(fields, "Content"), xml=text, fields=fields)
    if kind == "news":
        return DecodedReply(kind, articles=_articles(fields), xml=text, fields=fields)
    return DecodedReply(kind, xml=text, fields=fields)


def _leaf(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name, "")
    return value if isinstance(value, str) else ""


def _articles(fields: Mapping[str, Any]) -> tuple[Mapping[str, str], ...]:
    """The <item>s of a news reply, checked against ArticleCount."""
    group = fields.get("Articles")
    items = group.get("item", []) if isinstance(group, dict) else []
    items = items if isinstance(items, list) else [items]
    articles = tuple(
        {"title": _leaf(i, "Title"), "description": _leaf(i, "Description"),
         "pic_url": _leaf(i, "PicUrl"), "url": _leaf(i, "Url")}
        for i in items if isinstance(i, dict)
    )
    if str(len(articles)) != _leaf(fields, "ArticleCount").strip():
        raise SimulatorError(f"ArticleCount says {_leaf(fields, 'ArticleCount')!r}, "
                             f"the reply has {len(articles)} articles")
    return articles


def send(xml: str, *, url: str = DEFAULT_URL, token: str, aes_key: str | None = None,
         appid: str | None = None, openid: str | None = None, compat: bool = False,
         timeout: float = 5.0, client: Any = None) -> DecodedReply:
    """POST a push the way WeChat does (5 s deadline) and return the decoded reply."""
    import httpx

    query, body = build_request(xml, token=token, aes_key=aes_key, appid=appid, openid=openid,
                                compat=compat)
    owned = client is None
    http = httpx.Client(timeout=timeout) if owned else client
    try:
        response = http.post(url, params=query, content=body,
                             headers={"Content-Type": "text/xml; charset=utf-8"})
    except httpx.HTTPError as exc:
        raise SimulatorError(f"could not reach {url}: {exc}") from exc
    finally:
        if owned:
            http.close()
    if response.status_code != 200:
        raise SimulatorError(f"{url} answered HTTP {response.status_code}: {response.text[:300]}")
    return decode_reply(response.content, token=token, aes_key=aes_key, appid=appid,
                        encrypted=aes_key is not None)


def menu_json() -> dict[str, Any]:
    """The Official Account menu: share a location, search near the last one, today's offers."""
    return {
        "button": [
            {"type": "location_select", "name": "附近门店", "key": "NEARBY_SELECT"},
            {"type": "click", "name": "一键找店", "key": "NEARBY"},
            {"type": "click", "name": "优惠活动", "key": "OFFERS"},
        ]
    }
