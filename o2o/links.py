"""Sealed, expiring tokens for customer links and the coupon cookie.

A token is base64url(nonce ‖ AES-256-GCM(exp ‖ body) ‖ tag), unpadded: nobody without the
server key can read what it carries (a customer's pseudonym, a query, a position) nor forge,
retarget or extend it. Each use derives its own key from `signing_key` with HKDF and a
label, so a link can never pass for a cookie or the other way round.

Every token has exactly one spelling: decoding refuses padding, characters outside the
base64url alphabet (`!!`, `+`, `/`, whitespace) and final characters whose unused bits are
set, so a link cannot be counted or cached twice under two names.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
import time
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from o2o.errors import O2OError

NONCE_BYTES = 12
TAG_BYTES = 16
#: Longer than any token we issue (a full reply link is ~130 characters).
MAX_TOKEN_CHARS = 1024
_EXP = struct.Struct(">I")  # seconds since 1970, good until 2106
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class LinkInvalid(O2OError):
    """Tampered, truncated, misspelt or foreign token."""

    code = "link_invalid"
    http_status = 400


class LinkExpired(O2OError):
    """A genuine token past its expiry."""

    code = "link_expired"
    http_status = 410


def encode(data: bytes) -> str:
    """The one spelling of `data`: base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of a canonical spelling; LinkInvalid for anything `encode` would not write."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise LinkInvalid("This link is not valid.")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise LinkInvalid("This link is not valid.") from exc
    if encode(data) != text:  # stray low bits in the last character
        raise LinkInvalid("This link is not valid.")
    return data


@lru_cache(maxsize=32)
def _aead(key: str, label: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"o2o/" + label).derive(key.encode())
    return AESGCM(derived)


def seal(body: bytes, key: str, *, label: bytes, exp: int) -> str:
    """A token that carries `body` unreadably until `exp` (Unix seconds)."""
    nonce = os.urandom(NONCE_BYTES)
    return encode(nonce + _aead(key, label).encrypt(nonce, _EXP.pack(exp) + body, None))


def unseal(token: str, key: str, *, label: bytes,
           now: float | None = None) -> tuple[int, bytes]:
    """(exp, body) of a genuine, unexpired token; LinkInvalid or LinkExpired otherwise."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise LinkInvalid("This link is not valid.")
    raw = decode(token)
    if len(raw) < NONCE_BYTES + _EXP.size + TAG_BYTES:
        raise LinkInvalid("This link is not valid.")
    try:
        plain = _aead(key, label).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
    except InvalidTag as exc:
        raise LinkInvalid("This link is not valid.") from exc
    (exp,) = _EXP.unpack_from(plain)
    if exp < (time.time() if now is None else now):
        raise LinkExpired("This link has expired; share your location again for a fresh one.")
    return exp, plain[_EXP.size:]
