"""The bytes a customer link seals: one compact, canonical layout per Link.

Layout: kind (1 byte), flags (1 byte: which fields follow), the target code for a redirect,
then the present fields in a fixed order: query id, customer hash (length-prefixed; lower-case
hex is stored as its bytes), outlet id and promotion id (u32), position (two i32 in units of
the stored, coarsened position). A decoder that meets anything else (unknown kind, flag or
target, a short or overlong body) refuses it. Binary rather than JSON keeps a reply's link
at about 130 characters instead of 300.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from o2o.customers.identity import COARSE_DECIMALS, coarsen
from o2o.links import LinkInvalid

#: Wire codes; never renumber them (links in customers' chats carry them).
KIND_CODES = {"nearby": 0x6E, "outlet": 0x6F, "coupon": 0x63, "redirect": 0x72}
TARGET_CODES = {"nearby": 1, "outlet": 2, "coupon": 3, "map:tencent": 4, "map:amap": 5,
                "tel": 6}
_KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
_TARGET_NAMES = {v: k for k, v in TARGET_CODES.items()}
_QUERY, _CUSTOMER, _OUTLET, _PROMOTION, _POSITION, _FROM_H5, _SHARED = (1 << i for i in range(7))
_ALL_FLAGS = (1 << 7) - 1
_U32 = struct.Struct(">I")
_POS = struct.Struct(">ii")
_SCALE = 10 ** COARSE_DECIMALS
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_HEX_MODE = 0x80
#: Longest id string a link may carry (a customer hash is 64 hex characters).
MAX_STR = 64


@dataclass(frozen=True, slots=True)
class Link:
    """What a verified token says; `exp` is kept so follow-on links never outlive it."""

    kind: str
    exp: int
    query_id: str | None = None
    customer_hash: str | None = None
    outlet_id: int | None = None
    promotion_id: int | None = None
    lat: float | None = None
    lng: float | None = None
    target: str | None = None
    #: Where a tracked link was shown: "wechat" (a reply) or "h5" (one of our pages).
    source: str | None = None
    #: Opened from a forwarded copy (WeChat's share markers): looks, but never acts or reveals
    #: for the customer who was sent the link.
    shared: bool = False

    @property
    def viewer(self) -> str | None:
        """The customer this page may act for (claim, be counted): nobody on a shared copy."""
        return None if self.shared else self.customer_hash


def pack(link: Link) -> bytes:
    """The canonical bytes of `link` (without its expiry, which the seal carries)."""
    flags = ((_QUERY if link.query_id is not None else 0)
             | (_CUSTOMER if link.customer_hash is not None else 0)
             | (_OUTLET if link.outlet_id is not None else 0)
             | (_PROMOTION if link.promotion_id is not None else 0)
             | (_POSITION if link.lat is not None and link.lng is not None else 0)
             | (_FROM_H5 if link.source == "h5" else 0) | (_SHARED if link.shared else 0))
    out = bytearray((KIND_CODES[link.kind], flags))
    if link.kind == "redirect":
        out.append(TARGET_CODES[str(link.target)])
    for text in (link.query_id, link.customer_hash):
        if text is not None:
            out += _pack_str(text)
    for number in (link.outlet_id, link.promotion_id):
        if number is not None:
            if not 0 <= number < 1 << 32:
                raise ValueError(f"id {number} does not fit a link")
            out += _U32.pack(number)
    if flags & _POSITION:
        assert link.lat is not None and link.lng is not None
        lat, lng = coarsen(link.lat, link.lng)
        out += _POS.pack(round(lat * _SCALE), round(lng * _SCALE))
    return bytes(out)


def unpack(body: bytes, exp: int) -> Link:
    """The Link `pack` wrote; LinkInvalid for any other bytes."""
    reader = _Reader(body)
    kind = _KIND_NAMES.get(reader.byte())
    flags = reader.byte()
    if kind is None or flags & ~_ALL_FLAGS:
        raise LinkInvalid("This link is not valid.")
    target = None
    if kind == "redirect":
        target = _TARGET_NAMES.get(reader.byte())
        if target is None:
            raise LinkInvalid("This link is not valid.")
    query_id = reader.text() if flags & _QUERY else None
    customer = reader.text() if flags & _CUSTOMER else None
    outlet_id = reader.unpack(_U32)[0] if flags & _OUTLET else None
    promotion_id = reader.unpack(_U32)[0] if flags & _PROMOTION else None
    lat = lng = None
    if flags & _POSITION:
        lat, lng = (v / _SCALE for v in reader.unpack(_POS))
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise LinkInvalid("This link is not valid.")
    reader.end()
    return Link(kind=kind, exp=exp, query_id=query_id, customer_hash=customer,
                outlet_id=outlet_id, promotion_id=promotion_id, lat=lat, lng=lng,
                target=target, source="h5" if flags & _FROM_H5 else "wechat",
                shared=bool(flags & _SHARED))


def fingerprint(link: Link) -> str:
    """The same for every token of one link, however it was sealed or spelt (click de-dup)."""
    return hashlib.sha256(_U32.pack(link.exp) + pack(link)).hexdigest()[:40]


def _pack_str(text: str) -> bytes:
    if len(text) > MAX_STR:
        raise ValueError(f"a link carries ids of at most {MAX_STR} characters")
    if _HEX.fullmatch(text):
        raw = bytes.fromhex(text)
        return bytes((_HEX_MODE | len(raw),)) + raw
    raw = text.encode()
    if len(raw) >= _HEX_MODE:
        raise ValueError("a link id is too long")
    return bytes((len(raw),)) + raw


class _Reader:
    """Strict reading of a body: running short or leaving bytes over is a bad link."""

    def __init__(self, body: bytes) -> None:
        self.body, self.at = body, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.body):
            raise LinkInvalid("This link is not valid.")
        self.at += n
        return self.body[self.at - n:self.at]

    def byte(self) -> int:
        return self.take(1)[0]

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        return layout.unpack(self.take(layout.size))

    def text(self) -> str:
        head = self.byte()
        raw = self.take(head & ~_HEX_MODE)
        if head & _HEX_MODE:
            return raw.hex()
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise LinkInvalid("This link is not valid.") from exc

    def end(self) -> None:
        if self.at != len(self.body):
            raise LinkInvalid("This link is not valid.")
