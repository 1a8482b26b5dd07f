"""Request authentication: WeChat's SHA-1 signature (compared in constant time) and freshness.

WeChat signs sha1(sort([token, timestamp, nonce(, encrypt)]).join()). wechatpy compares
with `!=` and never looks at the clock; here the comparison is constant-time and a request
older or newer than the window (default ±300 s) is refused, which bounds replays.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from o2o.wechat.errors import BadSignature, StaleTimestamp

DEFAULT_WINDOW_S = 300
#: Query parameters longer than this are not WeChat's (its nonce is ~10 digits).
MAX_PARAM_CHARS = 128


def signature_of(token: str, *parts: str) -> str:
    """WeChat's signature: SHA-1 hex of the sorted, concatenated parts."""
    joined = "".join(sorted([token, *parts]))
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()


def verify_signature(token: str, signature: str | None, timestamp: str | None,
                     nonce: str | None, encrypt: str | None = None) -> None:
    """Raise BadSignature unless signature matches; pass encrypt to check a msg_signature."""
    if not signature or not isinstance(signature, str):
        raise BadSignature("missing signature")
    if timestamp is None or nonce is None:
        raise BadSignature("signature without timestamp and nonce")
    if len(signature) > MAX_PARAM_CHARS or len(nonce) > MAX_PARAM_CHARS:
        raise BadSignature("signature parameters too long")
    parts = [timestamp, nonce] if encrypt is None else [timestamp, nonce, encrypt]
    expected = signature_of(token, *parts).encode("ascii")
    given = signature.strip().lower().encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(expected, given):
        raise BadSignature("signature does not match")


def check_timestamp(timestamp: str | None, *, now: float | None = None,
                    window_s: float = DEFAULT_WINDOW_S) -> int:
    """Return the timestamp as int if it is within ±window_s of now; else StaleTimestamp."""
    if timestamp is None or timestamp == "":
        raise StaleTimestamp("missing timestamp")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise StaleTimestamp(f"timestamp is not a Unix time: {timestamp[:24]!r}")
    value = int(timestamp)
    current = time.time() if now is None else now
    skew = value - current
    if abs(skew) > window_s:
        direction = "old" if skew < 0 else "in the future"
        raise StaleTimestamp(f"timestamp is {abs(int(skew))} s {direction}; window is ±{window_s:g} s")
    return value
