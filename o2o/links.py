"""Signed, expiring tokens for customer links (H5 pages, click redirects, coupon claims).

A token is base64url(JSON payload) + "." + base64url(HMAC-SHA256), with an `exp` claim.
Customers carry their pseudonymous identity in it, so claiming a coupon needs no login,
and nobody can forge or extend one without the server key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from o2o.errors import O2OError


class LinkInvalid(O2OError):
    """Tampered, truncated or foreign token."""

    code = "link_invalid"
    http_status = 400


class LinkExpired(O2OError):
    """A genuine token past its expiry."""

    code = "link_expired"
    http_status = 410


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], key: str, *, ttl_s: int, now: float | None = None) -> str:
    """A compact token for `payload`, valid for `ttl_s` seconds."""
    body = dict(payload, exp=int((now or time.time()) + ttl_s))
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
    head = _b64(raw)
    mac = hmac.digest(key.encode(), head.encode(), "sha256")
    return f"{head}.{_b64(mac)}"


def verify(token: str, key: str, *, now: float | None = None) -> dict[str, Any]:
    """The payload of a genuine, unexpired token; LinkInvalid or LinkExpired otherwise."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
        raise LinkInvalid("This link is not valid.")
    head, mac = token.split(".")
    expected = hmac.new(key.encode(), head.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
        if not hmac.compare_digest(given, expected):
            raise LinkInvalid("This link is not valid.")
        payload = json.loads(_unb64(head))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkInvalid("This link is not valid.") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise LinkInvalid("This link is not valid.")
    if payload["exp"] < (now or time.time()):
        raise LinkExpired("This link has expired; share your location again for a fresh one.")
    return payload
