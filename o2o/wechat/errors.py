"""Errors of the WeChat protocol layer: each is a 4xx, none leaks a parser or cipher exception.

Every class also inherits the domain category it belongs to (Unauthenticated,
ValidationError, ServiceUnavailable) so api/errors.py maps it without knowing WeChat;
`http_status` refines the status where the category's default would mislead.
"""

from __future__ import annotations

from o2o.errors import O2OError, ServiceUnavailable, Unauthenticated, ValidationError


class WeChatError(O2OError):
    """Base class of everything the protocol layer raises for a bad request."""

    code = "wechat_error"
    http_status = 400


class BadSignature(WeChatError, Unauthenticated):
    """`signature` / `msg_signature` missing or not matching the token."""

    code = "wechat_bad_signature"
    http_status = 403


class PlaintextRefused(BadSignature):
    """A plain (明文) push while an EncodingAESKey is configured and plain ones are not allowed."""

    code = "wechat_plaintext_refused"
    http_status = 403


class NonceReused(WeChatError, Unauthenticated):
    """A (timestamp, nonce) already seen with another body: a captured URL, not a retry."""

    code = "wechat_nonce_reused"
    http_status = 403


class OpenIdMismatch(WeChatError, Unauthenticated):
    """The `openid` WeChat adds to the URL is not the message's FromUserName."""

    code = "wechat_openid_mismatch"
    http_status = 403


class StaleTimestamp(WeChatError, Unauthenticated):
    """`timestamp` missing, not a number, or outside the freshness window (replay guard)."""

    code = "wechat_stale_timestamp"
    http_status = 403


class BadCiphertext(WeChatError, ValidationError):
    """The Encrypt field is not valid base64, not AES output of our key, or badly framed."""

    code = "wechat_bad_ciphertext"
    http_status = 400


class WrongAppId(BadCiphertext):
    """The ciphertext decrypted cleanly but names another Official Account's appid."""

    code = "wechat_wrong_appid"
    http_status = 403


class MalformedXML(WeChatError, ValidationError):
    """The body is not well-formed XML, not UTF-8, or not shaped like a WeChat message."""

    code = "wechat_malformed_xml"
    http_status = 400


class ForbiddenXML(MalformedXML):
    """The body carries a DTD, an entity declaration or an external reference."""

    code = "wechat_forbidden_xml"
    http_status = 400


class BodyTooLarge(WeChatError, ValidationError):
    """The body exceeds the configured byte cap (WeChat messages are a few hundred bytes)."""

    code = "wechat_body_too_large"
    http_status = 413


class MissingField(WeChatError, ValidationError):
    """A field the message type requires is absent or empty."""

    code = "wechat_missing_field"
    http_status = 400


class InvalidField(WeChatError, ValidationError):
    """A field is present but unusable (CreateTime not an integer, latitude out of range)."""

    code = "wechat_invalid_field"
    http_status = 400


class ReplyPending(WeChatError, ServiceUnavailable):
    """Another delivery of the same message is still computing; WeChat should retry."""

    code = "wechat_reply_pending"
    http_status = 503
