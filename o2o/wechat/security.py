"""The two calls an HTTP view needs: unwrap a push into trusted plaintext, wrap the reply.

Modes, as WeChat sends them:
- plain (明文): `?signature&timestamp&nonce`, body is the message; the signature covers
  only token/timestamp/nonce, never the body. With an EncodingAESKey the endpoint refuses
  plain pushes (`require_encrypted`) unless a migration setting allows them; freshness and
  the (timestamp, nonce) binding (nonces.py) keep a captured URL from carrying another body.
- compat (兼容模式) and safe (安全模式): `encrypt_type=aes&msg_signature=...`; the body has
  an Encrypt field (compat also repeats the fields in clear). Only the decrypted content is
  trusted: the clear copy is unauthenticated and ignored.
A reply goes back encrypted exactly when the request came encrypted; `success` never is.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from typing import NamedTuple

from o2o.wechat.crypto import MessageCrypto
from o2o.wechat.errors import BadCiphertext, BadSignature, OpenIdMismatch, PlaintextRefused
from o2o.wechat.parsing import DEFAULT_MAX_BYTES, decode_body
from o2o.wechat.replies import SUCCESS
from o2o.wechat.signing import DEFAULT_WINDOW_S, check_timestamp, verify_signature

__all__ = [
    "MessageCrypto",
    "Unwrapped",
    "check_openid",
    "check_timestamp",
    "unwrap_request",
    "verify_signature",
    "verify_url",
    "wrap_reply",
]

#: echostr is echoed back to the caller; only characters that cannot become markup pass.
_ECHOSTR = re.compile(r"[A-Za-z0-9_\-+/=.]{1,256}")


class Unwrapped(NamedTuple):
    """A verified push: its plaintext XML and whether the reply must be encrypted."""

    xml: str
    encrypted: bool


def unwrap_request(body: str | bytes, query: Mapping[str, str], *, token: str,
                   crypto: MessageCrypto | None = None, now: float | None = None,
                   window_s: float = DEFAULT_WINDOW_S, max_bytes: int = DEFAULT_MAX_BYTES,
                   require_encrypted: bool = False) -> Unwrapped:
    """Authenticate and (if needed) decrypt a POSTed push; raise a WeChatError otherwise."""
    text = decode_body(body, max_bytes=max_bytes)
    timestamp = query.get("timestamp")
    nonce = query.get("nonce")
    check_timestamp(timestamp, now=now, window_s=window_s)
    encrypt_type = (query.get("encrypt_type") or "raw").strip().lower()
    if encrypt_type == "raw" and not query.get("msg_signature"):
        if require_encrypted:
            raise PlaintextRefused(
                "plaintext (明文) push refused: an EncodingAESKey is configured, so pushes must "
                "come encrypted (兼容模式 or 安全模式); O2O_WECHAT_ACCEPT_PLAINTEXT=true allows "
                "plain ones while the Official Account migrates")
        verify_signature(token, query.get("signature"), timestamp, nonce)
        return Unwrapped(text, False)
    if encrypt_type not in ("aes", "raw"):
        raise BadCiphertext(f"unsupported encrypt_type {encrypt_type[:16]!r}")
    if crypto is None:
        raise BadCiphertext("encrypted push, but no EncodingAESKey is configured")
    if query.get("signature") is not None:
        # WeChat sends both; a wrong plain signature is as telling as a wrong msg_signature.
        verify_signature(token, query.get("signature"), timestamp, nonce)
    xml = crypto.decrypt(text, query.get("msg_signature"), timestamp, nonce, max_bytes=max_bytes)
    return Unwrapped(xml, True)


def check_openid(query: Mapping[str, str], from_user: str) -> None:
    """WeChat names the sender in the push URL (`openid`); when present it must be the
    message's FromUserName, so a captured URL cannot carry another customer's message."""
    openid = query.get("openid")
    if openid is not None and openid != from_user:
        raise OpenIdMismatch("the openid in the URL is not the message's FromUserName")


def wrap_reply(xml: str, encrypted: bool, *, crypto: MessageCrypto | None = None,
               nonce: str | None = None, timestamp: int | None = None,
               now: float | None = None) -> str:
    """Return the HTTP body for a rendered reply: encrypted iff the push was."""
    if not encrypted or xml in (SUCCESS, ""):
        return xml
    if crypto is None:
        raise BadCiphertext("cannot encrypt the reply: no EncodingAESKey is configured")
    ts = timestamp if timestamp is not None else int(time.time() if now is None else now)
    return crypto.encrypt(xml, nonce or str(secrets.randbelow(10**10)), ts)


def verify_url(query: Mapping[str, str], *, token: str, now: float | None = None,
               window_s: float = DEFAULT_WINDOW_S) -> str:
    """Answer WeChat's GET URL check: verify the signature and return echostr to echo back."""
    timestamp = query.get("timestamp")
    check_timestamp(timestamp, now=now, window_s=window_s)
    verify_signature(token, query.get("signature"), timestamp, query.get("nonce"))
    echostr = query.get("echostr") or ""
    if not _ECHOSTR.fullmatch(echostr):
        raise BadSignature("echostr missing or not a plain token")
    return echostr
